//! What every merge checks before combining shards, whatever the job: each
//! directory is a shard, all split the same job the same way, none is given
//! twice and none is missing.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::TrainError;
use crate::plan::Shard;
use crate::records::settings_differences;

/// A job configuration that `--shard` can split.
pub(crate) trait ShardedJob: Clone + Serialize {
    fn shard(&self) -> Option<Shard>;
    fn set_shard(&mut self, shard: Option<Shard>);
    fn device(&self) -> &str;
    fn set_device(&mut self, device: String);
}

/// One checked shard: its directory and configuration.
pub(crate) struct ShardDir<'a, C> {
    pub dir: &'a PathBuf,
    pub config: C,
    pub shard: Shard,
}

/// Reads every directory's configuration with `read` and checks that they
/// are all the shards of one job (`what` and its plural `whats`, e.g.
/// "study" and "studies", for the messages). Returns the shards
/// and the whole job's configuration: no shard, the devices joined by ` + `.
pub(crate) fn check_shards<'a, C: ShardedJob>(
    dirs: &'a [PathBuf],
    (what, whats): (&str, &str),
    read: impl Fn(&Path) -> Result<C, TrainError>,
) -> Result<(Vec<ShardDir<'a, C>>, C), TrainError> {
    let mut shards: Vec<ShardDir<C>> = Vec::new();
    for dir in dirs {
        let config = read(dir)?;
        let Some(shard) = config.shard() else {
            return Err(TrainError::Merge(format!(
                "{} is not a shard: it was run without --shard",
                dir.display()
            )));
        };
        shards.push(ShardDir { dir, config, shard });
    }
    let Some(first) = shards.first() else {
        return Err(TrainError::Merge("no shard directories given".into()));
    };
    let comparable = |config: &C| {
        let mut config = config.clone();
        config.set_shard(None);
        config.set_device(String::new());
        config
    };
    let (count, reference) = (first.shard.count, comparable(&first.config));
    let mut seen: Vec<Option<&PathBuf>> = vec![None; count];
    let mut devices: Vec<String> = Vec::new();
    for s in &shards {
        if s.shard.count != count {
            return Err(TrainError::Merge(format!(
                "{} is shard {} but {} is shard {}: they split the {what} differently",
                s.dir.display(),
                s.shard,
                first.dir.display(),
                first.shard
            )));
        }
        let differences = settings_differences(&reference, &comparable(&s.config));
        if !differences.is_empty() {
            return Err(TrainError::Merge(format!(
                "{} and {} are shards of different {whats} ({differences})",
                first.dir.display(),
                s.dir.display()
            )));
        }
        if let Some(other) = seen[s.shard.index - 1].replace(s.dir) {
            return Err(TrainError::Merge(format!(
                "{} and {} are both shard {}",
                other.display(),
                s.dir.display(),
                s.shard
            )));
        }
        if !devices.iter().any(|d| d == s.config.device()) {
            devices.push(s.config.device().to_owned());
        }
    }
    let missing: Vec<String> = (1..=count)
        .filter(|i| seen[i - 1].is_none())
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(TrainError::Merge(format!(
            "shard(s) {} missing; run them with --shard or name their directories",
            missing.join(", ")
        )));
    }
    let mut whole = reference;
    whole.set_device(devices.join(" + "));
    Ok((shards, whole))
}

/// The shards' recorded command lines, for the merged job's command file.
pub(crate) fn shard_commands<C>(shards: &[ShardDir<C>], command_file: &str) -> String {
    shards
        .iter()
        .map(|s| {
            let command = std::fs::read_to_string(s.dir.join(command_file)).unwrap_or_default();
            format!("# shard {} ({}):\n{command}", s.shard, s.dir.display())
        })
        .collect()
}

/// Refuses a shard whose table lacks some of its own runs or holds others'.
/// `finished` counts its own recorded runs; `stray` describes a recorded run
/// it does not own, if any.
pub(crate) fn check_complete<C>(
    s: &ShardDir<C>,
    owned: usize,
    finished: usize,
    recorded: usize,
    stray: Option<String>,
) -> Result<(), TrainError> {
    if finished < owned {
        return Err(TrainError::Merge(format!(
            "{} (shard {}) is unfinished: {finished} of {owned} runs; finish it with the same command and --resume",
            s.dir.display(),
            s.shard
        )));
    }
    if let Some(stray) = stray {
        return Err(TrainError::Merge(format!(
            "{} (shard {}) holds {stray}, which belongs to another shard",
            s.dir.display(),
            s.shard
        )));
    }
    if recorded > owned {
        return Err(TrainError::Merge(format!(
            "{} (shard {}) records a run twice",
            s.dir.display(),
            s.shard
        )));
    }
    Ok(())
}
