//! Flags several commands share: data and splits, device and engine, the
//! long-job flags, the MLP recipe.

use std::path::PathBuf;

use clap::Args;
use clap::builder::BoolishValueParser;
use mlp_train::jobs::{SeedList, Shard};
use mlp_train::train::{EngineChoice, Target};

use super::names;
use crate::device::DeviceChoice;

/// Where the data is and how it is split.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// CIFAR-10 directory: the binary layout (data_batch_1.bin …) or the
    /// Python layout (data_batch_1 …), or a directory holding
    /// cifar-10-batches-bin / cifar-10-batches-py.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Training images: the first N of the training files.
    #[arg(long, default_value_t = 49_000, allow_negative_numbers = true)]
    pub num_train: usize,
    /// Validation images: the next N training images after the training split.
    #[arg(long, default_value_t = 1_000, allow_negative_numbers = true)]
    pub num_val: usize,
    /// Test images: the first N of test_batch.
    #[arg(long, default_value_t = 1_000, allow_negative_numbers = true)]
    pub num_test: usize,
}

#[derive(Debug, Clone, Args)]
pub struct DeviceArgs {
    /// Where to train: `gpu` (wgpu on a hardware adapter: Vulkan, or Metal on
    /// macOS), `cuda` (Burn's CUDA runtime on an NVIDIA GPU; in builds with
    /// the `cuda` feature), `cpu` (Burn's flex backend), `ndarray` (Burn's
    /// deprecated CPU backend, for comparison) or `auto` (a hardware wgpu
    /// adapter, else a CUDA device, else the CPU; it says which on stderr).
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    #[command(flatten)]
    pub software_gpu: SoftwareGpuArgs,
}

#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// How each step computes gradients: `fused` (a hand-written CPU step),
    /// `autodiff` (Burn's, on any device, one network at a time), `stacked`
    /// (Burn's autodiff on groups of networks stacked into one model, on any
    /// device; see --group-size) or `auto` (fused on `--device cpu`, autodiff
    /// on `ndarray`, stacked on a GPU).
    #[arg(long, default_value = "auto", value_parser = names::<EngineChoice>(EngineChoice::ALL.map(EngineChoice::name)))]
    pub engine: EngineChoice,
}

/// How a long job treats earlier results and which part of it to run.
#[derive(Debug, Clone, Args)]
pub struct JobArgs {
    /// Finish an interrupted job in --out: keep its finished runs, train the
    /// rest. The arguments must be the ones it was started with. Starts
    /// afresh when --out holds nothing yet, so a requeued job can always pass it.
    #[arg(long, conflicts_with = "overwrite")]
    pub resume: bool,
    /// Replace results already in --out (without it, the job refuses to
    /// overwrite finished runs).
    #[arg(long)]
    pub overwrite: bool,
    /// Train only the K-th of N disjoint slices of the runs (e.g. one task of
    /// a Slurm job array), into --out/shard-K-of-N; combine with `mlp-cli merge`.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
}

/// How many networks of a study or map train at the same time, and how.
#[derive(Debug, Clone, Args)]
pub struct NetworkJobsArgs {
    /// Networks (or groups) trained at the same time [default: 1 on a GPU;
    /// on the CPU, half the cores, at least 1]. They share the loaded data
    /// and the cores; every number in the tables is the same for every value.
    #[arg(long, value_parser = parse_count("jobs"))]
    pub jobs: Option<usize>,
    /// Networks trained together, at most this many; 1 trains them one at a
    /// time [default: no limit]. On the fused engine (the default on the
    /// CPU): networks of one seed (every depth and variant it trains) in one
    /// pass over the data, each network's numbers the same bit for bit. On
    /// the stacked engine (the default on a GPU): networks of the same shape
    /// (same depth and kinds of layers) as one batched model, each
    /// network's numbers the same to float rounding.
    #[arg(long, value_parser = parse_count("networks"))]
    pub group_size: Option<usize>,
}

impl NetworkJobsArgs {
    /// `--jobs`, or its default for the device.
    pub fn workers(&self, is_gpu: bool) -> usize {
        self.jobs.unwrap_or_else(|| match is_gpu {
            true => 1,
            false => std::thread::available_parallelism().map_or(1, |n| n.get() / 2).max(1),
        })
    }

    /// `--group-size` on the target's engine (see [`mlp_train::train::Engine::group_size`]).
    pub fn group_size(&self, target: &Target) -> anyhow::Result<usize> {
        Ok(target.engine.group_size(self.group_size)?)
    }

    /// Units (or groups) at a time and the largest group, for a job on `target`.
    pub fn concurrency(&self, is_gpu: bool, target: &Target) -> anyhow::Result<(usize, usize)> {
        Ok((self.workers(is_gpu), self.group_size(target)?))
    }
}

/// A parser of a count that must be at least 1, named in its error.
fn parse_count(what: &'static str) -> impl Fn(&str) -> Result<usize, String> + Clone {
    move |value: &str| match value.parse::<usize>() {
        Ok(count) if count > 0 => Ok(count),
        _ => Err(format!(
            "'{value}' is not a number of {what} (a whole number, at least 1)"
        )),
    }
}

/// The MLP training recipe (assignment Q4 defaults).
#[derive(Debug, Clone, Args)]
pub struct RecipeArgs {
    /// Passes over the training split.
    #[arg(long, default_value_t = 10, allow_negative_numbers = true)]
    pub epochs: usize,
    /// Images per optimiser step.
    #[arg(long, default_value_t = 200, allow_negative_numbers = true)]
    pub batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3, allow_hyphen_values = true)]
    pub lr: f64,
    /// Learning-rate factor applied after every epoch.
    #[arg(long, default_value_t = 0.95, allow_hyphen_values = true)]
    pub lr_decay: f64,
    /// L2 weight decay added to the gradient (PyTorch Adam's weight_decay).
    #[arg(long, default_value_t = 1e-3, allow_hyphen_values = true)]
    pub weight_decay: f64,
    /// Seeds of the weights, dropout and shuffling: every configuration is
    /// trained once per seed and summarised as mean ± standard deviation.
    /// A list (0,1,2) or an inclusive range (0..4).
    #[arg(long, alias = "seed", default_value = "0")]
    pub seeds: SeedList,
}

/// Whether a software wgpu adapter may stand in for a GPU.
#[derive(Debug, Clone, Args)]
pub struct SoftwareGpuArgs {
    /// Let `--device gpu` run on a software wgpu adapter (Mesa's llvmpipe),
    /// to test the GPU code path on a machine without a GPU; never for timings.
    #[arg(long, env = "MLP_ALLOW_SOFTWARE_GPU", value_parser = BoolishValueParser::new(), hide_env_values = true)]
    pub allow_software_gpu: bool,
}
