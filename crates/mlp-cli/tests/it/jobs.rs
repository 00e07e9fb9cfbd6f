//! Long jobs as a user runs them: Ctrl-C and `--resume`, refusing to replace
//! finished work, `--shard K/N` and `merge`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// A study of `runs` quick networks (2–3 layers × plain, kaiming × seeds) into `out`.
fn job_args(out: &Path, seeds: &str, extra: &[&str]) -> Vec<String> {
    let subset = subset();
    let mut args: Vec<String> = [
        "depth-study",
        "--quiet",
        "--device",
        "cpu",
        "--data-dir",
        subset.to_str().unwrap(),
        "--num-train",
        "1000",
        "--num-val",
        "500",
        "--num-test",
        "500",
        "--layers",
        "2..3",
        "--variants",
        "plain,kaiming",
        "--epochs",
        "2",
        "--seeds",
        seeds,
        "--out",
        out.to_str().unwrap(),
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// A result table without its last column (seconds, which differ run to run).
fn numbers(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|line| line.rsplit_once(',').unwrap().0.to_owned())
        .collect()
}

fn assert_same_study(a: &Path, b: &Path) {
    for table in ["depth_study.csv", "depth_study_history.csv"] {
        assert_eq!(numbers(&a.join(table)), numbers(&b.join(table)), "{table}");
    }
    let text = |dir: &Path, name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    for table in ["depth_study_signal.csv", "depth_study_dynamics.csv"] {
        assert_eq!(text(a, table), text(b, table), "{table}");
    }
    let summary = |dir: &Path| std::fs::read_to_string(dir.join("depth_study_summary.csv")).unwrap();
    assert_eq!(summary(a), summary(b));
}

fn data_rows(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count().saturating_sub(1))
}

#[test]
fn ctrl_c_keeps_finished_runs_and_resume_finishes_the_same_study() {
    let tmp = tempfile::tempdir().unwrap();
    let (cut, whole) = (tmp.path().join("cut"), tmp.path().join("whole"));
    // 40 runs: far more than finish between the first saved row and the signal.
    let args = job_args(&cut, "0..9", &[]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlp-cli"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while data_rows(&cut.join("depth_study.csv")) < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "no run finished in 5 minutes"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the study ended before it was interrupted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("runs are finished and saved in"), "{stderr}");
    let resume_line = stderr.lines().last().unwrap().trim();
    assert!(
        resume_line.starts_with("mlp-cli depth-study") && resume_line.ends_with("--resume"),
        "{stderr}"
    );
    let saved = data_rows(&cut.join("depth_study.csv"));
    assert!((2..40).contains(&saved), "{saved} runs saved");

    // Without --resume, the finished runs are not replaced.
    let err = fails(&strs(&args));
    assert!(err.contains(&format!("already holds {saved} finished runs")), "{err}");
    // With other arguments, --resume is refused.
    let mut changed = job_args(&cut, "0..9", &["--resume"]);
    let epochs = changed.iter().position(|a| a == "--epochs").unwrap();
    changed[epochs + 1] = "3".into();
    let err = fails(&strs(&changed));
    assert!(err.contains("recipe.epochs: recorded 2, now 3"), "{err}");

    // With other data (one label changed, same sizes), --resume is refused.
    let other_data = tmp.path().join("other-data");
    std::fs::create_dir(&other_data).unwrap();
    copy_subset(&other_data);
    let batch = other_data.join("data_batch_1.bin");
    let mut bytes = std::fs::read(&batch).unwrap();
    bytes[0] = (bytes[0] + 1) % 10;
    std::fs::write(&batch, bytes).unwrap();
    let mut moved = job_args(&cut, "0..9", &["--resume"]);
    let data_dir = moved.iter().position(|a| a == "--data-dir").unwrap();
    moved[data_dir + 1] = other_data.to_str().unwrap().to_owned();
    let err = fails(&strs(&moved));
    assert!(err.contains("data_fingerprint: recorded"), "{err}");

    succeeds(&strs(&job_args(&cut, "0..9", &["--resume"])));
    assert_eq!(data_rows(&cut.join("depth_study.csv")), 40);
    succeeds(&strs(&job_args(&whole, "0..9", &[])));
    assert_same_study(&cut, &whole);
    let command = std::fs::read_to_string(cut.join("depth_study_command.txt")).unwrap();
    assert_eq!(command.matches("# resumed with:").count(), 1, "{command}");
}

#[test]
fn shards_merged_by_the_cli_equal_one_unsharded_study() {
    let tmp = tempfile::tempdir().unwrap();
    let (sharded, whole) = (tmp.path().join("sharded"), tmp.path().join("whole"));
    for shard in ["1/3", "2/3", "3/3"] {
        succeeds(&strs(&job_args(&sharded, "0..1", &["--shard", shard])));
    }
    assert_eq!(data_rows(&sharded.join("shard-3-of-3/depth_study.csv")), 2);
    let stdout = succeeds(&["merge", sharded.to_str().unwrap()]);
    assert!(stdout.contains("merged 3 shards: 8 of 8 runs"), "{stdout}");
    assert!(stdout.contains(" ± "), "two seeds give mean ± std: {stdout}");
    succeeds(&strs(&job_args(&whole, "0..1", &[])));
    assert_same_study(&sharded, &whole);
    // Merging again (a resubmitted job) replaces the earlier merge.
    let again = succeeds(&["merge", sharded.to_str().unwrap()]);
    assert!(again.contains("merged 3 shards: 8 of 8 runs"), "{again}");
    assert_same_study(&sharded, &whole);
    let plot = std::fs::read(sharded.join("depth_study_accuracy.png")).unwrap();
    assert_eq!(&plot[..4], b"\x89PNG");

    // Shards trained on separate machines, each with its own --out, copied
    // back side by side: `merge host1 host2 --out DIR`.
    let hosts = [
        (tmp.path().join("host1"), vec![1]),
        (tmp.path().join("host2"), vec![2, 3]),
    ];
    for (host, ks) in &hosts {
        for k in ks {
            let name = format!("shard-{k}-of-3");
            copy_flat_dir(&sharded.join(&name), &host.join(&name));
        }
    }
    let (host1, host2) = (hosts[0].0.to_str().unwrap(), hosts[1].0.to_str().unwrap());
    let err = fails(&["merge", host1, host2]);
    assert!(err.contains("--out"), "the shards have no common parent: {err}");
    let from_hosts = tmp.path().join("from-hosts");
    let stdout = succeeds(&["merge", host1, host2, "--out", from_hosts.to_str().unwrap()]);
    assert!(stdout.contains("merged 3 shards: 8 of 8 runs"), "{stdout}");
    assert_same_study(&from_hosts, &whole);

    // Shards of different studies, or an incomplete set, are refused.
    let other = tmp.path().join("other");
    succeeds(&strs(&job_args(&other, "0..2", &["--shard", "3/3"])));
    let shard = |dir: &Path, k: usize| dir.join(format!("shard-{k}-of-3")).to_str().unwrap().to_owned();
    let (s1, s2, o3) = (shard(&sharded, 1), shard(&sharded, 2), shard(&other, 3));
    let target = tmp.path().join("merged").to_str().unwrap().to_owned();
    let err = fails(&["merge", &s1, &s2, &o3, "--out", &target]);
    assert!(err.contains("different studies") && err.contains("seeds"), "{err}");
    let err = fails(&["merge", &s1, &s2, "--out", &target]);
    assert!(err.contains("3/3 missing"), "{err}");
    let err = fails(&["merge", whole.to_str().unwrap()]);
    assert!(err.contains("not a shard"), "{err}");
}

#[test]
fn bad_job_flags_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    for (flag, value, expected) in [
        ("--shard", "0/2", "'0/2' is not a shard"),
        ("--shard", "3/2", "K/N"),
        ("--shard", "two", "K/N"),
        ("--seeds", "abc", "'abc' is not a seed"),
        ("--seeds", "5..1", "empty"),
        ("--seeds", "1,1", "twice"),
        ("--shard", "5/5", "only 4 runs"),
    ] {
        let args = if flag == "--seeds" {
            job_args(&out, value, &[])
        } else {
            job_args(&out, "0", &[flag, value])
        };
        let err = fails(&strs(&args));
        assert!(err.contains(flag) && err.contains(expected), "{flag} {value}: {err}");
    }
    let err = fails(&strs(&job_args(&out, "0", &["--resume", "--overwrite"])));
    assert!(err.contains("--resume") && err.contains("--overwrite"), "{err}");
    let err = fails(&["merge", "/nonexistent/results"]);
    assert!(err.contains("/nonexistent/results"), "{err}");
    // A merge never writes over results that are not an earlier merge of its shards.
    let shards = tmp.path().join("shards");
    succeeds(&strs(&job_args(&shards, "0", &["--shard", "1/2"])));
    succeeds(&strs(&job_args(&shards, "0", &["--shard", "2/2"])));
    let other = tmp.path().join("other");
    succeeds(&strs(&job_args(&other, "1", &[])));
    let before = std::fs::read_to_string(other.join("depth_study.csv")).unwrap();
    let err = fails(&["merge", shards.to_str().unwrap(), "--out", other.to_str().unwrap()]);
    assert!(err.contains("already holds other results"), "{err}");
    assert_eq!(std::fs::read_to_string(other.join("depth_study.csv")).unwrap(), before);
    let err = fails(&["merge", "/nonexistent/results"]);
    assert!(err.contains("/nonexistent/results"), "{err}");
    assert!(!out.exists(), "nothing is written for bad arguments");
}

#[test]
fn a_tuning_sweep_is_sharded_merged_and_never_overwritten_by_accident() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep");
    let subset = subset();
    let sweep = |extra: &[&str]| {
        let mut args = vec![
            "two-layer",
            "tune",
            "--quiet",
            "--device",
            "cpu",
            "--data-dir",
            subset.to_str().unwrap(),
            "--num-train",
            "1000",
            "--num-val",
            "500",
            "--num-test",
            "500",
            "--hidden",
            "10,20",
            "--lr",
            "1e-3,2e-3",
            "--reg",
            "0.5",
            "--iters",
            "20",
            "--seeds",
            "0..1",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    succeeds(&strs(&sweep(&["--shard", "1/2"])));
    succeeds(&strs(&sweep(&["--shard", "2/2"])));
    let err = fails(&strs(&sweep(&["--shard", "2/2"])));
    assert!(
        err.contains("already holds 4 finished runs") && err.contains("--resume"),
        "{err}"
    );
    succeeds(&strs(&sweep(&["--shard", "2/2", "--resume"])));

    let stdout = succeeds(&["merge", out.to_str().unwrap()]);
    assert!(stdout.contains("merged 2 shards: 8 of 8 trials"), "{stdout}");
    assert!(stdout.contains("best grid point: trial"), "{stdout}");
    assert_eq!(data_rows(&out.join("two_layer_tuning.csv")), 8);
    for name in [
        "two_layer_tuning_heatmap.png",
        "two_layer_model.bpk",
        "two_layer_summary.json",
    ] {
        assert!(out.join(name).is_file(), "{name} missing after merge");
    }
}

/// Copies the files of `from` (no subdirectories) into a new directory `to`.
fn copy_flat_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
}
