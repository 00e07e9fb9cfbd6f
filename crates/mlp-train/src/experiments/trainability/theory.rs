//! What the mean-field theory predicts for a map's networks
//! (`mlp_model::mean_field`): one row per gain of `trainability_theory.csv`,
//! and the depth each gain should train to (6 depth scales, after
//! Schoenholz et al. 2017), which the heat map draws over the measurements.

use mlp_model::mean_field::{MeanField, Propagation};
use serde::{Deserialize, Serialize};

use super::config::TrainabilityConfig;

/// Depth scales a network trains through, by Schoenholz et al.'s measurements.
pub const TRAINABLE_DEPTH_SCALES: f64 = 6.0;

/// One row of `trainability_theory.csv`: the theory at one gain of the map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TheoryRow {
    pub activation: String,
    /// σ_w: weights ~ N(0, σ_w² / fan_in).
    pub gain: f64,
    /// σ_b: biases ~ N(0, σ_b²).
    pub bias_std: f64,
    /// The pre-activations' variance at the fixed point (0 or inf where the
    /// signal vanishes or explodes: scale-free ReLU without biases).
    pub q_star: f64,
    /// The correlation map's slope at c = 1: < 1 ordered, > 1 chaotic.
    pub chi1: f64,
    /// Where the correlation of two inputs settles.
    pub c_star: f64,
    /// Layers over which correlations approach c* by a factor e (inf at the
    /// critical line, and for ReLU without biases).
    pub xi_c: f64,
    pub phase: String,
    /// For ReLU without biases, whose xi_c is infinite: layers over which the
    /// signal's scale changes by a factor e, 1 / |ln chi1|; empty otherwise.
    pub xi_q: Option<f64>,
    /// 6 xi_c (6 xi_q where xi_c is infinite and xi_q is not): the depth the
    /// theory expects networks of this gain to train to.
    pub trainable_depth: f64,
    /// The gain where chi1 = 1 for this activation and bias std.
    pub critical_gain: f64,
}

impl TrainabilityConfig {
    /// The theory at every gain of the map, in the map's order.
    pub fn theory(&self) -> Vec<TheoryRow> {
        let critical_gain = self.critical_gain();
        self.gains
            .iter()
            .map(|&gain| {
                let p: Propagation = MeanField::new(self.activation, gain, self.bias_std).propagation();
                TheoryRow {
                    activation: self.activation.to_string(),
                    gain,
                    bias_std: self.bias_std,
                    q_star: p.q_star,
                    chi1: p.chi1,
                    c_star: p.c_star,
                    xi_c: p.xi_c,
                    phase: p.phase.name().to_owned(),
                    xi_q: p.xi_q,
                    trainable_depth: TRAINABLE_DEPTH_SCALES * p.depth_scale(),
                    critical_gain,
                }
            })
            .collect()
    }

    /// The gain where χ₁ = 1 for the map's activation and bias std.
    pub fn critical_gain(&self) -> f64 {
        MeanField::critical_weight_std(self.activation, self.bias_std)
    }
}
