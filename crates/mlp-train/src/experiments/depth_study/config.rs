//! What defines a study: saved as JSON beside its results.

use mlp_data::Preprocess;
use mlp_model::Activation;
use serde::{Deserialize, Serialize};

use super::variant::Variant;
use crate::jobs::JobHeader;
use crate::ranges::LayerRange;
use crate::train::{EngineChoice, TrainConfig};

/// Everything that defines a study; saved as JSON beside the results, and
/// compared on `--resume` and by `merge`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StudyConfig {
    pub layers: LayerRange,
    pub widths: Vec<usize>,
    pub variants: Vec<Variant>,
    /// The hidden layers' nonlinearity; studies recorded before there was a
    /// choice were ReLU.
    #[serde(default, skip_serializing_if = "is_relu")]
    pub activation: Activation,
    /// The recipe of every run, trained once per seed of the header.
    pub recipe: TrainConfig,
    #[serde(flatten)]
    pub header: JobHeader,
    pub preprocess: Preprocess,
    /// The step engine asked for; each row records the one that ran.
    #[serde(default)]
    pub engine: EngineChoice,
    /// The dynamics probe; studies recorded before it existed had none.
    #[serde(default)]
    pub dynamics: DynamicsSettings,
}

/// Whether the study's runs record their dynamics (`depth_study_dynamics.csv`)
/// and which depth the dynamics chart draws.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DynamicsSettings {
    pub enabled: bool,
    /// The depth drawn in `depth_study_dynamics.png`; `None`: the deepest.
    pub plot_depth: Option<usize>,
}

fn is_relu(activation: &Activation) -> bool {
    *activation == Activation::Relu
}
