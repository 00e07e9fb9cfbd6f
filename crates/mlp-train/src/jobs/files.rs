//! Result files: CSV tables and text written whole to a temporary file and
//! renamed, so a crash never leaves a torn table; reading them back; the
//! output directory's lock; and the command line saved beside the results.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::TrainError;

/// Writes `rows` as CSV to `path` atomically (see [`write_atomically`]).
pub fn write_csv<R: Serialize>(path: &Path, rows: &[R]) -> Result<(), TrainError> {
    write_atomically(path, |file| {
        let csv_err = |source| TrainError::Csv {
            path: path.to_owned(),
            source,
        };
        let mut writer = csv::Writer::from_writer(file);
        for row in rows {
            writer.serialize(row).map_err(csv_err)?;
        }
        writer.flush().map_err(|source| write_err(path, source))
    })
}

/// Writes `text` to `path` atomically (see [`write_atomically`]).
pub fn write_text(path: &Path, text: &str) -> Result<(), TrainError> {
    write_atomically(path, |file| {
        file.write_all(text.as_bytes())
            .map_err(|source| write_err(path, source))
    })
}

/// Writes a file whole under a temporary name in the same directory, syncs
/// it, renames it over `path` and syncs the directory: a crash or power cut
/// leaves the old file or the new one, never a torn or empty one, and the
/// rename itself survives. On an error the temporary file is removed.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> Result<(), TrainError>,
) -> Result<(), TrainError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // The mode `File::create` gives (0666 less the umask), not tempfile's
    // private 0600: results are shared files.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder.tempfile_in(dir).map_err(|source| write_err(path, source))?;
    write(tmp.as_file_mut())?;
    tmp.as_file().sync_all().map_err(|source| write_err(path, source))?;
    tmp.persist(path).map_err(|e| write_err(path, e.error))?;
    sync_dir(dir).map_err(|source| write_err(path, source))
}

/// Makes a rename in `dir` durable (a directory is synced through a handle
/// opened on it; Unix only, where that is how it is done).
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
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
    fn atomic_writes_replace_the_file_and_leave_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("table.csv");
        write_text(&path, "old\n").unwrap();
        write_csv(&path, &[(1, "a"), (2, "b")]).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1,a\n2,b\n");
        // A failed write keeps the old table and removes its temporary file.
        let err = write_csv(&path, &[std::collections::HashMap::from([(1, 2)])]).unwrap_err();
        assert!(matches!(err, TrainError::Csv { .. }), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1,a\n2,b\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["table.csv"]);
    }
}
