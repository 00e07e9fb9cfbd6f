//! The experiments, each a [`Job`] (resumable, shardable, mergeable) in a
//! folder of its own that holds its configuration, plan, rows and charts:
//!
//! - [`depth_study`]: every depth × variant × seed with one recipe;
//! - [`trainability`]: plain ReLU MLPs at every depth × initial gain;
//! - [`tuning`]: the scratch two-layer network's grid of SGD settings.
//!
//! [`Experiment`] is their one registry: `merge`, the kinds of job a
//! directory may hold, the CLI's merge summary and its Ctrl-C handling all
//! read it. The experiments whose units are MLPs share one trainer
//! ([`mlp_grid`]) and provide only a unit's model and its rows.
//!
//! Adding an experiment: a folder here with its configuration (a [`Job`],
//! and an [`MlpGrid`] if its units are MLPs), one line in the `registry!`
//! below, and one CLI subcommand; the compiler then names every `match`
//! that must handle it (its merge here, its summary in `mlp-cli`).

pub mod depth_study;
pub mod mlp_grid;
pub mod trainability;
pub mod tuning;

use std::path::{Path, PathBuf};

pub use mlp_grid::{MlpGrid, run_mlp_grid};

use crate::TrainError;
use crate::jobs::merge::{collect, common_parent, expand_shard_dirs, write_merged};
use crate::jobs::{Job, JobKind};
use depth_study::{StudyConfig, StudyResults};
use trainability::{MapRows, TrainabilityConfig};
use tuning::{TrialRow, TuningConfig};

/// Declares [`Experiment`] with one variant per experiment's configuration
/// type, and [`Experiment::ALL`] from the same list, so no experiment can be
/// left out of either.
macro_rules! registry {
    ($($(#[$doc:meta])* $variant:ident => $config:ty),+ $(,)?) => {
        /// Every experiment the tool runs as a job.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Experiment {
            $($(#[$doc])* $variant),+
        }

        impl Experiment {
            /// Every experiment, in registry order.
            pub const ALL: &[Experiment] = &[$(Experiment::$variant),+];

            /// The names and files of the experiment's job.
            pub fn kind(self) -> &'static JobKind {
                match self {
                    $(Experiment::$variant => &<$config as Job>::KIND),+
                }
            }
        }
    };
}

registry! {
    /// `depth-study`: [`StudyConfig`].
    DepthStudy => StudyConfig,
    /// `trainability`: [`TrainabilityConfig`].
    Trainability => TrainabilityConfig,
    /// `two-layer tune`: [`TuningConfig`].
    Tuning => TuningConfig,
}

impl Experiment {
    /// Every experiment's job kind: what a directory of results may hold.
    pub fn kinds() -> Vec<JobKind> {
        Self::ALL.iter().map(|e| *e.kind()).collect()
    }

    /// The experiment whose configuration file `dir` holds.
    pub fn in_dir(dir: &Path) -> Option<Experiment> {
        Self::ALL
            .iter()
            .copied()
            .find(|e| dir.join(e.kind().config_file).exists())
    }

    /// Checks that `shards` are all the finished shards of one job of this
    /// experiment and writes the combined job into `out`: the files a single
    /// unsharded run would have written, with every shard's command line.
    fn merge(self, shards: &[PathBuf], out: &Path, command: &str) -> Result<Merged, TrainError> {
        let kinds = Self::kinds();
        Ok(match self {
            Experiment::DepthStudy => {
                let collected = collect::<StudyConfig>(shards)?;
                write_merged(&collected, out, command, &kinds)?;
                Merged::DepthStudy(collected.whole, collected.records)
            }
            Experiment::Trainability => {
                let collected = collect::<TrainabilityConfig>(shards)?;
                write_merged(&collected, out, command, &kinds)?;
                Merged::Trainability(collected.whole, collected.records)
            }
            Experiment::Tuning => {
                let collected = collect::<TuningConfig>(shards)?;
                let best = tuning::best_point_files(&collected)?;
                let _lock = write_merged(&collected, out, command, &kinds)?;
                if let Some((_, from)) = &best {
                    tuning::copy_run_files(from, out)?;
                }
                Merged::Tuning(collected.whole, collected.records, best.map(|(trial, _)| trial))
            }
        })
    }
}

/// What a merge combined: one variant per [`Experiment`].
pub enum Merged {
    DepthStudy(StudyConfig, StudyResults),
    Trainability(TrainabilityConfig, MapRows),
    /// The tuning run, its rows and its best grid point.
    Tuning(TuningConfig, Vec<TrialRow>, Option<usize>),
}

/// A finished merge: how many shards, where the results are, what they hold.
pub struct MergeOutcome {
    pub shards: usize,
    pub out: PathBuf,
    pub merged: Merged,
}

/// `mlp-cli merge`: merges the shards in `dirs` (shard directories, or
/// directories holding `shard-K-of-N/`; see [`expand_shard_dirs`]) into
/// `out`, by default the directory that holds them all. The experiment is
/// the one whose configuration the first shard holds.
pub fn merge(dirs: &[PathBuf], out: Option<&Path>, command: &str) -> Result<MergeOutcome, TrainError> {
    let shards = expand_shard_dirs(dirs, &Experiment::kinds())?;
    let out = match out {
        Some(out) => out.to_owned(),
        None => common_parent(&shards).ok_or_else(|| {
            TrainError::Merge(
                "the shard directories are in different places; name the output directory with --out".into(),
            )
        })?,
    };
    let experiment = Experiment::in_dir(&shards[0]).ok_or_else(|| {
        let names: Vec<&str> = Experiment::ALL.iter().map(|e| e.kind().config_file).collect();
        TrainError::Merge(format!(
            "{} holds no job configuration ({}); is it a finished shard?",
            shards[0].display(),
            names.join(", ")
        ))
    })?;
    let merged = experiment.merge(&shards, &out, command)?;
    Ok(MergeOutcome {
        shards: shards.len(),
        out,
        merged,
    })
}
