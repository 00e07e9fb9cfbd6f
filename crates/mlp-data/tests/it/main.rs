//! Integration tests of mlp-data, grouped by topic: the bundled real subset, splits,
//! normalisation, the Python layout, bad input, and downloading.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mlp_data::{
    Cifar10, DataError, IMAGE_BYTES, ImageSet, Layout, NUM_CLASSES, Normalizer, Preprocess, RECORD_BYTES, SplitSizes,
    bundled_subset_dir,
};

/// The bundled subset, loaded once for all tests.
fn subset() -> &'static Cifar10 {
    static SUBSET: OnceLock<Cifar10> = OnceLock::new();
    SUBSET.get_or_init(|| {
        let dir = bundled_subset_dir();
        Cifar10::load(&dir).unwrap_or_else(|e| panic!("cannot load the bundled subset: {e}"))
    })
}

/// The split sizes the subset is used with.
const SUBSET_SIZES: SplitSizes = SplitSizes {
    num_train: 4_170,
    num_val: 1_000,
    num_test: 1_000,
};

const BINARY_FILES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];

/// The Python-layout fixture written by scripts/make_pickle_fixture.py: the
/// first 20 records of every subset file, pickled by numpy. The repository
/// keeps them as `tests/data/python-layout/*.pickle` (the dataset's own file
/// names are reserved for data read from ../shared); this assembles them, once
/// per test run, into `<tmp>/cifar-10-batches-py/` under the official names,
/// with `protocol5_batch` beside that directory.
fn python_fixture() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        // At run time: clones sharing a target directory share compiled
        // tests, and the path baked in at compile time may be another clone's.
        let source = std::env::var_os("CARGO_MANIFEST_DIR")
            .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
            .join("tests/data/python-layout");
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mlp-data-python-fixture");
        let _ = fs::remove_dir_all(&root);
        let layout = root.join("cifar-10-batches-py");
        fs::create_dir_all(&layout).unwrap();
        for name in [
            "data_batch_1",
            "data_batch_2",
            "data_batch_3",
            "data_batch_4",
            "data_batch_5",
            "test_batch",
            "batches.meta",
        ] {
            fs::copy(source.join(format!("{name}.pickle")), layout.join(name)).unwrap();
        }
        fs::copy(source.join("protocol5_batch.pickle"), root.join("protocol5_batch")).unwrap();
        layout
    })
    .clone()
}

/// Asserts that `result` failed and that its message contains every one of `needles`.
fn assert_error<T: std::fmt::Debug>(result: Result<T, DataError>, needles: &[&str]) -> DataError {
    let err = result.expect_err("expected an error");
    let message = err.to_string();
    for needle in needles {
        assert!(message.contains(needle), "{needle:?} not in: {message}");
    }
    err
}

mod bundled_subset;

mod splits;

mod normalisation;

mod python_layout;

mod bad_input;

mod download;

/// Writes the first `records` records of every bundled subset file, and its class names,
/// into `dir` (created): a small, valid binary-layout dataset to corrupt.
fn write_mini_binary(dir: &Path, records: usize) {
    fs::create_dir_all(dir).unwrap();
    let subset_dir = bundled_subset_dir();
    for name in BINARY_FILES {
        let bytes = fs::read(subset_dir.join(name)).unwrap();
        fs::write(dir.join(name), &bytes[..records * RECORD_BYTES]).unwrap();
    }
    fs::copy(subset_dir.join("batches.meta.txt"), dir.join("batches.meta.txt")).unwrap();
}

/// Copies the files of `src` into a fresh temporary directory.
fn copy_dir(src: &Path) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), tmp.path().join(entry.file_name())).unwrap();
    }
    tmp
}

#[test]
fn the_fingerprint_follows_the_contents_not_the_place() {
    let sizes = SplitSizes {
        num_train: 4170,
        num_val: 1000,
        num_test: 1000,
    };
    let load = || {
        Cifar10::load(&bundled_subset_dir())
            .unwrap()
            .into_splits(sizes)
            .unwrap()
    };
    let (a, b) = (load(), load());
    assert_eq!(a.fingerprint(), b.fingerprint());
    assert_eq!(a.fingerprint().len(), 16);
    let smaller = Cifar10::load(&bundled_subset_dir())
        .unwrap()
        .into_splits(SplitSizes {
            num_train: 4000,
            ..sizes
        })
        .unwrap();
    assert_ne!(a.fingerprint(), smaller.fingerprint());
}
