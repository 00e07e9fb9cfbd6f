//! `trainability`: depth × initial gain as a job, checked against what
//! signal-propagation theory predicts for ReLU networks.

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
