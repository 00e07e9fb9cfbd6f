//! What the depth study compares: the variants of a network and the range
//! of depths, with the hidden widths of each depth.

use std::fmt;
use std::str::FromStr;

use mlp_model::{MlpConfig, WeightInit};
use serde::{Deserialize, Serialize};

use crate::TrainError;

/// The hidden widths of the assignment's report: 2 layers = [50], …, 6 = [50, 40, 30, 25, 20].
pub const DEFAULT_WIDTHS: [usize; 5] = [50, 40, 30, 25, 20];

/// What is compared at each depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// The assignment's network: Normal(0, 1e-3) weights, nothing else.
    Plain,
    /// Kaiming (He) initialisation instead of Normal(0, 1e-3).
    Kaiming,
    /// Xavier (Glorot) initialisation, std = sqrt(2 / (fan_in + fan_out)):
    /// the scale Glorot and Bengio derived for tanh layers.
    Xavier,
    /// BatchNorm after every hidden Linear, assignment initialisation.
    Batchnorm,
    /// BatchNorm plus Dropout(0.4) after every ReLU, as one report did.
    BatchnormDropout,
    /// Assignment initialisation, and every hidden layer whose input and
    /// output widths match adds its input to its output (`x + ReLU(Wx + b)`).
    /// Equal widths (`--width W`) make every hidden layer but the first one
    /// residual. On the CPU it trains through Burn's autodiff (the fused step
    /// has no residual layers); on a GPU, in stacked groups of its own.
    Residual,
}

impl Variant {
    pub const ALL: [Variant; 6] = [
        Variant::Plain,
        Variant::Kaiming,
        Variant::Xavier,
        Variant::Batchnorm,
        Variant::BatchnormDropout,
        Variant::Residual,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Variant::Plain => "plain",
            Variant::Kaiming => "kaiming",
            Variant::Xavier => "xavier",
            Variant::Batchnorm => "batchnorm",
            Variant::BatchnormDropout => "batchnorm-dropout",
            Variant::Residual => "residual",
        }
    }

    /// The model of this variant with the given hidden widths.
    pub fn model_config(self, hidden: Vec<usize>) -> MlpConfig {
        let config = MlpConfig::new(hidden);
        match self {
            Variant::Plain => config,
            Variant::Kaiming => config.with_init(WeightInit::Kaiming),
            Variant::Xavier => config.with_init(WeightInit::Xavier),
            Variant::Batchnorm => config.with_batch_norm(true),
            Variant::BatchnormDropout => config.with_batch_norm(true).with_dropout(0.4),
            Variant::Residual => config.with_residual(true),
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Variant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Variant::ALL.into_iter().find(|v| v.name() == s).ok_or_else(|| {
            let names: Vec<_> = Variant::ALL.iter().map(|v| v.name()).collect();
            format!("unknown variant '{s}'; choose from {}", names.join(", "))
        })
    }
}

/// Hidden widths of a network with `layers` Linear layers: the first `layers - 1` widths.
pub fn hidden_widths(layers: usize, widths: &[usize]) -> Result<Vec<usize>, TrainError> {
    if layers > widths.len() + 1 {
        return Err(TrainError::invalid(
            "--widths",
            format!(
                "{layers} layers need {} hidden widths but only {} were given ({}); add widths or lower --layers",
                layers - 1,
                widths.len(),
                join_widths(widths)
            ),
        ));
    }
    Ok(widths[..layers - 1].to_vec())
}

/// Widths joined by dashes (`50-40-30`), as the tables show them.
pub(crate) fn join_widths(widths: &[usize]) -> String {
    widths.iter().map(usize::to_string).collect::<Vec<_>>().join("-")
}
