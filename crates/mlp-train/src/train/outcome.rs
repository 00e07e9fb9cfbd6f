//! What training records: per epoch, per layer at initialisation, per run;
//! and what a run (or group) is given to report, stop and measure.

use mlp_model::{Mlp, MlpConfig};
use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use super::device_work::EpochDeviceWork;
use super::dynamics::LayerDynamics;
use super::engines::Engine;
use crate::{Progress, StopSignal};

/// Evaluations (validation, test) read at least this many images a batch,
/// however small the training batch.
pub const MIN_EVAL_BATCH: usize = 500;

/// Loss and accuracy of a model on one split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
}

/// What happened in one epoch. Train loss and accuracy are averaged over the
/// epoch's minibatches in training mode (as PyTorch reports usually do); the
/// validation numbers come from the eval-mode model at the end of the epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub lr: f64,
    pub train_loss: f64,
    pub train_acc: f64,
    pub val_loss: f64,
    pub val_acc: f64,
    pub seconds: f64,
}

/// How the signal and the gradients look at initialisation, layer by layer:
/// the "why" behind a collapsed deep network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerSignal {
    /// 1-based index of the Linear layer.
    pub layer: usize,
    /// RMS of the layer's output after ReLU (hidden layers) or of the logits.
    pub activation_rms: f64,
    /// Frobenius norm of dLoss/dW of this layer on the first minibatch.
    pub weight_grad_norm: f64,
}

/// Everything one training run produced.
pub struct RunOutcome {
    pub history: Vec<EpochRecord>,
    /// Epoch whose weights scored best on validation (1-based), if any epoch finished.
    pub best_epoch: Option<usize>,
    /// Test loss and accuracy of the best-on-validation weights, evaluated once.
    pub test: Option<Evaluation>,
    /// The epoch in which the training loss became NaN or infinite.
    pub diverged_at: Option<usize>,
    pub signal: Vec<LayerSignal>,
    /// Per layer at initialisation and after every finished epoch, when
    /// [`RunControl::dynamics`] asked for it; else empty.
    pub dynamics: Vec<LayerDynamics>,
    pub seconds: f64,
    /// The best-on-validation model in eval mode.
    pub best_model: Option<Mlp>,
    /// The engine that computed the steps.
    pub engine: Engine,
    /// Per finished (or diverging) epoch, what its group asked of the device.
    pub device_work: Vec<EpochDeviceWork>,
}

impl RunOutcome {
    pub fn best_record(&self) -> Option<&EpochRecord> {
        self.best_epoch.map(|e| &self.history[e - 1])
    }
}

/// How one training run (or group) reports and stops, and what it measures
/// on the way.
#[derive(Clone, Copy)]
pub struct RunControl<'a> {
    pub progress: Progress,
    /// Prefix of the progress bar and, for one run, of its per-epoch lines.
    pub label: &'a str,
    /// Checked before every step.
    pub stop: &'a StopSignal,
    /// Runs the dynamics probe (see [`super::dynamics`]) at initialisation
    /// and after every epoch; the training itself is the same either way.
    pub dynamics: bool,
}

/// One network of a group: what it is, how it trains, its seed (weights,
/// dropout masks and data order) and the label of its per-epoch lines.
#[derive(Clone, Copy)]
pub struct GroupMember<'a> {
    pub model: &'a MlpConfig,
    pub recipe: &'a TrainConfig,
    pub seed: u64,
    pub label: &'a str,
}
