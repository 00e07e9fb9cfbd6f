//! One module per subcommand; each parses nothing and decides nothing the
//! libraries could: it loads, calls, prints.

/// `println!` that returns a [`StdoutError`] rather than panicking when
/// standard output is closed (`| head`) or cannot be written (a full disk).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*).map_err(crate::commands::StdoutError)?
    }};
}

mod bench;
mod data;
mod depth_study;
mod device_info;
mod merge;
mod mlp_grid;
mod trainability;
mod two_layer;

use anyhow::Context;
use mlp_data::{Cifar10, SplitSizes, Splits};
use mlp_train::Progress;
use mlp_train::StopSignal;

use std::path::Path;

use mlp_train::TrainError;
use mlp_train::jobs::{Existing, JobHeader, JobRun};
use mlp_train::train::{Target, TrainConfig};

use crate::cli::{Cli, Command, DataArgs, DeviceArgs, JobArgs, RecipeArgs, TwoLayerCommand};
use crate::device;

pub fn run(cli: Cli, stop: &StopSignal) -> anyhow::Result<()> {
    let progress = if cli.quiet { Progress::Quiet } else { Progress::Bars };
    match cli.command {
        Command::DepthStudy(args) => depth_study::run(args, progress, stop),
        Command::Trainability(args) => trainability::run(args, progress, stop),
        Command::Merge(args) => merge::run(args),
        Command::Bench(args) => bench::run(args, progress),
        Command::TwoLayer(TwoLayerCommand::Check(args)) => two_layer::check(args),
        Command::TwoLayer(TwoLayerCommand::Train(args)) => two_layer::train(args, progress, stop),
        Command::TwoLayer(TwoLayerCommand::Tune(args)) => two_layer::tune(args, progress, stop),
        Command::Download(args) => data::download(args, progress),
        Command::DataInfo(args) => data::info(args),
        Command::DeviceInfo(args) => device_info::run(args),
        Command::Completions(args) => {
            use clap::CommandFactory;
            // Into memory first: the generator panics on a closed pipe.
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "mlp-cli", &mut script);
            out!("{}", String::from_utf8_lossy(&script).trim_end());
            Ok(())
        }
    }
}

impl DataArgs {
    pub fn sizes(&self) -> SplitSizes {
        SplitSizes {
            num_train: self.num_train,
            num_val: self.num_val,
            num_test: self.num_test,
        }
    }

    /// Reads the directory and cuts the splits (pixels held once, as u8).
    pub fn load_splits(&self, progress: Progress) -> anyhow::Result<Splits> {
        if self.num_val == 0 {
            anyhow::bail!("--num-val 0: training chooses its best weights on validation, which needs at least 1 image");
        }
        let data = Cifar10::load(&self.data_dir)
            .with_context(|| format!("cannot load CIFAR-10 from --data-dir {}", self.data_dir.display()))?;
        progress.note(format!(
            "data: {} layout in {}: {} training and {} test images",
            data.layout,
            data.dir.display(),
            data.train.len(),
            data.test.len()
        ));
        Ok(data.into_splits(self.sizes())?)
    }
}

/// A job stopped by Ctrl-C (or SIGTERM) after saving its finished work;
/// `main` exits with 128 + the signal's number (130 for SIGINT, 143 for
/// SIGTERM, as a shell reports a process the signal ended) and prints how
/// to go on.
#[derive(Debug)]
pub struct Interrupted {
    pub message: String,
    /// The command that finishes the job, when there is one.
    pub resume: Option<String>,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(resume) = &self.resume {
            write!(f, "\nto finish the remaining runs, run:\n  {resume}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Interrupted {}

/// The error of a job stopped with `finished` of its `total` runs saved in `dir`.
fn interrupted(dir: &Path, finished: usize, total: usize) -> Interrupted {
    Interrupted {
        message: format!(
            "interrupted: {finished} of {total} runs are finished and saved in {}",
            dir.display()
        ),
        resume: Some(resume_command()),
    }
}

/// The command that finishes an interrupted job: this one, with `--resume`
/// instead of `--overwrite`.
fn resume_command() -> String {
    let mut words: Vec<String> = invocation()
        .split(' ')
        .filter(|w| *w != "--overwrite")
        .map(str::to_owned)
        .collect();
    if !words.iter().any(|w| w == "--resume") {
        words.push("--resume".to_owned());
    }
    words.join(" ")
}

impl DeviceArgs {
    /// The device `--device` names, opened (see [`device::choose`]).
    pub fn choose(&self, quiet: bool) -> anyhow::Result<device::ChosenDevice> {
        device::choose(self.device, self.software_gpu.allow_software_gpu, quiet)
    }
}

impl RecipeArgs {
    /// The training recipe these flags give (the seeds go to the job's header).
    pub fn train_config(&self) -> TrainConfig {
        TrainConfig::new()
            .with_epochs(self.epochs)
            .with_batch_size(self.batch_size)
            .with_lr(self.lr)
            .with_lr_decay(self.lr_decay)
            .with_weight_decay(self.weight_decay)
    }
}

/// The header every job records: its seeds, splits and data, its shard, and
/// the device it runs on.
pub fn job_header(recipe: &RecipeArgs, data: &DataArgs, job: &JobArgs, splits: &Splits, target: &Target) -> JobHeader {
    JobHeader {
        seeds: recipe.seeds.clone(),
        splits: data.sizes(),
        data_fingerprint: splits.fingerprint(),
        shard: job.shard,
        device: target.description.clone(),
    }
}

impl JobArgs {
    /// How the job runs: into `out`, keeping (`--resume`), replacing
    /// (`--overwrite`) or refusing earlier results, `workers` units (or
    /// groups) at a time, groups of at most `group_size` units.
    pub fn run<'a>(
        &self,
        out: &'a Path,
        command: &'a str,
        progress: Progress,
        stop: &'a StopSignal,
        (workers, group_size): (usize, usize),
    ) -> JobRun<'a> {
        let existing = if self.resume {
            Existing::Resume
        } else if self.overwrite {
            Existing::Overwrite
        } else {
            Existing::Refuse
        };
        JobRun {
            out,
            command,
            existing,
            progress,
            stop,
            workers,
            group_size,
        }
    }
}

/// A job's error as `main` reports it: a stopped job is [`Interrupted`]
/// (with the command that finishes it); any other gets `context`, if any.
pub fn job_error(error: TrainError, context: Option<&'static str>) -> anyhow::Error {
    match (error, context) {
        (TrainError::Interrupted { dir, finished, total }, _) => interrupted(&dir, finished, total).into(),
        (other, Some(context)) => anyhow::Error::new(other).context(context),
        (other, None) => other.into(),
    }
}

/// The command line as typed, for the file saved beside results.
pub fn invocation() -> String {
    let mut args: Vec<String> = std::env::args().collect();
    if let Some(first) = args.first_mut() {
        // The program's own path differs between machines; its name does not.
        *first = "mlp-cli".to_owned();
    }
    mlp_train::jobs::command_line(&args)
}

/// Writing to standard output failed.
#[derive(Debug)]
pub struct StdoutError(pub std::io::Error);

impl StdoutError {
    /// The reader went away (`mlp-cli ... | head`): not worth an error message.
    pub fn is_broken_pipe(&self) -> bool {
        self.0.kind() == std::io::ErrorKind::BrokenPipe
    }
}

impl std::fmt::Display for StdoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cannot write to standard output")
    }
}

impl std::error::Error for StdoutError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}
