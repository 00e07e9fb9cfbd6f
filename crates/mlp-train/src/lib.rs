//! Training loops, studies, result records and plots.
//!
//! - [`mlp_loop`]: one training loop for the [`mlp_model::Mlp`] on any device
//!   (the assignment's Q4 recipe: Adam with L2, per-epoch lr decay, best-on-
//!   validation model, test evaluated once).
//!   Its steps run on Burn's autodiff, or on [`fused`], a hand-written CPU
//!   step.
//! - [`study`]: the depth study — every depth × variant, CSV tables, plots.
//! - [`two_layer`]: SGD training of the scratch network (Q3).
//! - [`sweep`]: tuning sweeps over its hyper-parameters, resumable and shardable.
//! - [`bench`]: epoch timings of the real training path against the matmul peak.
//! - [`plan`]: seed lists, shards of a sweep, the Ctrl-C stop signal.
//! - [`records`], [`plots`]: atomically written CSV rows and PNG charts.

pub mod batches;
pub mod bench;
pub mod error;
pub mod fused;
pub mod mlp_loop;
pub mod plan;
pub mod plots;
pub mod progress;
pub mod records;
pub mod resident;
mod shards;
mod steps;
pub mod study;
pub mod sweep;
pub mod two_layer;

pub use error::TrainError;
pub use progress::Progress;
