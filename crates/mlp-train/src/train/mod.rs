//! Training an [`mlp_model::Mlp`]: one loop for every device (the
//! assignment's Q4 recipe: Adam with L2, per-epoch lr decay, best-on-
//! validation model, test evaluated once), whose steps run on Burn's
//! autodiff or on [`fused`], a hand-written CPU step; and the splits it
//! reads, on the host or resident on the device.
//!
//! Dependencies point one way: `run` → `steps` → (`config`, `data`, `fused`).

mod config;
mod data;
mod device;
mod engine;
pub mod fused;
mod host;
mod run;
mod steps;

pub use config::TrainConfig;
pub use data::{ResidentSplits, SplitData, SplitSources};
pub use device::ResidentImages;
pub use engine::Engine;
pub use host::BatchSource;
pub use run::{EpochRecord, Evaluation, LayerSignal, RunControl, RunOutcome, evaluate, train_mlp};
