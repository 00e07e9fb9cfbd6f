//! The scratch two-layer network: its checks on the toy problem (Q1, Q2),
//! its training by SGD (Q3), its files and its charts. Its tuning run (a
//! job) is an experiment: [`crate::experiments::tuning`].

mod charts;
mod check;
mod outputs;
mod sgd;

pub use charts::{plot_history, plot_weights};
pub use check::{LOSS_TOLERANCE, SCORE_TOLERANCE, ToyCheck};
pub use outputs::{RUN_FILES, RunFiles};
pub use sgd::{IterationRow, MAX_HIDDEN, SgdConfig, SgdOutcome, TensorSplit, accuracy, init_cifar_net, train_sgd};
