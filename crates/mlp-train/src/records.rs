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
    }
    std::fs::rename(&tmp, path).map_err(|source| write_err(path, source))
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
