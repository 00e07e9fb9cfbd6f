//! The two-layer network of assignment Q1–Q3, written from scratch.
//!
//! Forward pass, loss and every gradient are plain Burn tensor operations in
//! [`net`]; no autodiff is involved. [`gradcheck`] proves the gradients against
//! centred finite differences and against Burn's autodiff, and [`toy`] holds the
//! assignment's toy problem with its known-correct scores and loss.

pub mod gradcheck;
pub mod net;
pub mod params;
pub mod saved;
pub mod toy;

pub use gradcheck::{GRADCHECK_H, GRADCHECK_THRESHOLD, GradCheckRow, check_gradients, rel_error};
pub use net::{LossOutput, TwoLayerNet};
pub use params::{ParamName, Params};
pub use toy::{ToyError, ToyProblem};
