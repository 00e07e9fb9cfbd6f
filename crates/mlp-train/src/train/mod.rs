//! Training an [`mlp_model::Mlp`]: one loop for every device (the
//! assignment's Q4 recipe: Adam with L2, per-epoch lr decay, best-on-
//! validation model, test evaluated once) that trains one network or a
//! group, whose steps run on one of the [`engines`]: Burn's autodiff
//! (`autodiff`), a hand-written CPU step ([`fused`]) or a group of networks
//! as one batched model (`stacked`); the splits it reads, placed on the
//! host or the device; and what it asks of the device, counted
//! (`device_work`).
//!
//! Dependencies point one way: `run` → `group` (the loop) → (`autodiff`,
//! `fused`, `stacked`, `evaluate`, `dynamics`, `outcome`) → `engines` →
//! `config`; `data` → `target` → `engines`.

mod autodiff;
mod config;
mod data;
mod device_split;
mod device_work;
mod dynamics;
pub mod engines;
mod evaluate;
pub mod fused;
mod group;
mod host_split;
mod outcome;
mod run;
mod stacked;
mod target;

pub use config::{Optimizer, TrainConfig};
pub use data::{Batches, Split, TrainData};
pub use device_split::DeviceSplit;
pub use device_work::{EpochDeviceWork, LaunchCounting, host_reads, kernel_launches};
pub use dynamics::{LayerDynamics, PROBE_IMAGES};
pub use engines::{Engine, EngineChoice, same_shapes};
pub(crate) use engines::is_host_cpu;
pub use evaluate::evaluate;
pub use group::train_group;
pub use host_split::HostSplit;
pub use outcome::{EpochRecord, Evaluation, GroupMember, LayerSignal, MIN_EVAL_BATCH, RunControl, RunOutcome};
pub use run::{job_groups, train_job_group, train_mlp};
pub use target::{DeviceMemory, Placement, Target};
