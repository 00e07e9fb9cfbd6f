//! `mlp-cli two-layer train` and `two-layer tune` as a user runs them, on the
//! CPU and the bundled real CIFAR-10 subset (train 4,170 / val 1,000 /
//! test 1,000): the numbers in the files they write, and the images.

use std::collections::BTreeSet;
use std::path::Path;

use burn::prelude::*;
use burn::tensor::DType;
use mlp_data::{Cifar10, IMAGE_BYTES, NUM_CLASSES, Normalizer, Preprocess, SplitSizes};
use mlp_model::scratch::TwoLayerNet;
use mlp_train::train::HostSplit;
use mlp_train::two_layer::accuracy;
use serde_json::Value;

use crate::common::*;

const HISTORY_HEADER: [&str; 6] = ["iteration", "loss", "epoch", "lr", "train_acc", "val_acc"];
const TUNING_HEADER: [&str; 11] = [
    "trial",
    "hidden",
    "lr",
    "reg",
    "iters",
    "seed",
    "final_loss",
    "train_acc",
    "val_acc",
    "diverged",
    "seconds",
];

/// `two-layer <command> --quiet --device cpu` on the bundled subset, 4,170 /
/// 1,000 / 1,000, into `out`, plus `extra`.
fn two_layer_args<'a>(command: &'a str, subset: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    subset_args(&["two-layer", command], subset, out, extra)
}

/// The header and the rows of a CSV file, as text.
fn read_table(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = reader.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `a` and `b` equal but for the last bits: serde_json (without its
/// `float_roundtrip` feature) may read a float 1 ulp off what the file says.
fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-12 * a.abs().max(b.abs()),
        _ => false,
    }
}

fn num(s: &str) -> f64 {
    s.parse().unwrap_or_else(|_| panic!("'{s}' is not a number"))
}

fn opt(s: &str) -> Option<f64> {
    (!s.is_empty()).then(|| num(s))
}

/// Width and height of a PNG file, after checking its signature, that its
/// first chunk is IHDR and that it ends with IEND.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.len() > 45, "{} is too short for a PNG", path.display());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{} is not a PNG", path.display());
    assert_eq!(&bytes[12..16], b"IHDR", "{}", path.display());
    assert_eq!(
        &bytes[bytes.len() - 8..bytes.len() - 4],
        b"IEND",
        "{} is cut short",
        path.display()
    );
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

/// The weight image holds `hidden` square tiles of at least 32x32 pixels in
/// a tight grid (no spare row or column), with equal margins: there are
/// `cols`, `rows` and a tile pitch `s >= 32` with width = cols·s + g and
/// height = rows·s + g for one margin 0 <= g < s.
fn assert_weight_grid(path: &Path, hidden: usize) {
    let (w, h) = png_size(path);
    let (w, h) = (w as usize, h as usize);
    let fits = (1..=hidden).any(|cols| {
        let rows = hidden.div_ceil(cols);
        let tight = cols * (rows - 1) < hidden && (cols - 1) * rows < hidden;
        tight
            && (32..=w / cols).any(|s| {
                let g = w - cols * s;
                g < s && h == rows * s + g
            })
    });
    assert!(
        fits,
        "{}: {w}x{h} px is no grid of {hidden} tiles of 32x32",
        path.display()
    );
}

/// The test accuracy and validation accuracy of the model saved in `dir`
/// (hidden units `hidden`), recomputed here on the first 1,000 test images
/// and the 1,000 validation images, normalised with the training mean image.
fn saved_model_accuracies(dir: &Path, hidden: usize) -> (f64, f64) {
    let device = Device::flex();
    let splits = Cifar10::load(&subset())
        .unwrap()
        .into_splits(SplitSizes {
            num_train: 4170,
            num_val: 1000,
            num_test: 1000,
        })
        .unwrap();
    let normalizer = Normalizer::fit(Preprocess::MeanImage, &splits.train);
    let net = TwoLayerNet::load_file(
        &dir.join("two_layer_model.bpk"),
        [IMAGE_BYTES, hidden, NUM_CLASSES],
        DType::F32,
        &device,
    )
    .unwrap();
    let all: Vec<usize> = (0..1000).collect();
    let test = accuracy(&net, &HostSplit::new(&splits.test, &normalizer), &all, &device);
    let val = accuracy(&net, &HostSplit::new(&splits.val, &normalizer), &all, &device);
    (test, val)
}

/// The line of stdout with the final numbers.
fn result_line(stdout: &str) -> &str {
    stdout
        .lines()
        .find(|l| l.starts_with("final loss"))
        .unwrap_or_else(|| panic!("no result line in: {stdout}"))
}

/// What stdout says apart from the output directory (whose path is arbitrary).
fn printed(stdout: &str) -> String {
    stdout
        .lines()
        .filter(|l| !l.starts_with("Results in "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The percentage printed after `label ` in `line`, as a fraction.
fn printed_pct(line: &str, label: &str) -> f64 {
    let at = line.find(label).unwrap_or_else(|| panic!("no '{label}' in: {line}")) + label.len();
    let pct = line[at..].split('%').next().unwrap();
    num(pct.trim()) / 100.0
}

const TRAIN_FLAGS: [&str; 10] = [
    "--iters",
    "70",
    "--hidden",
    "20",
    "--lr",
    "2e-3",
    "--reg",
    "0.25",
    "--lr-decay",
    "0.9",
];

/// Pins `two-layer train`'s history and images: two_layer_history.csv has the
/// header iteration,loss,epoch,lr,train_acc,val_acc and exactly one row per
/// iteration (70); with 4,170 images and batch 200 the epochs end at
/// iterations 20, 40, 60 (epochs 1–3, lr 2e-3 × 0.9^(k-1)), and the last,
/// partial epoch's iteration 70 is scored without an epoch (lr 2e-3 × 0.9³);
/// no other row has an lr or accuracies. The first loss is ln 10 and the
/// loss falls. The summary JSON agrees with the CSV and has no test
/// accuracy, nor does stdout; loss, accuracy and weight images are PNGs, the
/// weights a grid of 20 tiles of 32x32.
#[test]
fn train_writes_one_history_row_per_iteration_and_the_curves() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("train");
    let dir = subset();
    let stdout = succeeds(&two_layer_args(
        "train",
        dir.to_str().unwrap(),
        out.to_str().unwrap(),
        &TRAIN_FLAGS,
    ));

    let (header, rows) = read_table(&out.join("two_layer_history.csv"));
    assert_eq!(header, HISTORY_HEADER);
    assert_eq!(rows.len(), 70, "one row per iteration");
    let lr0 = 2e-3;
    for (i, row) in rows.iter().enumerate() {
        let it = i + 1;
        assert_eq!(row[0], it.to_string());
        let loss = num(&row[1]);
        assert!(loss.is_finite() && loss > 0.0, "iteration {it}: loss {loss}");
        let epoch_end = it % 20 == 0;
        assert_eq!(opt(&row[2]), epoch_end.then_some((it / 20) as f64), "epoch at {it}");
        let expected_lr = match (epoch_end, it) {
            (true, _) => Some(lr0 * 0.9f64.powi(it as i32 / 20 - 1)),
            (false, 70) => Some(lr0 * 0.9f64.powi(3)),
            _ => None,
        };
        match (opt(&row[3]), expected_lr) {
            (Some(lr), Some(e)) => assert!((lr - e).abs() <= 1e-12 * e, "lr at {it}: {lr} vs {e}"),
            (got, e) => assert_eq!(got, e, "lr at {it}"),
        }
        let scored = expected_lr.is_some();
        for (col, name) in [(4, "train_acc"), (5, "val_acc")] {
            match opt(&row[col]) {
                Some(acc) => {
                    assert!(scored, "{name} at iteration {it}");
                    assert!((0.0..=1.0).contains(&acc), "{name} {acc}");
                }
                None => assert!(!scored, "no {name} at iteration {it}"),
            }
        }
    }
    let losses: Vec<f64> = rows.iter().map(|r| num(&r[1])).collect();
    assert!((losses[0] - 10f64.ln()).abs() < 0.01, "first loss {}", losses[0]);
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let (first, last) = (mean(&losses[..20]), mean(&losses[50..]));
    assert!(last < first - 0.05, "mean loss: first 20 {first}, last 20 {last}");

    let summary = read_json(&out.join("two_layer_summary.json"));
    let last_row = rows.last().unwrap();
    assert_eq!(summary["iterations_run"], 70);
    assert_eq!(summary["config"]["hidden"], 20);
    assert_eq!(summary["config"]["iters"], 70);
    for (key, col) in [("final_loss", 1), ("train_acc", 4), ("val_acc", 5)] {
        assert!(
            close(summary[key].as_f64(), opt(&last_row[col])),
            "{key}: {summary} vs {last_row:?}"
        );
    }
    assert!(summary["test_acc"].is_null(), "no --test, no test accuracy: {summary}");
    assert_eq!(summary["diverged"], false);
    let line = result_line(&stdout);
    assert!(!line.contains("test"), "no --test, no test accuracy: {line}");
    let val = opt(&last_row[5]).unwrap();
    assert!(
        (printed_pct(line, "validation") - val).abs() < 0.0005 + 1e-12,
        "{line} vs {val}"
    );

    for name in ["two_layer_loss.png", "two_layer_accuracy.png"] {
        let (w, h) = png_size(&out.join(name));
        assert!(w >= 200 && h >= 150, "{name}: {w}x{h}");
    }
    assert_weight_grid(&out.join("two_layer_weights.png"), 20);
    assert!(out.join("two_layer_model.bpk").is_file());
    let command = std::fs::read_to_string(out.join("two_layer_command.txt")).unwrap();
    assert!(
        command.contains("two-layer train") && command.contains("--hidden 20"),
        "{command}"
    );
}

/// Pins `--test`: the test accuracy appears once, in the printed result
/// line and as `test_acc` in the summary, a number in (0.1, 1] after
/// training on real data, equal (to the printed 0.1%) on both, and equal to
/// the accuracy of the saved model recomputed on the 1,000 test images (the
/// saved model also gives the recorded validation accuracy). Evaluating test
/// changes nothing in training: the history equals a run without --test.
#[test]
fn test_accuracy_is_reported_once_with_test_and_never_without() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = subset();
    let subset = dir.to_str().unwrap();
    let with = tmp.path().join("with-test");
    let without = tmp.path().join("without-test");
    let mut flags = TRAIN_FLAGS.to_vec();
    let stdout_without = succeeds(&two_layer_args("train", subset, without.to_str().unwrap(), &flags));
    flags.push("--test");
    let stdout = succeeds(&two_layer_args("train", subset, with.to_str().unwrap(), &flags));

    let summary = read_json(&with.join("two_layer_summary.json"));
    let test_acc = summary["test_acc"]
        .as_f64()
        .unwrap_or_else(|| panic!("--test records test_acc: {summary}"));
    assert!(test_acc > 0.1 && test_acc <= 1.0, "test accuracy {test_acc}");
    assert_eq!(
        printed(&stdout).matches("test").count(),
        1,
        "test reported once: {stdout}"
    );
    let line = result_line(&stdout);
    assert!(
        (printed_pct(line, ", test") - test_acc).abs() < 0.0005 + 1e-12,
        "{line} vs {test_acc}"
    );

    let (recomputed_test, recomputed_val) = saved_model_accuracies(&with, 20);
    assert!(
        close(Some(recomputed_test), Some(test_acc)),
        "saved model: test {recomputed_test} vs {test_acc}"
    );
    assert!(
        close(Some(recomputed_val), summary["val_acc"].as_f64()),
        "saved model: val {recomputed_val} vs {summary}"
    );

    assert!(!printed(&stdout_without).contains("test"), "{stdout_without}");
    assert!(read_json(&without.join("two_layer_summary.json"))["test_acc"].is_null());
    let history = |d: &Path| std::fs::read_to_string(d.join("two_layer_history.csv")).unwrap();
    assert_eq!(history(&with), history(&without), "--test must not change training");
}

/// Pins that `two-layer train --hidden` takes one whole number: a range is
/// refused (naming the flag and the value) before anything is written.
#[test]
fn train_refuses_a_hidden_range() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("never");
    let dir = subset();
    let err = fails(&two_layer_args(
        "train",
        dir.to_str().unwrap(),
        out.to_str().unwrap(),
        &["--hidden", "20..40:20", "--iters", "5"],
    ));
    assert!(err.contains("--hidden") && err.contains("20..40:20"), "{err}");
    assert!(!out.exists(), "nothing is written");
}

/// Pins `two-layer tune` with a range: `--hidden 20..40:20` (inclusive) ×
/// `--lr 1e-3,2e-3` × 2 seeds writes two_layer_tuning.csv with its header
/// and exactly 8 rows, grid point by grid point (hidden-major) and seed by
/// seed; the heat map; and the best grid point's files (history of 60 rows,
/// curves, weights of `hidden` tiles, model, summary). The best is the
/// point with the highest mean validation accuracy over the seeds (the
/// earlier on a tie), its files are its first seed's run, and stdout names it.
#[test]
fn tune_with_a_hidden_range_writes_every_grid_point_and_the_best_trial() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("tune");
    let dir = subset();
    let stdout = succeeds(&two_layer_args(
        "tune",
        dir.to_str().unwrap(),
        out.to_str().unwrap(),
        &[
            "--hidden",
            "20..40:20",
            "--lr",
            "1e-3,2e-3",
            "--reg",
            "0.25",
            "--iters",
            "60",
            "--seeds",
            "0..1",
        ],
    ));

    let (header, rows) = read_table(&out.join("two_layer_tuning.csv"));
    assert_eq!(header, TUNING_HEADER);
    assert_eq!(rows.len(), 8, "2 hidden x 2 lr x 1 reg x 1 iters x 2 seeds");
    let points = [(20, 1e-3), (20, 2e-3), (40, 1e-3), (40, 2e-3)];
    let mut means = Vec::new();
    for (p, &(hidden, lr)) in points.iter().enumerate() {
        let mut vals = Vec::new();
        for seed in 0..2 {
            let row = &rows[2 * p + seed];
            assert_eq!(row[0], (p + 1).to_string(), "trial number");
            assert_eq!((num(&row[1]) as usize, num(&row[2])), (hidden, lr));
            assert_eq!(
                (num(&row[3]), &row[4][..], &row[5][..]),
                (0.25, "60", &seed.to_string()[..])
            );
            assert_eq!(row[9], "false", "diverged");
            let val = num(&row[8]);
            assert!(val > 0.1 && val <= 1.0, "trial {} seed {seed}: val {val}", p + 1);
            assert!(num(&row[6]).is_finite());
            vals.push(val);
        }
        assert_ne!(
            rows[2 * p][6],
            rows[2 * p + 1][6],
            "the seeds train different runs (final loss)"
        );
        means.push((vals[0] + vals[1]) / 2.0);
    }
    let best = (0..4).fold(0, |b, p| if means[p] > means[b] { p } else { b });
    let (best_hidden, best_lr) = points[best];

    assert!(png_size(&out.join("two_layer_tuning_heatmap.png")).0 > 0);
    let summary = read_json(&out.join("two_layer_summary.json"));
    assert_eq!(summary["config"]["hidden"], best_hidden, "means {means:?}");
    assert!(
        close(summary["config"]["lr"].as_f64(), Some(best_lr)),
        "means {means:?}: {summary}"
    );
    assert_eq!(summary["config"]["seed"], 0);
    assert!(
        close(summary["val_acc"].as_f64(), Some(num(&rows[2 * best][8]))),
        "{summary}"
    );
    assert!(summary["test_acc"].is_null());
    let (header, history) = read_table(&out.join("two_layer_history.csv"));
    assert_eq!(header, HISTORY_HEADER);
    assert_eq!(history.len(), 60);
    assert_eq!(opt(&history[59][5]), Some(num(&rows[2 * best][8])));
    for name in ["two_layer_loss.png", "two_layer_accuracy.png"] {
        png_size(&out.join(name));
    }
    assert_weight_grid(&out.join("two_layer_weights.png"), best_hidden);
    assert!(out.join("two_layer_model.bpk").is_file());
    let (_, saved_val) = saved_model_accuracies(&out, best_hidden);
    assert!(
        close(Some(saved_val), summary["val_acc"].as_f64()),
        "the saved model is the best run's: {saved_val} vs {summary}"
    );

    let expected = format!("best of 4 grid points (2 seed(s) each): hidden {best_hidden}, lr {best_lr:e}");
    assert!(stdout.contains(&expected), "expected '{expected}' in: {stdout}");
    let distinct: BTreeSet<&str> = rows.iter().map(|r| &r[1][..]).collect();
    assert_eq!(distinct, BTreeSet::from(["20", "40"]), "20..40:20 is 20 and 40");
}
