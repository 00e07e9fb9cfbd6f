//! Studies that survive: resume, refusal to overwrite, seeds, shards and merge.

use super::*;
use mlp_train::experiments::Experiment;
use mlp_train::experiments::depth_study::{HistoryRow, StudyFiles};
use mlp_train::jobs::Shard;
use mlp_train::jobs::merge::{collect, write_merged};

/// 2–3 layers × plain, kaiming × seeds 0, 1; one epoch each: 8 quick runs.
fn small_study() -> StudyConfig {
    let mut config = study(
        "2..3",
        vec![Variant::Plain, Variant::Kaiming],
        TrainConfig::new().with_epochs(1),
    );
    config.header.seeds = "0..1".parse().unwrap();
    config
}

fn run_with(config: &StudyConfig, out: &Path, existing: Existing) -> Result<StudyResults, TrainError> {
    with_sources(Preprocess::Assignment, |sources, _| {
        run_depth_study(config, sources, &Target::cpu(), job(out, existing, &StopSignal::new()))
    })
}

/// The numbers of a study without its timings, which differ run to run.
fn numbers(
    results: &StudyResults,
) -> (
    Vec<StudyRow>,
    Vec<HistoryRow>,
    Vec<mlp_train::experiments::depth_study::SignalRow>,
) {
    let runs = results
        .runs
        .iter()
        .map(|r| StudyRow {
            seconds: 0.0,
            ..r.clone()
        })
        .collect();
    let history = results
        .history
        .iter()
        .map(|h| HistoryRow {
            seconds: 0.0,
            ..h.clone()
        })
        .collect();
    (runs, history, results.signal.clone())
}

fn reference() -> &'static StudyResults {
    static REFERENCE: OnceLock<StudyResults> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let out = tempfile::tempdir().unwrap();
        run_with(&small_study(), out.path(), Existing::Refuse).unwrap()
    })
}

#[test]
fn a_study_cut_off_mid_write_resumes_to_the_same_tables() {
    let out = tempfile::tempdir().unwrap();
    let config = small_study();
    run_with(&config, out.path(), Existing::Refuse).unwrap();
    // A crash after run 3's per-epoch rows were written but before its run
    // row was: the run table keeps 2 runs, the history keeps all 8.
    let files = StudyFiles::in_dir(out.path());
    let all = StudyResults::read(&files).unwrap();
    mlp_train::jobs::write_csv(&files.runs, &all.runs[..2]).unwrap();
    assert_eq!(
        StudyResults::read(&files).unwrap().history.len(),
        2,
        "orphan rows are dropped"
    );

    let resumed = run_with(&config, out.path(), Existing::Resume).unwrap();
    assert_eq!(resumed.runs.len(), 8, "no duplicate, no missing run");
    assert_eq!(numbers(&resumed), numbers(reference()));
    assert_eq!(numbers(&StudyResults::read(&files).unwrap()), numbers(reference()));
    let command = std::fs::read_to_string(&files.command).unwrap();
    assert_eq!(command, "test\n# resumed with:\ntest\n");
}

#[test]
fn finished_work_is_never_replaced_by_accident() {
    let out = tempfile::tempdir().unwrap();
    let mut config = small_study();
    config.layers = "2".parse().unwrap();
    config.variants = vec![Variant::Plain];
    run_with(&config, out.path(), Existing::Refuse).unwrap();

    let err = run_with(&config, out.path(), Existing::Refuse).unwrap_err().to_string();
    assert!(
        err.contains("already holds 2 finished runs") && err.contains("--resume"),
        "{err}"
    );

    // Resuming a finished study trains nothing and changes nothing.
    let before = std::fs::read_to_string(out.path().join("depth_study.csv")).unwrap();
    run_with(&config, out.path(), Existing::Resume).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.path().join("depth_study.csv")).unwrap(),
        before
    );

    let mut changed = config.clone();
    changed.recipe.epochs = 2;
    changed.header.seeds = "0..2".parse().unwrap();
    let err = run_with(&changed, out.path(), Existing::Resume)
        .unwrap_err()
        .to_string();
    assert!(err.contains("recipe.epochs: recorded 1, now 2"), "{err}");
    assert!(err.contains("seeds: recorded [0,1], now [0,1,2]"), "{err}");
    assert_eq!(
        std::fs::read_to_string(out.path().join("depth_study.csv")).unwrap(),
        before
    );

    let replaced = run_with(&changed, out.path(), Existing::Overwrite).unwrap();
    assert_eq!(replaced.runs.len(), 3);
}

#[test]
fn overwrite_removes_the_old_results_before_anything_can_resume_them() {
    let out = tempfile::tempdir().unwrap();
    let mut config = small_study();
    config.layers = "2".parse().unwrap();
    config.variants = vec![Variant::Plain];
    run_with(&config, out.path(), Existing::Refuse).unwrap();
    // A new study with --overwrite that is stopped before its first run
    // finishes must not leave the old rows beside its new configuration.
    let mut other = config.clone();
    other.recipe.lr = 5e-3;
    let stop = StopSignal::new();
    stop.raise();
    let err = with_sources(Preprocess::Assignment, |sources, _| {
        run_depth_study(
            &other,
            sources,
            &Target::cpu(),
            job(out.path(), Existing::Overwrite, &stop),
        )
    })
    .unwrap_err();
    assert!(matches!(err, TrainError::Interrupted { finished: 0, .. }), "{err}");
    let files = StudyFiles::in_dir(out.path());
    assert!(StudyResults::read(&files).unwrap().runs.is_empty());
    assert!(!files.accuracy_plot.exists());
    let resumed = run_with(&other, out.path(), Existing::Resume).unwrap();
    assert!(resumed.runs.iter().all(|r| r.seed <= 1) && resumed.runs.len() == 2);
    assert_ne!(numbers(&resumed).0, numbers(&run_with_fresh(&config)).0);

    // Results without their configuration cannot be checked, so not resumed.
    std::fs::remove_file(&files.config).unwrap();
    let err = run_with(&other, out.path(), Existing::Resume).unwrap_err().to_string();
    assert!(err.contains("not the configuration they were run with"), "{err}");
    assert_eq!(
        StudyResults::read(&files).unwrap().runs.len(),
        2,
        "nothing was replaced"
    );
}

fn run_with_fresh(config: &StudyConfig) -> StudyResults {
    let out = tempfile::tempdir().unwrap();
    run_with(config, out.path(), Existing::Refuse).unwrap()
}

#[test]
fn a_raised_stop_signal_ends_the_study_with_its_finished_runs_saved() {
    let out = tempfile::tempdir().unwrap();
    let stop = StopSignal::new();
    stop.raise();
    let err = with_sources(Preprocess::Assignment, |sources, _| {
        run_depth_study(
            &small_study(),
            sources,
            &Target::cpu(),
            job(out.path(), Existing::Refuse, &stop),
        )
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            TrainError::Interrupted {
                finished: 0,
                total: 8,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn shards_merged_equal_one_unsharded_study() {
    let out = tempfile::tempdir().unwrap();
    let mut dirs = Vec::new();
    for index in 1..=3 {
        let mut config = small_study();
        config.header.shard = Some(Shard { index, count: 3 });
        let shard = run_with(&config, out.path(), Existing::Refuse).unwrap();
        assert_eq!(
            shard.runs.len(),
            if index < 3 { 3 } else { 2 },
            "8 runs dealt to 3 shards"
        );
        dirs.push(out.path().join(format!("shard-{index}-of-3")));
    }
    let (config, merged) = merge_depth_studies(&dirs, out.path(), "merge").unwrap();
    assert_eq!(config.header.shard, None);
    assert_eq!(numbers(&merged), numbers(reference()));
    let files = StudyFiles::in_dir(out.path());
    assert_eq!(numbers(&StudyResults::read(&files).unwrap()), numbers(reference()));
    assert!(files.accuracy_plot.is_file() && files.summary_csv.is_file());
    let command = std::fs::read_to_string(&files.command).unwrap();
    assert!(command.starts_with("merge\n# shard 1/3"), "{command}");

    // Shards that do not belong together are refused.
    let merge_err = |dirs: &[std::path::PathBuf]| {
        let target = tempfile::tempdir().unwrap();
        merge_depth_studies(dirs, target.path(), "merge")
            .unwrap_err()
            .to_string()
    };
    assert!(merge_err(&dirs[..2]).contains("3/3 missing"));
    assert!(merge_err(&[dirs[0].clone(), dirs[0].clone(), dirs[2].clone()]).contains("both shard 1/3"));
    assert!(merge_err(&[out.path().to_owned()]).contains("not a shard"));

    let other = tempfile::tempdir().unwrap();
    let mut different = small_study();
    different.recipe.lr = 2e-3;
    different.header.shard = Some(Shard { index: 3, count: 3 });
    run_with(&different, other.path(), Existing::Refuse).unwrap();
    let err = merge_err(&[dirs[0].clone(), dirs[1].clone(), other.path().join("shard-3-of-3")]);
    assert!(err.contains("different studies") && err.contains("recipe.lr"), "{err}");

    // An unfinished shard: its last run row removed, as if it was cut off.
    let shard_files = StudyFiles::in_dir(&dirs[1]);
    let runs = StudyResults::read_runs(&shard_files.runs).unwrap();
    mlp_train::jobs::write_csv(&shard_files.runs, &runs[..2]).unwrap();
    assert!(merge_err(&dirs).contains("unfinished: 2 of 3 runs"));
}

#[test]
fn several_seeds_are_summarised_as_mean_and_standard_deviation() {
    let results = reference();
    let summary = mlp_train::experiments::depth_study::summarize(&results.runs);
    assert_eq!(summary.len(), 4);
    for s in &summary {
        assert_eq!(s.runs, 2);
        let accs: Vec<f64> = results
            .runs
            .iter()
            .filter(|r| r.layers == s.layers && r.variant == s.variant)
            .map(|r| r.test_acc.unwrap())
            .collect();
        let mean = (accs[0] + accs[1]) / 2.0;
        let std = (accs[0] - accs[1]).abs() / 2f64.sqrt();
        assert!((s.test_acc_mean.unwrap() - mean).abs() < 1e-12);
        assert!((s.test_acc_std.unwrap() - std).abs() < 1e-12);
    }
    // Different seeds give different networks, so the spread is real.
    assert!(summary.iter().any(|s| s.test_acc_std.unwrap() > 0.0));
    let table = mlp_train::experiments::depth_study::markdown_summary(&results.runs);
    assert!(table.contains(" ± ") && table.contains("over 2 seeds"), "{table}");
}

/// Stacked groups keep everything a study promises: shards (which form
/// their groups from their own runs) merge into the unsharded study, and a
/// study resumed after losing runs regroups what is missing; the numbers
/// are the same (on flex, bit for bit) however the runs were grouped.
#[test]
fn stacked_groups_shard_merge_and_resume_to_the_same_tables() {
    let stacked = Target {
        engine: Engine::Stacked,
        ..Target::cpu()
    };
    let run = |config: &StudyConfig, out: &Path, existing: Existing| {
        let stop = StopSignal::new();
        let job = JobRun {
            group_size: usize::MAX,
            ..job(out, existing, &stop)
        };
        with_sources(Preprocess::Assignment, |sources, _| {
            run_depth_study(config, sources, &stacked, job)
        })
        .unwrap()
    };
    let whole_dir = tempfile::tempdir().unwrap();
    let whole = run(&small_study(), whole_dir.path(), Existing::Refuse);
    assert_eq!(whole.runs.len(), 8);
    assert!(whole.runs.iter().all(|r| r.engine == "stacked"));

    let out = tempfile::tempdir().unwrap();
    let mut dirs = Vec::new();
    for index in 1..=3 {
        let mut config = small_study();
        config.header.shard = Some(Shard { index, count: 3 });
        run(&config, out.path(), Existing::Refuse);
        dirs.push(out.path().join(format!("shard-{index}-of-3")));
    }
    let (_, merged) = merge_depth_studies(&dirs, out.path(), "merge").unwrap();
    assert_eq!(numbers(&merged), numbers(&whole));

    // Lose all but 3 runs (one group interrupted mid-way, as it were), resume.
    let files = StudyFiles::in_dir(whole_dir.path());
    let runs = StudyResults::read_runs(&files.runs).unwrap();
    mlp_train::jobs::write_csv(&files.runs, &runs[..3]).unwrap();
    let resumed = run(&small_study(), whole_dir.path(), Existing::Resume);
    assert_eq!(numbers(&resumed), numbers(&whole));
}

/// The shards in `dirs`, taken as given (not expanded), merged into `out`.
fn merge_depth_studies(
    dirs: &[std::path::PathBuf],
    out: &Path,
    command: &str,
) -> Result<(StudyConfig, StudyResults), mlp_train::TrainError> {
    let collected = collect::<StudyConfig>(dirs)?;
    write_merged(&collected, out, command, &Experiment::kinds())?;
    Ok((collected.whole, collected.records))
}
