//! `trainability`: the map of depth × initial gain, as a job.

use mlp_train::experiments::trainability::{MapFiles, MapRows, TrainabilityConfig};
use mlp_train::jobs::Job;
use mlp_train::ranges::{Depths, grid_values};
use mlp_train::{Progress, StopSignal};

use super::job_header;
use super::mlp_grid::MlpSetup;
use crate::cli::TrainabilityArgs;

pub fn run(args: TrainabilityArgs, progress: Progress, stop: &StopSignal) -> anyhow::Result<()> {
    let setup = MlpSetup::new(&args.device, &args.engine, &args.jobs, &args.data, progress)?;
    let config = TrainabilityConfig {
        layers: Depths(args.layers),
        width: args.width,
        gains: grid_values(&args.gains),
        activation: args.activation,
        bias_std: args.bias_std,
        recipe: args.recipe.train_config().with_optimizer(Some(args.optimizer)),
        header: job_header(&args.recipe, &args.data, &args.job, &setup.splits, &setup.target),
        preprocess: args.preprocess,
        engine: args.engine.engine,
    };
    let rows = setup.run(
        &config,
        config.preprocess,
        &args.job,
        &args.out,
        stop,
        "trainability map failed",
    )?;
    print_results(&config.output_dir(&args.out), &rows)
}

/// Where a map's results are, after a run or a merge.
pub fn print_results(dir: &std::path::Path, rows: &MapRows) -> anyhow::Result<()> {
    let files = MapFiles::in_dir(dir);
    out!(
        "{} runs; results: {} (one row per run), {} (mean test accuracy over depth x gain)",
        rows.0.len(),
        files.rows.display(),
        files.heatmap.display()
    );
    Ok(())
}
