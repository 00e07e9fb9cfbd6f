//! The GPU code path (`--device gpu`, Burn's wgpu backend) through the
//! binary, on whatever wgpu adapter this machine has. Without an adapter
//! these tests pass and say on stderr that they were skipped, and how to run
//! them. `.ci/run` installs Mesa's software Vulkan driver (llvmpipe) and sets
//! `MLP_GPU_TESTS=require`, under which a missing adapter fails them: CI
//! never skips a GPU test, so a broken wgpu path fails there.

use std::io::Write as _;
use std::process::{Command, Output};

use crate::common::*;

/// What `mlp-cli device-info` reports of the adapter `--device gpu` opens.
struct Adapter {
    name: String,
    software: bool,
}

/// The binary with `MLP_ALLOW_SOFTWARE_GPU` set to 1 or removed, and `env` set.
fn cli(args: &[&str], allow_software: bool, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mlp-cli"));
    command.args(args).env_remove("MLP_ALLOW_SOFTWARE_GPU");
    if allow_software {
        command.env("MLP_ALLOW_SOFTWARE_GPU", "1");
    }
    command.envs(env.iter().copied()).output().expect("the binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The machine's adapter, or `None` (skip, said on stderr) when
/// `device-info` opens none. With `MLP_GPU_TESTS=require` a missing adapter
/// fails the test instead, naming what is missing.
fn adapter() -> Option<Adapter> {
    let out = cli(&["device-info"], false, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    // (device-info succeeds with a CUDA device alone: it says `none` for wgpu.)
    if !out.status.success() || stdout.contains("wgpu adapter:  none") {
        let test = std::thread::current().name().unwrap_or("a GPU test").to_owned();
        if std::env::var("MLP_GPU_TESTS").as_deref() == Ok("require") {
            panic!(
                "MLP_GPU_TESTS=require, but no wgpu adapter could be opened for {test}; install a Vulkan \
                 driver (Debian/Ubuntu: apt install mesa-vulkan-drivers, or your GPU's). device-info says:\n{}",
                stderr(&out)
            );
        }
        // Straight to the process's stderr: the test harness captures
        // eprintln! of passing tests, and a skip must be seen.
        let why = stderr(&out)
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or("")
            .to_owned();
        let _ = writeln!(
            std::io::stderr(),
            "skipped {test}: no wgpu adapter ({why}). To run it, install a Vulkan driver \
             (Debian/Ubuntu: apt install mesa-vulkan-drivers, or your GPU's); \
             MLP_GPU_TESTS=require makes a missing adapter fail the GPU tests"
        );
        return None;
    }
    let field = |key: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .unwrap_or_else(|| panic!("device-info has no '{key}' line: {stdout}"))
            .trim()
            .to_owned()
    };
    for key in ["backend:", "driver:", "driver info:", "--device gpu:", "--device auto:"] {
        field(key);
    }
    let kind = field("type:");
    Some(Adapter {
        name: field("wgpu adapter:"),
        software: kind.contains("software renderer"),
    })
}

/// One row of depth_study.csv, the columns these tests read.
#[derive(Debug, serde::Deserialize)]
struct Row {
    layers: usize,
    variant: String,
    seed: u64,
    device: String,
    engine: String,
    test_acc: f64,
    val_acc: f64,
    diverged: bool,
}

fn rows(dir: &std::path::Path) -> Vec<Row> {
    csv::Reader::from_path(dir.join("depth_study.csv"))
        .unwrap()
        .deserialize()
        .map(Result::unwrap)
        .collect()
}

/// One row of depth_study_dynamics.csv, the columns these tests read.
#[derive(Debug, serde::Deserialize)]
struct DynamicsRow {
    layers: usize,
    variant: String,
    seed: u64,
    epoch: usize,
    layer: usize,
    activation_rms: f64,
    weight_grad_norm: f64,
}

/// The dynamics probe ran on `device`: init and 2 epochs of every layer of
/// the 8 runs, finite, and a plain 3-layer net's logits at init far below
/// a Kaiming one's.
fn check_dynamics(dir: &std::path::Path, device: &str) {
    let rows: Vec<DynamicsRow> = csv::Reader::from_path(dir.join("depth_study_dynamics.csv"))
        .unwrap()
        .deserialize()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 3 * 3 * 4 * 2, "{device}");
    assert!(dir.join("depth_study_dynamics.png").is_file());
    for row in &rows {
        assert!(
            row.activation_rms.is_finite() && row.weight_grad_norm.is_finite(),
            "{device}: {row:?}"
        );
    }
    let logits_at_init = |variant: &str| {
        rows.iter()
            .find(|r| r.layers == 3 && r.variant == variant && r.seed == 0 && r.epoch == 0 && r.layer == 3)
            .unwrap()
            .activation_rms
    };
    let (plain, kaiming) = (logits_at_init("plain"), logits_at_init("kaiming"));
    assert!(plain < 1e-2 * kaiming, "{device}: plain {plain} vs kaiming {kaiming}");
}

/// A short study (3 layers, every variant, 2 seeds, 2 epochs on 1,000
/// images) on the GPU path gives the CPU's accuracies. (One depth: on the
/// software adapter the study's time goes to compiling each group's kernels,
/// about 10 s a group, not to training.) Both devices start from the same
/// weights (each run draws them on the host from its own generator) but
/// compute in different float orders (wgpu's kernels and the stacked step
/// against flex and the fused step), which training can grow, so rows are
/// compared by their mean. Measured on llvmpipe: every row's accuracies
/// equal the CPU's; the tolerance on the means is 2 points.
#[test]
fn a_short_study_on_the_gpu_path_matches_the_cpu() {
    let Some(adapter) = adapter() else { return };
    let subset = subset();
    let study = |device: &str| {
        let out = tempfile::tempdir().unwrap();
        let mut args = vec!["depth-study", "--quiet", "--device", device];
        args.extend_from_slice(&[
            "--data-dir",
            subset.to_str().unwrap(),
            "--out",
            out.path().to_str().unwrap(),
        ]);
        args.extend_from_slice(&["--num-train", "1000", "--num-val", "300", "--num-test", "300"]);
        args.extend_from_slice(&["--layers", "3", "--epochs", "2", "--seeds", "0..1"]);
        let run = cli(&args, true, &[]);
        assert!(run.status.success(), "{device}: {}", stderr(&run));
        let rows = rows(out.path());
        assert!(out.path().join("depth_study_summary.csv").is_file());
        assert!(out.path().join("depth_study_accuracy.png").is_file());
        check_dynamics(out.path(), device);
        rows
    };
    let gpu = study("gpu");
    let cpu = study("cpu");
    assert_eq!(gpu.len(), 4 * 2, "4 variants x 2 seeds: {gpu:?}");
    for (g, c) in gpu.iter().zip(&cpu) {
        assert_eq!((g.layers, &g.variant, g.seed), (c.layers, &c.variant, c.seed));
        assert!(g.device.starts_with(&format!("wgpu {}", adapter.name)), "{g:?}");
        if adapter.software {
            assert!(g.device.ends_with("software adapter, not a GPU)"), "{g:?}");
        }
        assert_eq!(g.engine, "stacked", "networks on a GPU train in stacked groups");
        assert!(!g.diverged && (0.0..=1.0).contains(&g.test_acc), "{g:?}");
    }
    let mean = |rows: &[Row], acc: fn(&Row) -> f64| rows.iter().map(acc).sum::<f64>() / rows.len() as f64;
    for (split, acc) in [
        ("val", (|r: &Row| r.val_acc) as fn(&Row) -> f64),
        ("test", |r: &Row| r.test_acc),
    ] {
        let (g, c) = (mean(&gpu, acc), mean(&cpu, acc));
        assert!(
            (g - c).abs() <= 0.02,
            "{split}: gpu {g:.3} vs cpu {c:.3}\n{gpu:?}\n{cpu:?}"
        );
        // Both learn: ten classes give 0.1 by chance.
        assert!(g > 0.15, "{split}: gpu mean {g:.3}");
    }
}

/// tanh on the GPU path: the stacked step's tanh networks (Xavier, 3
/// layers, 1 epoch, 2 seeds on 1,000 images) train to the CPU's accuracies.
#[test]
fn tanh_networks_train_on_the_gpu_path_as_on_the_cpu() {
    let Some(_) = adapter() else { return };
    let subset = subset();
    let study = |device: &str| {
        let out = tempfile::tempdir().unwrap();
        let mut args = vec!["depth-study", "--quiet", "--device", device, "--no-dynamics"];
        args.extend_from_slice(&["--data-dir", subset.to_str().unwrap(), "--out", out.path().to_str().unwrap()]);
        args.extend_from_slice(&["--num-train", "1000", "--num-val", "300", "--num-test", "300"]);
        args.extend_from_slice(&["--layers", "3", "--epochs", "1", "--seeds", "0..1"]);
        args.extend_from_slice(&["--activation", "tanh", "--variants", "xavier"]);
        let run = cli(&args, true, &[]);
        assert!(run.status.success(), "{device}: {}", stderr(&run));
        rows(out.path())
    };
    let (gpu, cpu) = (study("gpu"), study("cpu"));
    assert_eq!(gpu.len(), 2);
    for (g, c) in gpu.iter().zip(&cpu) {
        assert_eq!(g.engine, "stacked");
        assert!((g.val_acc - c.val_acc).abs() <= 0.03, "{g:?} vs {c:?}");
        assert!(g.val_acc > 0.15, "{g:?}");
    }
}

/// A software adapter is no GPU: `--device gpu` refuses it unless
/// MLP_ALLOW_SOFTWARE_GPU=1, writing nothing, and `--device auto` picks the
/// CPU and says why. On a hardware adapter, auto picks it.
#[test]
fn a_software_adapter_is_refused_without_the_variable_and_auto_picks_the_cpu() {
    let Some(adapter) = adapter() else { return };
    let subset = subset();
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("study");
    let args = |device: &'static str| {
        let mut args = vec![
            "depth-study",
            "--device",
            device,
            "--data-dir",
            subset.to_str().unwrap(),
        ];
        args.extend_from_slice(&["--out", out_dir.to_str().unwrap()]);
        args.extend_from_slice(&["--num-train", "200", "--num-val", "20", "--num-test", "20"]);
        args.extend_from_slice(&["--layers", "2", "--variants", "plain", "--epochs", "1"]);
        args
    };
    let auto = cli(&args("auto"), false, &[]);
    let auto_err = stderr(&auto);
    assert!(auto.status.success(), "{auto_err}");
    let chosen = auto_err
        .lines()
        .find(|l| l.starts_with("device: "))
        .unwrap_or_else(|| panic!("{auto_err}"));
    if !adapter.software {
        assert!(chosen.starts_with("device: wgpu "), "{auto_err}");
        return;
    }
    assert_eq!(chosen, "device: cpu (flex)", "{auto_err}");
    assert!(
        auto_err.contains(&format!(
            "--device auto: wgpu adapter '{}' is a software renderer; no CUDA device (",
            adapter.name
        )) && auto_err.contains("; using the CPU"),
        "{auto_err}"
    );
    std::fs::remove_dir_all(&out_dir).unwrap();

    let refused = cli(&args("gpu"), false, &[]);
    let err = stderr(&refused);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // Mesa's driver may print its own lines first (without XDG_RUNTIME_DIR).
    let error = err
        .lines()
        .find(|l| l.starts_with("error: --device"))
        .unwrap_or_default();
    assert!(
        error.starts_with("error: --device gpu: the only wgpu adapter is '"),
        "{err}"
    );
    assert!(
        err.contains("software renderer") && err.contains("MLP_ALLOW_SOFTWARE_GPU=1"),
        "{err}"
    );
    assert!(!out_dir.join("depth_study.csv").exists(), "nothing is trained");
}

/// When no adapter opens, the error says what to check: the Vulkan loader,
/// the driver's ICD file and the variables that choose it, the adapter
/// override, and the CPU as the way on. Needs no adapter: pointing the
/// loader at a driver file that does not exist hides every one.
#[test]
fn no_adapter_is_an_error_that_says_what_to_check() {
    let subset = subset();
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("study");
    let hide_drivers = [("VK_DRIVER_FILES", "/nonexistent"), ("XDG_RUNTIME_DIR", "/tmp")];
    let mut args = vec!["depth-study", "--device", "gpu", "--data-dir", subset.to_str().unwrap()];
    args.extend_from_slice(&["--out", out_dir.to_str().unwrap(), "--layers", "2", "--epochs", "1"]);
    args.extend_from_slice(&["--num-train", "200", "--num-val", "20", "--num-test", "20"]);
    for (what, run) in [
        ("--device gpu", cli(&args, true, &hide_drivers)),
        ("device-info", cli(&["device-info"], false, &hide_drivers)),
    ] {
        let err = stderr(&run);
        assert_eq!(run.status.code(), Some(1), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            err.contains(&format!("error: {what}: no wgpu adapter could be opened")),
            "{err}"
        );
        for hint in [
            "libvulkan.so.1",
            "VK_DRIVER_FILES is set, so only it is read: /nonexistent (missing)",
            "VK_ICD_FILENAMES",
            "CUBECL_WGPU_DEFAULT_DEVICE",
            "--device cpu",
        ] {
            assert!(err.contains(hint), "'{hint}' missing: {err}");
        }
    }
    assert!(!out_dir.exists(), "nothing is written");

    // --device auto goes on, on the CPU.
    args[2] = "auto";
    let auto = cli(&args, false, &hide_drivers);
    let err = stderr(&auto);
    assert!(auto.status.success(), "{err}");
    assert!(
        err.contains("--device auto: no wgpu adapter (")
            && err.contains("; no CUDA device (")
            && err.contains("device: cpu (flex)"),
        "{err}"
    );
}

/// The dispatch target, counted by cubecl's launch observer: six
/// networks in one stacked group launch at most a fifth of the kernels per
/// network and step that one network alone does (measured on llvmpipe: the
/// same 40 launches per step for the group of 6 as for one network), and the
/// training code reads nothing back from the device between steps.
#[test]
fn a_group_of_six_launches_a_sixth_of_the_kernels_per_network() {
    if adapter().is_none() {
        return;
    }
    let bench = |networks: &str| {
        let mut args = vec![
            "bench",
            "--quiet",
            "--device",
            "gpu",
            "--models",
            "50",
            "--networks",
            networks,
        ];
        args.extend_from_slice(&[
            "--num-train",
            "600",
            "--num-val",
            "100",
            "--epochs",
            "1",
            "--warmup",
            "1",
        ]);
        args.extend_from_slice(&["--peak-size", "64", "--format", "json"]);
        let out = cli(&args, true, &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bench prints JSON");
        let row = rows[0].clone();
        move |name: &str| -> f64 { row[name].as_f64().unwrap_or_else(|| panic!("{name}: {row}")) }
    };
    let (one, six) = (bench("1"), bench("6"));
    assert_eq!((one("networks"), six("networks")), (1.0, 6.0));
    assert!(one("dispatches_per_step") >= 10.0, "{}", one("dispatches_per_step"));
    assert!(
        six("dispatches_per_network_step") <= one("dispatches_per_network_step") / 5.0,
        "6 networks: {} per network step; 1 network: {}",
        six("dispatches_per_network_step"),
        one("dispatches_per_network_step")
    );
    // The only reads of an epoch come after its steps: the loss sums, then
    // one per network's validation.
    for (bench, networks) in [(&one, 1.0), (&six, 6.0)] {
        assert_eq!(bench("syncs_within_steps"), 0.0);
        assert_eq!(bench("syncs_per_epoch"), 1.0 + networks);
    }
}

/// `--device cuda` where no CUDA device opens (this machine: no NVIDIA
/// driver, and a default build without the CUDA runtime) is an error within
/// seconds that says what to check: libcuda.so.1, NVRTC (not needed), the
/// container's NVIDIA_DRIVER_CAPABILITIES, the cargo feature, the CPU; it
/// writes nothing. `device-info` reports both runtimes, and `--device auto`
/// says why it passed each GPU runtime over.
#[test]
fn no_cuda_device_is_an_error_that_says_what_to_check() {
    let subset = subset();
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("study");
    let mut args = vec!["depth-study", "--device", "cuda", "--data-dir", subset.to_str().unwrap()];
    args.extend_from_slice(&["--out", out_dir.to_str().unwrap(), "--layers", "2", "--epochs", "1"]);
    args.extend_from_slice(&["--num-train", "200", "--num-val", "20", "--num-test", "20"]);
    let started = std::time::Instant::now();
    let run = cli(&args, false, &[("NVIDIA_DRIVER_CAPABILITIES", "utility")]);
    let err = stderr(&run);
    if run.status.success() {
        // A machine with a CUDA device (and a build with the runtime).
        assert!(err.contains("device: cuda "), "{err}");
        return;
    }
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert!(started.elapsed().as_secs() < 30, "took {:?}", started.elapsed());
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("error: --device cuda: no CUDA device could be opened"), "{err}");
    for hint in [
        "libcuda.so.1",
        "NVRTC (libnvrtc.so): not needed",
        "NVIDIA_DRIVER_CAPABILITIES (set to 'utility') must include `compute`",
        "cargo feature `cuda`",
        "--device cpu",
    ] {
        assert!(err.contains(hint), "'{hint}' missing: {err}");
    }
    assert!(!out_dir.exists(), "nothing written");

    let info = cli(&["device-info"], false, &[("VK_DRIVER_FILES", "/nonexistent")]);
    let stdout = String::from_utf8_lossy(&info.stdout).into_owned();
    for line in ["wgpu adapter:  none", "cuda device:   none", "cuda driver:   libcuda.so.1", "--device cuda: an error"] {
        assert!(stdout.contains(line), "'{line}' missing: {stdout}");
    }
    assert_eq!(info.status.code(), Some(1), "no runtime opens: {}", stderr(&info));
    assert!(stderr(&info).contains("no CUDA device could be opened"), "{}", stderr(&info));

    let mut auto = args.clone();
    auto[2] = "auto";
    let run = cli(&auto, false, &[("VK_DRIVER_FILES", "/nonexistent"), ("XDG_RUNTIME_DIR", "/tmp")]);
    let err = stderr(&run);
    assert!(run.status.success(), "{err}");
    assert!(
        err.contains("--device auto: no wgpu adapter (") && err.contains("; no CUDA device (") && err.contains("; using the CPU"),
        "{err}"
    );
}
