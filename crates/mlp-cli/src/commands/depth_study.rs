//! `depth-study`: every depth × variant × seed, as a job.

use std::path::Path;

use mlp_train::experiments::depth_study::{DynamicsSettings, StudyConfig, StudyFiles, StudyResults, markdown_summary};
use mlp_train::jobs::Job;
use mlp_train::{Progress, StopSignal};

use super::job_header;
use super::mlp_grid::MlpSetup;
use crate::cli::DepthStudyArgs;

pub fn run(args: DepthStudyArgs, progress: Progress, stop: &StopSignal) -> anyhow::Result<()> {
    let setup = MlpSetup::new(&args.device, &args.engine, &args.jobs, &args.data, progress)?;
    let config = StudyConfig {
        layers: args.layers,
        // --width W: as many layers of W as the deepest network has.
        widths: match args.width {
            Some(width) => vec![width; args.layers.last.saturating_sub(1)],
            None => args.widths,
        },
        variants: args.variants,
        activation: args.activation,
        recipe: args.recipe.train_config(),
        header: job_header(&args.recipe, &args.data, &args.job, &setup.splits, &setup.target),
        preprocess: args.preprocess,
        engine: args.engine.engine,
        dynamics: DynamicsSettings {
            enabled: !args.no_dynamics,
            plot_depth: args.dynamics_depth,
        },
    };
    let results = setup.run(
        &config,
        config.preprocess,
        &args.job,
        &args.out,
        stop,
        "depth study failed",
    )?;
    print_results(&config.output_dir(&args.out), &results)
}

/// The summary table and where the study's results are, after a run or a merge.
pub fn print_results(dir: &Path, results: &StudyResults) -> anyhow::Result<()> {
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
