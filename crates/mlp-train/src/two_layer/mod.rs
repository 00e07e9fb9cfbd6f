//! The scratch two-layer network: its checks on the toy problem (Q1, Q2),
//! its training (Q3): SGD, its charts, and the
//! tuning run over its hyper-parameters (a resumable, shardable job).

mod charts;
mod check;
mod grid;
mod outputs;
mod sgd;
mod tuning;

pub use charts::{plot_history, plot_tuning_heatmap, plot_weights};
pub use check::{LOSS_TOLERANCE, SCORE_TOLERANCE, ToyCheck};
pub use grid::{Trial, TrialRow, TuneGrid, best_trial, trial_means};
pub use outputs::{RUN_FILES, RunFiles};
pub use sgd::{
    Batches, IterationRow, MAX_HIDDEN, SgdConfig, SgdOutcome, TensorSplit, accuracy, init_cifar_net, train_sgd,
};
pub use tuning::{TrialKey, TrialSettings, TuningConfig, TuningFiles, TuningOutcome, merge_tunings, tune};
