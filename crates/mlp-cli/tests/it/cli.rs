//! The binary as a user meets it: every bad input is a clear message naming
//! the flag, file or value, with a non-zero exit and no panic.

use crate::common::*;

#[test]
fn bad_layer_ranges_are_clear_errors() {
    let dir = subset();
    let subset = dir.to_str().unwrap();
    for (layers, expected) in [("6..2", "6..2"), ("0..3", "0 layers"), ("abc", "'abc'")] {
        let err = fails(&study_args(subset, "unused", &["--layers", layers]));
        assert!(err.contains("--layers") && err.contains(expected), "{layers}: {err}");
    }
    let err = fails(&study_args(
        subset,
        "unused",
        &["--layers", "2..6", "--widths", "50,40"],
    ));
    assert!(err.contains("--widths") && err.contains("6 layers need 5"), "{err}");
}

#[test]
fn bad_numbers_are_clear_errors() {
    let dir = subset();
    let subset = dir.to_str().unwrap();
    for (flag, value) in [
        ("--batch-size", "0"),
        ("--epochs", "0"),
        ("--lr", "0"),
        ("--lr", "-1"),
        ("--batch-size", "-5"),
    ] {
        let err = fails(&study_args(subset, "unused", &[flag, value]));
        assert!(err.contains(flag), "{flag} {value}: {err}");
    }
    let err = fails(&["two-layer", "train", "--toy", "--lr", "-0.1", "--out", "unused"]);
    assert!(err.contains("--lr"), "{err}");
}

#[test]
fn bad_two_layer_flags_are_clear_errors_that_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let out = out.to_str().unwrap();
    let dir = subset();
    let mut data = vec!["--data-dir", dir.to_str().unwrap()];
    data.extend_from_slice(&SUBSET_SPLITS);
    for (args, flag, expected) in [
        (&["tune", "--hidden", "-5"][..], "--hidden", "'-5'"),
        (&["tune", "--lr", "-1e-3"], "--lr", "-0.001"),
        (&["tune", "--lr", "1e-2..1e-4:x10"], "--lr", "backwards"),
        (&["tune", "--reg", "-0.1"], "--reg", "-0.1"),
        (&["tune", "--reg", "0.1..0.5"], "--reg", "no step"),
        (&["tune", "--iters", "-5"], "--iters", "'-5'"),
        (&["tune", "--jobs", "0"], "--jobs", "at least 1"),
        (&["train", "--seed", "-1"], "--seed", "'-1'"),
        (
            &["train", "--hidden", "100000000000"],
            "--hidden",
            "more than this tool trains",
        ),
        (&["train", "--lr-decay", "1.5"], "--lr-decay", "(0, 1]"),
        (&["train", "--std", "-1e-4"], "--std", "-0.0001"),
    ] {
        let mut full = vec!["two-layer"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--device", "cpu", "--out", out]);
        full.extend_from_slice(&data);
        let err = fails(&full);
        assert!(err.contains(flag) && err.contains(expected), "{args:?}: {err}");
        assert!(!std::path::Path::new(out).exists(), "{args:?} wrote {out}");
    }
}

#[test]
fn the_toy_run_refuses_flags_that_do_not_apply_to_it() {
    let dir = subset();
    for extra in [
        &["--hidden", "7"][..],
        &["--std", "0.5"],
        &["--test"],
        &["--data-dir", dir.to_str().unwrap()],
        &["--num-train", "100"],
        &["--device", "gpu"],
    ] {
        let mut args = vec!["two-layer", "train", "--toy", "--out", "unused"];
        args.extend_from_slice(extra);
        let err = fails(&args);
        assert!(
            err.contains("'--toy' cannot be used with") && err.contains(extra[0]),
            "{extra:?}: {err}"
        );
    }
}

#[test]
fn data_problems_name_the_directory_and_the_counts() {
    let err = fails(&["data-info", "--data-dir", "/nonexistent/cifar"]);
    assert!(err.contains("/nonexistent/cifar"), "{err}");
    let dir = subset();
    let err = fails(&["data-info", "--data-dir", dir.to_str().unwrap(), "--num-train", "49000"]);
    assert!(err.contains("5170"), "should say how many images exist: {err}");
}

/// A copy of the bundled subset in a temporary directory, broken by `damage`.
fn broken_subset(damage: impl FnOnce(&std::path::Path)) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_subset(tmp.path());
    damage(tmp.path());
    tmp
}

#[test]
fn broken_data_files_are_named_in_a_one_line_error() {
    use std::fs;
    let record = 3073;
    let cases: [(&str, Box<dyn FnOnce(&std::path::Path)>, &[&str]); 4] = [
        (
            "missing file",
            Box::new(|dir| fs::remove_file(dir.join("data_batch_3.bin")).unwrap()),
            &["data_batch_3.bin is missing"],
        ),
        (
            "truncated file",
            Box::new(move |dir| {
                let path = dir.join("data_batch_2.bin");
                let bytes = fs::read(&path).unwrap();
                fs::write(&path, &bytes[..5 * record + 100]).unwrap();
            }),
            &["data_batch_2.bin", "15465 bytes", "100 bytes left over", "truncated"],
        ),
        (
            "CIFAR-100 record size",
            Box::new(move |dir| fs::write(dir.join("data_batch_4.bin"), vec![0u8; 10 * (record + 1)]).unwrap()),
            &["data_batch_4.bin", "3074-byte records", "CIFAR-100"],
        ),
        (
            "label 12",
            Box::new(move |dir| {
                let path = dir.join("test_batch.bin");
                let mut bytes = fs::read(&path).unwrap();
                bytes[7 * record] = 12;
                fs::write(&path, bytes).unwrap();
            }),
            &["test_batch.bin", "record 7 has label 12"],
        ),
    ];
    for (case, damage, expected) in cases {
        let dir = broken_subset(damage);
        let err = fails(&study_args(dir.path().to_str().unwrap(), "unused", &["--layers", "2"]));
        assert_eq!(err.trim().lines().count(), 1, "{case}: {err}");
        for part in expected {
            assert!(err.contains(part), "{case}: expected '{part}' in: {err}");
        }
    }
}

#[test]
fn a_corrupt_pickle_is_named_in_the_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cifar-10-batches-py");
    std::fs::create_dir(&dir).unwrap();
    for name in [
        "data_batch_1",
        "data_batch_2",
        "data_batch_3",
        "data_batch_4",
        "data_batch_5",
        "test_batch",
    ] {
        // A pickle's protocol header, a dict opened, then garbage.
        std::fs::write(dir.join(name), b"\x80\x02}q\x00(\xff\xfe garbage").unwrap();
    }
    std::fs::write(dir.join("batches.meta"), b"not a pickle at all").unwrap();
    let err = fails(&["data-info", "--data-dir", tmp.path().to_str().unwrap()]);
    assert!(
        err.contains("cifar-10-batches-py/data_batch_1 is not a usable CIFAR-10 pickle"),
        "{err}"
    );
}

#[test]
fn an_unwritable_output_directory_fails_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let out = file.join("results");
    let dir = subset();
    let err = fails(&study_args(
        dir.to_str().unwrap(),
        out.to_str().unwrap(),
        &["--layers", "2", "--epochs", "1"],
    ));
    assert!(err.contains("a-file"), "{err}");
    // The cause once, not repeated by every layer of the chain.
    assert_eq!(err.matches("Not a directory").count(), 1, "{err}");
}

// --device gpu and --device auto on this machine's wgpu adapter: gpu.rs (beside this file).

#[test]
fn help_shows_examples_and_every_command() {
    let help = succeeds(&["--help"]);
    for command in [
        "depth-study",
        "merge",
        "bench",
        "two-layer",
        "download",
        "data-info",
        "device-info",
        "trainability",
        "completions",
    ] {
        assert!(help.contains(command), "{command} missing from --help: {help}");
    }
    assert!(help.contains("Examples"), "{help}");
    assert!(help.contains("mlp-cli depth-study --layers 2..6"), "{help}");
}

#[test]
fn output_to_a_closed_pipe_or_a_full_disk_is_no_panic() {
    use std::process::{Command, Stdio};
    let dir = subset();
    let args = ["data-info", "--data-dir", dir.to_str().unwrap()];
    // A reader that goes away at once (`| head -0`): a quiet success.
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlp-cli"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // A full disk: an error that says so.
    if let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") {
        let out = Command::new(env!("CARGO_BIN_EXE_mlp-cli"))
            .args(args)
            .stdout(full)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.starts_with("error: cannot write to standard output: No space left on device"),
            "{stderr}"
        );
    }
}

#[test]
fn two_layer_check_passes_and_prints_the_table() {
    let out = mlp_cli(&["two-layer", "check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    for param in ["W1", "b1", "W2", "b2"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with(param) && l.ends_with("PASS")),
            "{param}: {stdout}"
        );
    }
    assert!(stdout.contains("All checks passed."));
}
