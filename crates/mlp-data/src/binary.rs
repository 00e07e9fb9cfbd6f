//! Reader of the binary layout: records of 1 label byte followed by 3072 pixel bytes.

use std::fs;
use std::path::Path;

use crate::{DataError, IMAGE_BYTES, NUM_CLASSES, RECORD_BYTES};

/// Number of records in `path`, from its size alone; fails when the size is not a whole
/// number of records. Used to size the destination buffers before reading.
pub(crate) fn record_count(path: &Path) -> Result<usize, DataError> {
    let size = fs::metadata(path)
        .map_err(DataError::io("read the size of", path))?
        .len();
    check_size(path, size)
}

/// Appends the records of `path` to `pixels` (`[n, 3072]`) and `labels` (`[n]`) and returns
/// `n`. Every label is checked to be below 10.
pub(crate) fn read_batch(path: &Path, pixels: &mut Vec<u8>, labels: &mut Vec<u8>) -> Result<usize, DataError> {
    let bytes = fs::read(path).map_err(DataError::io("read", path))?;
    // Checked again on the bytes actually read: the file may have changed since its size
    // was taken.
    let records = check_size(path, bytes.len() as u64)?;
    pixels.reserve(records * IMAGE_BYTES);
    labels.reserve(records);
    for (record, chunk) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
        let label = chunk[0];
        if usize::from(label) >= NUM_CLASSES {
            return Err(DataError::BadLabel {
                path: path.to_path_buf(),
                record,
                label: i64::from(label),
            });
        }
        labels.push(label);
        pixels.extend_from_slice(&chunk[1..]);
    }
    Ok(records)
}

/// Reads `batches.meta.txt`: one class name a line; blank lines (the official file ends
/// with some) are skipped.
pub(crate) fn read_class_names(path: &Path) -> Result<Vec<String>, DataError> {
    let text = fs::read_to_string(path).map_err(DataError::io("read", path))?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    if names.len() != NUM_CLASSES {
        return Err(DataError::BadMeta {
            path: path.to_path_buf(),
            reason: format!("found {} non-empty lines", names.len()),
        });
    }
    Ok(names)
}

fn check_size(path: &Path, size: u64) -> Result<usize, DataError> {
    let remainder = size % RECORD_BYTES as u64;
    if remainder != 0 {
        // CIFAR-100's binary records carry two label bytes: 3,074 bytes each.
        let hint = if size % (RECORD_BYTES as u64 + 1) == 0 {
            "its size fits 3074-byte records, as in CIFAR-100's binary format, which this tool does not read"
        } else {
            "the file is probably truncated"
        };
        return Err(DataError::PartialRecord {
            path: path.to_path_buf(),
            size,
            remainder,
            hint,
        });
    }
    if size == 0 {
        return Err(DataError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    // Only fails on a 32-bit target, for a file larger than its address space.
    usize::try_from(size / RECORD_BYTES as u64).map_err(|_| DataError::Io {
        action: "load",
        path: path.to_path_buf(),
        source: std::io::Error::other("the file is too large for this platform"),
    })
}
