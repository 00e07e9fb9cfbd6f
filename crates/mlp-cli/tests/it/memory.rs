//! The memory check before any training: a run that cannot fit exits 1 at
//! once with one line (the estimate, what is available, the flag to
//! change), writing nothing; never an allocation abort or an OOM kill.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::*;

/// The binary with `env` set, timed.
fn run_with(args: &[&str], env: &[(&str, &str)]) -> (Output, Duration) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_mlp-cli"))
        .args(args)
        .env_remove("MLP_MEMORY_LIMIT")
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs");
    (out, start.elapsed())
}

/// The one error line of a refused run, after checking it was refused
/// cleanly, quickly and without writing `out`.
fn refused(args: &[&str], env: &[(&str, &str)], out: &Path) -> String {
    let (run, took) = run_with(args, env);
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert_eq!(run.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("memory allocation"),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(60), "{args:?} took {took:?}");
    assert!(!out.exists(), "nothing is written: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    let error = errors[0].to_owned();
    assert!(
        error.contains("not enough memory: ") && error.contains(" is available ("),
        "{error}"
    );
    error
}

/// Networks far larger than any machine (width 1e8: 1.2 TB for the first
/// weight alone) and larger than this one (40 layers of 8,000: an estimated 78 GiB of
/// parameter copies and activations) are refused by the estimate.
#[test]
fn networks_too_large_for_the_machine_are_refused_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = subset();
    let out = tmp.path().join("study");
    for size in [
        ["--width", "100000000", "--layers", "3..3"],
        ["--width", "8000", "--layers", "40..40"],
    ] {
        let error = refused(
            &study_args(dir.to_str().unwrap(), out.to_str().unwrap(), &size),
            &[],
            &out,
        );
        assert!(
            error.starts_with("error: depth study failed: not enough memory: the study needs about "),
            "{error}"
        );
        assert!(
            error.ends_with("one network alone is too large: lower --width (or --widths) or --layers"),
            "{error}"
        );
    }
    let trainability = subset_args(
        &["trainability"],
        dir.to_str().unwrap(),
        out.to_str().unwrap(),
        &["--width", "100000000", "--layers", "3"],
    );
    let error = refused(&trainability, &[], &out);
    assert!(error.ends_with("lower --width or --layers"), "{error}");
    let bench = [
        "bench",
        "--device",
        "cpu",
        "--models",
        "100000000",
        "--num-train",
        "200",
        "--num-val",
        "50",
    ];
    let error = refused(&bench, &[], &out);
    assert!(error.ends_with("lower --models or --networks"), "{error}");
    let peak = ["bench", "--device", "cpu", "--models", "8", "--peak-size", "10000000"];
    let error = refused(&peak, &[], &out);
    assert!(error.ends_with("lower --peak-size"), "{error}");
}

/// Under a cap (`MLP_MEMORY_LIMIT`, which makes the test the same on any
/// machine) the flag named is the one that makes the run fit: a group of
/// networks too large together names --group-size, networks trained side
/// by side name --jobs, one network too large names its size.
#[test]
fn the_refusal_names_the_flag_that_makes_the_run_fit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = subset();
    let out = tmp.path().join("map");
    let cap = [("MLP_MEMORY_LIMIT", "400M")];
    // One 3-layer net of width 1,000 needs about 150 MiB; four, 600.
    let map = |width: &'static str, extra: &[&'static str]| {
        let mut flags = vec!["--layers", "3", "--width", width, "--gains", "0.5,1,1.5,2"];
        flags.extend_from_slice(extra);
        subset_args(&["trainability"], dir.to_str().unwrap(), out.to_str().unwrap(), &flags)
    };
    let error = refused(&map("1000", &["--engine", "stacked", "--group-size", "4"]), &cap, &out);
    assert!(error.contains("MLP_MEMORY_LIMIT=400M"), "{error}");
    assert!(
        error.ends_with("lower --group-size (about 2 networks of the largest fit)"),
        "{error}"
    );
    // On the CPU a seed's networks share one pass by default: a group too.
    let error = refused(&map("1000", &[]), &cap, &out);
    assert!(
        error.ends_with("lower --group-size (about 2 networks of the largest fit)"),
        "{error}"
    );
    let error = refused(&map("1000", &["--jobs", "4", "--group-size", "1"]), &cap, &out);
    assert!(error.contains("(4 groups in flight, the largest "), "{error}");
    assert!(error.ends_with("lower --jobs (about 2 fit)"), "{error}");
    let error = refused(&map("4000", &[]), &cap, &out);
    assert!(
        error.ends_with("one network alone is too large: lower --width or --layers"),
        "{error}"
    );

    let two_layer = tmp.path().join("two");
    let args = subset_args(
        &["two-layer", "train"],
        dir.to_str().unwrap(),
        two_layer.to_str().unwrap(),
        &["--hidden", "20000"],
    );
    let error = refused(&args, &cap, &two_layer);
    assert!(error.ends_with("lower --hidden or --batch-size"), "{error}");

    // A run that fits says what it will need, and against what.
    let (run, _) = run_with(
        &study_args(
            dir.to_str().unwrap(),
            out.to_str().unwrap(),
            &["--layers", "1", "--variants", "plain", "--epochs", "1"],
        )
        .into_iter()
        .filter(|a| *a != "--quiet")
        .collect::<Vec<_>>(),
        &cap,
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let line = stderr.lines().find(|l| l.starts_with("memory: ")).unwrap_or_default();
    assert!(
        line.starts_with("memory: about ") && line.ends_with(" available (MLP_MEMORY_LIMIT=400M)"),
        "{stderr}"
    );

    // A cap that is not a size is an error that names the variable.
    let (run, _) = run_with(
        &study_args(dir.to_str().unwrap(), "unused", &[]),
        &[("MLP_MEMORY_LIMIT", "lots")],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("MLP_MEMORY_LIMIT: 'lots' is not a size"), "{stderr}");
}
