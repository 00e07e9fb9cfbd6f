//! A study's result tables: one row per run, per epoch and per layer; read
//! back for `--resume` and `merge`, written atomically after every run.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::charts;
use super::config::StudyConfig;
use super::summary::{markdown_summary, percent, summarize};
use super::variant::{Variant, join_widths};
use crate::TrainError;
use crate::jobs::{plan_position, read_csv, remove_files, write_csv, write_text};
use crate::train::{Engine, RunOutcome};

/// Which run a row belongs to: a study trains each key once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunKey {
    pub layers: usize,
    pub variant: Variant,
    pub seed: u64,
}

/// One row of `depth_study.csv`: one trained network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyRow {
    pub layers: usize,
    pub widths: String,
    pub variant: Variant,
    pub seed: u64,
    pub device: String,
    /// The step engine that trained the run (`fused`, `autodiff` or
    /// `stacked`); tables written before engines existed were all `autodiff`.
    #[serde(default = "autodiff")]
    pub engine: String,
    pub epochs: usize,
    pub best_epoch: Option<usize>,
    pub train_acc: Option<f64>,
    pub val_acc: Option<f64>,
    pub test_acc: Option<f64>,
    pub final_train_loss: Option<f64>,
    pub diverged: bool,
    pub seconds: f64,
}

fn autodiff() -> String {
    Engine::Autodiff.to_string()
}

/// One row of `depth_study_history.csv`: one epoch of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRow {
    pub layers: usize,
    pub variant: Variant,
    pub seed: u64,
    pub epoch: usize,
    pub lr: f64,
    pub train_loss: f64,
    pub train_acc: f64,
    pub val_loss: f64,
    pub val_acc: f64,
    pub seconds: f64,
}

/// One row of `depth_study_dynamics.csv`: one layer of one network at the
/// end of one epoch (epoch 0: at initialisation), measured on the fixed
/// probe batch (see [`crate::train::LayerDynamics`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DynamicsRow {
    pub layers: usize,
    pub variant: Variant,
    pub seed: u64,
    pub epoch: usize,
    pub layer: usize,
    pub activation_mean: f64,
    pub activation_std: f64,
    pub activation_rms: f64,
    /// Empty for the output layer and tanh networks.
    pub dead_fraction: Option<f64>,
    /// Empty for the output layer and ReLU networks; absent from tables
    /// written before tanh networks existed.
    #[serde(default)]
    pub saturated_fraction: Option<f64>,
    pub weight_grad_norm: f64,
    /// Empty at epoch 0.
    pub update_ratio: Option<f64>,
}

/// One row of `depth_study_signal.csv`: one layer of one network at initialisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalRow {
    pub layers: usize,
    pub variant: Variant,
    pub seed: u64,
    pub layer: usize,
    pub activation_rms: f64,
    pub weight_grad_norm: f64,
}

macro_rules! keyed {
    ($($row:ty),*) => {$(
        impl $row {
            pub fn key(&self) -> RunKey {
                RunKey { layers: self.layers, variant: self.variant, seed: self.seed }
            }
        }
    )*};
}
keyed!(StudyRow, HistoryRow, SignalRow, DynamicsRow);

/// Files a study writes into its output directory.
pub struct StudyFiles {
    pub dir: PathBuf,
    /// One row per run: the record of which runs are finished.
    pub runs: PathBuf,
    pub history: PathBuf,
    pub signal: PathBuf,
    /// Written only by studies that ran the dynamics probe.
    pub dynamics: PathBuf,
    /// Mean ± standard deviation over seeds, one row per depth × variant.
    pub summary_csv: PathBuf,
    pub summary: PathBuf,
    pub config: PathBuf,
    pub command: PathBuf,
    pub accuracy_plot: PathBuf,
    pub curves_plot: PathBuf,
    pub signal_plot: PathBuf,
    pub dynamics_plot: PathBuf,
}

impl StudyFiles {
    /// One row per finished run: the record of what is finished.
    pub const TABLE_NAME: &str = "depth_study.csv";

    /// Removes the result tables, summaries and plots (not the config and
    /// command, which the new job writes next).
    pub(crate) fn remove_results(&self) -> Result<(), TrainError> {
        remove_files(&[
            &self.runs,
            &self.history,
            &self.signal,
            &self.dynamics,
            &self.summary_csv,
            &self.summary,
            &self.accuracy_plot,
            &self.curves_plot,
            &self.signal_plot,
            &self.dynamics_plot,
        ])
    }

    pub fn in_dir(dir: &Path) -> Self {
        StudyFiles {
            dir: dir.to_owned(),
            runs: dir.join(Self::TABLE_NAME),
            history: dir.join("depth_study_history.csv"),
            signal: dir.join("depth_study_signal.csv"),
            dynamics: dir.join("depth_study_dynamics.csv"),
            summary_csv: dir.join("depth_study_summary.csv"),
            summary: dir.join("depth_study.md"),
            config: dir.join("depth_study_config.json"),
            command: dir.join("depth_study_command.txt"),
            accuracy_plot: dir.join("depth_study_accuracy.png"),
            curves_plot: dir.join("depth_study_val_curves.png"),
            signal_plot: dir.join("depth_study_signal.png"),
            dynamics_plot: dir.join("depth_study_dynamics.png"),
        }
    }
}

/// All results of a study (or of a shard of one).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StudyResults {
    pub runs: Vec<StudyRow>,
    pub history: Vec<HistoryRow>,
    pub signal: Vec<SignalRow>,
    pub dynamics: Vec<DynamicsRow>,
}

impl StudyResults {
    pub fn has_run(&self, key: RunKey) -> bool {
        self.runs.iter().any(|r| r.key() == key)
    }

    /// Adds the rows of one finished run.
    pub(crate) fn record(&mut self, key: RunKey, hidden: &[usize], config: &StudyConfig, outcome: &RunOutcome) {
        let best = outcome.best_record();
        let RunKey { layers, variant, seed } = key;
        self.runs.push(StudyRow {
            layers,
            widths: join_widths(hidden),
            variant,
            seed,
            device: config.header.device.clone(),
            engine: outcome.engine.to_string(),
            epochs: config.recipe.epochs,
            best_epoch: outcome.best_epoch,
            train_acc: best.map(|r| r.train_acc),
            val_acc: best.map(|r| r.val_acc),
            test_acc: outcome.test.map(|t| t.accuracy),
            final_train_loss: outcome.history.last().map(|r| r.train_loss),
            diverged: outcome.diverged_at.is_some(),
            seconds: outcome.seconds,
        });
        self.history.extend(outcome.history.iter().map(|r| HistoryRow {
            layers,
            variant,
            seed,
            epoch: r.epoch,
            lr: r.lr,
            train_loss: r.train_loss,
            train_acc: r.train_acc,
            val_loss: r.val_loss,
            val_acc: r.val_acc,
            seconds: r.seconds,
        }));
        self.signal.extend(outcome.signal.iter().map(|s| SignalRow {
            layers,
            variant,
            seed,
            layer: s.layer,
            activation_rms: s.activation_rms,
            weight_grad_norm: s.weight_grad_norm,
        }));
        self.dynamics.extend(outcome.dynamics.iter().map(|d| DynamicsRow {
            layers,
            variant,
            seed,
            epoch: d.epoch,
            layer: d.layer,
            activation_mean: d.activation_mean,
            activation_std: d.activation_std,
            activation_rms: d.activation_rms,
            dead_fraction: d.dead_fraction,
            saturated_fraction: d.saturated_fraction,
            weight_grad_norm: d.weight_grad_norm,
            update_ratio: d.update_ratio,
        }));
    }

    /// Orders every table by the study's plan, so a resumed or merged study's
    /// tables read exactly like those of one uninterrupted run.
    pub(crate) fn sort_by_plan(&mut self, plan: &[RunKey]) {
        let position = |key: RunKey| plan_position(plan, key);
        self.runs.sort_by_key(|r| position(r.key()));
        self.history.sort_by_key(|h| (position(h.key()), h.epoch));
        self.signal.sort_by_key(|s| (position(s.key()), s.layer));
        self.dynamics.sort_by_key(|d| (position(d.key()), d.epoch, d.layer));
    }

    /// Writes the tables (the dynamics table only where there are dynamics:
    /// a study without the probe has none). The run table goes last: a run counts as
    /// finished only once its row is there, so a crash between the writes
    /// leaves per-epoch rows that `read` discards, never a run without them.
    pub(crate) fn write_tables(&self, files: &StudyFiles) -> Result<(), TrainError> {
        write_csv(&files.history, &self.history)?;
        write_csv(&files.signal, &self.signal)?;
        if !self.dynamics.is_empty() {
            write_csv(&files.dynamics, &self.dynamics)?;
        }
        write_csv(&files.runs, &self.runs)
    }

    /// Writes the tables, the mean ± std summary (CSV and Markdown) and the plots.
    /// `dynamics_depth`: the depth whose dynamics are drawn (`None`: the deepest recorded).
    pub(crate) fn write_summaries(&self, files: &StudyFiles, dynamics_depth: Option<usize>) -> Result<(), TrainError> {
        self.write_tables(files)?;
        if self.runs.is_empty() {
            return Ok(());
        }
        write_csv(&files.summary_csv, &summarize(&self.runs))?;
        write_text(&files.summary, &markdown_summary(&self.runs))?;
        charts::accuracy_vs_depth(&files.accuracy_plot, &self.runs)?;
        charts::validation_curves(&files.curves_plot, &self.history)?;
        charts::signal_at_init(&files.signal_plot, &self.signal)?;
        if !self.dynamics.is_empty() {
            charts::dynamics(&files.dynamics_plot, &self.dynamics, dynamics_depth)?;
        }
        Ok(())
    }

    /// The recorded tables of a study directory. Missing tables are empty;
    /// per-epoch and per-layer rows of runs with no run row (a run cut off
    /// between writes) are dropped.
    pub fn read(files: &StudyFiles) -> Result<Self, TrainError> {
        let runs = Self::read_runs(&files.runs)?;
        let finished = |key: RunKey| runs.iter().any(|r| r.key() == key);
        let history: Vec<HistoryRow> = read_csv(&files.history)?;
        let signal: Vec<SignalRow> = read_csv(&files.signal)?;
        let dynamics: Vec<DynamicsRow> = read_csv(&files.dynamics)?;
        Ok(StudyResults {
            dynamics: dynamics.into_iter().filter(|d| finished(d.key())).collect(),
            history: history.into_iter().filter(|h| finished(h.key())).collect(),
            signal: signal.into_iter().filter(|s| finished(s.key())).collect(),
            runs,
        })
    }

    /// The run table alone (empty when the file does not exist).
    pub fn read_runs(path: &Path) -> Result<Vec<StudyRow>, TrainError> {
        read_csv(path)
    }

    /// One line on a finished run, for the progress log.
    pub(crate) fn describe(&self, key: RunKey) -> String {
        let Some(row) = self.runs.iter().find(|r| r.key() == key) else {
            return "not run".to_owned();
        };
        if row.diverged {
            return "diverged".to_owned();
        }
        format!(
            "best epoch {}, val {}, test {} ({:.1}s)",
            row.best_epoch.map_or("-".into(), |e| e.to_string()),
            percent(row.val_acc),
            percent(row.test_acc),
            row.seconds
        )
    }
}
