//! Training loops, long jobs, experiments, result records and charts.
//!
//! - [`train`]: the training loop of the [`mlp_model::Mlp`] on any device,
//!   its step [`train::engines`] (Burn's autodiff, the fused CPU step, the
//!   stacked group step) and the splits it reads.
//! - [`jobs`]: what every long job shares: resume, shards, merge, the
//!   output-directory lock, atomic result files, seeds.
//! - [`experiments`]: the depth study, the trainability map and the
//!   two-layer tuning run, each a job, in one registry
//!   ([`experiments::Experiment`]) that `merge` reads.
//! - [`two_layer`]: the scratch network's SGD training (Q3), its files and
//!   charts; [`bench`](mod@bench): epoch timings of the real training path against the
//!   matmul peak.
//! - [`memory`]: the memory check before anything trains.
//! - [`ranges`]: the list and range syntax the experiments' flags share.
//! - [`plots`], [`stats`], [`progress`]: drawing helpers, mean ± std, progress bars;
//!   [`StopSignal`]: Ctrl-C's request to stop, read by `train` and `jobs` alike.
//!
//! Dependencies point one way: `experiments` → `two_layer` → `jobs` →
//! `memory` → `train` → (`progress`, the stop signal, `error`); the
//! experiments also use `ranges`, `plots` and `stats`. Nothing in `train`
//! imports `jobs`, `memory` or an experiment.

pub mod bench;
pub mod error;
pub mod experiments;
pub mod jobs;
pub mod memory;
pub mod plots;
pub mod progress;
pub mod ranges;
pub mod stats;
mod stop;
pub mod train;
pub mod two_layer;

pub use error::TrainError;
pub use progress::Progress;
pub use stop::StopSignal;
