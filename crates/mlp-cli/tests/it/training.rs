//! Training through the binary: small studies on every backend and edge
//! size, `bench`, and the same numbers whatever the thread count.

use crate::common::*;

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

/// On the fused engine the table ends with each model's first-layer
/// product alone (K networks side by side): its best repeat is a product
/// the device ran, so it lies within the peak, and its median below it.
#[test]
fn bench_table_shows_the_first_layer_product_alone_within_the_peak() {
    let stdout = succeeds(&tiny_bench_args("table", &["--networks", "2"]));
    let spreads: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("first-layer product"))
        .collect();
    // Model [8], two networks side by side.
    assert_eq!(spreads.len(), 1, "{stdout}");
    let line = spreads[0];
    assert!(line.starts_with("first-layer product 200x3072x16 alone"), "{stdout}");
    // "... best B GFLOP/s (P% of peak), median M GFLOP/s (Q%) ..."
    let number_after = |key: &str| -> f64 {
        let rest = &line[line.find(key).unwrap_or_else(|| panic!("{key} in {line}")) + key.len()..];
        rest.split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (best, best_share) = (number_after("best "), number_after("GFLOP/s ("));
    let median = number_after("median ");
    assert!(best > 0.0 && median > 0.0 && median <= best, "{line}");
    assert!(best_share <= 100.0, "the peak includes the best product: {line}");
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
        "model,device,engine,networks,threads,epoch_seconds_median,epoch_seconds_min,images_per_second,\
         dispatches_per_step,dispatches_per_network_step,syncs_per_epoch,syncs_within_steps,\
         peak_memory_mib,gflop_per_epoch,gflops,peak_fraction"
    );
    let header: Vec<&str> = lines[0].split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    assert_eq!(lines.len(), 3, "{stdout}");
    // fwd + dW over every layer, dX over all but the first; val: fwd only.
    let expected_gflop = |products: &[usize]| {
        let sum: f64 = products.iter().map(|&p| p as f64).sum();
        let tail: f64 = products[1..].iter().map(|&p| p as f64).sum();
        ((4.0 * sum + 2.0 * tail) * 400.0 + 2.0 * sum * 100.0) / 1e9
    };
    let check = |line: &str, model: &str, engine: &str, networks: f64, products: &[usize]| {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[column("model")], model);
        assert_eq!(cells[column("engine")], engine, "{line}");
        let number = |name: &str| cells[column(name)].parse::<f64>().unwrap();
        assert_eq!(number("networks"), networks);
        let (median, min, rate) = (
            number("epoch_seconds_median"),
            number("epoch_seconds_min"),
            number("images_per_second"),
        );
        assert!(min > 0.0 && min <= median, "{line}");
        assert!((rate - networks * 400.0 / median).abs() < 1e-6 * rate, "{line}");
        let (gflop, gflops) = (number("gflop_per_epoch"), number("gflops"));
        let expected = networks * expected_gflop(products);
        assert!((gflop - expected).abs() < 1e-12, "{gflop} vs {expected}");
        assert!((gflops - gflop / median).abs() < 1e-6 * gflops, "{line}");
        // The CPU launches no kernels. Every epoch reads each network's
        // validation sums once, and its loss sums once (the fused step keeps
        // them on the host), and nothing between steps.
        assert_eq!(cells[column("dispatches_per_step")], "", "{line}");
        let sums = if engine == "fused" { 0.0 } else { 1.0 };
        assert_eq!(number("syncs_per_epoch"), networks + sums, "{line}");
        assert_eq!(number("syncs_within_steps"), 0.0, "{line}");
    };
    // Networks on the flex CPU device take the fused step unless told otherwise.
    check(lines[1], "8", "fused", 1.0, &[3072 * 8, 8 * 10]);
    check(lines[2], "8-4", "fused", 1.0, &[3072 * 8, 8 * 4, 4 * 10]);

    // Three networks in one stacked group.
    let out = mlp_cli(&tiny_bench_args("csv", &["--engine", "stacked", "--networks", "3"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let row = stdout.lines().nth(1).unwrap();
    assert_eq!(row.split(',').nth(column("networks")), Some("3"), "{stdout}");
    assert_eq!(row.split(',').nth(column("engine")), Some("stacked"), "{stdout}");
    assert_eq!(row.split(',').nth(column("syncs_per_epoch")), Some("4.0"), "{stdout}");
    // Three networks sharing their batches in one fused pass (the CPU's default).
    let out = mlp_cli(&tiny_bench_args("csv", &["--networks", "3"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let row = stdout.lines().nth(1).unwrap();
    assert_eq!(row.split(',').nth(column("networks")), Some("3"), "{stdout}");
    assert_eq!(row.split(',').nth(column("engine")), Some("fused"), "{stdout}");
    let err = fails(&["bench", "--device", "cpu", "--engine", "autodiff", "--networks", "2"]);
    assert!(
        err.contains("--networks") && err.contains("stacked and fused engines"),
        "{err}"
    );
    let err = fails(&["bench", "--device", "cpu", "--networks", "0"]);
    assert!(err.contains("--networks 0"), "{err}");

    // Burn's autodiff step on request, named in its rows.
    let out = mlp_cli(&tiny_bench_args("csv", &["--engine", "autodiff"]));
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

/// README's promise: on one machine the same seed gives the same numbers,
/// whatever the number of cores the fused step splits its products over.
#[test]
fn the_same_seed_gives_the_same_numbers_whatever_the_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = subset();
    let tables = |threads: &str| {
        let out = tmp.path().join(format!("threads-{threads}"));
        let args = study_args(
            dir.to_str().unwrap(),
            out.to_str().unwrap(),
            &["--layers", "2..3", "--epochs", "2"],
        );
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
            std::fs::read_to_string(out.join("depth_study_dynamics.csv")).unwrap(),
        )
    };
    let one = tables("1");
    assert_eq!(one.0.len(), 1 + 2 * 4, "{:?}", one.0);
    assert_eq!(one, tables("2"));
    assert_eq!(one, tables("3"));
}

/// `--width 50` builds equal hidden layers at every depth, and the
/// `residual` variant (through autodiff: the fused step has none) carries a
/// 6-layer network with the assignment's tiny weights past the plain one,
/// which stays at chance.
#[test]
fn residual_layers_of_one_width_train_where_plain_ones_collapse() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = subset();
    let out = tmp.path().join("study");
    let extra = [
        "--layers",
        "6",
        "--width",
        "50",
        "--variants",
        "plain,residual",
        "--epochs",
        "3",
    ];
    succeeds(&study_args(dir.to_str().unwrap(), out.to_str().unwrap(), &extra));
    let mut reader = csv::Reader::from_path(out.join("depth_study.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (widths, variant, engine, test_acc) = (
        column("widths"),
        column("variant"),
        column("engine"),
        column("test_acc"),
    );
    assert_eq!(rows.len(), 2);
    let acc = |row: &csv::StringRecord| row[test_acc].parse::<f64>().unwrap();
    assert_eq!((&rows[0][variant], &rows[0][engine]), ("plain", "fused"));
    assert_eq!((&rows[1][variant], &rows[1][engine]), ("residual", "autodiff"));
    for row in &rows {
        assert_eq!(&row[widths], "50-50-50-50-50");
    }
    assert!(acc(&rows[0]) < 0.15, "plain 6 layers: {}", acc(&rows[0]));
    assert!(acc(&rows[1]) > 0.25, "residual 6 layers: {}", acc(&rows[1]));

    // The fused step asked for by name refuses them; widths are flags' values.
    let other = tmp.path().join("other");
    let fused = [
        "--layers",
        "3",
        "--width",
        "50",
        "--variants",
        "residual",
        "--engine",
        "fused",
    ];
    let err = fails(&study_args(dir.to_str().unwrap(), other.to_str().unwrap(), &fused));
    assert!(err.contains("--engine") && err.contains("residual"), "{err}");
    for bad in [&["--width", "0"][..], &["--width", "50", "--widths", "50,40"]] {
        let out = mlp_cli(&study_args(dir.to_str().unwrap(), other.to_str().unwrap(), bad));
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
}

/// tanh in the study: with the assignment's tiny init its units sit at
/// tanh's linear centre and the signal vanishes layer by layer; Xavier keeps
/// it. The dynamics probe reports tanh's saturated units instead of dead ReLUs.
#[test]
fn tanh_studies_record_saturation_instead_of_dead_units() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = subset();
    let out = tmp.path().join("study");
    let extra = [
        "--layers",
        "4",
        "--variants",
        "plain,xavier",
        "--activation",
        "tanh",
        "--epochs",
        "1",
    ];
    succeeds(&study_args(dir.to_str().unwrap(), out.to_str().unwrap(), &extra));
    let config = std::fs::read_to_string(out.join("depth_study_config.json")).unwrap();
    assert!(config.contains(r#""activation": "tanh""#), "{config}");
    let mut reader = csv::Reader::from_path(out.join("depth_study_dynamics.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (variant, epoch, layer, rms, dead, saturated) = (
        column("variant"),
        column("epoch"),
        column("layer"),
        column("activation_rms"),
        column("dead_fraction"),
        column("saturated_fraction"),
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2 * 2 * 4, "2 variants x (init + 1 epoch) x 4 layers");
    for row in &rows {
        assert_eq!(&row[dead], "", "{row:?}");
        let hidden = row[layer].parse::<usize>().unwrap() < 4;
        match hidden {
            true => assert!((0.0..=1.0).contains(&row[saturated].parse::<f64>().unwrap()), "{row:?}"),
            false => assert_eq!(&row[saturated], "", "{row:?}"),
        }
    }
    let rms_at_init = |name: &str| {
        let row = rows
            .iter()
            .find(|r| &r[variant] == name && &r[epoch] == "0" && &r[layer] == "3")
            .unwrap();
        row[rms].parse::<f64>().unwrap()
    };
    assert!(rms_at_init("plain") < 1e-4, "plain: {}", rms_at_init("plain"));
    assert!(rms_at_init("xavier") > 0.05, "xavier: {}", rms_at_init("xavier"));
}

/// The dynamics probe changes no number of a study: `--no-dynamics` gives
/// the same tables, without the dynamics table and plot. `--dynamics-depth`
/// picks the depth drawn, one of the study's.
#[test]
fn the_dynamics_probe_changes_no_result_and_can_be_turned_off() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = subset();
    let study = |name: &str, extra: &[&str]| {
        let out = tmp.path().join(name);
        let mut flags = vec!["--layers", "2..3", "--epochs", "2"];
        flags.extend_from_slice(extra);
        succeeds(&study_args(dir.to_str().unwrap(), out.to_str().unwrap(), &flags));
        out
    };
    let with = study("with", &["--dynamics-depth", "2"]);
    let without = study("without", &["--no-dynamics"]);
    let without_seconds = |dir: &std::path::Path, name: &str| -> Vec<String> {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        text.lines().map(|l| l.rsplit_once(',').unwrap().0.to_owned()).collect()
    };
    for table in ["depth_study.csv", "depth_study_history.csv"] {
        assert_eq!(
            without_seconds(&with, table),
            without_seconds(&without, table),
            "{table}"
        );
    }
    let text = |dir: &std::path::Path, name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    assert_eq!(
        text(&with, "depth_study_signal.csv"),
        text(&without, "depth_study_signal.csv")
    );
    // 2 + 3 layers x 4 variants, at init and after 2 epochs.
    let dynamics = text(&with, "depth_study_dynamics.csv");
    assert_eq!(dynamics.lines().count(), 1 + 3 * (2 + 3) * 4, "{dynamics}");
    assert!(with.join("depth_study_dynamics.png").is_file());
    assert!(!without.join("depth_study_dynamics.csv").exists());
    assert!(!without.join("depth_study_dynamics.png").exists());
    let config = text(&with, "depth_study_config.json");
    assert!(config.contains("\"plot_depth\": 2"), "{config}");

    let out = tmp.path().join("bad");
    let err = fails(&study_args(
        dir.to_str().unwrap(),
        out.to_str().unwrap(),
        &["--layers", "2..3", "--dynamics-depth", "5"],
    ));
    assert!(err.contains("--dynamics-depth") && err.contains("2..3"), "{err}");
    assert!(!out.join("depth_study_config.json").exists(), "nothing written: {err}");
    let err = fails(&study_args(
        dir.to_str().unwrap(),
        out.to_str().unwrap(),
        &["--no-dynamics", "--dynamics-depth", "2"],
    ));
    assert!(err.contains("cannot be used with"), "{err}");
}

/// `--jobs N` trains N networks at a time and changes no number: the same
/// tables for 1 and 3 jobs, with fused runs and autodiff runs with and
/// without dropout (each run draws from generators of its own).
/// `--group-size N` neither.
#[test]
fn studies_give_the_same_tables_for_every_number_of_jobs_and_group_size() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = subset();
    // Equal tables need no more than a few batches: 1,000 training images.
    let tables = |name: &str, jobs: &str, extra: &[&str]| {
        let out = tmp.path().join(format!("{name}-{jobs}"));
        let mut args = vec![
            "depth-study",
            "--quiet",
            "--device",
            "cpu",
            "--data-dir",
            dir.to_str().unwrap(),
        ];
        args.extend_from_slice(&["--num-train", "1000", "--num-val", "300", "--num-test", "300"]);
        args.extend_from_slice(&["--out", out.to_str().unwrap()]);
        args.extend_from_slice(&["--layers", "2..3", "--epochs", "2", "--seeds", "0..1", "--jobs", jobs]);
        args.extend_from_slice(extra);
        succeeds(&args);
        let without_seconds = |name: &str| -> Vec<String> {
            let text = std::fs::read_to_string(out.join(name)).unwrap();
            text.lines().map(|l| l.rsplit_once(',').unwrap().0.to_owned()).collect()
        };
        (
            without_seconds("depth_study.csv"),
            without_seconds("depth_study_history.csv"),
            std::fs::read_to_string(out.join("depth_study_signal.csv")).unwrap(),
            std::fs::read_to_string(out.join("depth_study_dynamics.csv")).unwrap(),
        )
    };
    let mixed = ["--width", "40", "--variants", "plain,batchnorm-dropout,residual"];
    let one = tables("mixed", "1", &mixed);
    assert_eq!(one.0.len(), 1 + 2 * 3 * 2, "{:?}", one.0);
    assert!(
        one.0
            .iter()
            .any(|row| row.contains(",residual,") && row.contains(",autodiff,"))
    );
    assert_eq!(one, tables("mixed", "3", &mixed));
    let dropout = ["--engine", "autodiff", "--variants", "kaiming,batchnorm-dropout"];
    assert_eq!(tables("dropout", "1", &dropout), tables("dropout", "3", &dropout));

    // The CPU default: a seed's networks (every depth and variant the fused
    // step trains) share one pass over the data. The tables are those of
    // one network at a time (--group-size 1), bit for bit, tanh included.
    let one_pass = tables("one-pass", "1", &[]);
    assert_eq!(one_pass.0.len(), 1 + 2 * 4 * 2, "{:?}", one_pass.0);
    assert!(
        one_pass.0[1..].iter().all(|row| row.contains(",fused,")),
        "{:?}",
        one_pass.0
    );
    assert_eq!(one_pass, tables("one-at-a-time", "1", &["--group-size", "1"]));
    let tanh = ["--activation", "tanh", "--variants", "plain,xavier,batchnorm-dropout"];
    let tanh_alone = [&tanh[..], &["--group-size", "1"]].concat();
    assert_eq!(tables("tanh-pass", "1", &tanh), tables("tanh-alone", "1", &tanh_alone));

    // Stacked groups: one at a time, whole groups (plain with Kaiming,
    // BatchNorm with and without dropout: 4 networks each) and groups of 3
    // two at a time give the same tables (on flex, bit for bit).
    let stacked = |group_size: &'static str| ["--engine", "stacked", "--group-size", group_size];
    let alone = tables("alone", "1", &stacked("1"));
    assert_eq!(alone.0.len(), 1 + 2 * 4 * 2, "{:?}", alone.0);
    assert!(
        alone.0[1..].iter().all(|row| row.contains(",stacked,")),
        "{:?}",
        alone.0
    );
    assert_eq!(alone, tables("grouped", "1", &stacked("8")));
    assert_eq!(alone, tables("threes", "2", &stacked("3")));

    // Groups need the stacked or fused engine: asked for on autodiff, they are refused.
    let err = fails(&[
        "depth-study",
        "--device",
        "cpu",
        "--engine",
        "autodiff",
        "--group-size",
        "4",
    ]);
    assert!(
        err.contains("--group-size 4") && err.contains("stacked and fused engines"),
        "{err}"
    );

    // No jobs, or groups of nothing, is a usage error (exit 2) that names the flag, for both jobs.
    for command in ["depth-study", "trainability"] {
        for flag in ["--jobs", "--group-size"] {
            let out = mlp_cli(&[command, flag, "0"]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{command}: {err}");
            assert!(err.contains(flag) && err.contains("at least 1"), "{command}: {err}");
        }
    }
}
