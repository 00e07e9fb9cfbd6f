//! `trainability`: the map of depth × initial gain, as a job.

use mlp_data::Normalizer;
use mlp_train::Progress;
use mlp_train::StopSignal;
use mlp_train::jobs::Job;
use mlp_train::ranges::grid_values;
use mlp_train::train::{HostSplit, TrainData};
use mlp_train::trainability::{MapFiles, TrainabilityConfig, run_trainability};

use super::{invocation, job_error, job_header};
use crate::cli::TrainabilityArgs;

pub fn run(args: TrainabilityArgs, progress: Progress, stop: &StopSignal) -> anyhow::Result<()> {
    let chosen = args.device.choose(progress == Progress::Quiet)?;
    let is_gpu = chosen.is_gpu;
    let target = chosen.target(args.engine.engine)?;
    let concurrency = args.jobs.concurrency(is_gpu, &target)?;
    let splits = args.data.load_splits(progress)?;
    let config = TrainabilityConfig {
        layers: args.layers,
        width: args.width,
        gains: grid_values(&args.gains),
        recipe: args.recipe.train_config().with_optimizer(Some(args.optimizer)),
        header: job_header(&args.recipe, &args.data, &args.job, &splits, &target),
        preprocess: args.preprocess,
        engine: args.engine.engine,
    };
    let dir = config.output_dir(&args.out);
    let normalizer = Normalizer::fit(config.preprocess, &splits.train);
    let data = TrainData::new(
        [&splits.train, &splits.val, &splits.test].map(|images| HostSplit::new(images, &normalizer)),
        &target,
    );
    let command = invocation();
    let run = args.job.run(&args.out, &command, progress, stop, concurrency);
    let rows =
        run_trainability(&config, &data, &target, run).map_err(|e| job_error(e, Some("trainability map failed")))?;
    let files = MapFiles::in_dir(&dir);
    out!(
        "{} runs; results: {} (one row per run), {} (mean test accuracy over depth x gain)",
        rows.0.len(),
        files.rows.display(),
        files.heatmap.display()
    );
    Ok(())
}
