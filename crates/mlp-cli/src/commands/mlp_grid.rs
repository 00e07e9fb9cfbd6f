//! What the commands of the MLP experiments (`depth-study`,
//! `trainability`) share around their configurations: the device and its
//! engine, how many networks train at a time, the splits; then the
//! normalised data placed on the device, once, and the job run.

use std::path::Path;

use mlp_data::{Normalizer, Preprocess, Splits};
use mlp_train::experiments::{MlpGrid, run_mlp_grid};
use mlp_train::train::{HostSplit, Target, TrainData};
use mlp_train::{Progress, StopSignal};

use super::{invocation, job_error};
use crate::cli::{DataArgs, DeviceArgs, EngineArgs, JobArgs, NetworkJobsArgs};

/// The device, engine, concurrency and splits of an MLP experiment.
pub struct MlpSetup {
    pub target: Target,
    /// `--jobs` and `--group-size`, resolved for the device.
    pub concurrency: (usize, usize),
    pub splits: Splits,
    progress: Progress,
}

impl MlpSetup {
    /// Opens the device, resolves the engine and concurrency, reads the
    /// splits. Bad values are clap's usage errors already; the settings are
    /// checked together, once, by the job (before it writes anything), on a
    /// configuration built whole: the device it runs on and the data it
    /// reads are part of it.
    pub fn new(
        device: &DeviceArgs,
        engine: &EngineArgs,
        jobs: &NetworkJobsArgs,
        data: &DataArgs,
        progress: Progress,
    ) -> anyhow::Result<Self> {
        let chosen = device.choose(progress == Progress::Quiet)?;
        let is_gpu = chosen.is_gpu;
        let target = chosen.target(engine.engine)?;
        let concurrency = jobs.concurrency(is_gpu, &target)?;
        let splits = data.load_splits(progress)?;
        Ok(MlpSetup {
            target,
            concurrency,
            splits,
            progress,
        })
    }

    /// Runs `config`'s networks into `out` (`what` names the experiment in
    /// a failure): the splits normalised by `preprocess` and, on a GPU,
    /// uploaded once for every run.
    pub fn run<G: MlpGrid>(
        &self,
        config: &G,
        preprocess: Preprocess,
        job: &JobArgs,
        out: &Path,
        stop: &StopSignal,
        what: &'static str,
    ) -> anyhow::Result<G::Records> {
        let splits = &self.splits;
        let normalizer = Normalizer::fit(preprocess, &splits.train);
        let data = TrainData::new(
            [&splits.train, &splits.val, &splits.test].map(|images| HostSplit::new(images, &normalizer)),
            &self.target,
        );
        let command = invocation();
        let run = job.run(out, &command, self.progress, stop, self.concurrency);
        run_mlp_grid(config, &data, &self.target, run).map_err(|e| job_error(e, Some(what)))
    }
}
