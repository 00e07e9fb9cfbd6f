//! The registry, the one behaviour every experiment shares for a unit
//! recorded twice, on the committed results of each, and the committed
//! maps' theory tables.

use std::path::PathBuf;

use mlp_train::experiments::Experiment;
use mlp_train::experiments::depth_study::StudyConfig;
use mlp_train::experiments::trainability::{TheoryRow, TrainabilityConfig};
use mlp_train::experiments::tuning::TuningConfig;
use mlp_train::jobs::{Job, Records, read_recorded};

/// `experiments/subset/dir` of this checkout (found at run time: clones
/// sharing a target directory share compiled tests).
fn committed(dir: &str) -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("../../experiments/subset")
        .join(dir)
}

#[test]
fn every_experiment_is_registered_once_and_found_by_its_files() {
    let kinds = Experiment::kinds();
    assert_eq!(kinds.len(), Experiment::ALL.len());
    for (i, kind) in kinds.iter().enumerate() {
        for other in &kinds[i + 1..] {
            assert_ne!(kind.config_file, other.config_file);
            assert_ne!(kind.table_file, other.table_file);
        }
    }
    assert_eq!(Experiment::in_dir(&committed("")), Some(Experiment::DepthStudy));
    assert_eq!(
        Experiment::in_dir(&committed("trainability_adam")),
        Some(Experiment::Trainability)
    );
    assert_eq!(
        Experiment::in_dir(&committed("two_layer_tuning")),
        Some(Experiment::Tuning)
    );
    assert_eq!(Experiment::in_dir(&committed("two_layer_default")), None);
}

/// Copies `J`'s table from the committed results in `dir` into a new
/// directory, reads it, then repeats its second row and reads it again.
fn recorded_twice<J: Job>(dir: &str, units: usize) -> String {
    let table = J::KIND.table_file;
    let text = std::fs::read_to_string(committed(dir).join(table)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join(table), &text).unwrap();
    assert_eq!(read_recorded::<J>(tmp.path()).unwrap().len(), units, "{dir}");

    let mut lines: Vec<&str> = text.lines().collect();
    lines.push(lines[2]);
    std::fs::write(tmp.path().join(table), lines.join("\n") + "\n").unwrap();
    let Err(error) = read_recorded::<J>(tmp.path()) else {
        panic!("{dir}: a unit recorded twice was read");
    };
    let error = error.to_string();
    assert!(error.contains(&tmp.path().join(table).display().to_string()), "{error}");
    error
}

#[test]
fn a_unit_recorded_twice_is_refused_alike_by_every_experiment() {
    let study = recorded_twice::<StudyConfig>("", 60);
    assert!(study.contains("the run 2L plain seed 1 is recorded twice"), "{study}");
    let map = recorded_twice::<TrainabilityConfig>("trainability_adam", 304);
    assert!(map.contains("the run 2L gain 0.125 seed 1 is recorded twice"), "{map}");
    let tuning = recorded_twice::<TuningConfig>("two_layer_tuning", 27);
    assert!(tuning.contains("trial 2 seed 0 is recorded twice"), "{tuning}");
    for error in [study, map, tuning] {
        assert!(error.contains("delete one of its rows"), "{error}");
    }
}

/// Each committed map's trainability_theory.csv is what the library computes
/// for its configuration, and puts the critical gain where the theory does:
/// sqrt 2 for ReLU without biases, 1.30-1.35 for tanh with sigma_b^2 = 0.05.
#[test]
fn the_committed_maps_theory_is_the_librarys() {
    for (dir, activation, critical) in [
        ("trainability_adam", "relu", 1.404..=1.424),
        ("trainability_sgd", "relu", 1.404..=1.424),
        ("trainability_tanh", "tanh", 1.30..=1.35),
        ("trainability_tanh_sgd", "tanh", 1.30..=1.35),
    ] {
        let json = std::fs::read_to_string(committed(dir).join("trainability_config.json")).unwrap();
        let config: TrainabilityConfig = serde_json::from_str(&json).unwrap();
        let rows: Vec<TheoryRow> = csv::Reader::from_path(committed(dir).join("trainability_theory.csv"))
            .unwrap()
            .deserialize()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows, config.theory(), "{dir}");
        assert_eq!(rows.len(), config.gains.len(), "{dir}");
        for row in &rows {
            assert_eq!(row.activation, activation, "{dir}");
            assert!(critical.contains(&row.critical_gain), "{dir}: {row:?}");
        }
    }
}
