//! What defines a map: saved as JSON beside its results.

use mlp_data::Preprocess;
use serde::{Deserialize, Serialize};

use crate::jobs::JobHeader;
use crate::ranges::LayerRange;
use crate::train::{EngineChoice, TrainConfig};

/// Everything that defines a map; saved as JSON beside the results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainabilityConfig {
    /// Depths, counted in Linear layers.
    pub layers: LayerRange,
    /// Width of every hidden layer.
    pub width: usize,
    /// Initial gains: weights ~ Normal(0, gain / sqrt(fan_in)).
    pub gains: Vec<f64>,
    /// The recipe of every run (Adam or SGD), trained once per seed of the header.
    pub recipe: TrainConfig,
    #[serde(flatten)]
    pub header: JobHeader,
    pub preprocess: Preprocess,
    /// The step engine asked for; each row records the one that ran.
    #[serde(default)]
    pub engine: EngineChoice,
}
