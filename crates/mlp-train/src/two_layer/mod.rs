//! The scratch two-layer network's training (Q3): SGD, its charts, and the
//! tuning sweep over its hyper-parameters (a resumable, shardable job).

mod charts;
mod grid;
mod sgd;
mod tuning;

pub use charts::{plot_history, plot_tuning_heatmap, plot_weights};
pub use grid::{Trial, TrialRow, TuneGrid, best_trial, trial_means};
pub use sgd::{
    Examples, IterationRow, MAX_HIDDEN, SgdConfig, SgdOutcome, TensorExamples, accuracy, init_cifar_net, train_sgd,
};
pub use tuning::{BEST_TRIAL_FILES, TrialKey, TuningConfig, TuningFiles, TuningOutcome, merge_tunings, tune};
