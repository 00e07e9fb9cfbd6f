//! The map's table: one row per trained network, and its files.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::jobs::{Records, plan_position};

/// One network of the map.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RunKey {
    pub layers: usize,
    pub gain: f64,
    pub seed: u64,
}

/// One row of `trainability.csv`: one trained network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapRow {
    pub layers: usize,
    pub width: usize,
    pub gain: f64,
    pub optimizer: String,
    pub seed: u64,
    pub device: String,
    pub engine: String,
    pub best_epoch: Option<usize>,
    pub train_acc: Option<f64>,
    pub val_acc: Option<f64>,
    pub test_acc: Option<f64>,
    /// RMS of the logits at initialisation, on the first minibatch: how much
    /// of the input's scale survives the depth before any training.
    pub output_rms_at_init: Option<f64>,
    pub diverged: bool,
    pub seconds: f64,
}

impl MapRow {
    pub fn key(&self) -> RunKey {
        RunKey {
            layers: self.layers,
            gain: self.gain,
            seed: self.seed,
        }
    }
}

/// The map's rows.
#[derive(Debug, Clone, Default)]
pub struct MapRows(pub Vec<MapRow>);

/// The files of a map in its directory.
pub struct MapFiles {
    pub rows: PathBuf,
    pub heatmap: PathBuf,
    /// The mean-field theory at every gain (`TheoryRow`s).
    pub theory: PathBuf,
}

impl MapFiles {
    /// One row per trained network: the record of what is finished.
    pub const TABLE_NAME: &str = "trainability.csv";

    pub fn in_dir(dir: &Path) -> Self {
        MapFiles {
            rows: dir.join(Self::TABLE_NAME),
            heatmap: dir.join("trainability_heatmap.png"),
            theory: dir.join("trainability_theory.csv"),
        }
    }
}

impl Records<RunKey> for MapRows {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn units(&self) -> Vec<RunKey> {
        self.0.iter().map(MapRow::key).collect()
    }

    fn retain_units(&mut self, keep: &dyn Fn(RunKey) -> bool) {
        self.0.retain(|r| keep(r.key()));
    }

    fn sort_by_plan(&mut self, plan: &[RunKey]) {
        self.0.sort_by_key(|r| plan_position(plan, r.key()));
    }

    fn append(&mut self, other: Self) {
        self.0.extend(other.0);
    }
}
