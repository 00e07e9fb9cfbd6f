//! `trainability`: depth × initial gain as a job, checked against what
//! signal-propagation theory predicts for ReLU and tanh networks, and the
//! theory it writes beside the map.

use std::path::Path;

use crate::common::*;

/// The columns these tests read of trainability.csv.
#[derive(Debug, serde::Deserialize)]
struct Row {
    layers: usize,
    width: usize,
    gain: f64,
    optimizer: String,
    test_acc: f64,
    output_rms_at_init: f64,
    diverged: bool,
}

fn rows(dir: &Path) -> Vec<Row> {
    csv::Reader::from_path(dir.join("trainability.csv"))
        .unwrap()
        .deserialize()
        .map(Result::unwrap)
        .collect()
}

/// A row of trainability_theory.csv.
#[derive(Debug, serde::Deserialize)]
struct Theory {
    activation: String,
    gain: f64,
    bias_std: f64,
    chi1: f64,
    xi_c: f64,
    phase: String,
    trainable_depth: f64,
    critical_gain: f64,
}

fn theory(dir: &Path) -> Vec<Theory> {
    csv::Reader::from_path(dir.join("trainability_theory.csv"))
        .unwrap()
        .deserialize()
        .map(Result::unwrap)
        .collect()
}

fn map_args<'a>(subset: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--layers", "2..6", "--gains", "0.25,1.414,4", "--epochs", "3"];
    args.extend_from_slice(extra);
    subset_args(&["trainability"], subset, out, &args)
}

#[test]
fn the_map_shows_vanishing_critical_and_exploding_gains() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = subset();
    let out = tmp.path().join("map");
    let stdout = succeeds(&map_args(dir.to_str().unwrap(), out.to_str().unwrap(), &[]));
    assert!(stdout.contains("15 runs"), "{stdout}");
    let rows = rows(&out);
    assert_eq!(rows.len(), 5 * 3, "5 depths x 3 gains");
    assert!(
        rows.iter()
            .all(|r| r.width == 50 && r.optimizer == "adam" && !r.diverged)
    );
    let png = std::fs::read(out.join("trainability_heatmap.png")).unwrap();
    assert_eq!(&png[..4], b"\x89PNG");
    let at = |layers: usize, gain: f64| rows.iter().find(|r| r.layers == layers && r.gain == gain).unwrap();
    // At initialisation each layer scales the signal by about gain / sqrt(2):
    // it vanishes below the critical gain, holds at it, explodes above it.
    for layers in 3..=6 {
        let ratio = |gain: f64| at(layers, gain).output_rms_at_init / at(layers - 1, gain).output_rms_at_init;
        assert!(ratio(0.25) < 0.3, "{layers}L gain 0.25: x{}", ratio(0.25));
        assert!(
            (0.5..2.0).contains(&ratio(1.414)),
            "{layers}L gain 1.414: x{}",
            ratio(1.414)
        );
        assert!(ratio(4.0) > 2.0, "{layers}L gain 4: x{}", ratio(4.0));
    }
    // Trained: the vanishing 6-layer net stays at chance; the critical one learns.
    assert!(at(6, 0.25).test_acc < 0.15, "{:?}", at(6, 0.25));
    assert!(at(6, 1.414).test_acc > 0.25, "{:?}", at(6, 1.414));

    // The theory beside it: ReLU without biases is critical at sqrt 2, with
    // chi1 = gain^2 / 2, and (scale-free) has no finite xi_c.
    let theory = theory(&out);
    assert_eq!(theory.len(), 3);
    for row in &theory {
        assert_eq!((row.activation.as_str(), row.bias_std), ("relu", 0.0));
        assert!((row.critical_gain - std::f64::consts::SQRT_2).abs() < 0.01, "{row:?}");
        assert!((row.chi1 - row.gain * row.gain / 2.0).abs() < 1e-9, "{row:?}");
        assert!(row.xi_c.is_infinite(), "{row:?}");
    }
    let phases: Vec<&str> = theory.iter().map(|t| t.phase.as_str()).collect();
    assert_eq!(phases, ["ordered", "ordered", "chaotic"]);
}

/// tanh with sigma_b^2 = 0.05: the theory puts the critical gain at 1.33
/// (sigma_w^2 = 1.76), with a finite xi_c on either side; trained 2 epochs
/// at 30 layers, the network at the critical gain learns where the ordered
/// (gain 1) and chaotic (gain 2) ones fall behind, as 6 xi_c (22 and 42
/// layers) against the critical line's hundreds predicts.
#[test]
fn a_tanh_map_with_biases_follows_its_critical_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = subset();
    let out = tmp.path().join("tanh");
    let extra = [
        "--layers",
        "2,30",
        "--width",
        "100",
        "--gains",
        "1,1.327,2",
        "--activation",
        "tanh",
        "--bias-std",
        "0.2236",
        "--epochs",
        "2",
    ];
    let stdout = succeeds(&subset_args(&["trainability"], dir.to_str().unwrap(), out.to_str().unwrap(), &extra));
    assert!(stdout.contains("6 runs"), "{stdout}");
    let theory = theory(&out);
    let critical = theory[0].critical_gain;
    assert!((1.30..=1.35).contains(&critical), "critical gain {critical}");
    assert!((critical * critical - 1.76).abs() < 0.02, "critical gain^2 {}", critical * critical);
    let phases: Vec<&str> = theory.iter().map(|t| t.phase.as_str()).collect();
    assert_eq!(phases[0], "ordered");
    assert_eq!(phases[2], "chaotic");
    assert!((theory[0].trainable_depth - 21.8).abs() < 0.5, "{:?}", theory[0]);
    assert!((theory[2].trainable_depth - 41.9).abs() < 0.5, "{:?}", theory[2]);
    assert!(theory[1].trainable_depth > 1000.0, "{:?}", theory[1]);

    let rows = rows(&out);
    assert_eq!(rows.len(), 6);
    let at = |layers: usize, gain: f64| rows.iter().find(|r| r.layers == layers && r.gain == gain).unwrap();
    let critical_acc = at(30, 1.327).test_acc;
    for gain in [1.0, 2.0] {
        assert!(critical_acc > at(30, gain).test_acc + 0.05, "{:?} vs {:?}", at(30, 1.327), at(30, gain));
    }
    // At 2 layers every gain trains.
    assert!(rows.iter().filter(|r| r.layers == 2).all(|r| r.test_acc > 0.3), "{rows:?}");
    let config = std::fs::read_to_string(out.join("trainability_config.json")).unwrap();
    assert!(config.contains(r#""activation": "tanh""#) && config.contains(r#""bias_std": 0.2236"#), "{config}");

    // Bad values name their flag.
    for (flag, bad) in [("--bias-std", "-1"), ("--activation", "sigmoid")] {
        let args = subset_args(&["trainability"], dir.to_str().unwrap(), out.to_str().unwrap(), &[flag, bad]);
        let result = mlp_cli(&args);
        let err = String::from_utf8_lossy(&result.stderr);
        assert_eq!(result.status.code(), Some(2), "{flag} {bad}: {err}");
        assert!(err.contains(flag) && err.contains(bad), "{err}");
    }
}

#[test]
fn a_map_resumes_and_its_shards_merge_into_the_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = subset();
    let (subset, whole, sharded) = (
        dir.to_str().unwrap(),
        tmp.path().join("whole"),
        tmp.path().join("sharded"),
    );
    // (--init-gains is --gains by the name the issue gave it.)
    let small = ["--layers", "2..3", "--init-gains", "0.5..1.414:x2.828", "--epochs", "1"];
    let args = |out: &Path, extra: &[&'static str]| {
        let mut args: Vec<String> = subset_args(&["trainability"], subset, out.to_str().unwrap(), &small)
            .into_iter()
            .map(str::to_owned)
            .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let run = |args: Vec<String>| succeeds(&args.iter().map(String::as_str).collect::<Vec<_>>());
    run(args(&whole, &[]));
    // Finished work is refused without --resume, and --resume has nothing to do.
    let again = args(&whole, &[]);
    let err = fails(&again.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(err.contains("--resume") || err.contains("--overwrite"), "{err}");
    run(args(&whole, &["--resume"]));
    assert_eq!(rows(&whole).len(), 4);
    for shard in ["1/2", "2/2"] {
        run(args(&sharded, &["--shard", shard]));
    }
    let stdout = succeeds(&["merge", sharded.to_str().unwrap()]);
    assert!(stdout.contains("merged 2 shards: 4 of 4 runs"), "{stdout}");
    let numbers = |dir: &Path| {
        let text = std::fs::read_to_string(dir.join("trainability.csv")).unwrap();
        // Every column but the wall-clock seconds.
        text.lines()
            .map(|l| l.rsplit_once(',').unwrap().0.to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(numbers(&sharded), numbers(&whole));

    // On the stacked engine a depth's runs train as one group: the same
    // table as one at a time (the CPU gives it bit for bit), with SGD too.
    for optimizer in [&[][..], &["--optimizer", "sgd", "--lr", "0.05"][..]] {
        let stacked = |name: &str, group_size: &'static str| {
            let out = tmp.path().join(format!("{name}-{}", optimizer.len()));
            let mut extra = vec!["--engine", "stacked", "--group-size", group_size];
            extra.extend_from_slice(optimizer);
            run(args(&out, &extra));
            numbers(&out)
        };
        let alone = stacked("alone", "1");
        assert_eq!(alone.len(), 1 + 4);
        assert!(alone[1..].iter().all(|row| row.contains(",stacked,")), "{alone:?}");
        assert_eq!(alone, stacked("grouped", "4"));
    }
}

/// Adam's per-parameter normalisation rescues a vanishing gradient that
/// plain SGD cannot: at gain 0.5 a 6-layer net learns with Adam and stays at
/// chance with SGD, while both learn at the critical gain.
#[test]
fn sgd_collapses_where_adam_still_trains() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = subset();
    let subset = dir.to_str().unwrap();
    let map = |name: &str, extra: &[&'static str]| {
        let out = tmp.path().join(name);
        let mut args = vec!["--layers", "6", "--gains", "0.5,1.414", "--epochs", "10"];
        args.extend_from_slice(extra);
        succeeds(&subset_args(&["trainability"], subset, out.to_str().unwrap(), &args));
        rows(&out)
    };
    let sgd = map("sgd", &["--optimizer", "sgd", "--lr", "0.05"]);
    let adam = map("adam", &[]);
    assert!(sgd.iter().all(|r| r.optimizer == "sgd") && adam.iter().all(|r| r.optimizer == "adam"));
    let (sgd_vanishing, sgd_critical) = (&sgd[0], &sgd[1]);
    assert_eq!((sgd_vanishing.gain, sgd_critical.gain), (0.5, 1.414));
    assert!(sgd_vanishing.test_acc < 0.15, "{sgd_vanishing:?}");
    assert!(sgd_critical.test_acc > 0.25, "{sgd_critical:?}");
    assert!(adam[0].test_acc > 0.25, "Adam at gain 0.5: {:?}", adam[0]);

    // The fused step has Adam only.
    let out = tmp.path().join("fused");
    let args = ["--layers", "2", "--optimizer", "sgd", "--engine", "fused"];
    let err = fails(&subset_args(&["trainability"], subset, out.to_str().unwrap(), &args));
    assert!(err.contains("--engine") && err.contains("Adam only"), "{err}");
}
