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
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/python-layout");
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

mod bundled_subset {
    use super::*;

    #[test]
    fn layout_counts_and_files() {
        let data = subset();
        assert_eq!(data.layout, Layout::Binary);
        assert_eq!(data.layout.to_string(), "binary");
        assert_eq!(data.train.len(), 5_170);
        assert_eq!(data.test.len(), 1_017);
        assert_eq!(data.train.pixels().len(), 5_170 * 3_072);
        let records: Vec<(String, usize)> = data
            .files
            .iter()
            .map(|f| (f.path.file_name().unwrap().to_string_lossy().into_owned(), f.records))
            .collect();
        let expected: Vec<(String, usize)> = BINARY_FILES
            .iter()
            .zip([1_102, 1_017, 1_017, 1_017, 1_017, 1_017])
            .map(|(f, n)| (f.to_string(), n))
            .collect();
        assert_eq!(records, expected);
    }

    #[test]
    fn first_labels_of_each_file_match_the_readme() {
        let data = subset();
        // From data/cifar-10-subset/README.md.
        let readme: [[u8; 10]; 5] = [
            [6, 9, 9, 4, 1, 1, 2, 7, 8, 3],
            [1, 6, 6, 8, 8, 3, 4, 6, 0, 6],
            [8, 5, 0, 6, 9, 2, 8, 3, 6, 2],
            [0, 6, 0, 2, 7, 2, 1, 2, 4, 1],
            [1, 8, 5, 1, 5, 7, 4, 3, 8, 2],
        ];
        let starts = [0, 1_102, 2_119, 3_136, 4_153];
        for (start, labels) in starts.iter().zip(readme) {
            assert_eq!(
                &data.train.labels()[*start..start + 10],
                labels,
                "file starting at {start}"
            );
        }
        assert_eq!(&data.test.labels()[..10], [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]);
    }

    #[test]
    fn class_names_come_from_batches_meta_txt() {
        let names = &subset().class_names;
        let expected = [
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
        assert_eq!(names, &expected);
    }

    #[test]
    fn pixels_are_the_file_bytes() {
        let data = subset();
        // Expected bytes read with od, e.g. `od -An -tu1 -j1 -N1 data_batch_1.bin`:
        // record 0 of data_batch_1.bin: red (0,0) is byte 1 = 59, blue (31,31) is byte
        // 1 + 2048 + 1023 = 3072 = 72.
        let first = data.train.image(0);
        assert_eq!(first[0], 59);
        assert_eq!(first[2 * 1024 + 31 * 32 + 31], 72);
        // Record 0 of data_batch_2.bin (training image 1,102): red (0,0) = 35.
        assert_eq!(data.train.image(1_102)[0], 35);
        // Last record (1,016) of test_batch.bin: label byte 1016 x 3073 = 1, green (5,7)
        // at byte 1016 x 3073 + 1 + 1024 + 5 x 32 + 7 = 82.
        assert_eq!(data.test.label(1_016), 1);
        assert_eq!(data.test.image(1_016)[1024 + 5 * 32 + 7], 82);
        // Last record of data_batch_1.bin has label 6 (byte 1101 x 3073).
        assert_eq!(data.train.label(1_101), 6);
    }

    #[test]
    fn class_counts() {
        // Counted with python over the label bytes of the five training files / test file.
        let data = subset();
        assert_eq!(
            data.train.class_counts(),
            [521, 534, 497, 505, 540, 484, 515, 524, 537, 513]
        );
        assert_eq!(
            data.test.class_counts(),
            [105, 93, 100, 104, 92, 87, 114, 102, 110, 110]
        );
    }

    #[test]
    fn parent_of_an_archive_directory_is_recognised() {
        // What the official archive extracts to: <dir>/cifar-10-batches-bin/...
        let tmp = tempfile::tempdir().unwrap();
        let inner = tmp.path().join("cifar-10-batches-bin");
        write_mini_binary(&inner, 2);
        let data = Cifar10::load(tmp.path()).unwrap();
        assert_eq!(data.dir, inner);
        assert_eq!((data.train.len(), data.test.len()), (10, 2));
    }
}

mod splits {
    use super::*;

    #[test]
    fn boundaries() {
        let data = subset().clone();
        let train = data.train.clone();
        let test = data.test.clone();
        let splits = data.into_splits(SUBSET_SIZES).unwrap();
        assert_eq!(
            (splits.train.len(), splits.val.len(), splits.test.len()),
            (4_170, 1_000, 1_000)
        );
        assert_eq!(splits.class_names.len(), NUM_CLASSES);
        // train = training images [0, 4170), val = [4170, 5170), test = test images [0, 1000).
        assert_eq!(splits.train.image(4_169), train.image(4_169));
        assert_eq!(splits.train.label(4_169), train.label(4_169));
        assert_eq!(splits.val.label(0), train.label(4_170));
        assert_eq!(splits.val.image(0), train.image(4_170));
        assert_eq!(splits.val.label(999), train.label(5_169));
        assert_eq!(splits.val.image(999), train.image(5_169));
        assert_eq!(splits.test.pixels(), &test.pixels()[..1_000 * IMAGE_BYTES]);
        assert_eq!(splits.test.labels(), &test.labels()[..1_000]);
        // Image 4,169 is record 16 and image 4,170 record 17 of data_batch_5.bin (labels
        // read with python), which checks the concatenation order too.
        assert_eq!((train.label(4_169), train.label(4_170)), (6, 2));
    }

    #[test]
    fn too_large_names_the_flag_and_what_exists() {
        let sizes = SplitSizes {
            num_val: 1_001,
            ..SUBSET_SIZES
        };
        let err = assert_error(
            subset().clone().into_splits(sizes),
            &["--num-train + --num-val", "5171", "5170"],
        );
        assert!(matches!(
            err,
            DataError::SplitTooLarge {
                requested: 5_171,
                available: 5_170,
                ..
            }
        ));

        let sizes = SplitSizes {
            num_test: 1_018,
            ..SUBSET_SIZES
        };
        assert_error(subset().clone().into_splits(sizes), &["--num-test", "1018", "1017"]);

        // The assignment's own sizes do not fit the subset.
        assert_error(subset().clone().into_splits(SplitSizes::default()), &["50000", "5170"]);

        let sizes = SplitSizes {
            num_train: 0,
            ..SUBSET_SIZES
        };
        assert_error(subset().clone().into_splits(sizes), &["--num-train"]);
    }

    #[test]
    fn everything_fits_exactly() {
        let sizes = SplitSizes {
            num_train: 5_170,
            num_val: 0,
            num_test: 1_017,
        };
        let splits = subset().clone().into_splits(sizes).unwrap();
        assert_eq!(
            (splits.train.len(), splits.val.len(), splits.test.len()),
            (5_170, 0, 1_017)
        );
    }

    #[test]
    fn default_sizes_are_the_assignments() {
        let d = SplitSizes::default();
        assert_eq!((d.num_train, d.num_val, d.num_test), (49_000, 1_000, 1_000));
    }
}

mod normalisation {
    use super::*;

    /// Per-column mean and population std of `[rows, 3072]` features, over the columns
    /// `cols` pooled together.
    fn pooled_stats(x: &[f32], cols: impl Iterator<Item = usize> + Clone) -> (f64, f64) {
        let rows = x.len() / IMAGE_BYTES;
        let (mut sum, mut sum_sq, mut n) = (0.0f64, 0.0f64, 0.0f64);
        for row in x.chunks_exact(IMAGE_BYTES) {
            for c in cols.clone() {
                let v = f64::from(row[c]);
                sum += v;
                sum_sq += v * v;
                n += 1.0;
            }
        }
        assert!(rows > 0);
        let mean = sum / n;
        (mean, (sum_sq / n - mean * mean).sqrt())
    }

    fn train_split() -> ImageSet {
        subset().clone().into_splits(SUBSET_SIZES).unwrap().train
    }

    /// The statistics themselves, on the subset's 4,170 training images,
    /// against values computed independently in Python from the raw files.
    #[test]
    fn fitted_statistics_match_an_independent_computation() {
        let train = train_split();
        let standardize = Normalizer::fit(Preprocess::Standardize, &train);
        let (offset, scale) = standardize.affine();
        let means = [125.94158727705336, 123.66353253334832, 114.36339951476319];
        let stds = [63.19665268819418, 62.33694399729335, 66.76723674949713];
        for channel in 0..3 {
            for j in [channel * 1024, channel * 1024 + 1023] {
                assert!(
                    (f64::from(offset[j]) - means[channel]).abs() < 1e-4,
                    "mean {channel}: {}",
                    offset[j]
                );
                assert!(
                    (1.0 / f64::from(scale[j]) - stds[channel]).abs() < 1e-4,
                    "std {channel}: {}",
                    1.0 / scale[j]
                );
            }
        }
        // Mean image, HWC: feature 0 is the red byte of pixel 0, feature 1 its green.
        let mean_image = Normalizer::fit(Preprocess::MeanImage, &train);
        let (offset, scale) = mean_image.affine();
        assert_eq!((mean_image.source_byte(0), mean_image.source_byte(1)), (0, 1024));
        assert!(
            (f64::from(offset[0]) - 132.59952038369303).abs() < 1e-4,
            "{}",
            offset[0]
        );
        assert!(
            (f64::from(offset[1]) - 137.75179856115108).abs() < 1e-4,
            "{}",
            offset[1]
        );
        assert!(scale.iter().all(|&s| s == 1.0));
    }

    #[test]
    fn assignment_maps_0_255_to_minus_one_one() {
        let mut pixels = vec![0u8; 3 * IMAGE_BYTES];
        pixels[IMAGE_BYTES..2 * IMAGE_BYTES].fill(255);
        pixels[2 * IMAGE_BYTES..2 * IMAGE_BYTES + 1024].fill(127);
        pixels[2 * IMAGE_BYTES + 1024..].fill(128);
        let set = ImageSet::new(pixels, vec![0, 1, 2]).unwrap();
        let n = Normalizer::fit(Preprocess::Assignment, &set);
        assert_eq!(n.mode(), Preprocess::Assignment);
        let out = n.apply_all(&set);
        assert_eq!(out.len(), 3 * IMAGE_BYTES);
        assert!(out[..IMAGE_BYTES].iter().all(|&v| (v + 1.0).abs() < 1e-6), "0 -> -1");
        assert!(
            out[IMAGE_BYTES..2 * IMAGE_BYTES]
                .iter()
                .all(|&v| (v - 1.0).abs() < 1e-6),
            "255 -> 1"
        );
        // 127 and 128 sit symmetrically around 127.5 -> 0: x/255 -> (x - 0.5)/0.5.
        let (low, high) = (out[2 * IMAGE_BYTES], out[2 * IMAGE_BYTES + 1024]);
        assert!(
            (low + 1.0 / 255.0).abs() < 1e-6 && (high - 1.0 / 255.0).abs() < 1e-6,
            "{low} {high}"
        );
        // Q4 keeps CHW order.
        assert_eq!(n.feature_position(0), (0, 0, 0));
        assert_eq!(n.feature_position(2 * 1024 + 33), (2, 1, 1));
    }

    #[test]
    fn standardize_gives_zero_mean_unit_std_per_channel_on_train() {
        let train = train_split();
        let n = Normalizer::fit(Preprocess::Standardize, &train);
        let out = n.apply_all(&train);
        for c in 0..3 {
            let (mean, std) = pooled_stats(&out, c * 1024..(c + 1) * 1024);
            assert!(mean.abs() < 1e-3, "channel {c}: mean {mean}");
            assert!((std - 1.0).abs() < 1e-3, "channel {c}: std {std}");
        }
        assert_eq!(n.feature_position(1024), (1, 0, 0));
    }

    #[test]
    fn mean_image_is_centred_and_hwc() {
        let train = train_split();
        let n = Normalizer::fit(Preprocess::MeanImage, &train);
        let out = n.apply_all(&train);
        // Every feature has mean ~0 over the training split.
        let rows = train.len() as f64;
        let mut sums = vec![0.0f64; IMAGE_BYTES];
        for row in out.chunks_exact(IMAGE_BYTES) {
            for (s, &v) in sums.iter_mut().zip(row) {
                *s += f64::from(v);
            }
        }
        let worst = sums.iter().map(|s| (s / rows).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-3, "largest feature mean {worst}");

        // Feature (h*32+w)*3+c is source byte c*1024+h*32+w minus that byte's mean.
        let mean_of = |src: usize| {
            train
                .pixels()
                .chunks_exact(IMAGE_BYTES)
                .map(|img| f64::from(img[src]))
                .sum::<f64>()
                / rows
        };
        for (h, w, c) in [(0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 0), (5, 7, 2), (31, 31, 1)] {
            let j = (h * 32 + w) * 3 + c;
            let src = c * 1024 + h * 32 + w;
            assert_eq!(n.feature_position(j), (c, h, w));
            for i in [0, 17, 4_169] {
                let expected = f64::from(train.image(i)[src]) - mean_of(src);
                let got = f64::from(out[i * IMAGE_BYTES + j]);
                assert!(
                    (got - expected).abs() < 1e-3,
                    "image {i} feature {j}: {got} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn statistics_come_from_train_and_apply_elsewhere() {
        let splits = subset().clone().into_splits(SUBSET_SIZES).unwrap();
        let n = Normalizer::fit(Preprocess::Standardize, &splits.train);
        // The training map applies to validation as is; fitting on validation would give
        // other numbers, so the statistics really are the training split's.
        let val = n.apply(&splits.val, &[3]);
        let refit = Normalizer::fit(Preprocess::Standardize, &splits.val).apply(&splits.val, &[3]);
        assert_ne!(val, refit);
        let whole = Normalizer::fit(Preprocess::Standardize, &subset().train).apply(&splits.val, &[3]);
        assert_ne!(val, whole);
    }

    #[test]
    fn apply_into_appends_rows_in_index_order() {
        let set = subset().test.clone();
        for mode in [Preprocess::Assignment, Preprocess::Standardize, Preprocess::MeanImage] {
            let n = Normalizer::fit(mode, &set);
            let mut out = vec![42.0];
            n.apply_into(&set, &[5, 2], &mut out);
            assert_eq!(out.len(), 1 + 2 * IMAGE_BYTES);
            assert_eq!(out[0], 42.0);
            assert_eq!(&out[1..1 + IMAGE_BYTES], n.apply(&set, &[5]).as_slice(), "{mode}");
            assert_eq!(&out[1 + IMAGE_BYTES..], n.apply(&set, &[2]).as_slice(), "{mode}");
        }
    }

    #[test]
    fn preprocess_names() {
        for (mode, name) in [
            (Preprocess::Assignment, "assignment"),
            (Preprocess::Standardize, "standardize"),
            (Preprocess::MeanImage, "mean-image"),
        ] {
            assert_eq!(mode.to_string(), name);
            assert_eq!(name.parse::<Preprocess>().unwrap(), mode);
        }
        let err = "mean_image".parse::<Preprocess>().unwrap_err().to_string();
        assert!(err.contains("mean_image") && err.contains("mean-image"), "{err}");
    }
}

mod python_layout {
    use super::*;

    /// The fixture holds the first 20 records of every subset file.
    const RECORDS: usize = 20;

    #[test]
    fn fixture_equals_the_binary_subset() {
        let py = Cifar10::load(&python_fixture()).unwrap();
        assert_eq!(py.layout, Layout::Python);
        assert_eq!(py.layout.to_string(), "python");
        assert_eq!(py.class_names, subset().class_names);
        assert_eq!(py.files.iter().map(|f| f.records).collect::<Vec<_>>(), [RECORDS; 6]);
        assert_eq!(py.train.len(), 5 * RECORDS);
        let bin = subset();
        let starts = [0, 1_102, 2_119, 3_136, 4_153];
        for (file, &start) in starts.iter().enumerate() {
            for r in 0..RECORDS {
                let i = file * RECORDS + r;
                assert_eq!(py.train.label(i), bin.train.label(start + r), "file {file} record {r}");
                assert_eq!(py.train.image(i), bin.train.image(start + r), "file {file} record {r}");
            }
        }
        assert_eq!(py.test.pixels(), &bin.test.pixels()[..RECORDS * IMAGE_BYTES]);
        assert_eq!(py.test.labels(), &bin.test.labels()[..RECORDS]);
    }

    #[test]
    fn parent_directory_is_recognised() {
        // The fixture's parent holds cifar-10-batches-py/, as the official python archive extracts.
        let parent = python_fixture().parent().unwrap().to_path_buf();
        let py = Cifar10::load(&parent).unwrap();
        assert_eq!(py.layout, Layout::Python);
        assert_eq!(py.dir, python_fixture());
    }

    #[test]
    fn protocol_5_numpy_frombuffer_pickle() {
        // protocol5_batch: the first 3 test records, pickled by numpy 2 with protocol 5.
        let tmp = copy_dir(&python_fixture());
        fs::copy(
            python_fixture().parent().unwrap().join("protocol5_batch"),
            tmp.path().join("test_batch"),
        )
        .unwrap();
        let py = Cifar10::load(tmp.path()).unwrap();
        assert_eq!(py.test.labels(), [3, 8, 8]);
        assert_eq!(py.test.pixels(), &subset().test.pixels()[..3 * IMAGE_BYTES]);
    }

    #[test]
    fn missing_meta_falls_back_to_the_standard_names() {
        let tmp = copy_dir(&python_fixture());
        fs::remove_file(tmp.path().join("batches.meta")).unwrap();
        let py = Cifar10::load(tmp.path()).unwrap();
        assert_eq!(py.class_names, subset().class_names);
    }
}

mod bad_input {
    use super::*;

    #[test]
    fn missing_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nowhere");
        let err = assert_error(Cifar10::load(&dir), &[&dir.display().to_string(), "does not exist"]);
        assert!(matches!(err, DataError::DirMissing { .. }));
    }

    #[test]
    fn directory_without_cifar() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("notes.txt"), "hello").unwrap();
        let dir = tmp.path().display().to_string();
        let err = assert_error(
            Cifar10::load(tmp.path()),
            &[
                &dir,
                "data_batch_1.bin",
                "test_batch.bin",
                "data_batch_1 ..",
                "cifar-10-batches-bin",
            ],
        );
        assert!(matches!(err, DataError::NoLayout { .. }));
    }

    #[test]
    fn missing_batch_file() {
        let tmp = tempfile::tempdir().unwrap();
        write_mini_binary(tmp.path(), 3);
        fs::remove_file(tmp.path().join("data_batch_3.bin")).unwrap();
        let err = assert_error(Cifar10::load(tmp.path()), &["data_batch_3.bin", "missing", "binary"]);
        assert!(matches!(
            err,
            DataError::MissingFile {
                layout: Layout::Binary,
                ..
            }
        ));

        let py = copy_dir(&python_fixture());
        fs::remove_file(py.path().join("test_batch")).unwrap();
        assert_error(Cifar10::load(py.path()), &["test_batch", "missing", "python"]);
    }

    #[test]
    fn truncated_file() {
        let tmp = tempfile::tempdir().unwrap();
        write_mini_binary(tmp.path(), 3);
        let path = tmp.path().join("data_batch_2.bin");
        let mut bytes = fs::read(&path).unwrap();
        bytes.truncate(2 * RECORD_BYTES + 100);
        fs::write(&path, bytes).unwrap();
        let err = assert_error(
            Cifar10::load(tmp.path()),
            &["data_batch_2.bin", "6246 bytes", "3073-byte", "100 bytes left over"],
        );
        assert!(matches!(
            err,
            DataError::PartialRecord {
                size: 6_246,
                remainder: 100,
                ..
            }
        ));
    }

    #[test]
    fn empty_file() {
        let tmp = tempfile::tempdir().unwrap();
        write_mini_binary(tmp.path(), 3);
        fs::write(tmp.path().join("test_batch.bin"), b"").unwrap();
        assert_error(Cifar10::load(tmp.path()), &["test_batch.bin", "empty"]);
    }

    #[test]
    fn label_out_of_range() {
        let tmp = tempfile::tempdir().unwrap();
        write_mini_binary(tmp.path(), 5);
        let path = tmp.path().join("data_batch_4.bin");
        let mut bytes = fs::read(&path).unwrap();
        bytes[3 * RECORD_BYTES] = 10;
        fs::write(&path, bytes).unwrap();
        let err = assert_error(Cifar10::load(tmp.path()), &["data_batch_4.bin", "record 3", "label 10"]);
        assert!(matches!(
            err,
            DataError::BadLabel {
                record: 3,
                label: 10,
                ..
            }
        ));
    }

    #[test]
    fn bad_class_name_file() {
        let tmp = tempfile::tempdir().unwrap();
        write_mini_binary(tmp.path(), 1);
        fs::write(tmp.path().join("batches.meta.txt"), "cat\ndog\n\n").unwrap();
        assert_error(
            Cifar10::load(tmp.path()),
            &["batches.meta.txt", "10 class names", "found 2"],
        );
    }

    #[test]
    fn truncated_pickle() {
        let tmp = copy_dir(&python_fixture());
        let path = tmp.path().join("test_batch");
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let err = assert_error(Cifar10::load(tmp.path()), &["test_batch", "pickle", "truncated"]);
        assert!(matches!(err, DataError::BadPickle { .. }));
    }

    #[test]
    fn garbage_pickle() {
        let tmp = copy_dir(&python_fixture());
        fs::write(tmp.path().join("data_batch_5"), b"this is not a pickle at all").unwrap();
        assert_error(
            Cifar10::load(tmp.path()),
            &["data_batch_5", "pickle", "opcode 0x74 at byte 0"],
        );

        // A valid pickle of the wrong thing.
        fs::write(tmp.path().join("data_batch_5"), b"\x80\x02]q\x00.").unwrap();
        assert_error(Cifar10::load(tmp.path()), &["data_batch_5", "expected a dict"]);
    }

    #[test]
    fn truncations_of_the_meta_pickle_fail_cleanly() {
        // Every truncation is tried by a unit test of the reader; here a few go through
        // the whole loader.
        let bytes = fs::read(python_fixture().join("batches.meta")).unwrap();
        let tmp = copy_dir(&python_fixture());
        let path = tmp.path().join("batches.meta");
        for end in [0, 1, 2, 50, bytes.len() - 1] {
            fs::write(&path, &bytes[..end]).unwrap();
            assert_error(Cifar10::load(tmp.path()), &["batches.meta", "pickle"]);
        }
    }

    #[test]
    fn corrupt_pickle_label() {
        // Flip the first label of the protocol-4 test_batch to 10: `python -m pickletools`
        // shows it as BININT1 3 at byte 63 (opcode K, then the argument at byte 64).
        let tmp = copy_dir(&python_fixture());
        let path = tmp.path().join("test_batch");
        let mut bytes = fs::read(&path).unwrap();
        assert_eq!(&bytes[63..65], b"K\x03");
        bytes[64] = 10;
        fs::write(&path, bytes).unwrap();
        assert_error(Cifar10::load(tmp.path()), &["test_batch", "record 0 has label 10"]);
    }
}

mod download {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::{Duration, Instant};

    use super::*;
    use mlp_data::{download_from, extract_tar_gz, md5_hex};

    /// A gzip-compressed tar holding `cifar-10-batches-bin/hello.txt`.
    fn small_archive() -> Vec<u8> {
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::default(),
        ));
        let content = b"hello, cifar";
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, "cifar-10-batches-bin/hello.txt", &content[..])
            .unwrap();
        tar.into_inner().unwrap().finish().unwrap()
    }

    /// Serves `body` to one HTTP request on a local port, then stops listening.
    fn serve_once(body: Vec<u8>) -> (String, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/cifar-10-binary.tar.gz", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(&body).unwrap();
        });
        (url, handle)
    }

    #[test]
    fn md5_of_known_files() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("fox.txt");
        fs::write(&path, "The quick brown fox jumps over the lazy dog").unwrap();
        assert_eq!(md5_hex(&path).unwrap(), "9e107d9d372bb6826bd81d3542a419d6");
        fs::write(&path, "").unwrap();
        assert_eq!(md5_hex(&path).unwrap(), "d41d8cd98f00b204e9800998ecf8427e");
        assert_error(md5_hex(&tmp.path().join("absent")), &["absent"]);
    }

    #[test]
    fn extract_a_built_archive() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join("a.tar.gz");
        fs::write(&archive, small_archive()).unwrap();
        let out = tmp.path().join("out");
        extract_tar_gz(&archive, &out).unwrap();
        assert_eq!(
            fs::read(out.join("cifar-10-batches-bin/hello.txt")).unwrap(),
            b"hello, cifar"
        );

        fs::write(&archive, b"not gzip").unwrap();
        assert_error(extract_tar_gz(&archive, &out), &["a.tar.gz", "cannot extract"]);
    }

    #[test]
    fn unreachable_server_fails_fast_with_manual_steps() {
        let tmp = tempfile::tempdir().unwrap();
        let start = Instant::now();
        // Port 9 (discard) on the loopback interface: nothing listens, the connection is
        // refused at once, whatever the network of the machine running the tests.
        let result = download_from(
            "http://127.0.0.1:9/cifar-10-binary.tar.gz",
            mlp_data::CIFAR10_BINARY_MD5,
            tmp.path(),
            &mut |_, _| {},
        );
        assert!(start.elapsed() < Duration::from_secs(10), "took {:?}", start.elapsed());
        let archive = tmp.path().join("cifar-10-binary.tar.gz").display().to_string();
        let err = assert_error(
            result,
            &[
                "127.0.0.1:9",
                "by hand",
                "cifar-10-binary.tar.gz",
                "https://www.cs.toronto.edu/~kriz/cifar.html",
                &archive,
                "--data-dir",
                "tar xzf",
            ],
        );
        assert!(matches!(err, DataError::Download { .. }));
        assert!(!tmp.path().join("cifar-10-binary.tar.gz").exists());
    }

    #[test]
    fn downloads_verifies_extracts_and_does_not_fetch_twice() {
        let body = small_archive();
        let md5 = {
            let tmp = tempfile::tempdir().unwrap();
            let p = tmp.path().join("x");
            fs::write(&p, &body).unwrap();
            md5_hex(&p).unwrap()
        };
        let (url, server) = serve_once(body.clone());
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cifar");
        let mut calls = Vec::new();
        let extracted = download_from(&url, &md5, &dir, &mut |got, total| calls.push((got, total))).unwrap();
        server.join().unwrap();
        assert_eq!(extracted, dir.join("cifar-10-batches-bin"));
        assert_eq!(fs::read(extracted.join("hello.txt")).unwrap(), b"hello, cifar");
        assert_eq!(fs::read(dir.join("cifar-10-binary.tar.gz")).unwrap(), body);
        assert!(!dir.join("cifar-10-binary.tar.gz.part").exists());
        let len = body.len() as u64;
        assert_eq!(calls.first(), Some(&(0, Some(len))));
        assert_eq!(calls.last(), Some(&(len, Some(len))));

        // The server is gone: a second call must use the archive already there.
        fs::remove_dir_all(&extracted).unwrap();
        let again = download_from(&url, &md5.to_uppercase(), &dir, &mut |_, _| panic!("fetched again")).unwrap();
        assert_eq!(fs::read(again.join("hello.txt")).unwrap(), b"hello, cifar");
    }

    #[test]
    fn wrong_md5_is_refused_nothing_extracted_and_the_archive_kept_aside() {
        let body = small_archive();
        let (url, server) = serve_once(body.clone());
        let tmp = tempfile::tempdir().unwrap();
        let wrong = "00000000000000000000000000000000";
        let result = download_from(&url, wrong, tmp.path(), &mut |_, _| {});
        server.join().unwrap();
        let actual = {
            let p = tmp.path().join("body");
            fs::write(&p, &body).unwrap();
            let md5 = md5_hex(&p).unwrap();
            fs::remove_file(p).unwrap();
            md5
        };
        let kept = tmp.path().join(format!("cifar-10-binary.tar.gz.md5-{actual}"));
        let err = assert_error(
            result,
            &[&url, wrong, &actual, "expected", "nothing was extracted", &kept.display().to_string()],
        );
        assert!(matches!(err, DataError::Md5Mismatch { .. }));
        assert_eq!(fs::read(&kept).unwrap(), body, "kept aside, as fetched");
        assert!(!tmp.path().join("cifar-10-binary.tar.gz").exists());
        assert!(!tmp.path().join("cifar-10-binary.tar.gz.part").exists());
        assert!(!tmp.path().join("cifar-10-batches-bin").exists(), "nothing extracted");
    }

    #[test]
    fn a_wrong_archive_already_there_is_named_when_the_fetch_fails() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join("cifar-10-binary.tar.gz");
        fs::write(&archive, b"not the archive").unwrap();
        let junk_md5 = md5_hex(&archive).unwrap();
        let expected = "c32a1d4ab5d03f1284b67883e8d87530";
        // Port 9 is closed: the fetch fails at once.
        let result = download_from("http://127.0.0.1:9/", expected, tmp.path(), &mut |_, _| {});
        let err = assert_error(result, &["already there", &junk_md5, "replace it", expected]);
        assert!(matches!(err, DataError::Download { .. }));
        assert_eq!(
            fs::read(&archive).unwrap(),
            b"not the archive",
            "left for the user to inspect"
        );
    }

    #[test]
    fn archive_without_the_batches_directory() {
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::default(),
        ));
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, "other/x", &b"x"[..]).unwrap();
        let body = tar.into_inner().unwrap().finish().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("cifar-10-binary.tar.gz"), &body).unwrap();
        let md5 = md5_hex(&tmp.path().join("cifar-10-binary.tar.gz")).unwrap();
        // Already present with the right MD5, so the (closed) URL is never contacted.
        let result = download_from("http://127.0.0.1:9/", &md5, tmp.path(), &mut |_, _| {});
        assert_error(result, &["cifar-10-batches-bin", "cifar-10-binary.tar.gz"]);
    }
}

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
