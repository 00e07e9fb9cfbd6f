//! `trainability`: the map of depth × initial gain, as a job.

use mlp_data::Normalizer;
use mlp_train::Progress;
use mlp_train::jobs::{JobHeader, StopSignal};
use mlp_train::train::{HostSplit, TrainConfig, TrainData};
use mlp_train::trainability::{MapFiles, TrainabilityConfig, run_trainability};
use mlp_train::two_layer::grid_values;

use super::{invocation, job_error};
use crate::cli::TrainabilityArgs;

pub fn run(args: TrainabilityArgs, progress: Progress, stop: &StopSignal) -> anyhow::Result<()> {
    let recipe = TrainConfig::new()
        .with_epochs(args.recipe.epochs)
        .with_batch_size(args.recipe.batch_size)
        .with_lr(args.recipe.lr)
        .with_lr_decay(args.recipe.lr_decay)
        .with_weight_decay(args.recipe.weight_decay)
        .with_optimizer(Some(args.optimizer));
    let target = args
        .device
        .choose(progress == Progress::Quiet)?
        .target(args.engine.engine)?;
    let splits = args.data.load_splits(progress)?;
    let config = TrainabilityConfig {
        layers: args.layers,
        width: args.width,
        gains: grid_values(&args.gains),
        recipe,
        header: JobHeader {
            seeds: args.recipe.seeds,
            splits: args.data.sizes(),
            data_fingerprint: splits.fingerprint(),
            shard: args.job.shard,
            device: target.description.clone(),
        },
        preprocess: args.preprocess,
        engine: args.engine.engine,
    };
    let dir = mlp_train::jobs::Job::output_dir(&config, &args.out);
    let normalizer = Normalizer::fit(config.preprocess, &splits.train);
    let data = TrainData::new(
        [&splits.train, &splits.val, &splits.test].map(|images| HostSplit::new(images, &normalizer)),
        &target,
    );
    let command = invocation();
    let run = args.job.run(&args.out, &command, progress, stop, 1);
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
