//! The fused engine's step: [`FusedMlp`] on host buffers, one network at a time.

use burn::prelude::*;
use mlp_model::Mlp;

use super::{AdamStep, FusedMlp};
use crate::train::config::TrainConfig;
use crate::train::engines::{ADAM_BETA_1, ADAM_BETA_2, Stepper, single};
use crate::train::host_split::HostSplit;

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
