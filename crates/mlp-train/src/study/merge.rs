//! `merge`: the shards of one study (`--shard K/N`, e.g. the tasks of a Slurm
//! job array) combined into the tables and plots of a single run.

use std::path::{Path, PathBuf};

use super::{StudyConfig, StudyFiles, StudyResults, read_config};
use crate::TrainError;
use crate::records::{lock_output_dir, prepare_output_dir, settings_differences, write_text};
use crate::sweep::SweepFiles;

/// The shard directories to merge: `dirs` as given, or, for a single
/// directory, the `shard-K-of-N` subdirectories it holds (it may also hold an
/// earlier merge of them, which the new one replaces).
pub fn expand_shard_dirs(dirs: &[PathBuf]) -> Result<Vec<PathBuf>, TrainError> {
    let [dir] = dirs else {
        return Ok(dirs.to_vec());
    };
    let entries = std::fs::read_dir(dir).map_err(|e| TrainError::Read {
        path: dir.clone(),
        message: e.to_string(),
    })?;
    let mut shards: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("shard-")))
        .collect();
    shards.sort();
    let holds_a_job = StudyFiles::in_dir(dir).config.exists() || dir.join(SweepFiles::CONFIG_NAME).exists();
    if shards.is_empty() && !holds_a_job {
        return Err(TrainError::Merge(format!(
            "{} holds no shard-K-of-N directories (nor a study or sweep)",
            dir.display()
        )));
    }
    Ok(if shards.is_empty() { dirs.to_vec() } else { shards })
}

/// Checks that `shard_dirs` are all the finished shards of one study and
/// writes the combined study into `out`: the same files a single unsharded
/// run would have written, with every shard's command line recorded.
pub fn merge_depth_studies(
    shard_dirs: &[PathBuf],
    out: &Path,
    command: &str,
) -> Result<(StudyConfig, StudyResults), TrainError> {
    if shard_dirs.is_empty() {
        return Err(TrainError::Merge("no shard directories given".into()));
    }
    let mut shards = Vec::new();
    for dir in shard_dirs {
        let files = StudyFiles::in_dir(dir);
        let config = read_config(&files.config)?;
        let Some(shard) = config.shard else {
            return Err(TrainError::Merge(format!(
                "{} is not a shard: it was run without --shard",
                dir.display()
            )));
        };
        shards.push((dir, files, config, shard));
    }

    let (first_dir, _, first, first_shard) = &shards[0];
    let count = first_shard.count;
    let mut whole = first.clone();
    whole.shard = None;
    let mut devices: Vec<String> = Vec::new();
    let mut seen = vec![None::<&PathBuf>; count];
    let mut merged = StudyResults::default();
    let mut shard_commands = String::new();
    for (dir, files, config, shard) in &shards {
        if shard.count != count {
            return Err(TrainError::Merge(format!(
                "{} is shard {shard} but {} is shard {first_shard}: they split the study differently",
                dir.display(),
                first_dir.display()
            )));
        }
        let mut comparable = config.clone();
        comparable.shard = None;
        comparable.device.clone_from(&whole.device);
        let differences = settings_differences(&whole, &comparable);
        if !differences.is_empty() {
            return Err(TrainError::Merge(format!(
                "{} and {} are shards of different studies ({differences})",
                first_dir.display(),
                dir.display()
            )));
        }
        if let Some(other) = seen[shard.index - 1].replace(dir) {
            return Err(TrainError::Merge(format!(
                "{} and {} are both shard {shard}",
                other.display(),
                dir.display()
            )));
        }
        let results = StudyResults::read(files)?;
        let owned = config.owned_runs();
        let finished = owned.iter().filter(|key| results.has_run(**key)).count();
        if finished < owned.len() {
            return Err(TrainError::Merge(format!(
                "{} (shard {shard}) is unfinished: {finished} of {} runs; finish it with the same command and --resume",
                dir.display(),
                owned.len()
            )));
        }
        if let Some(stray) = results.runs.iter().find(|r| !owned.contains(&r.key())) {
            return Err(TrainError::Merge(format!(
                "{} (shard {shard}) holds the run {}L {} seed {}, which belongs to another shard",
                dir.display(),
                stray.layers,
                stray.variant,
                stray.seed
            )));
        }
        if !devices.contains(&config.device) {
            devices.push(config.device.clone());
        }
        let command = std::fs::read_to_string(&files.command).unwrap_or_default();
        shard_commands += &format!("# shard {shard} ({}):\n{command}", dir.display());
        merged.runs.extend(results.runs);
        merged.history.extend(results.history);
        merged.signal.extend(results.signal);
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

    whole.device = devices.join(" + ");
    merged.sort_by_plan(&whole.plan());
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
