use anyhow::Context;
use mlp_data::Normalizer;
use mlp_train::Progress;
use mlp_train::batches::BatchSource;
use mlp_train::mlp_loop::{SplitSources, TrainConfig};
use mlp_train::study::{StudyConfig, StudyFiles, markdown_summary, run_depth_study};

use super::invocation;
use crate::cli::DepthStudyArgs;
use crate::device;

pub fn run(args: DepthStudyArgs, progress: Progress) -> anyhow::Result<()> {
    let recipe = TrainConfig::new()
        .with_epochs(args.recipe.epochs)
        .with_batch_size(args.recipe.batch_size)
        .with_lr(args.recipe.lr)
        .with_lr_decay(args.recipe.lr_decay)
        .with_weight_decay(args.recipe.weight_decay)
        .with_seed(args.recipe.seed);
    let mut config = StudyConfig {
        layers: args.layers,
        widths: args.widths,
        variants: args.variants,
        recipe,
        splits: args.data.sizes(),
        preprocess: args.preprocess,
        device: String::new(),
    };
    // Arguments are checked before the data is read or a device opened.
    config.validate()?;
    let chosen = device::choose(args.device.device, progress == Progress::Quiet)?;
    config.device = chosen.description;

    let splits = args.data.load_splits(progress)?;
    let normalizer = Normalizer::fit(config.preprocess, &splits.train);
    let sources = SplitSources {
        train: BatchSource::new(&splits.train, &normalizer),
        val: BatchSource::new(&splits.val, &normalizer),
        test: BatchSource::new(&splits.test, &normalizer),
    };
    let results = run_depth_study(&config, &sources, &chosen.device, &args.out, &invocation(), progress)
        .context("depth study failed")?;

    println!("{}", markdown_summary(&results.runs));
    let files = StudyFiles::in_dir(&args.out);
    println!(
        "Results: {} (runs), {} (per epoch), {} (signal at init); plots {}, {}, {}",
        files.runs.display(),
        files.history.display(),
        files.signal.display(),
        files.accuracy_plot.display(),
        files.curves_plot.display(),
        files.signal_plot.display()
    );
    Ok(())
}
