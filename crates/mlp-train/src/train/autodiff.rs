//! The autodiff engine's step: Burn's autodiff and optimiser, one network
//! at a time, on any device.

use burn::module::Module;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use mlp_model::Mlp;

use super::config::{Optimizer, TrainConfig};
use super::data::{Batches, Split};
use super::device_work::read_sums;
use super::engines::masks::{dropout_rng, step_masks};
use super::engines::{ADAM_BETA_1, ADAM_BETA_2, Stepper, single};
use rand::rngs::StdRng;

/// Burn's autodiff step.
pub(crate) struct AutodiffStepper<'a> {
    model: Option<Mlp>,
    /// With dropout: the run's mask generator (the masks come from the
    /// run's seed, not from Burn's process-wide generator).
    dropout_rng: Option<StdRng>,
    optimizer: ModuleOptimizer,
    loss_fn: CrossEntropyLoss,
    train: Split<'a>,
    device: Device,
    /// Running sums stay on the device: reading them every step would
    /// synchronise a GPU after every batch.
    loss_sum: Tensor<1>,
    correct: Tensor<1, Int>,
}

impl<'a> AutodiffStepper<'a> {
    /// `model` lives on the autodiff device `device`; `seed` seeds its dropout masks.
    pub fn new(model: Mlp, recipe: &TrainConfig, seed: u64, train: Split<'a>, device: &Device) -> Self {
        let weight_decay = Some(WeightDecayConfig::new(recipe.weight_decay as f32));
        let optimizer = match recipe.optimizer() {
            Optimizer::Adam => AdamConfig::new()
                .with_beta_1(ADAM_BETA_1)
                .with_beta_2(ADAM_BETA_2)
                .with_epsilon(recipe.adam_epsilon as f32)
                .with_weight_decay(weight_decay)
                .init(),
            Optimizer::Sgd => SgdConfig::new().with_weight_decay(weight_decay).init(),
        };
        let plain = device.clone().without_autodiff();
        AutodiffStepper {
            dropout_rng: (model.dropout() > 0.0).then(|| dropout_rng(seed)),
            model: Some(model),
            optimizer,
            loss_fn: CrossEntropyLossConfig::new().init(device),
            train,
            device: device.clone(),
            loss_sum: Tensor::zeros([1], &plain),
            correct: Tensor::zeros([1], &plain),
        }
    }
}

impl Stepper for AutodiffStepper<'_> {
    fn step(&mut self, batches: &[&[usize]], lrs: &[f64]) {
        let (indices, lr) = single(batches, lrs);
        let model = self.model.take().expect("the model is put back after every step");
        let (x, y) = self.train.batch(indices, &self.device);
        let logits = match &mut self.dropout_rng {
            Some(rng) => {
                let masks = step_masks(
                    rng,
                    model.dropout(),
                    indices.len(),
                    &model.hidden_widths(),
                    &self.device,
                );
                model.forward_masked(x, &masks).0
            }
            None => model.forward(x),
        }; // [batch, classes]
        let loss = self.loss_fn.forward(logits.clone(), y.clone()); // [1]
        self.loss_sum = self.loss_sum.clone() + loss.clone().detach().inner().mul_scalar(indices.len() as f64);
        self.correct = self.correct.clone() + count_correct(logits.detach().inner(), y.inner());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        self.model = Some(self.optimizer.step(lr, model, grads));
    }

    fn epoch_sums(&self) -> Vec<(f64, f64)> {
        read_sums(self.loss_sum.clone(), self.correct.clone())
    }

    fn reset_sums(&mut self) {
        self.loss_sum = self.loss_sum.clone().zeros_like();
        self.correct = self.correct.clone().zeros_like();
    }

    fn eval_model(&self, _member: usize) -> Mlp {
        self.model
            .as_ref()
            .expect("the model is put back after every step")
            .valid()
    }
}

/// logits: [batch, classes], y: [batch] -> number of correct predictions, [1]
pub(crate) fn count_correct(logits: Tensor<2>, y: Tensor<1, Int>) -> Tensor<1, Int> {
    logits.argmax(1).squeeze_dim::<1>(1).equal(y).int().sum()
}
