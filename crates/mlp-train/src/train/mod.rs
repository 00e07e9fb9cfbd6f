//! Training an [`mlp_model::Mlp`]: one loop for every device (the
//! assignment's Q4 recipe: Adam with L2, per-epoch lr decay, best-on-
//! validation model, test evaluated once) that trains one network or a
//! group, whose steps run on Burn's autodiff, on [`fused`] (a hand-written
//! CPU step) or on `stacked` (a group of networks as one batched model);
//! the splits it reads, placed on the host or the device; and what it asks
//! of the device, counted (`device_work`).
//!
//! Dependencies point one way: `run` → (`steps`, `stacked`) → (`config`,
//! `data`, `fused`, `device_work`); `data` → `target` → `engine`.

mod config;
mod data;
mod device_split;
mod device_work;
mod dynamics;
mod engine;
pub mod fused;
mod host_split;
mod run;
mod stacked;
mod steps;
mod target;

pub use config::{Optimizer, TrainConfig};
pub use data::{Split, TrainData};
pub use device_split::DeviceSplit;
pub use device_work::{EpochDeviceWork, LaunchCounting, host_reads, kernel_launches};
pub use dynamics::{LayerDynamics, PROBE_IMAGES};
pub use engine::{Engine, EngineChoice};
pub use host_split::HostSplit;
pub use run::{
    EpochRecord, Evaluation, GroupMember, LayerSignal, MIN_EVAL_BATCH, RunControl, RunOutcome, evaluate, member_engine,
    same_shapes, stacked_groups, train_group, train_job_group, train_mlp,
};
pub use target::{DeviceMemory, Placement, Target};
