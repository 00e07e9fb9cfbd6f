//! The bundled real subset: record counts, first labels, known pixels, class names.

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
