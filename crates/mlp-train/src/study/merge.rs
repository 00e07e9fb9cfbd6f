//! `merge`: the shards of one study (`--shard K/N`, e.g. the tasks of a Slurm
//! job array) combined into the tables and plots of a single run.

use std::path::{Path, PathBuf};

use super::{StudyConfig, StudyFiles, StudyResults, read_config};
use crate::records::{lock_output_dir, prepare_output_dir, settings_differences, write_text};
use crate::shards::{ShardedJob, check_complete, check_shards, shard_commands};
use crate::sweep::SweepFiles;
use crate::{TrainError, plan::Shard};

/// The shard directories to merge. Each directory given is a shard itself
/// (it holds a study's or sweep's configuration), or holds `shard-K-of-N`
/// subdirectories, which are taken instead: the one `--out` every shard
/// shared, or the `--out` of each machine that trained some of them
/// (`merge host1 host2`). A directory may also hold an earlier merge of its
/// shards, which the new one replaces.
pub fn expand_shard_dirs(dirs: &[PathBuf]) -> Result<Vec<PathBuf>, TrainError> {
    let mut expanded = Vec::new();
    for dir in dirs {
        let shards = shard_subdirs(dir)?;
        let holds_a_job = StudyFiles::in_dir(dir).config.exists() || dir.join(SweepFiles::CONFIG_NAME).exists();
        if !shards.is_empty() {
            expanded.extend(shards);
        } else if holds_a_job {
            expanded.push(dir.clone());
        } else {
            return Err(TrainError::Merge(format!(
                "{} holds no shard-K-of-N directories (nor a study or sweep)",
                dir.display()
            )));
        }
    }
    Ok(expanded)
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

/// Checks that `shard_dirs` are all the finished shards of one study and
/// writes the combined study into `out`: the same files a single unsharded
/// run would have written, with every shard's command line recorded.
pub fn merge_depth_studies(
    shard_dirs: &[PathBuf],
    out: &Path,
    command: &str,
) -> Result<(StudyConfig, StudyResults), TrainError> {
    let (shards, whole) = check_shards(shard_dirs, ("study", "studies"), |dir| {
        read_config(&StudyFiles::in_dir(dir).config)
    })?;
    let mut merged = StudyResults::default();
    for s in &shards {
        let results = StudyResults::read(&StudyFiles::in_dir(s.dir))?;
        let owned = s.config.owned_runs();
        let finished = owned.iter().filter(|key| results.has_run(**key)).count();
        let stray = results
            .runs
            .iter()
            .find(|r| !owned.contains(&r.key()))
            .map(|r| format!("the run {}L {} seed {}", r.layers, r.variant, r.seed));
        check_complete(s, owned.len(), finished, results.runs.len(), stray)?;
        merged.runs.extend(results.runs);
        merged.history.extend(results.history);
        merged.signal.extend(results.signal);
    }
    merged.sort_by_plan(&whole.plan());
    let shard_commands = shard_commands(&shards, "depth_study_command.txt");
    check_merge_target(out, shard_dirs, |dir| {
        let earlier = read_config(&StudyFiles::in_dir(dir).config)?;
        Ok(earlier.shard.is_none() && settings_differences(&earlier, &whole).is_empty())
    })?;
    prepare_output_dir(out)?;
    let _lock = lock_output_dir(out)?;
    let files = StudyFiles::in_dir(out);
    files.remove_results()?;
    let config_json = serde_json::to_string_pretty(&whole).expect("a study config serialises");
    write_text(&files.config, &format!("{config_json}\n"))?;
    write_text(&files.command, &format!("{command}\n{shard_commands}"))?;
    merged.write_summaries(&files)?;
    Ok((whole, merged))
}

/// Refuses a merge target that is one of the shards, or that holds a job
/// other than an earlier merge of these shards (`same_job` says whether the
/// job recorded in a directory is that), so a merge never replaces unrelated
/// results.
pub(crate) fn check_merge_target(
    out: &Path,
    shard_dirs: &[PathBuf],
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
    let holds_a_job = StudyFiles::in_dir(out).config.exists() || out.join(SweepFiles::CONFIG_NAME).exists();
    if holds_a_job && !same_job(out).unwrap_or(false) {
        return Err(TrainError::Merge(format!(
            "{} already holds other results (not an earlier merge of these shards); choose another --out",
            out.display()
        )));
    }
    Ok(())
}

impl ShardedJob for StudyConfig {
    fn shard(&self) -> Option<Shard> {
        self.shard
    }
    fn set_shard(&mut self, shard: Option<Shard>) {
        self.shard = shard;
    }
    fn device(&self) -> &str {
        &self.device
    }
    fn set_device(&mut self, device: String) {
        self.device = device;
    }
}
