//! The ways [`train_group`](super::train_group) takes an optimiser step:
//! Burn's autodiff on any device or the fused CPU step ([`super::fused`]),
//! one network at a time; or the stacked step ([`super::stacked`]), a group
//! of networks at once, on any device. The loop around them (shuffles,
//! epochs, validation, best weights, test) is one and the same.

use burn::module::Module;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use mlp_model::Mlp;

use super::config::{Optimizer, TrainConfig};
use super::data::Split;
use super::device_work::read_sums;
use super::fused::{AdamStep, FusedMlp, dropout_rng, step_masks};
use super::host_split::HostSplit;
use rand::rngs::StdRng;

/// Adam's moment decay rates for every engine (Burn's and PyTorch's defaults).
pub(crate) const ADAM_BETA_1: f32 = 0.9;
pub(crate) const ADAM_BETA_2: f32 = 0.999;

/// One engine's state while a group of networks trains (a group of one for
/// the autodiff and fused steps).
pub(crate) trait Stepper {
    /// One optimiser step of every network: network `j` at learning rate
    /// `lrs[j]` on the training images `batches[j]` (all of one size).
    fn step(&mut self, batches: &[&[usize]], lrs: &[f64]);
    /// Per network, the summed loss and correct count of the epoch's steps
    /// so far; reading them may wait for the device.
    fn epoch_sums(&self) -> Vec<(f64, f64)>;
    /// Starts the next epoch's sums at zero.
    fn reset_sums(&mut self);
    /// Network `member`'s current weights as a plain (no autodiff), eval-mode model.
    fn eval_model(&self, member: usize) -> Mlp;
}

/// The one network's batch and learning rate of a group of one.
fn single<'b>(batches: &[&'b [usize]], lrs: &[f64]) -> (&'b [usize], f64) {
    assert!(
        batches.len() == 1 && lrs.len() == 1,
        "this engine trains one network at a time"
    );
    (batches[0], lrs[0])
}

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

/// The fused CPU step on host buffers.
pub(crate) struct FusedStepper<'a> {
    net: FusedMlp,
    /// The Burn model the weights are written into for evaluation.
    template: Mlp,
    adam: AdamStep,
    train: HostSplit<'a>,
    device: Device,
    /// The labels of the current batch.
    labels: Vec<u8>,
    loss_sum: f64,
    correct: usize,
}

impl<'a> FusedStepper<'a> {
    /// Starts from the weights of `model` (any device); `seed` seeds the dropout masks.
    pub fn new(model: &Mlp, recipe: &TrainConfig, seed: u64, train: HostSplit<'a>, device: &Device) -> Self {
        let plain = device.clone().without_autodiff();
        FusedStepper {
            net: FusedMlp::from_model(model, seed),
            template: model.valid(),
            adam: AdamStep {
                lr: recipe.lr as f32,
                weight_decay: recipe.weight_decay as f32,
                beta_1: ADAM_BETA_1,
                beta_2: ADAM_BETA_2,
                epsilon: recipe.adam_epsilon as f32,
                time: 0,
            },
            train,
            device: plain,
            labels: Vec::new(),
            loss_sum: 0.0,
            correct: 0,
        }
    }
}

impl Stepper for FusedStepper<'_> {
    fn step(&mut self, batches: &[&[usize]], lrs: &[f64]) {
        let (indices, lr) = single(batches, lrs);
        let (images, normalizer) = (self.train.images, self.train.normalizer);
        self.labels.clear();
        self.labels.extend(indices.iter().map(|&i| images.label(i)));
        let fill = |rows: std::ops::Range<usize>, out: &mut [f32]| normalizer.write_to(images, &indices[rows], out);
        let stats = self.net.step_filled(
            &self.labels,
            &fill,
            AdamStep {
                lr: lr as f32,
                ..self.adam
            },
        );
        self.loss_sum += stats.loss_sum;
        self.correct += stats.correct;
    }

    fn epoch_sums(&self) -> Vec<(f64, f64)> {
        vec![(self.loss_sum, self.correct as f64)]
    }

    fn reset_sums(&mut self) {
        self.loss_sum = 0.0;
        self.correct = 0;
    }

    fn eval_model(&self, _member: usize) -> Mlp {
        self.net.write_into(self.template.clone(), &self.device)
    }
}

/// logits: [batch, classes], y: [batch] -> number of correct predictions, [1]
pub(crate) fn count_correct(logits: Tensor<2>, y: Tensor<1, Int>) -> Tensor<1, Int> {
    logits.argmax(1).squeeze_dim::<1>(1).equal(y).int().sum()
}
