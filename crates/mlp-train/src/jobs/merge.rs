//! `merge`: the shards of one job (`--shard K/N`, e.g. the tasks of a Slurm
//! job array) combined into the files of a single run. What every merge
//! checks, whatever the job: each directory is a finished shard, all split
//! the same job the same way, none is given twice and none is missing, and
//! the target holds nothing but an earlier merge of these shards.

use std::path::{Path, PathBuf};

use super::{
    DirLock, Job, Records, config_json, lock_output_dir, prepare_output_dir, read_config, read_recorded, write_text,
};
use super::{JobKind, settings_differences};
use crate::TrainError;
use crate::jobs::Shard;

/// One checked shard: its directory and configuration.
pub struct ShardDir<J> {
    pub dir: PathBuf,
    pub config: J,
    pub shard: Shard,
}

/// Every shard of one job, checked, with their rows combined.
pub struct Collected<J: Job> {
    pub shards: Vec<ShardDir<J>>,
    /// The whole job's configuration: no shard, the devices joined by ` + `.
    pub whole: J,
    /// Every shard's rows, in the whole job's plan order.
    pub records: J::Records,
}

/// The shard directories to merge. Each directory given is a shard itself
/// (it holds the configuration of one of `kinds`), or holds `shard-K-of-N`
/// subdirectories, which are taken instead: the one `--out` every shard
/// shared, or the `--out` of each machine that trained some of them
/// (`merge host1 host2`). A directory may also hold an earlier merge of its
/// shards, which the new one replaces.
pub fn expand_shard_dirs(dirs: &[PathBuf], kinds: &[JobKind]) -> Result<Vec<PathBuf>, TrainError> {
    let mut expanded = Vec::new();
    for dir in dirs {
        let shards = shard_subdirs(dir)?;
        if !shards.is_empty() {
            expanded.extend(shards);
        } else if kind_in(dir, kinds).is_some() {
            expanded.push(dir.clone());
        } else {
            return Err(TrainError::Merge(format!(
                "{} holds no shard-K-of-N directories (nor a {})",
                dir.display(),
                kinds.iter().map(|k| k.name).collect::<Vec<_>>().join(" or ")
            )));
        }
    }
    Ok(expanded)
}

/// Which of `kinds` of job `dir` holds, by its configuration file.
pub fn kind_in<'a>(dir: &Path, kinds: &'a [JobKind]) -> Option<&'a JobKind> {
    kinds.iter().find(|kind| dir.join(kind.config_file).exists())
}

/// The directory that holds every shard, when they share one.
pub fn common_parent(dirs: &[PathBuf]) -> Option<PathBuf> {
    let parent = dirs.first()?.parent()?.to_owned();
    dirs.iter()
        .all(|d| d.parent() == Some(parent.as_path()))
        .then_some(parent)
}

/// The `shard-*` directories directly inside `dir`, sorted.
fn shard_subdirs(dir: &Path) -> Result<Vec<PathBuf>, TrainError> {
    let entries = std::fs::read_dir(dir).map_err(|e| TrainError::Read {
        path: dir.to_owned(),
        message: e.to_string(),
    })?;
    let mut shards: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("shard-")))
        .collect();
    shards.sort();
    Ok(shards)
}

/// Reads every directory's configuration and rows, and checks that they are
/// all the finished shards of one job.
pub fn collect<J: Job>(dirs: &[PathBuf]) -> Result<Collected<J>, TrainError> {
    let (shards, whole) = check_shards::<J>(dirs)?;
    let mut records = J::Records::default();
    for s in &shards {
        let recorded = read_recorded::<J>(&s.dir)?;
        let owned = s.config.owned_units();
        let units = recorded.units();
        let finished = owned.iter().filter(|u| units.contains(u)).count();
        let stray = units.iter().find(|u| !owned.contains(u)).map(|u| J::describe(*u));
        check_complete(s, owned.len(), finished, stray)?;
        records.append(recorded);
    }
    records.sort_by_plan(&whole.plan());
    Ok(Collected { shards, whole, records })
}

/// Writes the merged job into `out`: the configuration, the shards' command
/// lines and every table and summary of a single run. Refuses a target that
/// is one of the shards or holds other results (any of `kinds`). Returns
/// the target's lock, for a job that writes more into it.
pub fn write_merged<J: Job>(
    collected: &Collected<J>,
    out: &Path,
    command: &str,
    kinds: &[JobKind],
) -> Result<DirLock, TrainError> {
    let dirs: Vec<PathBuf> = collected.shards.iter().map(|s| s.dir.clone()).collect();
    check_merge_target(out, &dirs, kinds, |dir| {
        let earlier = read_config::<J>(&dir.join(J::KIND.config_file))?;
        Ok(earlier.header().shard.is_none() && settings_differences(&earlier, &collected.whole).is_empty())
    })?;
    prepare_output_dir(out)?;
    let lock = lock_output_dir(out)?;
    J::remove_results(out)?;
    write_text(&out.join(J::KIND.config_file), &config_json(&collected.whole))?;
    let shard_commands: String = collected
        .shards
        .iter()
        .map(|s| {
            let command = std::fs::read_to_string(s.dir.join(J::KIND.command_file)).unwrap_or_default();
            format!("# shard {} ({}):\n{command}", s.shard, s.dir.display())
        })
        .collect();
    write_text(&out.join(J::KIND.command_file), &format!("{command}\n{shard_commands}"))?;
    collected.whole.write_summaries(out, &collected.records, true)?;
    Ok(lock)
}

/// Reads every directory's configuration and checks that they are all the
/// shards of one job. Returns the shards and the whole job's configuration.
fn check_shards<J: Job>(dirs: &[PathBuf]) -> Result<(Vec<ShardDir<J>>, J), TrainError> {
    let (what, whats) = (J::KIND.name, J::KIND.plural);
    let mut shards: Vec<ShardDir<J>> = Vec::new();
    for dir in dirs {
        let config: J = read_config(&dir.join(J::KIND.config_file))?;
        let Some(shard) = config.header().shard else {
            return Err(TrainError::Merge(format!(
                "{} is not a shard: it was run without --shard",
                dir.display()
            )));
        };
        shards.push(ShardDir {
            dir: dir.clone(),
            config,
            shard,
        });
    }
    let Some(first) = shards.first() else {
        return Err(TrainError::Merge("no shard directories given".into()));
    };
    let comparable = |config: &J| {
        let mut config = config.clone();
        config.header_mut().shard = None;
        config.header_mut().device = String::new();
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
        if let Some(other) = seen[s.shard.index - 1].replace(&s.dir) {
            return Err(TrainError::Merge(format!(
                "{} and {} are both shard {}",
                other.display(),
                s.dir.display(),
                s.shard
            )));
        }
        let device = &s.config.header().device;
        if !devices.contains(device) {
            devices.push(device.clone());
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
    whole.header_mut().device = devices.join(" + ");
    Ok((shards, whole))
}

/// Refuses a shard whose table lacks some of its own units or holds others'.
/// `finished` counts its own recorded units; `stray` describes a recorded
/// unit it does not own, if any.
fn check_complete<J>(s: &ShardDir<J>, owned: usize, finished: usize, stray: Option<String>) -> Result<(), TrainError> {
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
    Ok(())
}

/// Refuses a merge target that is one of the shards, or that holds a job
/// other than an earlier merge of these shards (`same_job` says whether the
/// job recorded in a directory is that), so a merge never replaces unrelated
/// results.
fn check_merge_target(
    out: &Path,
    shard_dirs: &[PathBuf],
    kinds: &[JobKind],
    same_job: impl Fn(&Path) -> Result<bool, TrainError>,
) -> Result<(), TrainError> {
    let canonical = |p: &Path| p.canonicalize().ok();
    if let Some(target) = canonical(out)
        && shard_dirs.iter().any(|d| canonical(d).as_ref() == Some(&target))
    {
        return Err(TrainError::Merge(format!(
            "--out {} is one of the shards; merge into the directory that holds them",
            out.display()
        )));
    }
    if kind_in(out, kinds).is_some() && !same_job(out).unwrap_or(false) {
        return Err(TrainError::Merge(format!(
            "{} already holds other results (not an earlier merge of these shards); choose another --out",
            out.display()
        )));
    }
    Ok(())
}
