//! Models of the project.
//!
//! - [`mlp`]: the configurable-depth multi-layer perceptron of the depth study
//!   (assignment Q4), with optional BatchNorm and dropout and a choice of weight
//!   initialisation, built on Burn modules and trained with autodiff.
//! - [`activation`]: the hidden layers' nonlinearity (ReLU or tanh).
//! - [`mean_field`]: the mean-field theory of signal propagation at
//!   initialisation (q*, χ₁, c*, ξ_c): where a deep MLP can train.
//! - [`scratch`]: the two-layer network of Q1–Q3 whose forward pass, loss and
//!   gradients are written by hand with Burn tensor operations, plus the
//!   centred-difference gradient checker that proves those gradients.

pub mod activation;
pub mod mean_field;
pub mod mlp;
pub mod scratch;

pub use activation::Activation;
pub use mlp::{HiddenBlock, HiddenTrace, Mlp, MlpConfig, NormStatistics, WeightInit};
