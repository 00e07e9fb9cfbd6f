//! The conventions of Rust command-line tools: clap's usage errors (exit 2,
//! naming the flag) for every bad value, choices and environment variables
//! listed in `--help`, exit codes documented, shell completions, JSON output.

use crate::common::*;

/// Every bad list, range or choice is clap's usage error: exit 2, with a
/// message naming the flag, before anything is read or written.
#[test]
fn bad_values_are_usage_errors_naming_the_flag() {
    let dir = subset();
    let subset = dir.to_str().unwrap();
    for (args, flag) in [
        (study_args(subset, "unused", &["--variants", "bogus"]), "--variants"),
        (study_args(subset, "unused", &["--lr", "1e-3..x"]), "--lr"),
        (study_args(subset, "unused", &["--shard", "3/2"]), "--shard"),
        (study_args(subset, "unused", &["--layers", "6..2"]), "--layers"),
        (study_args(subset, "unused", &["--seeds", "1,1"]), "--seeds"),
        (
            study_args(subset, "unused", &["--preprocess", "whiten"]),
            "--preprocess",
        ),
        (study_args(subset, "unused", &["--engine", "turbo"]), "--engine"),
        (
            subset_args(&["two-layer", "tune"], subset, "unused", &["--lr", "1e-3..x"]),
            "--lr",
        ),
        (
            subset_args(&["two-layer", "tune"], subset, "unused", &["--reg", "0.1..0.5"]),
            "--reg",
        ),
        (
            subset_args(&["two-layer", "tune"], subset, "unused", &["--hidden", "50..x"]),
            "--hidden",
        ),
        (
            subset_args(&["two-layer", "tune"], subset, "unused", &["--iters", "-5"]),
            "--iters",
        ),
        (vec!["bench", "--device", "cpu", "--models", "50-x"], "--models"),
    ] {
        let out = mlp_cli(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(&format!("'{flag}")), "{args:?}: {stderr}");
    }
}

#[test]
fn help_lists_the_choices_the_environment_and_the_exit_codes() {
    let help = succeeds(&["depth-study", "--help"]);
    for value in [
        "plain",
        "kaiming",
        "batchnorm-dropout",
        "assignment",
        "mean-image",
        "autodiff",
    ] {
        assert!(help.contains(value), "{value} missing: {help}");
    }
    assert!(help.contains("MLP_ALLOW_SOFTWARE_GPU"), "{help}");
    let help = succeeds(&["--help"]);
    for code in ["130", "143", "usage error"] {
        assert!(help.contains(code), "{code} missing: {help}");
    }
}

#[test]
fn completions_are_printed_for_each_shell() {
    let bash = succeeds(&["completions", "bash"]);
    assert!(bash.contains("complete -F") && bash.contains("depth-study"), "{bash}");
    for shell in ["zsh", "fish", "powershell"] {
        assert!(succeeds(&["completions", shell]).contains("depth-study"), "{shell}");
    }
}

#[test]
fn data_info_prints_json_that_parses() {
    let dir = subset();
    let mut args = vec!["data-info", "--format", "json", "--data-dir", dir.to_str().unwrap()];
    args.extend_from_slice(&SUBSET_SPLITS);
    let json: serde_json::Value = serde_json::from_str(&succeeds(&args)).unwrap();
    assert_eq!(json["train_images"], 5170);
    assert_eq!(json["test_images"], 1017);
    let train: Vec<u64> = serde_json::from_value(json["splits"]["train"].clone()).unwrap();
    assert_eq!(train.iter().sum::<u64>(), 4170);
    assert_eq!(json["class_names"][0], "airplane");
}

#[test]
fn bench_prints_json_that_parses() {
    let stdout = succeeds(&tiny_bench_args("json", &[]));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(rows.len(), 1, "{stdout}");
    assert_eq!(rows[0]["model"], "8");
    assert_eq!(rows[0]["engine"], "fused");
    assert!(rows[0]["epoch_seconds_median"].as_f64().unwrap() > 0.0, "{stdout}");
}

/// SIGTERM (what Slurm sends before a time limit) stops a study like Ctrl-C,
/// with its finished runs saved, and exits with the shell's code for it, 143.
#[test]
fn sigterm_stops_a_study_with_its_runs_saved_and_exit_143() {
    use std::process::{Command, Stdio};
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("study");
    let dir = subset();
    let args = study_args(
        dir.to_str().unwrap(),
        out.to_str().unwrap(),
        &[
            "--layers",
            "2..3",
            "--variants",
            "plain",
            "--seeds",
            "0..49",
            "--epochs",
            "1",
        ],
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlp-cli"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let table = out.join("depth_study.csv");
    while std::fs::read_to_string(&table).map_or(0, |t| t.lines().count()) < 2 {
        assert!(start.elapsed().as_secs() < 300, "no run finished in 5 minutes");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the study ended before it was stopped"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(143), "{stderr}");
    assert!(
        stderr.contains("runs are finished and saved in") && stderr.contains("--resume"),
        "{stderr}"
    );
}
