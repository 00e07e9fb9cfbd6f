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
    for command in ["depth-study", "merge", "bench", "two-layer", "download", "data-info", "device-info"] {
        assert!(help.contains(command), "{command} missing from --help: {help}");
    }
    assert!(help.contains("Examples"), "{help}");
    assert!(help.contains("mlp-cli depth-study --layers 2..6"), "{help}");
}

#[test]
fn ndarray_backend_still_trains() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = subset();
    let out = tmp.path().to_str().unwrap();
    let mut args = study_args(
        dir.to_str().unwrap(),
        out,
        &["--layers", "2", "--variants", "plain", "--epochs", "1"],
    );
    let device = args.iter().position(|a| *a == "cpu").unwrap();
    args[device] = "ndarray";
    succeeds(&args);
    let csv = std::fs::read_to_string(tmp.path().join("depth_study.csv")).unwrap();
    let row = csv.lines().nth(1).unwrap();
    // ndarray keeps Burn's autodiff step under --engine auto.
    assert!(row.contains(",cpu (ndarray),autodiff,"), "{row}");
}

#[test]
fn data_info_describes_the_bundled_subset() {
    let dir = subset();
    let mut args = vec!["data-info", "--data-dir", dir.to_str().unwrap()];
    args.extend_from_slice(&SUBSET_SPLITS);
    let out = mlp_cli(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("layout: binary"), "{stdout}");
    assert!(stdout.contains("images: 5170 training, 1017 test"), "{stdout}");
    assert!(
        stdout.contains("data_batch_1.bin") && stdout.contains("1102 records"),
        "{stdout}"
    );
    // Per split, counted independently in Python from the subset's files.
    let row = |name: &str| -> Vec<String> {
        let line = stdout.lines().rfind(|l| l.trim_start().starts_with(name)).unwrap();
        line.split_whitespace().map(str::to_owned).collect()
    };
    assert_eq!(row("airplane"), ["airplane", "418", "103", "103"], "{stdout}");
    assert_eq!(row("truck"), ["truck", "403", "110", "109"], "{stdout}");
    assert_eq!(row("total"), ["total", "4170", "1000", "1000"], "{stdout}");
}

#[test]
fn data_info_without_split_flags_counts_all_images_and_suggests_splits_that_fit() {
    let dir = subset();
    let stdout = succeeds(&["data-info", "--data-dir", dir.to_str().unwrap()]);
    let total = stdout.lines().find(|l| l.trim_start().starts_with("total")).unwrap();
    assert_eq!(total.split_whitespace().collect::<Vec<_>>(), ["total", "5170", "1017"]);
    let airplane = stdout.lines().find(|l| l.trim_start().starts_with("airplane")).unwrap();
    assert_eq!(
        airplane.split_whitespace().collect::<Vec<_>>(),
        ["airplane", "521", "105"]
    );
    assert!(
        stdout.contains("--num-train 4170 --num-val 1000 --num-test 1000"),
        "{stdout}"
    );
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

#[test]
fn a_small_study_writes_its_tables_and_prints_the_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("exp");
    let dir = subset();
    let out = mlp_cli(&study_args(
        dir.to_str().unwrap(),
        out_dir.to_str().unwrap(),
        &["--layers", "1..2", "--variants", "plain,batchnorm", "--epochs", "2"],
    ));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("| Linear layers |"), "{stdout}");
    let csv = std::fs::read_to_string(out_dir.join("depth_study.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 4);
    // Each row names the engine that trained it: fused, on the CPU.
    for line in csv.lines().skip(1) {
        assert!(line.contains(",cpu (flex),fused,"), "{line}");
    }
    let command = std::fs::read_to_string(out_dir.join("depth_study_command.txt")).unwrap();
    assert!(
        command.starts_with("mlp-cli depth-study --quiet --device cpu"),
        "{command}"
    );
}

#[test]
fn an_unknown_engine_is_a_clear_error() {
    let dir = subset();
    let err = fails(&study_args(dir.to_str().unwrap(), "unused", &["--engine", "turbo"]));
    assert!(err.contains("--engine") && err.contains("turbo"), "{err}");
}

#[test]
fn size_one_splits_and_layers_train_without_panicking() {
    // Any dimension of size 1 (a 1-image split, a last batch of 1 image, a
    // single hidden unit) once broke squeezing the predictions.
    let tmp = tempfile::tempdir().unwrap();
    let dir = subset();
    let subset = dir.to_str().unwrap();
    let out = tmp.path().join("study");
    succeeds(&[
        "depth-study",
        "--quiet",
        "--device",
        "cpu",
        "--data-dir",
        subset,
        "--num-train",
        "401",
        "--num-val",
        "1",
        "--num-test",
        "1",
        "--layers",
        "2",
        "--variants",
        "plain",
        "--epochs",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    let out = tmp.path().join("two");
    succeeds(&[
        "two-layer",
        "train",
        "--quiet",
        "--device",
        "cpu",
        "--data-dir",
        subset,
        "--num-train",
        "201",
        "--num-val",
        "1",
        "--num-test",
        "1",
        "--hidden",
        "1",
        "--iters",
        "3",
        "--test",
        "--out",
        out.to_str().unwrap(),
    ]);
}

#[test]
fn an_empty_validation_split_is_refused_for_training() {
    let dir = subset();
    let err = fails(&[
        "depth-study",
        "--device",
        "cpu",
        "--data-dir",
        dir.to_str().unwrap(),
        "--num-train",
        "4170",
        "--num-val",
        "0",
    ]);
    assert!(err.contains("--num-val 0"), "{err}");
}

#[test]
fn bench_prints_one_csv_row_per_model_with_consistent_numbers() {
    let stdout = succeeds(&[
        "bench",
        "--quiet",
        "--device",
        "cpu",
        "--models",
        "8,8-4",
        "--num-train",
        "400",
        "--num-val",
        "100",
        "--epochs",
        "2",
        "--warmup",
        "0",
        "--peak-size",
        "64",
        "--format",
        "csv",
    ]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "model,device,engine,threads,epoch_seconds_median,epoch_seconds_min,images_per_second,\
         peak_memory_mib,gflop_per_epoch,gflops,peak_fraction"
    );
    assert_eq!(lines.len(), 3, "{stdout}");
    for (line, model, products) in [
        (lines[1], "8", vec![3072 * 8, 8 * 10]),
        (lines[2], "8-4", vec![3072 * 8, 8 * 4, 4 * 10]),
    ] {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[0], model);
        // Networks on the flex CPU device take the fused step unless told otherwise.
        assert_eq!(cells[2], "fused", "{line}");
        let number = |i: usize| cells[i].parse::<f64>().unwrap();
        let (median, min, rate, gflop, gflops) = (number(4), number(5), number(6), number(8), number(9));
        assert!(min > 0.0 && min <= median, "{line}");
        assert!((rate - 400.0 / median).abs() < 1e-6 * rate, "{line}");
        // fwd + dW over every layer, dX over all but the first; val: fwd only.
        let sum: f64 = products.iter().map(|&p| p as f64).sum();
        let tail: f64 = products[1..].iter().map(|&p| p as f64).sum();
        let expected = ((4.0 * sum + 2.0 * tail) * 400.0 + 2.0 * sum * 100.0) / 1e9;
        assert!((gflop - expected).abs() < 1e-12, "{gflop} vs {expected}");
        assert!((gflops - gflop / median).abs() < 1e-6 * gflops, "{line}");
    }
    // Burn's autodiff step on request, named in its rows.
    let out = mlp_cli(&[
        "bench",
        "--device",
        "cpu",
        "--models",
        "8",
        "--num-train",
        "200",
        "--num-val",
        "50",
        "--epochs",
        "1",
        "--warmup",
        "0",
        "--peak-size",
        "64",
        "--format",
        "csv",
        "--engine",
        "autodiff",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().nth(1).unwrap().split(',').nth(2),
        Some("autodiff"),
        "{stdout}"
    );
    let err = fails(&["bench", "--device", "cpu", "--models", "50-x"]);
    assert!(err.contains("--models") && err.contains("'50-x'"), "{err}");
}

/// The bundled subset packed as the official archive packs it
/// (`cifar-10-batches-bin/…` in a gzipped tar).
fn subset_archive() -> Vec<u8> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    tar.append_dir_all("cifar-10-batches-bin", subset()).unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

#[test]
fn download_from_a_mirror_checks_the_md5() {
    let archive = subset_archive();
    let tmp = tempfile::tempdir().unwrap();
    let packed = tmp.path().join("packed.tar.gz");
    std::fs::write(&packed, &archive).unwrap();
    let md5 = mlp_data::md5_hex(&packed).unwrap();

    // A mirror serving this archive, with its MD5 given: fetched, checked, extracted, readable.
    let dir = tmp.path().join("data");
    let (url, server) = serve_once(archive.clone());
    let stdout = succeeds(&["download", "--quiet", "--dir", dir.to_str().unwrap(), "--url", &url, "--md5", &md5.to_uppercase()]);
    server.join().unwrap();
    assert!(stdout.contains("CIFAR-10 is ready in"), "{stdout}");
    let info = succeeds(&["data-info", "--data-dir", dir.to_str().unwrap()]);
    assert!(info.contains("images: 5170 training, 1017 test"), "{info}");

    // The same mirror checked against the official MD5: refused, nothing
    // extracted, the fetched file kept aside under its own MD5.
    let dir = tmp.path().join("official");
    let (url, server) = serve_once(archive.clone());
    let err = fails(&["download", "--quiet", "--dir", dir.to_str().unwrap(), "--url", &url]);
    server.join().unwrap();
    let kept = dir.join(format!("cifar-10-binary.tar.gz.md5-{md5}"));
    for part in [url.as_str(), &md5, mlp_data::CIFAR10_BINARY_MD5, "nothing was extracted", &kept.display().to_string()] {
        assert!(err.contains(part), "'{part}' missing: {err}");
    }
    assert_eq!(std::fs::read(&kept).unwrap(), archive);
    assert!(!dir.join("cifar-10-batches-bin").exists());
    assert!(!dir.join("cifar-10-binary.tar.gz").exists());

    // A malformed --md5 is a usage error.
    let out = mlp_cli(&["download", "--dir", dir.to_str().unwrap(), "--md5", "abc"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--md5"));
}

/// README's promise: on one machine the same seed gives the same numbers,
/// whatever the number of cores the fused step splits its products over.
#[test]
fn the_same_seed_gives_the_same_numbers_whatever_the_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = subset();
    let tables = |threads: &str| {
        let out = tmp.path().join(format!("threads-{threads}"));
        let args = study_args(dir.to_str().unwrap(), out.to_str().unwrap(), &["--layers", "2..3", "--epochs", "2"]);
        let run = std::process::Command::new(env!("CARGO_BIN_EXE_mlp-cli"))
            .args(&args)
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        // Every column but the wall-clock seconds.
        let without_seconds = |name: &str| {
            let text = std::fs::read_to_string(out.join(name)).unwrap();
            text.lines()
                .map(|line| line.rsplit_once(',').unwrap().0.to_owned())
                .collect::<Vec<_>>()
        };
        (
            without_seconds("depth_study.csv"),
            without_seconds("depth_study_history.csv"),
            std::fs::read_to_string(out.join("depth_study_signal.csv")).unwrap(),
        )
    };
    let one = tables("1");
    assert_eq!(one.0.len(), 1 + 2 * 4, "{:?}", one.0);
    assert_eq!(one, tables("2"));
    assert_eq!(one, tables("3"));
}
