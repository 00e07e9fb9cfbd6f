//! The trainability map: plain MLPs (ReLU or tanh) of one width trained at
//! every depth × initial scale (× seed), a [`Job`] like the depth study
//! (resumable, shardable, mergeable), written as `trainability.csv`, the
//! mean-field theory at every gain (`trainability_theory.csv`) and a heat map
//! of mean test accuracy over depth × gain with the theory drawn over it.
//!
//! Weights are drawn with std = gain / sqrt(fan_in), biases with `bias_std`.
//! For ReLU layers without biases the critical gain is sqrt(2) (He et al.
//! 2015): below it the signal shrinks by about gain / sqrt(2) per layer,
//! above it it grows, and the depth a network can still be trained at
//! shrinks with the distance from it (Schoenholz et al. 2017). For tanh the
//! critical gain is 1 without biases and grows with them (1.33 at a bias
//! variance of 0.05). The assignment's Normal(0, 1e-3) is a gain of
//! 0.007–0.055 at these fan-ins.

mod chart;
mod config;
mod rows;
mod theory;

pub use config::TrainabilityConfig;
pub use rows::{MapFiles, MapRow, MapRows, RunKey};
pub use theory::{TRAINABLE_DEPTH_SCALES, TheoryRow};

use std::path::Path;

use mlp_model::{MlpConfig, WeightInit};

use super::mlp_grid::{MlpGrid, check_engine, depth_plan, run_mlp_grid};
use crate::TrainError;
use crate::jobs::{Job, JobHeader, JobKind, JobRun, read_csv, remove_files, write_csv};
use crate::train::{EngineChoice, RunOutcome, Target, TrainConfig, TrainData};

impl Job for TrainabilityConfig {
    type Unit = RunKey;
    type Records = MapRows;
    const KIND: JobKind = JobKind {
        name: "trainability map",
        plural: "trainability maps",
        subject: "the trainability map",
        description: "trainability configuration",
        config_file: "trainability_config.json",
        command_file: "trainability_command.txt",
        table_file: MapFiles::TABLE_NAME,
        units: "runs",
        dealt: "runs",
    };

    fn header(&self) -> &JobHeader {
        &self.header
    }

    fn header_mut(&mut self) -> &mut JobHeader {
        &mut self.header
    }

    fn check(&self) -> Result<(), TrainError> {
        self.recipe.validate()?;
        if self.width == 0 {
            return Err(TrainError::invalid(
                "--width",
                "every hidden layer needs at least 1 unit",
            ));
        }
        if self.layers.0.is_empty() {
            return Err(TrainError::invalid("--layers", "name at least one depth"));
        }
        if !(self.bias_std.is_finite() && self.bias_std >= 0.0) {
            return Err(TrainError::invalid(
                "--bias-std",
                format!("{} is not a standard deviation (a finite number, 0 or more)", self.bias_std),
            ));
        }
        if self.gains.is_empty() {
            return Err(TrainError::invalid("--gains", "name at least one gain"));
        }
        if let Some(g) = self.gains.iter().find(|g| !(g.is_finite() && **g > 0.0)) {
            return Err(TrainError::invalid("--gains", format!("{g} is not a positive gain")));
        }
        check_engine(self)
    }

    /// Depth, then gain, then seed.
    fn plan(&self) -> Vec<RunKey> {
        depth_plan(&self.layers.depths(), &self.gains, &self.header.seeds.0, |layers, gain, seed| {
            RunKey { layers, gain, seed }
        })
    }

    fn describe(key: RunKey) -> String {
        format!("the run {}", <Self as MlpGrid>::label(key))
    }

    fn read_records(dir: &Path) -> Result<MapRows, TrainError> {
        Ok(MapRows(read_csv(&MapFiles::in_dir(dir).rows)?))
    }

    fn write_tables(dir: &Path, records: &MapRows) -> Result<(), TrainError> {
        write_csv(&MapFiles::in_dir(dir).rows, &records.0)
    }

    fn write_summaries(&self, dir: &Path, records: &MapRows, _complete: bool) -> Result<(), TrainError> {
        let files = MapFiles::in_dir(dir);
        write_csv(&files.rows, &records.0)?;
        write_csv(&files.theory, &self.theory())?;
        self.plot(&files.heatmap, records)
    }

    fn remove_results(dir: &Path) -> Result<(), TrainError> {
        let files = MapFiles::in_dir(dir);
        remove_files(&[&files.rows, &files.heatmap, &files.theory])
    }
}

impl MlpGrid for TrainabilityConfig {
    const SIZE_FLAGS: &'static str = "--width or --layers";

    /// Every hidden layer `width` wide, weights drawn at the unit's gain.
    fn model(&self, key: RunKey) -> Result<MlpConfig, TrainError> {
        Ok(MlpConfig::new(vec![self.width; key.layers.saturating_sub(1)])
            .with_init(WeightInit::Gain { gain: key.gain })
            .with_activation(self.activation)
            .with_bias_std(self.bias_std))
    }

    fn seed(key: RunKey) -> u64 {
        key.seed
    }

    fn recipe(&self) -> &TrainConfig {
        &self.recipe
    }

    fn engine(&self) -> EngineChoice {
        self.engine
    }

    fn label(key: RunKey) -> String {
        format!("{}L gain {} seed {}", key.layers, key.gain, key.seed)
    }

    fn record(&self, rows: &mut MapRows, key: RunKey, _model: &MlpConfig, outcome: &RunOutcome) -> String {
        let best = outcome.best_record();
        let row = MapRow {
            layers: key.layers,
            width: self.width,
            gain: key.gain,
            optimizer: self.recipe.optimizer().to_string(),
            seed: key.seed,
            device: self.header.device.clone(),
            engine: outcome.engine.to_string(),
            best_epoch: outcome.best_epoch,
            train_acc: best.map(|r| r.train_acc),
            val_acc: best.map(|r| r.val_acc),
            test_acc: outcome.test.map(|t| t.accuracy),
            output_rms_at_init: outcome.signal.last().map(|s| s.activation_rms),
            diverged: outcome.diverged_at.is_some(),
            seconds: outcome.seconds,
        };
        let line = match (row.diverged, row.test_acc) {
            (true, _) => "diverged".to_owned(),
            (false, Some(acc)) => format!("test {:.1}%", 100.0 * acc),
            (false, None) => "no epoch finished".to_owned(),
        };
        rows.0.push(row);
        line
    }
}

/// Runs the map's runs (or its shard's) on `target`; see [`run_mlp_grid`].
pub fn run_trainability(
    config: &TrainabilityConfig,
    data: &TrainData,
    target: &Target,
    run: JobRun,
) -> Result<MapRows, TrainError> {
    run_mlp_grid(config, data, target, run)
}
