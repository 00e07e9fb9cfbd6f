//! The one error type of the crate. Every variant names the file, flag or value at
//! fault, because the messages end up in front of a user who has to fix their data
//! directory or command line, not in front of a debugger.

use std::path::PathBuf;

use crate::{Layout, NUM_CLASSES, RECORD_BYTES};

/// Everything that can go wrong while finding, reading, checking, splitting or
/// downloading CIFAR-10.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(
        "data directory {} does not exist or is not a directory (pass the directory holding \
         CIFAR-10 with --data-dir, or download it first)",
        dir.display()
    )]
    DirMissing { dir: PathBuf },

    #[error(
        "no CIFAR-10 data found in {}: expected the binary layout (data_batch_1.bin .. \
         data_batch_5.bin, test_batch.bin, optional batches.meta.txt) or the Python layout \
         (data_batch_1 .. data_batch_5, test_batch, optional batches.meta), either in that \
         directory or in its cifar-10-batches-bin / cifar-10-batches-py subdirectory",
        dir.display()
    )]
    NoLayout { dir: PathBuf },

    #[error("{layout} CIFAR-10 layout is incomplete: {} is missing", path.display())]
    MissingFile { path: PathBuf, layout: Layout },

    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{} is empty: it holds no CIFAR-10 records", path.display())]
    EmptyFile { path: PathBuf },

    #[error(
        "{} is {size} bytes, not a whole number of {RECORD_BYTES}-byte CIFAR-10 records \
         ({remainder} bytes left over; {hint})",
        path.display()
    )]
    PartialRecord {
        path: PathBuf,
        size: u64,
        remainder: u64,
        /// The likely cause: a truncated file, or another dataset's record size.
        hint: &'static str,
    },

    #[error(
        "{}: record {record} has label {label}, but CIFAR-10 labels are 0..={}",
        path.display(),
        NUM_CLASSES - 1
    )]
    BadLabel { path: PathBuf, record: usize, label: i64 },

    #[error("{} is not a usable CIFAR-10 pickle: {reason}", path.display())]
    BadPickle { path: PathBuf, reason: String },

    #[error("{} does not hold {NUM_CLASSES} class names: {reason}", path.display())]
    BadMeta { path: PathBuf, reason: String },

    #[error(
        "image set has {pixels} pixel bytes for {labels} labels; expected {labels} x 3072 = {}",
        labels.saturating_mul(crate::IMAGE_BYTES)
    )]
    ShapeMismatch { pixels: usize, labels: usize },

    #[error("image {index} has label {label}, but labels are 0..={}", NUM_CLASSES - 1)]
    LabelOutOfRange { index: usize, label: u8 },

    #[error("{flag} asks for {requested} images, but only {available} are available")]
    SplitTooLarge {
        flag: &'static str,
        requested: usize,
        available: usize,
    },

    #[error("--num-train is 0: the training split needs at least one image")]
    EmptyTrainSplit,

    #[error("unknown preprocessing '{name}': expected one of assignment, standardize, mean-image")]
    UnknownPreprocess { name: String },

    #[error(
        "could not download {url}: {reason}. To install CIFAR-10 by hand, fetch \
         cifar-10-binary.tar.gz (the \"CIFAR-10 binary version\", md5 {md5}) from \
         https://www.cs.toronto.edu/~kriz/cifar.html on a machine with network access, then \
         either put it at {} and run the download again (it is verified and extracted without \
         fetching), or extract it yourself (tar xzf cifar-10-binary.tar.gz) and pass the \
         extracted cifar-10-batches-bin directory, or its parent, with --data-dir",
        archive.display()
    )]
    Download {
        url: String,
        reason: String,
        md5: String,
        archive: PathBuf,
    },

    #[error(
        "the archive from {url} has MD5 {actual}, expected {expected}: it is corrupt or is not \
         cifar-10-binary.tar.gz, so nothing was extracted; it is kept aside as {} (compare it with \
         your mirror's, then delete it)",
        kept.display()
    )]
    Md5Mismatch {
        url: String,
        kept: PathBuf,
        expected: String,
        actual: String,
    },

    #[error("cannot extract {} into {}: {reason}", archive.display(), dir.display())]
    Extract {
        archive: PathBuf,
        dir: PathBuf,
        reason: String,
    },
}

impl DataError {
    /// Wraps an I/O error with what was being done and to which path.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| DataError::Io { action, path, source }
    }
}
