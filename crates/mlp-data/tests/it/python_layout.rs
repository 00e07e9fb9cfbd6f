//! The Python (pickle) layout against the binary one.

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
