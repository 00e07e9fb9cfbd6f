//! The trainability map: plain ReLU MLPs of one width trained at every depth
//! × initial scale (× seed), a [`Job`] like the depth study (resumable,
//! shardable, mergeable), written as `trainability.csv` and a heat map of
//! mean test accuracy over depth × gain.
//!
//! Weights are drawn with std = gain / sqrt(fan_in). For ReLU layers the
//! critical gain is sqrt(2) (He et al. 2015): below it the signal shrinks by
//! about gain / sqrt(2) per layer, above it it grows, and the depth a network
//! can still be trained at shrinks with the distance from it (Schoenholz et
//! al. 2017). The assignment's Normal(0, 1e-3) is a gain of 0.007–0.055 at
//! these fan-ins.

use std::path::{Path, PathBuf};

use mlp_data::Preprocess;
use mlp_model::{MlpConfig, WeightInit};
use serde::{Deserialize, Serialize};

use crate::jobs::merge::{collect, write_merged};
use crate::jobs::{
    Finished, Job, JobHeader, JobKind, JobRun, MemoryContext, Records, Trainer, read_csv, remove_files, run_job,
    write_csv,
};
use crate::memory::{MemoryNeed, data_bytes, mlp_need};
use crate::plots::heatmap;
use crate::ranges::LayerRange;
use crate::stats::mean_std;
use crate::train::{
    EngineChoice, Optimizer, RunControl, RunOutcome, Target, TrainConfig, TrainData, stacked_groups, train_job_group,
    train_mlp,
};
use crate::{Progress, StopSignal, TrainError};

/// Everything that defines a map; saved as JSON beside the results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainabilityConfig {
    /// Depths, counted in Linear layers.
    pub layers: LayerRange,
    /// Width of every hidden layer.
    pub width: usize,
    /// Initial gains: weights ~ Normal(0, gain / sqrt(fan_in)).
    pub gains: Vec<f64>,
    /// The recipe of every run (Adam or SGD), trained once per seed of the header.
    pub recipe: TrainConfig,
    #[serde(flatten)]
    pub header: JobHeader,
    pub preprocess: Preprocess,
    /// The step engine asked for; each row records the one that ran.
    #[serde(default)]
    pub engine: EngineChoice,
}

/// One network of the map.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MapKey {
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
    pub fn key(&self) -> MapKey {
        MapKey {
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
}

impl MapFiles {
    pub fn in_dir(dir: &Path) -> Self {
        MapFiles {
            rows: dir.join("trainability.csv"),
            heatmap: dir.join("trainability_heatmap.png"),
        }
    }
}

impl Job for TrainabilityConfig {
    type Unit = MapKey;
    type Records = MapRows;
    const KIND: JobKind = JobKind {
        name: "trainability map",
        plural: "trainability maps",
        subject: "the trainability map",
        description: "trainability configuration",
        config_file: "trainability_config.json",
        command_file: "trainability_command.txt",
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
        if self.engine == EngineChoice::Fused && self.recipe.optimizer() == Optimizer::Sgd {
            return Err(TrainError::invalid(
                "--engine",
                "fused: the fused step has Adam only; use --engine auto (SGD then trains through autodiff) \
                 or --engine autodiff",
            ));
        }
        if self.gains.is_empty() {
            return Err(TrainError::invalid("--gains", "name at least one gain"));
        }
        if let Some(g) = self.gains.iter().find(|g| !(g.is_finite() && **g > 0.0)) {
            return Err(TrainError::invalid("--gains", format!("{g} is not a positive gain")));
        }
        Ok(())
    }

    /// Depth, then gain, then seed.
    fn plan(&self) -> Vec<MapKey> {
        let mut plan = Vec::new();
        for layers in self.layers.depths() {
            for &gain in &self.gains {
                for &seed in &self.header.seeds.0 {
                    plan.push(MapKey { layers, gain, seed });
                }
            }
        }
        plan
    }

    fn describe(key: MapKey) -> String {
        format!("the run {}L gain {} seed {}", key.layers, key.gain, key.seed)
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
        self.plot(&files.heatmap, records)
    }

    fn remove_results(dir: &Path) -> Result<(), TrainError> {
        let files = MapFiles::in_dir(dir);
        remove_files(&[&files.rows, &files.heatmap])
    }
}

impl TrainabilityConfig {
    /// The model of one run.
    pub fn model_config(&self, key: MapKey) -> MlpConfig {
        MlpConfig::new(vec![self.width; key.layers.saturating_sub(1)]).with_init(WeightInit::Gain { gain: key.gain })
    }

    /// Mean test accuracy over the seeds of each depth (rows, deepest first)
    /// × gain (columns); `None` where no run has a test accuracy yet.
    pub fn mean_test_grid(&self, rows: &MapRows) -> Vec<Vec<Option<f64>>> {
        let mut depths: Vec<usize> = self.layers.depths().collect();
        depths.reverse();
        depths
            .iter()
            .map(|&layers| {
                self.gains
                    .iter()
                    .map(|&gain| {
                        let accs: Vec<f64> = rows
                            .0
                            .iter()
                            .filter(|r| r.layers == layers && r.gain == gain)
                            .filter_map(|r| r.test_acc)
                            .collect();
                        mean_std(&accs).map(|(mean, _)| mean)
                    })
                    .collect()
            })
            .collect()
    }

    /// The heat map, its columns named by gain; the critical gain sqrt(2) and
    /// the assignment's effective gains (0.007–0.055) are marked in the names.
    fn plot(&self, path: &Path, rows: &MapRows) -> Result<(), TrainError> {
        let mut depths: Vec<usize> = self.layers.depths().collect();
        depths.reverse();
        let row_names: Vec<String> = depths.iter().map(|d| d.to_string()).collect();
        let col_names: Vec<String> = self.gains.iter().map(|&g| gain_label(g)).collect();
        heatmap(
            path,
            &format!(
                "mean test accuracy, width {}, {}, {} epochs",
                self.width,
                self.recipe.optimizer().name().to_uppercase(),
                self.recipe.epochs
            ),
            "Linear layers",
            &row_names,
            "initial gain: std = gain / sqrt(fan_in)   (* critical, sqrt 2;  a: the assignment's 0.007-0.055)",
            &col_names,
            &self.mean_test_grid(rows),
        )
    }
}

/// A gain as a column name: `1.414*` at the critical gain, `0.05a` within
/// the assignment's range.
fn gain_label(gain: f64) -> String {
    let mark = if (gain - std::f64::consts::SQRT_2).abs() < 0.01 {
        "*"
    } else if (0.007..=0.056).contains(&gain) {
        "a"
    } else {
        ""
    };
    format!("{}{mark}", (gain * 1000.0).round() / 1000.0)
}

impl Records<MapKey> for MapRows {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn units(&self) -> Vec<MapKey> {
        self.0.iter().map(MapRow::key).collect()
    }

    fn keep_owned(&mut self, owned: &[MapKey], plan: &[MapKey]) {
        self.0.retain(|r| owned.contains(&r.key()));
        let mut seen = Vec::new();
        self.0.retain(|r| {
            let fresh = !seen.contains(&r.key());
            seen.push(r.key());
            fresh
        });
        self.sort_by_plan(plan);
    }

    fn sort_by_plan(&mut self, plan: &[MapKey]) {
        let position = |key: MapKey| plan.iter().position(|k| *k == key).unwrap_or(usize::MAX);
        self.0.sort_by_key(|r| position(r.key()));
    }

    fn append(&mut self, other: Self) {
        self.0.extend(other.0);
    }
}

/// Trains one network of the map.
struct MapTrainer<'a> {
    config: &'a TrainabilityConfig,
    data: &'a TrainData<'a>,
    target: &'a Target,
}

impl Trainer<TrainabilityConfig> for MapTrainer<'_> {
    type Outcome = RunOutcome;

    fn label(&self, key: MapKey, done: usize, owned: usize) -> String {
        format!(
            "[{}/{owned}] {}L gain {} seed {}",
            done + 1,
            key.layers,
            key.gain,
            key.seed
        )
    }

    fn train(&self, key: MapKey, label: &str, progress: Progress, stop: &StopSignal) -> Result<RunOutcome, TrainError> {
        let model = self.config.model_config(key);
        let control = RunControl {
            progress,
            label,
            stop,
            dynamics: false,
        };
        train_mlp(&model, &self.config.recipe, key.seed, self.data, self.target, control)
    }

    fn memory(&self, keys: &[MapKey]) -> MemoryNeed {
        let batch = self.config.recipe.batch_size;
        MemoryNeed::stacked(
            keys.iter()
                .map(|&key| mlp_need(&self.config.model_config(key), batch, false)),
        )
    }

    fn memory_context(&self) -> MemoryContext {
        MemoryContext {
            data_bytes: data_bytes(self.data),
            device: self.target.memory,
            size_flags: "--width or --layers",
        }
    }

    /// On the stacked engine, a depth's runs (every gain and seed: the same
    /// shapes) train together, `group_size` at most.
    fn groups(&self, todo: &[MapKey], group_size: usize) -> Vec<Vec<MapKey>> {
        stacked_groups(todo, group_size, self.target, |key| Some(self.config.model_config(key)))
    }

    fn train_group(
        &self,
        keys: &[MapKey],
        labels: &[String],
        progress: Progress,
        stop: &StopSignal,
    ) -> Result<Vec<RunOutcome>, TrainError> {
        let runs: Vec<_> = keys
            .iter()
            .map(|&key| (self.config.model_config(key), key.seed))
            .collect();
        let control = RunControl {
            progress,
            label: "",
            stop,
            dynamics: false,
        };
        train_job_group(&runs, &self.config.recipe, labels, self.data, self.target, control)
    }

    fn record(&self, rows: &mut MapRows, key: MapKey, outcome: RunOutcome) -> String {
        let best = outcome.best_record();
        let row = MapRow {
            layers: key.layers,
            width: self.config.width,
            gain: key.gain,
            optimizer: self.config.recipe.optimizer().to_string(),
            seed: key.seed,
            device: self.config.header.device.clone(),
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

/// Runs the map's runs (or its shard's) on `target`; see [`run_job`].
pub fn run_trainability(
    config: &TrainabilityConfig,
    data: &TrainData,
    target: &Target,
    run: JobRun,
) -> Result<MapRows, TrainError> {
    let trainer = MapTrainer { config, data, target };
    let Finished { records, .. } = run_job(config, &trainer, run)?;
    Ok(records)
}

/// Combines the finished shards of one map into `out`.
pub fn merge_trainability(
    shard_dirs: &[PathBuf],
    out: &Path,
    command: &str,
) -> Result<(TrainabilityConfig, MapRows), TrainError> {
    let collected = collect::<TrainabilityConfig>(shard_dirs)?;
    write_merged(&collected, out, command, &crate::JOB_KINDS)?;
    Ok((collected.whole, collected.records))
}
