use super::*;
use mlp_model::scratch::ToyProblem;
use mlp_train::experiments::tuning::{TrialRow, TrialSettings, TuneGrid};
use mlp_train::experiments::tuning::{TuningConfig, TuningFiles, TuningOutcome, best_trial, trial_means, tune};
use mlp_train::experiments::{MergeOutcome, Merged, merge};
use mlp_train::jobs::Shard;
use mlp_train::two_layer::{SgdConfig, TensorSplit, init_cifar_net, train_sgd};

#[test]
fn toy_sgd_run_reaches_the_assignments_loss() {
    // Assignment: lr 0.1, reg 5e-6, 100 iterations from the toy weights ->
    // final training loss < 0.02 (reports: 0.01554).
    let device = Device::flex();
    let toy = ToyProblem::embedded();
    let examples = TensorSplit {
        x: toy.inputs(DType::F64, &device),
        y: toy.labels(&device),
    };
    let outcome = train_sgd(
        toy.net(DType::F64, &device),
        &SgdConfig::toy(),
        &examples,
        &examples,
        &device,
        Progress::Quiet,
        "toy",
        &StopSignal::new(),
    )
    .unwrap();
    assert_eq!(outcome.history.len(), 100);
    let loss = outcome.final_loss().unwrap();
    assert!(loss < 0.02, "final toy loss {loss}");
    // N = 5 < batch 200, so every iteration is an epoch with its accuracies recorded.
    assert!(outcome.history.iter().all(|r| r.epoch.is_some()));
}

fn small_sweep(seeds: &str) -> TuningConfig {
    TuningConfig {
        grid: TuneGrid {
            hidden: vec![20, 40],
            lr: vec![1e-3, 2e-3],
            reg: vec![0.5],
            iters: vec![60],
        },
        base: TrialSettings::default(),
        header: JobHeader {
            seeds: seeds.parse().unwrap(),
            splits: SUBSET,
            data_fingerprint: String::new(),
            shard: None,
            device: "cpu (flex)".into(),
        },
    }
}

fn sweep(config: &TuningConfig, out: &Path, jobs: usize, existing: Existing) -> Result<TuningOutcome, TrainError> {
    with_sources(Preprocess::MeanImage, |sources, _| {
        tune(
            config,
            &sources.train,
            &sources.val,
            &Device::flex(),
            JobRun {
                workers: jobs,
                group_size: 1,
                ..job(out, existing, &StopSignal::new())
            },
        )
    })
}

/// The table without timings, which differ run to run.
fn numbers(rows: &[TrialRow]) -> Vec<TrialRow> {
    rows.iter()
        .map(|r| TrialRow {
            seconds: 0.0,
            ..r.clone()
        })
        .collect()
}

fn table(dir: &Path) -> Vec<TrialRow> {
    mlp_train::jobs::read_csv(&TuningFiles::in_dir(dir).table).unwrap()
}

#[test]
fn parallel_trials_give_the_same_table_and_winner_as_serial_ones() {
    let dir = tempfile::tempdir().unwrap();
    let run = |jobs: usize| {
        let out = dir.path().join(format!("jobs-{jobs}"));
        let outcome = sweep(&small_sweep("0"), &out, jobs, Existing::Refuse).unwrap();
        assert_eq!(table(&out).len(), 4);
        assert!(TuningFiles::in_dir(&out).heatmap.is_file());
        (numbers(&outcome.rows), outcome.best.unwrap().0)
    };
    let (serial, serial_best) = run(1);
    let (parallel, parallel_best) = run(2);
    assert_eq!(serial.len(), 4);
    assert_eq!(serial, parallel);
    assert_eq!(serial_best, parallel_best);
}

#[test]
fn a_sweep_resumes_shards_and_merges_to_the_same_table() {
    let tmp = tempfile::tempdir().unwrap();
    let whole_dir = tmp.path().join("whole");
    let whole = sweep(&small_sweep("0..1"), &whole_dir, 2, Existing::Refuse).unwrap();
    assert_eq!(whole.rows.len(), 8, "4 grid points x 2 seeds");
    let (best_config, best_run) = whole.best.unwrap();
    let means = trial_means(&whole.rows);
    let best = best_trial(&whole.rows).unwrap();
    assert_eq!(
        (best_config.hidden, best_config.lr),
        (means[best - 1].hidden, means[best - 1].lr)
    );
    assert!(means.iter().all(|m| m.val_acc <= means[best - 1].val_acc));
    assert_eq!(best_config.seed, 0, "the best point's run uses the first seed");
    let mean_val = (whole.rows[2 * (best - 1)].val_acc.unwrap() + whole.rows[2 * best - 1].val_acc.unwrap()) / 2.0;
    assert!((means[best - 1].val_acc.unwrap() - mean_val).abs() < 1e-12);

    // Cut off after 3 rows; refused without --resume; resumed to the same table.
    let cut = tmp.path().join("cut");
    std::fs::create_dir_all(&cut).unwrap();
    sweep(&small_sweep("0..1"), &cut, 1, Existing::Refuse).unwrap();
    mlp_train::jobs::write_csv(&TuningFiles::in_dir(&cut).table, &table(&cut)[..3]).unwrap();
    let err = sweep(&small_sweep("0..1"), &cut, 1, Existing::Refuse)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("already holds 3 finished runs"), "{err}");
    let err = sweep(&small_sweep("0..2"), &cut, 1, Existing::Resume)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("seeds: recorded [0,1], now [0,1,2]"), "{err}");
    let resumed = sweep(&small_sweep("0..1"), &cut, 2, Existing::Resume).unwrap();
    assert_eq!(numbers(&resumed.rows), numbers(&whole.rows));
    assert_eq!(
        resumed.best.unwrap().1.history,
        best_run.history,
        "the best run is reproduced"
    );

    // Two shards, dealt whole grid points, merged: the same table and winner.
    let sharded = tmp.path().join("sharded");
    let mut dirs = Vec::new();
    for index in 1..=2 {
        let mut config = small_sweep("0..1");
        config.header.shard = Some(Shard { index, count: 2 });
        let shard = sweep(&config, &sharded, 1, Existing::Refuse).unwrap();
        assert_eq!(shard.rows.len(), 4);
        dirs.push(sharded.join(format!("shard-{index}-of-2")));
        // What the CLI leaves beside a shard's table for its best point.
        let summary = serde_json::json!({"config": config.trial_config(best, 0), "shard": index});
        std::fs::write(shard.dir.join("two_layer_summary.json"), summary.to_string()).unwrap();
    }
    let (_, rows, merged_best) = merge_tunings(&dirs, &sharded, "merge").unwrap();
    assert_eq!(numbers(&rows), numbers(&whole.rows));
    assert_eq!(numbers(&table(&sharded)), numbers(&whole.rows));
    assert_eq!(merged_best, Some(best));
    let owner = if best % 2 == 1 { 1 } else { 2 };
    let copied = std::fs::read_to_string(sharded.join("two_layer_summary.json")).unwrap();
    let copied: serde_json::Value = serde_json::from_str(&copied).unwrap();
    assert_eq!(copied["shard"], owner, "the best point's files come from its shard");

    let target = tmp.path().join("bad-merge");
    let merge_err =
        |dirs: &[std::path::PathBuf], out: &Path| merge_tunings(dirs, out, "merge").unwrap_err().to_string();
    assert!(merge_err(&dirs[..1], &target).contains("2/2 missing"));
    // Best-point files of another run in the owning shard are refused.
    let summary = dirs[owner - 1].join("two_layer_summary.json");
    let good = std::fs::read_to_string(&summary).unwrap();
    std::fs::write(&summary, r#"{"config": {}}"#).unwrap();
    let err = merge_err(&dirs, &target);
    assert!(
        err.contains("lacks the curves and model of its best grid point"),
        "{err}"
    );
    assert!(!target.exists(), "a refused merge writes nothing");
    std::fs::write(&summary, good).unwrap();
    // Nor is a directory holding other results a merge target.
    let other = tmp.path().join("other");
    sweep(&small_sweep("0"), &other, 2, Existing::Refuse).unwrap();
    let err = merge_err(&dirs, &other);
    assert!(err.contains("already holds other results"), "{err}");
    let err = merge_err(&dirs, &dirs[0]);
    assert!(err.contains("is one of the shards"), "{err}");
}

#[test]
fn tuned_network_clearly_beats_the_default_on_the_subset() {
    with_sources(Preprocess::MeanImage, |sources, _| {
        let device = Device::flex();
        let run = |config: SgdConfig| {
            let net = init_cifar_net(&config, &device);
            train_sgd(
                net,
                &config,
                &sources.train,
                &sources.val,
                &device,
                Progress::Quiet,
                "t",
                &StopSignal::new(),
            )
            .unwrap()
        };
        let default = run(SgdConfig::default());
        // 1,000 iterations (about 48 epochs) are enough to tell them apart:
        // measured 41.0% validation, against 41.7% after 2,000.
        let tuned = run(SgdConfig {
            hidden: 100,
            lr: 1e-3,
            reg: 0.5,
            iters: 1000,
            ..SgdConfig::default()
        });
        let (_, default_val) = default.last_accuracies().unwrap();
        let (_, tuned_val) = tuned.last_accuracies().unwrap();
        // The assignment's defaults are far too timid (lr 1e-4 with std 1e-4
        // weights): on the full data they reach ~29%; the tuned settings ~49%.
        assert!(tuned_val >= 0.35, "tuned val {tuned_val}");
        assert!(
            tuned_val > default_val + 0.05,
            "tuned {tuned_val} vs default {default_val}"
        );
        assert_eq!(tuned.history.len(), 1000);
    });
}

/// `mlp-cli merge` of tuning shards: the merged rows and best grid point.
fn merge_tunings(
    dirs: &[std::path::PathBuf],
    out: &Path,
    command: &str,
) -> Result<(TuningConfig, Vec<TrialRow>, Option<usize>), mlp_train::TrainError> {
    match merge(dirs, Some(out), command)? {
        MergeOutcome {
            merged: Merged::Tuning(config, rows, best),
            ..
        } => Ok((config, rows, best)),
        _ => panic!("tuning shards merged as another experiment"),
    }
}
