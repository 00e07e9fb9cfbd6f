//! `mlp-cli merge`: the shards of whichever job they hold, combined.

use std::path::{Path, PathBuf};

use crate::depth_study::{StudyConfig, StudyResults, merge_depth_studies};
use crate::jobs::Job;
use crate::jobs::merge::{common_parent, expand_shard_dirs, kind_in};
use crate::trainability::{MapRows, TrainabilityConfig, merge_trainability};
use crate::two_layer::{TrialRow, TuningConfig, merge_tunings};
use crate::{JOB_KINDS, TrainError};

/// What a merge combined.
pub enum Merged {
    DepthStudy(StudyConfig, StudyResults),
    /// The tuning run, its rows and its best grid point.
    Tuning(TuningConfig, Vec<TrialRow>, Option<usize>),
    Trainability(TrainabilityConfig, MapRows),
}

/// A finished merge: how many shards, where the results are, what they hold.
pub struct MergeOutcome {
    pub shards: usize,
    pub out: PathBuf,
    pub merged: Merged,
}

/// Merges the shards in `dirs` (shard directories, or directories holding
/// `shard-K-of-N/`; see [`expand_shard_dirs`]) into `out`, by default the
/// directory that holds them all. The job's kind is the one the first
/// shard's configuration file names.
pub fn merge(dirs: &[PathBuf], out: Option<&Path>, command: &str) -> Result<MergeOutcome, TrainError> {
    let shards = expand_shard_dirs(dirs, &JOB_KINDS)?;
    let out = match out {
        Some(out) => out.to_owned(),
        None => common_parent(&shards).ok_or_else(|| {
            TrainError::Merge(
                "the shard directories are in different places; name the output directory with --out".into(),
            )
        })?,
    };
    let kind = kind_in(&shards[0], &JOB_KINDS).map(|k| k.config_file);
    let merged = if kind == Some(TuningConfig::KIND.config_file) {
        let (config, rows, best) = merge_tunings(&shards, &out, command)?;
        Merged::Tuning(config, rows, best)
    } else if kind == Some(TrainabilityConfig::KIND.config_file) {
        let (config, rows) = merge_trainability(&shards, &out, command)?;
        Merged::Trainability(config, rows)
    } else {
        let (config, results) = merge_depth_studies(&shards, &out, command)?;
        Merged::DepthStudy(config, results)
    };
    Ok(MergeOutcome {
        shards: shards.len(),
        out,
        merged,
    })
}
