//! Bad input: every missing, truncated or corrupt file is a clear error.

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
