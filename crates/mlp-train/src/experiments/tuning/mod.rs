//! Tuning the scratch two-layer network (Q3): every grid point × seed
//! trained by SGD and scored on validation, several at a time; a [`Job`], so
//! it can be resumed, sharded and merged like the depth study.

mod chart;
mod grid;

pub use chart::plot_tuning_heatmap;
pub use grid::{Trial, TrialRow, TuneGrid, best_trial, trial_means};

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::jobs::merge::Collected;
use crate::jobs::{Finished, Job, JobHeader, JobKind, JobRun, MemoryContext, Records, Trainer, read_csv, remove_files};
use crate::jobs::{plan_position, run_job, write_csv};
use crate::memory::{MemoryNeed, image_bytes};
use crate::train::Batches;
use crate::train::DeviceMemory;
use crate::two_layer::{RUN_FILES, RunFiles, SgdConfig, SgdOutcome, init_cifar_net, train_sgd};
use crate::{Progress, StopSignal, TrainError};

/// One unit of a tuning run: grid point `trial` (1-based) trained with `seed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunKey {
    pub trial: usize,
    pub seed: u64,
}

impl TrialRow {
    pub fn key(&self) -> RunKey {
        RunKey {
            trial: self.trial,
            seed: self.seed,
        }
    }
}

/// Everything that defines a tuning run; saved as JSON beside its table and
/// compared on `--resume` and by `merge`. Shards are dealt whole grid
/// points, so each holds all seeds of its points.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TuningConfig {
    pub grid: TuneGrid,
    /// The settings the grid does not vary.
    pub base: TrialSettings,
    #[serde(flatten)]
    pub header: JobHeader,
}

/// The SGD settings every trial of a tuning run shares; the grid point and
/// the seed give the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialSettings {
    pub lr_decay: f64,
    pub batch_size: usize,
    /// Weights start as `std * N(0, 1)`.
    pub std: f64,
}

impl Default for TrialSettings {
    /// The assignment's (see [`SgdConfig::default`]).
    fn default() -> Self {
        let SgdConfig {
            lr_decay,
            batch_size,
            std,
            ..
        } = SgdConfig::default();
        TrialSettings {
            lr_decay,
            batch_size,
            std,
        }
    }
}

impl TuningConfig {
    /// The SGD settings of grid point `trial` (1-based) with `seed`.
    pub fn trial_config(&self, trial: usize, seed: u64) -> SgdConfig {
        let point = self.grid.trials()[trial - 1];
        SgdConfig {
            hidden: point.hidden,
            lr: point.lr,
            reg: point.reg,
            iters: point.iters,
            seed,
            lr_decay: self.base.lr_decay,
            batch_size: self.base.batch_size,
            std: self.base.std,
        }
    }

    fn first_seed(&self) -> u64 {
        self.header.seeds.0[0]
    }
}

impl Job for TuningConfig {
    type Unit = RunKey;
    type Records = Vec<TrialRow>;
    const KIND: JobKind = JobKind {
        name: "tuning run",
        plural: "tuning runs",
        subject: "the tuning run",
        description: "tuning-run configuration",
        config_file: TuningFiles::CONFIG_NAME,
        command_file: "two_layer_tuning_command.txt",
        table_file: TuningFiles::TABLE_NAME,
        units: "trials",
        dealt: "grid points",
    };

    fn header(&self) -> &JobHeader {
        &self.header
    }

    fn header_mut(&mut self) -> &mut JobHeader {
        &mut self.header
    }

    fn check(&self) -> Result<(), TrainError> {
        if self.grid.trials().is_empty() {
            return Err(TrainError::invalid("--hidden/--lr/--reg/--iters", "the grid is empty"));
        }
        for trial in 1..=self.grid.trials().len() {
            self.trial_config(trial, self.first_seed()).validate()?;
        }
        Ok(())
    }

    /// Grid point by grid point, every seed of each.
    fn plan(&self) -> Vec<RunKey> {
        (1..=self.grid.trials().len())
            .flat_map(|trial| self.header.seeds.0.iter().map(move |&seed| RunKey { trial, seed }))
            .collect()
    }

    fn dealt(&self) -> usize {
        self.grid.trials().len()
    }

    fn deal_index(&self, _position: usize, RunKey { trial, .. }: RunKey) -> usize {
        trial - 1
    }

    fn describe(RunKey { trial, seed }: RunKey) -> String {
        format!("trial {trial} seed {seed}")
    }

    fn read_records(dir: &Path) -> Result<Vec<TrialRow>, TrainError> {
        read_csv(&TuningFiles::in_dir(dir).table)
    }

    fn write_tables(dir: &Path, rows: &Vec<TrialRow>) -> Result<(), TrainError> {
        write_csv(&TuningFiles::in_dir(dir).table, rows)
    }

    /// The heat map, once every trial is in: a stopped run draws none.
    fn write_summaries(&self, dir: &Path, rows: &Vec<TrialRow>, complete: bool) -> Result<(), TrainError> {
        let files = TuningFiles::in_dir(dir);
        write_csv(&files.table, rows)?;
        if complete {
            plot_tuning_heatmap(&files.heatmap, &self.grid, &trial_means(rows))?;
        }
        Ok(())
    }

    /// The table, the heat map and the best trial's files ([`RUN_FILES`]).
    fn remove_results(dir: &Path) -> Result<(), TrainError> {
        let files = TuningFiles::in_dir(dir);
        let best: Vec<PathBuf> = RUN_FILES.iter().map(|name| dir.join(name)).collect();
        let mut paths: Vec<&Path> = vec![&files.table, &files.heatmap];
        paths.extend(best.iter().map(PathBuf::as_path));
        remove_files(&paths)
    }
}

impl Records<RunKey> for Vec<TrialRow> {
    fn len(&self) -> usize {
        <[TrialRow]>::len(self)
    }

    fn units(&self) -> Vec<RunKey> {
        self.iter().map(TrialRow::key).collect()
    }

    fn retain_units(&mut self, keep: &dyn Fn(RunKey) -> bool) {
        self.retain(|r| keep(r.key()));
    }

    fn sort_by_plan(&mut self, plan: &[RunKey]) {
        self.sort_by_key(|r| plan_position(plan, r.key()));
    }

    fn append(&mut self, other: Self) {
        self.extend(other);
    }
}

/// The files of a tuning run's output directory.
pub struct TuningFiles {
    pub dir: PathBuf,
    /// One row per trained (grid point, seed): the record of what is finished.
    pub table: PathBuf,
    pub config: PathBuf,
    pub command: PathBuf,
    pub heatmap: PathBuf,
}

impl TuningFiles {
    pub const CONFIG_NAME: &str = "two_layer_tuning_config.json";
    /// One row per trained (grid point, seed): the record of what is finished.
    pub const TABLE_NAME: &str = "two_layer_tuning.csv";

    pub fn in_dir(dir: &Path) -> Self {
        TuningFiles {
            dir: dir.to_owned(),
            table: dir.join(Self::TABLE_NAME),
            config: dir.join(Self::CONFIG_NAME),
            command: dir.join(<TuningConfig as Job>::KIND.command_file),
            heatmap: dir.join("two_layer_tuning_heatmap.png"),
        }
    }
}

/// What a tuning run produced.
pub struct TuningOutcome {
    pub dir: PathBuf,
    /// Every recorded (grid point, seed), in plan order.
    pub rows: Vec<TrialRow>,
    /// The best grid point (highest mean validation accuracy over its seeds,
    /// the earlier point on a tie), trained with the first seed.
    pub best: Option<(SgdConfig, SgdOutcome)>,
}

/// The first-seed run with the best validation so far, kept so the best
/// grid point usually needs no second training for its curves and weights.
struct Kept {
    trial: usize,
    val_acc: f64,
    outcome: SgdOutcome,
}

/// Trains one (grid point, seed) by SGD.
struct TuningTrainer<'a> {
    config: &'a TuningConfig,
    train: &'a (dyn Batches + Sync),
    val: &'a (dyn Batches + Sync),
    device: &'a Device,
    kept: Mutex<Option<Kept>>,
}

impl Trainer<TuningConfig> for TuningTrainer<'_> {
    type Outcome = SgdOutcome;

    fn label(&self, RunKey { trial, seed }: RunKey, _done: usize, _owned: usize) -> String {
        let config = self.config.trial_config(trial, seed);
        format!(
            "trial {trial}/{} seed {seed} H={} lr={:e} reg={} it={}",
            self.config.grid.trials().len(),
            config.hidden,
            config.lr,
            config.reg,
            config.iters
        )
    }

    fn train(
        &self,
        RunKey { trial, seed }: RunKey,
        label: &str,
        progress: Progress,
        stop: &StopSignal,
    ) -> Result<SgdOutcome, TrainError> {
        let config = self.config.trial_config(trial, seed);
        let net = init_cifar_net(&config, self.device);
        train_sgd(net, &config, self.train, self.val, self.device, progress, label, stop)
    }

    fn memory(&self, keys: &[RunKey]) -> MemoryNeed {
        MemoryNeed::stacked(
            keys.iter()
                .map(|&RunKey { trial, seed }| self.config.trial_config(trial, seed).memory_need()),
        )
    }

    /// The scratch network's memory is checked against the host's on every
    /// device (a GPU's size is not reported, and the host's is the smaller
    /// on most machines).
    fn memory_context(&self) -> MemoryContext {
        MemoryContext {
            data_bytes: image_bytes(self.train.len() + self.val.len()),
            device: DeviceMemory::Host,
            size_flags: "--hidden",
        }
    }

    fn record(&self, rows: &mut Vec<TrialRow>, RunKey { trial, seed }: RunKey, outcome: SgdOutcome) -> String {
        let config = self.config.trial_config(trial, seed);
        let accs = outcome.last_accuracies();
        rows.push(TrialRow {
            trial,
            hidden: config.hidden,
            lr: config.lr,
            reg: config.reg,
            iters: config.iters,
            seed,
            final_loss: outcome.final_loss(),
            train_acc: accs.map(|a| a.0),
            val_acc: accs.map(|a| a.1),
            diverged: outcome.diverged,
            seconds: outcome.seconds,
        });
        let mut kept = self
            .kept
            .lock()
            .expect("trial threads return errors, they do not panic");
        if seed == self.config.first_seed()
            && let Some((_, val_acc)) = accs.filter(|_| !outcome.diverged)
            && kept
                .as_ref()
                .is_none_or(|k| val_acc > k.val_acc || (val_acc == k.val_acc && trial < k.trial))
        {
            *kept = Some(Kept {
                trial,
                val_acc,
                outcome,
            });
        }
        format!(
            "val {}",
            accs.map_or("-".to_owned(), |a| format!("{:.1}%", 100.0 * a.1))
        )
    }
}

/// Trains every (grid point, seed) of the tuning run that this process owns
/// and has not recorded yet, `run.workers` at a time, rewriting the table
/// after each; then draws the heat map and returns the best grid point's run
/// (retrained with the first seed when it was not trained by this call).
pub fn tune(
    config: &TuningConfig,
    train: &(dyn Batches + Sync),
    val: &(dyn Batches + Sync),
    device: &Device,
    run: JobRun,
) -> Result<TuningOutcome, TrainError> {
    let trainer = TuningTrainer {
        config,
        train,
        val,
        device,
        kept: Mutex::new(None),
    };
    let Finished { dir, records: rows } = run_job(config, &trainer, run)?;
    let kept = trainer
        .kept
        .into_inner()
        .expect("trial threads return errors, they do not panic");
    let best = match best_trial(&rows) {
        None => None,
        Some(trial) => {
            let seed = config.first_seed();
            let trial_config = config.trial_config(trial, seed);
            let outcome = match kept {
                Some(kept) if kept.trial == trial => kept.outcome,
                _ => {
                    run.progress.note(format!(
                        "training the best grid point (trial {trial}) again with seed {seed} for its curves and weights"
                    ));
                    let label = format!("best trial {trial}");
                    let net = init_cifar_net(&trial_config, device);
                    match train_sgd(net, &trial_config, train, val, device, run.progress, &label, run.stop) {
                        Err(TrainError::Stopped) => {
                            return Err(TrainError::Interrupted {
                                dir,
                                finished: rows.len(),
                                total: config.owned_units().len(),
                            });
                        }
                        other => other?,
                    }
                }
            };
            Some((trial_config, outcome))
        }
    };
    Ok(TuningOutcome { dir, rows, best })
}

/// The best grid point of merged shards (as [`best_trial`] picks it) and
/// the shard directory holding its curves, weights and model: the shard
/// that owns the point found it best among its own (same rule, same
/// tie-break). Refuses, before the merge writes anything, a shard whose
/// files are not that run's (an interrupted or earlier job's).
pub fn best_point_files(collected: &Collected<TuningConfig>) -> Result<Option<(usize, PathBuf)>, TrainError> {
    let whole = &collected.whole;
    let Some(trial) = best_trial(&collected.records) else {
        return Ok(None);
    };
    let dir = &collected
        .shards
        .iter()
        .find(|s| s.shard.owns(trial - 1))
        .expect("every grid point has an owning shard")
        .dir;
    let expected = serde_json::to_value(whole.trial_config(trial, whole.first_seed())).expect("configs serialise");
    let recorded = std::fs::read_to_string(RunFiles::in_dir(dir).summary)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|json| json.get("config").cloned());
    if recorded.as_ref() != Some(&expected) {
        return Err(TrainError::Merge(format!(
            "{} lacks the curves and model of its best grid point (trial {trial}); \
             run that shard again with --resume to write them",
            dir.display()
        )));
    }
    Ok(Some((trial, dir.clone())))
}

/// Copies the best grid point's files ([`RUN_FILES`]) from its shard into `out`.
pub fn copy_run_files(from: &Path, out: &Path) -> Result<(), TrainError> {
    for name in RUN_FILES {
        let source_path = from.join(name);
        if source_path.exists() {
            std::fs::copy(&source_path, out.join(name)).map_err(|source| TrainError::Write {
                path: out.join(name),
                source,
            })?;
        }
    }
    Ok(())
}
