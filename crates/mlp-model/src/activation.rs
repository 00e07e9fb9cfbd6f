//! The nonlinearity of every hidden layer, as a tensor operation for the
//! models and as a scalar function (with its derivative) for the mean-field
//! theory ([`crate::mean_field`]).

use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// The activation of every hidden layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    /// `max(0, x)`: the assignment's.
    #[default]
    Relu,
    /// `tanh(x)`: bounded, so a unit saturates at ±1 where its input is large.
    Tanh,
}

impl Activation {
    pub const ALL: [Activation; 2] = [Activation::Relu, Activation::Tanh];

    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
        }
    }

    /// The activation applied elementwise to `x`.
    pub fn forward<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Activation::Relu => burn::tensor::activation::relu(x),
            Activation::Tanh => x.tanh(),
        }
    }

    /// φ(x), in f64 for the theory.
    pub fn value(self, x: f64) -> f64 {
        match self {
            Activation::Relu => x.max(0.0),
            Activation::Tanh => x.tanh(),
        }
    }

    /// φ′(x) (ReLU's is taken as 0 at 0, where it has none).
    pub fn derivative(self, x: f64) -> f64 {
        match self {
            Activation::Relu => f64::from(u8::from(x > 0.0)),
            Activation::Tanh => 1.0 - x.tanh().powi(2),
        }
    }

    /// Whether φ(a x) = a φ(x) for every a > 0 (ReLU): such a network has
    /// no signal scale of its own, so without biases its mean-field
    /// variance has no fixed point but 0 and ∞.
    pub fn is_scale_free(self) -> bool {
        match self {
            Activation::Relu => true,
            Activation::Tanh => false,
        }
    }
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Activation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Activation::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| format!("unknown activation '{s}'; choose from relu, tanh"))
    }
}
