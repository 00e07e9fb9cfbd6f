//! The two on-disk layouts CIFAR-10 is distributed in, and the file names of each.

use std::fmt;

/// Class names in label order, used when a dataset directory has no metadata file.
pub const DEFAULT_CLASS_NAMES: [&str; crate::NUM_CLASSES] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Which official archive a directory was extracted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `cifar-10-binary.tar.gz`: `data_batch_{1..5}.bin`, `test_batch.bin` (3073-byte
    /// records) and `batches.meta.txt`.
    Binary,
    /// `cifar-10-python.tar.gz`: pickled dicts `data_batch_{1..5}`, `test_batch` and
    /// `batches.meta`.
    Python,
}

impl Layout {
    /// Both layouts, in the order a directory is probed for them.
    pub(crate) const ALL: [Layout; 2] = [Layout::Binary, Layout::Python];

    /// The five training batch files, in label order of the dataset.
    pub(crate) fn train_files(self) -> [&'static str; 5] {
        match self {
            Layout::Binary => [
                "data_batch_1.bin",
                "data_batch_2.bin",
                "data_batch_3.bin",
                "data_batch_4.bin",
                "data_batch_5.bin",
            ],
            Layout::Python => [
                "data_batch_1",
                "data_batch_2",
                "data_batch_3",
                "data_batch_4",
                "data_batch_5",
            ],
        }
    }

    /// The test batch file.
    pub(crate) fn test_file(self) -> &'static str {
        match self {
            Layout::Binary => "test_batch.bin",
            Layout::Python => "test_batch",
        }
    }

    /// The class-name file (optional: the standard names are used without it).
    pub(crate) fn meta_file(self) -> &'static str {
        match self {
            Layout::Binary => "batches.meta.txt",
            Layout::Python => "batches.meta",
        }
    }

    /// The directory the official archive of this layout extracts to.
    pub(crate) fn archive_dir(self) -> &'static str {
        match self {
            Layout::Binary => "cifar-10-batches-bin",
            Layout::Python => "cifar-10-batches-py",
        }
    }

    /// All six batch files: the five training files, then the test file.
    pub(crate) fn batch_files(self) -> impl Iterator<Item = &'static str> {
        self.train_files().into_iter().chain([self.test_file()])
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layout::Binary => "binary",
            Layout::Python => "python",
        })
    }
}
