use std::path::Path;

use mlp_data::Normalizer;
use mlp_train::Progress;
use mlp_train::StopSignal;
use mlp_train::depth_study::{
    DynamicsSettings, StudyConfig, StudyFiles, StudyResults, markdown_summary, run_depth_study,
};
use mlp_train::jobs::Job;
use mlp_train::merge::{MergeOutcome, Merged, merge as merge_shards};
use mlp_train::train::{HostSplit, TrainData};

use super::{invocation, job_error, job_header};
use crate::cli::{DepthStudyArgs, MergeArgs};

pub fn run(args: DepthStudyArgs, progress: Progress, stop: &StopSignal) -> anyhow::Result<()> {
    // Bad values are clap's usage errors already; the settings are checked
    // together, once, by the job (before it writes anything), on a
    // configuration built whole: the device it runs on and the data it reads
    // are part of it.
    let chosen = args.device.choose(progress == Progress::Quiet)?;
    let is_gpu = chosen.is_gpu;
    let target = chosen.target(args.engine.engine)?;
    let concurrency = args.jobs.concurrency(is_gpu, &target)?;
    let splits = args.data.load_splits(progress)?;
    let config = StudyConfig {
        layers: args.layers,
        // --width W: as many layers of W as the deepest network has.
        widths: match args.width {
            Some(width) => vec![width; args.layers.last.saturating_sub(1)],
            None => args.widths,
        },
        variants: args.variants,
        recipe: args.recipe.train_config(),
        header: job_header(&args.recipe, &args.data, &args.job, &splits, &target),
        preprocess: args.preprocess,
        engine: args.engine.engine,
        dynamics: DynamicsSettings {
            enabled: !args.no_dynamics,
            plot_depth: args.dynamics_depth,
        },
    };
    let dir = config.output_dir(&args.out);
    let normalizer = Normalizer::fit(config.preprocess, &splits.train);
    // On a GPU the splits are uploaded once here, for every run of the study.
    let data = TrainData::new(
        [&splits.train, &splits.val, &splits.test].map(|images| HostSplit::new(images, &normalizer)),
        &target,
    );
    let command = invocation();
    let run = args.job.run(&args.out, &command, progress, stop, concurrency);
    let results =
        run_depth_study(&config, &data, &target, run).map_err(|e| job_error(e, Some("depth study failed")))?;
    print_results(&dir, &results)?;
    Ok(())
}

/// `mlp-cli merge`: shards in, one study or tuning run out.
pub fn merge(args: MergeArgs) -> anyhow::Result<()> {
    let MergeOutcome { shards, out, merged } = merge_shards(&args.dirs, args.out.as_deref(), &invocation())?;
    match merged {
        Merged::Tuning(config, rows, best) => {
            out!(
                "merged {shards} shards: {} of {} trials",
                rows.len(),
                config.plan().len()
            );
            if let Some(trial) = best {
                let best = config.trial_config(trial, config.header.seeds.0[0]);
                out!(
                    "best grid point: trial {trial}: hidden {}, lr {:e}, reg {}, iterations {}",
                    best.hidden,
                    best.lr,
                    best.reg,
                    best.iters
                );
            }
            out!("Results in {}", out.display());
        }
        Merged::Trainability(config, rows) => {
            out!(
                "merged {shards} shards: {} of {} runs",
                rows.0.len(),
                config.plan().len()
            );
            out!("Results in {}", out.display());
        }
        Merged::DepthStudy(config, results) => {
            out!(
                "merged {shards} shards: {} of {} runs",
                results.runs.len(),
                config.plan().len()
            );
            print_results(&out, &results)?;
        }
    }
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
    if !results.dynamics.is_empty() {
        out!(
            "Dynamics per epoch and layer: {}; plot {}",
            files.dynamics.display(),
            files.dynamics_plot.display()
        );
    }
    Ok(())
}
