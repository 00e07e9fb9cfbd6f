//! What defines a map: saved as JSON beside its results.

use mlp_data::Preprocess;
use mlp_model::Activation;
use serde::{Deserialize, Serialize};

use crate::jobs::JobHeader;
use crate::ranges::Depths;
use crate::train::{EngineChoice, TrainConfig};

/// Everything that defines a map; saved as JSON beside the results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainabilityConfig {
    /// Depths, counted in Linear layers.
    pub layers: Depths,
    /// Width of every hidden layer.
    pub width: usize,
    /// Initial gains: weights ~ Normal(0, gain / sqrt(fan_in)).
    pub gains: Vec<f64>,
    /// The hidden layers' nonlinearity; maps recorded before there was a
    /// choice were ReLU.
    #[serde(default, skip_serializing_if = "is_relu")]
    pub activation: Activation,
    /// The std of every bias at initialisation (sigma_b); 0 (the default,
    /// and every map recorded before it could be set): zero biases.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bias_std: f64,
    /// The recipe of every run (Adam or SGD), trained once per seed of the header.
    pub recipe: TrainConfig,
    #[serde(flatten)]
    pub header: JobHeader,
    pub preprocess: Preprocess,
    /// The step engine asked for; each row records the one that ran.
    #[serde(default)]
    pub engine: EngineChoice,
}

fn is_relu(activation: &Activation) -> bool {
    *activation == Activation::Relu
}

fn is_zero(value: &f64) -> bool {
    *value == 0.0
}
