use std::path::{Path, PathBuf};

use anyhow::Context;
use mlp_data::Normalizer;
use mlp_train::batches::BatchSource;
use mlp_train::mlp_loop::{ResidentSplits, SplitSources, TrainConfig};
use mlp_train::plan::StopSignal;
use mlp_train::study::{
    StudyConfig, StudyFiles, StudyResults, expand_shard_dirs, markdown_summary, merge_depth_studies, run_depth_study,
};
use mlp_train::sweep::{SweepFiles, merge_tuning_sweeps};
use mlp_train::{Progress, TrainError};

use super::{existing, interrupted, invocation};
use crate::cli::{DepthStudyArgs, MergeArgs};
use crate::device;

pub fn run(args: DepthStudyArgs, progress: Progress, stop: &StopSignal) -> anyhow::Result<()> {
    let recipe = TrainConfig::new()
        .with_epochs(args.recipe.epochs)
        .with_batch_size(args.recipe.batch_size)
        .with_lr(args.recipe.lr)
        .with_lr_decay(args.recipe.lr_decay)
        .with_weight_decay(args.recipe.weight_decay)
        .with_seed(args.recipe.seeds.0.first().copied().unwrap_or(0));
    let mut config = StudyConfig {
        layers: args.layers,
        widths: args.widths,
        variants: args.variants,
        recipe,
        seeds: args.recipe.seeds,
        splits: args.data.sizes(),
        data_fingerprint: String::new(),
        preprocess: args.preprocess,
        shard: args.job.shard,
        device: String::new(),
        engine: args.engine.engine.into(),
    };
    // Arguments are checked before the data is read or a device opened.
    config.validate()?;
    let existing = existing(&args.job);
    let dir = config.output_dir(&args.out);
    let chosen = device::choose(args.device.device, progress == Progress::Quiet)?;
    config.device = chosen.description;

    let splits = args.data.load_splits(progress)?;
    config.data_fingerprint = splits.fingerprint();
    let normalizer = Normalizer::fit(config.preprocess, &splits.train);
    let host = SplitSources {
        train: BatchSource::new(&splits.train, &normalizer),
        val: BatchSource::new(&splits.val, &normalizer),
        test: BatchSource::new(&splits.test, &normalizer),
        resident: None,
    };
    // On a GPU the splits are uploaded once, for every run of the study.
    let resident = chosen.is_gpu.then(|| ResidentSplits::upload(&host, &chosen.device));
    let sources = SplitSources {
        resident: resident.as_ref(),
        ..host
    };
    let command = invocation();
    let results = match run_depth_study(
        &config,
        &sources,
        &chosen.device,
        &args.out,
        &command,
        existing,
        progress,
        stop,
    ) {
        Err(TrainError::Interrupted { dir, finished, total }) => {
            return Err(interrupted(&dir, finished, total).into());
        }
        other => other.context("depth study failed")?,
    };
    print_results(&dir, &results)?;
    Ok(())
}

/// `mlp-cli merge`: shards in, one study out.
pub fn merge(args: MergeArgs) -> anyhow::Result<()> {
    let shards = expand_shard_dirs(&args.dirs)?;
    let out = match args.out.clone() {
        Some(out) => out,
        None => common_parent(&shards)
            .context("the shard directories are in different places; name the output directory with --out")?,
    };
    if shards[0].join(SweepFiles::CONFIG_NAME).exists() {
        let (sweep, rows, best) = merge_tuning_sweeps(&shards, &out, &invocation())?;
        out!(
            "merged {} shards: {} of {} trials",
            shards.len(),
            rows.len(),
            sweep.plan().len()
        );
        if let Some(trial) = best {
            let config = sweep.trial_config(trial, sweep.seeds.0[0]);
            out!(
                "best grid point: trial {trial}: hidden {}, lr {:e}, reg {}, iterations {}",
                config.hidden,
                config.lr,
                config.reg,
                config.iters
            );
        }
        out!("Results in {}", out.display());
        return Ok(());
    }
    let (config, results) = merge_depth_studies(&shards, &out, &invocation())?;
    out!(
        "merged {} shards: {} of {} runs",
        shards.len(),
        results.runs.len(),
        config.plan().len()
    );
    print_results(&out, &results)?;
    Ok(())
}

fn print_results(dir: &Path, results: &StudyResults) -> anyhow::Result<()> {
    out!("{}", markdown_summary(&results.runs));
    let files = StudyFiles::in_dir(dir);
    out!(
        "Results: {} (runs), {} (mean ± std), {} (per epoch), {} (signal at init); plots {}, {}, {}",
        files.runs.display(),
        files.summary_csv.display(),
        files.history.display(),
        files.signal.display(),
        files.accuracy_plot.display(),
        files.curves_plot.display(),
        files.signal_plot.display()
    );
    Ok(())
}

fn common_parent(dirs: &[PathBuf]) -> Option<PathBuf> {
    let parent = dirs.first()?.parent()?.to_owned();
    dirs.iter()
        .all(|d| d.parent() == Some(parent.as_path()))
        .then_some(parent)
}
