//! The MLP training recipe (assignment Q4).

use burn::prelude::*;

use crate::TrainError;

/// The training recipe; defaults are the assignment's Q4 values. The seed is
/// not part of it: a job trains one recipe with several seeds.
#[derive(Config, Debug)]
pub struct TrainConfig {
    /// Passes over the training split.
    #[config(default = 10)]
    pub epochs: usize,
    /// Images per optimiser step; the last batch of an epoch may be smaller.
    #[config(default = 200)]
    pub batch_size: usize,
    /// Adam learning rate of the first epoch.
    #[config(default = 1e-3)]
    pub lr: f64,
    /// The learning rate is multiplied by this after every epoch.
    #[config(default = 0.95)]
    pub lr_decay: f64,
    /// L2 coefficient added to the gradient (PyTorch Adam's `weight_decay`).
    #[config(default = 1e-3)]
    pub weight_decay: f64,
    /// Adam epsilon; PyTorch's 1e-8, not Burn's default 1e-5, to reproduce the reports.
    #[config(default = 1e-8)]
    pub adam_epsilon: f64,
    /// The optimiser; `None` is Adam. Optional so that configurations saved
    /// before it existed still read back (and compare equal on `--resume`).
    pub optimizer: Option<Optimizer>,
}

/// How a step turns gradients into an update. Both add the L2 term
/// `weight_decay * w` to the gradient and follow the same lr schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    /// Adam (the assignment's): each parameter's step normalised by its own
    /// gradient scale.
    #[default]
    Adam,
    /// Plain SGD, `w -= lr * (g + weight_decay * w)`: no normalisation, so a
    /// vanishing gradient gives a vanishing step.
    Sgd,
}

impl Optimizer {
    pub const ALL: [Optimizer; 2] = [Optimizer::Adam, Optimizer::Sgd];

    pub fn name(self) -> &'static str {
        match self {
            Optimizer::Adam => "adam",
            Optimizer::Sgd => "sgd",
        }
    }
}

impl std::fmt::Display for Optimizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Optimizer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Optimizer::ALL
            .into_iter()
            .find(|o| o.name() == s)
            .ok_or_else(|| format!("unknown optimizer '{s}'; choose adam or sgd"))
    }
}

impl TrainConfig {
    /// The optimiser the steps use.
    pub fn optimizer(&self) -> Optimizer {
        self.optimizer.unwrap_or_default()
    }

    /// Rejects values no training could use, naming the flag.
    pub fn validate(&self) -> Result<(), TrainError> {
        if self.epochs == 0 {
            return Err(TrainError::invalid("--epochs", "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(TrainError::invalid("--batch-size", "must be at least 1"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(TrainError::invalid(
                "--lr",
                format!("{} is not a positive number", self.lr),
            ));
        }
        if !(self.lr_decay.is_finite() && self.lr_decay > 0.0) {
            return Err(TrainError::invalid(
                "--lr-decay",
                format!("{} is not a positive number", self.lr_decay),
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(TrainError::invalid(
                "--weight-decay",
                format!("{} is not a number >= 0", self.weight_decay),
            ));
        }
        Ok(())
    }
}
