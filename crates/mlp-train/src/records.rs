//! Result files: CSV tables written whole to a temporary file and renamed, so
//! a crash never leaves a torn table, and the command line saved beside them.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::TrainError;

/// Writes `rows` as CSV to `path` atomically (temporary file in the same
/// directory, then rename).
pub fn write_csv<R: Serialize>(path: &Path, rows: &[R]) -> Result<(), TrainError> {
    let tmp = temporary_sibling(path);
    let csv_err = |source| TrainError::Csv {
        path: path.to_owned(),
        source,
    };
    {
        let mut writer = csv::Writer::from_path(&tmp).map_err(csv_err)?;
        for row in rows {
            writer.serialize(row).map_err(csv_err)?;
        }
        writer.flush().map_err(|source| write_err(path, source))?;
        // On disk before the rename, so a power cut leaves the old table or
        // the new one, never an empty file under the table's name.
        writer
            .into_inner()
            .map_err(|e| write_err(path, e.into_error()))?
            .sync_all()
            .map_err(|source| write_err(path, source))?;
    }
    std::fs::rename(&tmp, path).map_err(|source| write_err(path, source))
}

/// Removes `paths` where they exist: the results a job replaces on `--overwrite`.
pub fn remove_files(paths: &[&Path]) -> Result<(), TrainError> {
    for path in paths {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(write_err(path, e)),
            _ => {}
        }
    }
    Ok(())
}

/// Held while a job writes its output directory; released when dropped or
/// when the process ends (however it ends: the lock is the kernel's).
#[derive(Debug)]
pub struct DirLock {
    _file: std::fs::File,
}

/// Locks `dir` for this process, so that two jobs never rewrite the same
/// tables from their own memory (e.g. an array resubmitted while the old
/// one still runs).
pub fn lock_output_dir(dir: &Path) -> Result<DirLock, TrainError> {
    let path = dir.join(".mlp-cli.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| write_err(&path, source))?;
    match file.try_lock() {
        Ok(()) => Ok(DirLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(TrainError::Busy { dir: dir.to_owned() }),
        Err(std::fs::TryLockError::Error(source)) => Err(write_err(&path, source)),
    }
}

/// Writes `text` to `path` atomically.
pub fn write_text(path: &Path, text: &str) -> Result<(), TrainError> {
    let tmp = temporary_sibling(path);
    let mut file = std::fs::File::create(&tmp).map_err(|source| write_err(path, source))?;
    file.write_all(text.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(|source| write_err(path, source))?;
    std::fs::rename(&tmp, path).map_err(|source| write_err(path, source))
}

/// What a job does with results already in its output directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Stop with an error rather than replace finished work (the default).
    Refuse,
    /// Keep the finished runs and train only the rest (`--resume`); the
    /// job's arguments must match the recorded ones.
    Resume,
    /// Start again and replace them (`--overwrite`).
    Overwrite,
}

/// Whether a job continues from its directory's recorded runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    Fresh,
    Continue,
}

/// The rules every job applies to the `recorded` runs already in `dir`
/// (after `Existing::Overwrite` has removed them): refuse to replace them
/// without `--resume`; resume only when the recorded configuration
/// (`config`) exists and `differences` (recorded vs now) is empty.
pub(crate) fn decide_start(
    existing: Existing,
    dir: &Path,
    config: &Path,
    recorded: usize,
    differences: impl FnOnce() -> Result<String, TrainError>,
) -> Result<Start, TrainError> {
    match existing {
        Existing::Overwrite => Ok(Start::Fresh),
        Existing::Refuse if recorded > 0 => Err(TrainError::ExistingResults {
            dir: dir.to_owned(),
            runs: recorded,
        }),
        Existing::Refuse => Ok(Start::Fresh),
        Existing::Resume if !config.exists() && recorded > 0 => Err(TrainError::Unresumable {
            dir: dir.to_owned(),
            runs: recorded,
        }),
        Existing::Resume if !config.exists() => Ok(Start::Fresh),
        Existing::Resume => {
            let differences = differences()?;
            if differences.is_empty() {
                Ok(Start::Continue)
            } else {
                Err(TrainError::ResumeMismatch {
                    dir: dir.to_owned(),
                    config: config.to_owned(),
                    differences,
                })
            }
        }
    }
}

/// Records the command line of a job in `path`; a resumed job appends its
/// own line below the original.
pub fn append_command(path: &Path, command: &str, resuming: bool) -> Result<(), TrainError> {
    let earlier = if resuming {
        std::fs::read_to_string(path).unwrap_or_default()
    } else {
        String::new()
    };
    let line = if resuming {
        format!("# resumed with:\n{command}\n")
    } else {
        format!("{command}\n")
    };
    write_text(path, &format!("{earlier}{line}"))
}

/// The settings that differ between a recorded job configuration and a new
/// one, as `name: recorded X, now Y` joined by `; ` (empty when they agree).
/// Nested fields are named with dots (`recipe.epochs`); the `device`
/// description is ignored, since a job may continue on another machine and
/// every row records its own device.
pub fn settings_differences<C: Serialize>(recorded: &C, now: &C) -> String {
    let (old, new) = (settings(recorded), settings(now));
    let mut differences = Vec::new();
    for (name, value) in &new {
        let before = old.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        if before != Some(value.as_str()) {
            differences.push(format!("{name}: recorded {}, now {value}", before.unwrap_or("nothing")));
        }
    }
    for (name, value) in &old {
        if !new.iter().any(|(n, _)| n == name) {
            differences.push(format!("{name}: recorded {value}, now nothing"));
        }
    }
    differences.join("; ")
}

fn settings<C: Serialize>(config: &C) -> Vec<(String, String)> {
    // Through text and back, as the recorded side was: both then parse the
    // same digits, so no float differs by a rounding of the parser.
    let text = serde_json::to_string(config).expect("job configurations serialise");
    let mut value: serde_json::Value = serde_json::from_str(&text).expect("serialised JSON parses");
    // Where and how the runs computed (device, step engine) may change between
    // a job's parts; what they compute may not.
    if let Some(map) = value.as_object_mut() {
        map.remove("device");
        map.remove("engine");
    }
    let mut pairs = Vec::new();
    flatten_json("", &value, &mut pairs);
    pairs
}

fn flatten_json(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten_json(&name, value, out);
            }
        }
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

/// Reads a job configuration saved as JSON.
pub fn read_json<C: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<C, TrainError> {
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::Read {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| TrainError::Read {
        path: path.to_owned(),
        message: format!("not a {what}: {e}"),
    })
}

/// Every row of a CSV table; a missing file has none.
pub fn read_csv<R: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<R>, TrainError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let err = |message: String| TrainError::Read {
        path: path.to_owned(),
        message,
    };
    let mut reader = csv::Reader::from_path(path).map_err(|e| err(e.to_string()))?;
    reader
        .deserialize()
        .enumerate()
        .map(|(i, row)| row.map_err(|e| err(format!("row {}: {e}", i + 1))))
        .collect()
}

/// Creates `dir` (and parents) and checks it is writable, before hours of work
/// are spent on results that could not be saved.
pub fn prepare_output_dir(dir: &Path) -> Result<(), TrainError> {
    std::fs::create_dir_all(dir).map_err(|source| write_err(dir, source))?;
    let probe = dir.join(".mlp-cli-write-test");
    std::fs::write(&probe, b"").map_err(|source| write_err(dir, source))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// The command line that produced a result, shell-quoted, for the file saved
/// beside the results.
pub fn command_line(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=,:+".contains(c)) {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn temporary_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

fn write_err(path: &Path, source: std::io::Error) -> TrainError {
    TrainError::Write {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locked_directory_is_busy_until_its_lock_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let lock = lock_output_dir(dir.path()).unwrap();
        let err = lock_output_dir(dir.path()).unwrap_err();
        assert!(matches!(err, TrainError::Busy { .. }), "{err}");
        assert!(err.to_string().contains("in use by another mlp-cli job"));
        drop(lock);
        lock_output_dir(dir.path()).unwrap();
    }

    #[test]
    fn settings_differences_name_nested_fields_and_ignore_device_and_engine() {
        let a = serde_json::json!({"recipe": {"lr": 0.1, "epochs": 10}, "device": "cpu", "engine": "auto"});
        let b = serde_json::json!({"recipe": {"lr": 0.1, "epochs": 5}, "device": "gpu", "engine": "autodiff"});
        assert_eq!(settings_differences(&a, &b), "recipe.epochs: recorded 10, now 5");
        assert_eq!(settings_differences(&a, &a), "");
        // A float that needs all 17 digits survives the trip through the file.
        let x = serde_json::json!({"lr": 0.1 + 0.2});
        let from_file: serde_json::Value = serde_json::from_str(&x.to_string()).unwrap();
        assert_eq!(settings_differences(&from_file, &x), "");
    }
}
