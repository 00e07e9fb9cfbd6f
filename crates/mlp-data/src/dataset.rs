//! Finding a CIFAR-10 directory, recognising its layout and loading all of it.

use std::path::{Path, PathBuf};

use crate::{DEFAULT_CLASS_NAMES, DataError, IMAGE_BYTES, ImageSet, Layout, binary, python};

/// One batch file that was read, and how many images it held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSummary {
    pub path: PathBuf,
    pub records: usize,
}

/// The whole dataset found in a directory, in file order.
#[derive(Debug, Clone)]
pub struct Cifar10 {
    /// Which layout the files were in.
    pub layout: Layout,
    /// The directory the files were read from (the one given, or its
    /// `cifar-10-batches-bin` / `cifar-10-batches-py` subdirectory).
    pub dir: PathBuf,
    /// Class names in label order (10 of them).
    pub class_names: Vec<String>,
    /// `data_batch_1` to `data_batch_5`, concatenated in that order.
    pub train: ImageSet,
    /// `test_batch`.
    pub test: ImageSet,
    /// The five training files, then the test file.
    pub files: Vec<FileSummary>,
}

impl Cifar10 {
    /// Recognises either layout in `dir` itself, or in `dir/cifar-10-batches-bin` /
    /// `dir/cifar-10-batches-py` (what the official archives extract to), and reads every
    /// batch. Batch files may hold fewer than the official 10,000 records.
    pub fn load(dir: &Path) -> Result<Self, DataError> {
        let (layout, dir) = locate(dir)?;
        let train_paths: Vec<PathBuf> = layout.train_files().iter().map(|f| dir.join(f)).collect();
        let test_path = dir.join(layout.test_file());
        // Check every file up front, so a missing one is reported before minutes of reading.
        for path in train_paths.iter().chain([&test_path]) {
            if !path.is_file() {
                return Err(DataError::MissingFile {
                    path: path.clone(),
                    layout,
                });
            }
        }

        let mut files = Vec::with_capacity(train_paths.len() + 1);
        let train = read_set(layout, &train_paths, &mut files)?;
        let test = read_set(layout, std::slice::from_ref(&test_path), &mut files)?;

        let meta = dir.join(layout.meta_file());
        let class_names = if meta.is_file() {
            match layout {
                Layout::Binary => binary::read_class_names(&meta)?,
                Layout::Python => python::read_class_names(&meta)?,
            }
        } else {
            DEFAULT_CLASS_NAMES.iter().map(|&s| s.to_owned()).collect()
        };

        Ok(Cifar10 {
            layout,
            dir,
            class_names,
            train,
            test,
            files,
        })
    }
}

/// Where the bundled real subset lives: the environment variable `CIFAR10_SUBSET_DIR` if
/// set; else `shared/data/cifar-10-subset` beside the nearest ancestor of the current
/// directory that has one (tests run in their crate's directory, the CLI usually in the
/// workspace root); else the one beside the workspace this crate was compiled in.
///
/// (The search at run time matters: clones of the workspace that share a cargo target
/// directory share this crate's compiled code, and with it the path baked in at
/// compile time, which may be another clone's.)
pub fn bundled_subset_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CIFAR10_SUBSET_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let subset = |parent: &Path| parent.join("shared").join("data").join("cifar-10-subset");
    if let Ok(cwd) = std::env::current_dir()
        && let Some(found) = cwd.ancestors().map(subset).find(|d| d.is_dir())
    {
        return found;
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    // crates/mlp-data -> crates -> workspace root -> its parent.
    match manifest.ancestors().nth(3) {
        Some(parent) => subset(parent),
        None => manifest.join("../../../shared/data/cifar-10-subset"),
    }
}

/// Finds the directory and layout: a layout counts as present as soon as one of its batch
/// files exists, so that a directory missing one file gets "file X is missing" rather than
/// "no CIFAR-10 here".
fn locate(dir: &Path) -> Result<(Layout, PathBuf), DataError> {
    if !dir.is_dir() {
        return Err(DataError::DirMissing { dir: dir.to_path_buf() });
    }
    let candidates = [dir.to_path_buf()]
        .into_iter()
        .chain(Layout::ALL.iter().map(|l| dir.join(l.archive_dir())));
    for candidate in candidates {
        for layout in Layout::ALL {
            if layout.batch_files().any(|f| candidate.join(f).is_file()) {
                return Ok((layout, candidate));
            }
        }
    }
    Err(DataError::NoLayout { dir: dir.to_path_buf() })
}

/// Reads `paths` in order into one set, recording a summary per file.
fn read_set(layout: Layout, paths: &[PathBuf], files: &mut Vec<FileSummary>) -> Result<ImageSet, DataError> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    if layout == Layout::Binary {
        // The sizes tell the total up front: reserve it exactly, so the 150 MB training
        // set is never reallocated (and never held twice) while it grows.
        let total = paths
            .iter()
            .try_fold(0usize, |sum, p| Ok::<_, DataError>(sum + binary::record_count(p)?))?;
        pixels.reserve_exact(total * IMAGE_BYTES);
        labels.reserve_exact(total);
    }
    for (i, path) in paths.iter().enumerate() {
        let records = match layout {
            Layout::Binary => binary::read_batch(path, &mut pixels, &mut labels)?,
            Layout::Python => python::read_batch(path, &mut pixels, &mut labels)?,
        };
        if i == 0 && layout == Layout::Python {
            // Pickles tell their size only once parsed; assume the rest are as large as
            // the first (they are in the official files) to avoid repeated regrowth.
            pixels.reserve_exact(pixels.len() * (paths.len() - 1));
            labels.reserve_exact(labels.len() * (paths.len() - 1));
        }
        files.push(FileSummary {
            path: path.clone(),
            records,
        });
    }
    Ok(ImageSet::from_checked(pixels, labels))
}
