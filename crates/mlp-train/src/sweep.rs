//! Tuning sweeps of the scratch two-layer network (Q3): every grid point ×
//! seed trained by SGD and scored on validation, several at a time; recorded
//! trial by trial, so a sweep can be resumed, sharded and merged like a study.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::prelude::*;
use mlp_data::SplitSizes;
use serde::{Deserialize, Serialize};

use crate::plan::{SeedList, Shard, StopSignal, mean_std};
use crate::records::{
    Existing, Start, append_command, decide_start, lock_output_dir, prepare_output_dir, read_csv, read_json,
    remove_files, settings_differences, write_csv, write_text,
};
use crate::shards::{ShardedJob, check_complete, check_shards, shard_commands};
use crate::study::check_merge_target;
use crate::two_layer::{
    Examples, SgdConfig, SgdOutcome, TrialRow, TuneGrid, init_cifar_net, plot_tuning_heatmap, train_sgd,
};
use crate::{Progress, TrainError};

/// Everything that defines a sweep; saved as JSON beside its table and
/// compared on `--resume` and by `merge`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepConfig {
    pub grid: TuneGrid,
    /// Every grid point is trained once per seed (weights and minibatches).
    pub seeds: SeedList,
    /// The settings the grid does not vary (decay, batch size, init std);
    /// its hidden, lr, reg, iters and seed are replaced per trial.
    pub base: SgdConfig,
    pub splits: SplitSizes,
    /// [`mlp_data::Splits::fingerprint`] of the data trained on: resumed and
    /// merged runs must come from the same images, wherever the files live.
    #[serde(default)]
    pub data_fingerprint: String,
    /// The slice of the grid this process trains; `None` trains it all.
    /// Shards are dealt whole grid points, so each holds all seeds of its points.
    pub shard: Option<Shard>,
    /// Human description of the device.
    pub device: String,
}

impl SweepConfig {
    pub fn validate(&self) -> Result<(), TrainError> {
        if self.grid.trials().is_empty() {
            return Err(TrainError::invalid("--hidden/--lr/--reg/--iters", "the grid is empty"));
        }
        if self.seeds.0.is_empty() {
            return Err(TrainError::invalid("--seeds", "name at least one seed"));
        }
        for trial in 1..=self.grid.trials().len() {
            self.trial_config(trial, self.seeds.0[0]).validate()?;
        }
        if let Some(shard) = self.shard {
            shard.check(self.grid.trials().len(), "grid points")?;
        }
        Ok(())
    }

    /// The SGD settings of grid point `trial` (1-based) with `seed`.
    pub fn trial_config(&self, trial: usize, seed: u64) -> SgdConfig {
        let point = self.grid.trials()[trial - 1];
        SgdConfig {
            hidden: point.hidden,
            lr: point.lr,
            reg: point.reg,
            iters: point.iters,
            seed,
            ..self.base.clone()
        }
    }

    /// Every (trial, seed) of the whole sweep, grid point by grid point.
    pub fn plan(&self) -> Vec<(usize, u64)> {
        (1..=self.grid.trials().len())
            .flat_map(|trial| self.seeds.0.iter().map(move |&seed| (trial, seed)))
            .collect()
    }

    /// The (trial, seed) pairs this process is responsible for.
    pub fn owned_runs(&self) -> Vec<(usize, u64)> {
        self.plan()
            .into_iter()
            .filter(|&(trial, _)| self.shard.is_none_or(|s| s.owns(trial - 1)))
            .collect()
    }

    /// Where the sweep's files go: `out`, or `out/shard-K-of-N` for a shard.
    pub fn output_dir(&self, out: &Path) -> PathBuf {
        match self.shard {
            None => out.to_owned(),
            Some(shard) => out.join(shard.dir_name()),
        }
    }
}

/// The files of a sweep's output directory.
pub struct SweepFiles {
    pub dir: PathBuf,
    /// One row per trained (grid point, seed): the record of what is finished.
    pub table: PathBuf,
    pub config: PathBuf,
    pub command: PathBuf,
    pub heatmap: PathBuf,
}

/// Files the best trial's run leaves beside the table (curves, weights,
/// model, summary); `merge` copies them from the shard that holds the best.
pub const BEST_TRIAL_FILES: [&str; 6] = [
    "two_layer_history.csv",
    "two_layer_loss.png",
    "two_layer_accuracy.png",
    "two_layer_weights.png",
    "two_layer_model.bpk",
    "two_layer_summary.json",
];

impl SweepFiles {
    pub const CONFIG_NAME: &str = "two_layer_tuning_config.json";

    /// Removes the table, the heat map and the best trial's files (not the
    /// config and command, which the new job writes next).
    fn remove_results(&self) -> Result<(), TrainError> {
        let best: Vec<PathBuf> = BEST_TRIAL_FILES.iter().map(|name| self.dir.join(name)).collect();
        let mut paths: Vec<&Path> = vec![&self.table, &self.heatmap];
        paths.extend(best.iter().map(PathBuf::as_path));
        remove_files(&paths)
    }

    pub fn in_dir(dir: &Path) -> Self {
        SweepFiles {
            dir: dir.to_owned(),
            table: dir.join("two_layer_tuning.csv"),
            config: dir.join(Self::CONFIG_NAME),
            command: dir.join("two_layer_tuning_command.txt"),
            heatmap: dir.join("two_layer_tuning_heatmap.png"),
        }
    }
}

/// What a sweep produced.
pub struct SweepOutcome {
    pub dir: PathBuf,
    /// Every recorded (grid point, seed), in plan order.
    pub rows: Vec<TrialRow>,
    /// The best grid point (highest mean validation accuracy over its seeds,
    /// the earlier point on a tie), trained with the first seed.
    pub best: Option<(SgdConfig, SgdOutcome)>,
}

/// One row per grid point: accuracies and final loss averaged over the seeds
/// that did not diverge (diverged only when every seed did); `seed` is the
/// first seed's. Input rows must be in plan order.
pub fn trial_means(rows: &[TrialRow]) -> Vec<TrialRow> {
    let mut trials: Vec<usize> = rows.iter().map(|r| r.trial).collect();
    trials.dedup();
    trials
        .into_iter()
        .map(|trial| {
            let group: Vec<&TrialRow> = rows.iter().filter(|r| r.trial == trial).collect();
            let healthy: Vec<&&TrialRow> = group.iter().filter(|r| !r.diverged).collect();
            let mean = |pick: fn(&TrialRow) -> Option<f64>| {
                mean_std(&healthy.iter().filter_map(|r| pick(r)).collect::<Vec<_>>()).map(|m| m.0)
            };
            TrialRow {
                final_loss: mean(|r| r.final_loss),
                train_acc: mean(|r| r.train_acc),
                val_acc: mean(|r| r.val_acc),
                diverged: healthy.is_empty(),
                seconds: group.iter().map(|r| r.seconds).sum(),
                ..group[0].clone()
            }
        })
        .collect()
}

/// The grid point (1-based) with the highest mean validation accuracy, the
/// earlier one on a tie, so the answer depends on neither threads nor shards.
/// A point that diverged with any seed is unstable and never chosen.
pub fn best_trial(rows: &[TrialRow]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for mean in trial_means(rows) {
        let any_diverged = rows.iter().any(|r| r.trial == mean.trial && r.diverged);
        if let Some(val) = mean.val_acc.filter(|_| !any_diverged)
            && best.is_none_or(|(trial, b)| val > b || (val == b && mean.trial < trial))
        {
            best = Some((mean.trial, val));
        }
    }
    best.map(|(trial, _)| trial)
}

struct Kept {
    trial: usize,
    val_acc: f64,
    outcome: SgdOutcome,
}

struct SweepState {
    rows: Vec<TrialRow>,
    /// The first-seed run with the best validation so far, kept so the best
    /// grid point usually needs no second training for its curves and weights.
    kept: Option<Kept>,
    error: Option<TrainError>,
}

fn lock(state: &Mutex<SweepState>) -> std::sync::MutexGuard<'_, SweepState> {
    state.lock().expect("trial threads return errors, they do not panic")
}

/// Trains every (grid point, seed) of the sweep that this process owns and
/// has not recorded yet, `jobs` at a time, rewriting the table after each;
/// then draws the heat map and returns the best grid point's run (retrained
/// with the first seed when it was not trained by this call).
#[allow(clippy::too_many_arguments)]
pub fn tune(
    sweep: &SweepConfig,
    train: &(dyn Examples + Sync),
    val: &(dyn Examples + Sync),
    device: &Device,
    jobs: usize,
    out: &Path,
    command: &str,
    existing: Existing,
    progress: Progress,
    stop: &StopSignal,
) -> Result<SweepOutcome, TrainError> {
    sweep.validate()?;
    if jobs == 0 {
        return Err(TrainError::invalid("--jobs", "must be at least 1"));
    }
    let dir = sweep.output_dir(out);
    prepare_output_dir(&dir)?;
    let _lock = lock_output_dir(&dir)?;
    let files = SweepFiles::in_dir(&dir);
    let recorded = resume_or_start(&files, sweep, existing)?;
    append_command(&files.command, command, !recorded.is_empty())?;
    let json = serde_json::to_string_pretty(sweep).expect("a sweep config serialises");
    write_text(&files.config, &format!("{json}\n"))?;

    let plan = sweep.plan();
    let owned = sweep.owned_runs();
    let todo: Vec<(usize, u64)> = owned
        .iter()
        .copied()
        .filter(|&(trial, seed)| !recorded.iter().any(|r| r.trial == trial && r.seed == seed))
        .collect();
    if !recorded.is_empty() {
        progress.note(format!(
            "resuming {}: {} of {} trials already finished, {} to go",
            dir.display(),
            recorded.len(),
            owned.len(),
            todo.len()
        ));
    }
    let jobs = jobs.min(todo.len()).max(1);
    // One trial at a time shows its own bar; several share one overall bar.
    let trial_progress = if jobs == 1 { progress } else { Progress::Quiet };
    let overall = progress.bar(todo.len() as u64, format!("trials ({jobs} at a time)"));
    let next = AtomicUsize::new(0);
    let state = Mutex::new(SweepState {
        rows: recorded,
        kept: None,
        error: None,
    });
    let first_seed = sweep.seeds.0[0];
    let grid_size = sweep.grid.trials().len();

    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= todo.len() || lock(&state).error.is_some() || stop.is_raised() {
                        break;
                    }
                    let (trial, seed) = todo[i];
                    let config = sweep.trial_config(trial, seed);
                    let label = format!(
                        "trial {trial}/{grid_size} seed {seed} H={} lr={:e} reg={} it={}",
                        config.hidden, config.lr, config.reg, config.iters
                    );
                    let result = train_sgd(
                        init_cifar_net(&config, device),
                        &config,
                        train,
                        val,
                        device,
                        trial_progress,
                        &label,
                        stop,
                    );
                    let mut state = lock(&state);
                    let outcome = match result {
                        Ok(outcome) => outcome,
                        Err(error) => {
                            state.error.get_or_insert(error);
                            break;
                        }
                    };
                    let accs = outcome.last_accuracies();
                    state.rows.push(TrialRow {
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
                    sort_by_plan(&mut state.rows, &plan);
                    if let Err(error) = write_csv(&files.table, &state.rows) {
                        state.error.get_or_insert(error);
                        break;
                    }
                    if seed == first_seed
                        && let Some((_, val_acc)) = accs.filter(|_| !outcome.diverged)
                        && state
                            .kept
                            .as_ref()
                            .is_none_or(|k| val_acc > k.val_acc || (val_acc == k.val_acc && trial < k.trial))
                    {
                        state.kept = Some(Kept {
                            trial,
                            val_acc,
                            outcome,
                        });
                    }
                    overall.inc(1);
                    let line = format!(
                        "{label}: val {}",
                        accs.map_or("-".to_owned(), |a| format!("{:.1}%", 100.0 * a.1))
                    );
                    overall.suspend(|| progress.note(line));
                }
            });
        }
    });
    overall.finish_and_clear();
    let state = state
        .into_inner()
        .expect("trial threads return errors, they do not panic");
    let interrupted = || TrainError::Interrupted {
        dir: dir.clone(),
        finished: state.rows.len(),
        total: owned.len(),
    };
    match state.error {
        Some(TrainError::Interrupted { .. }) => return Err(interrupted()),
        Some(error) => return Err(error),
        None if stop.is_raised() => return Err(interrupted()),
        None => {}
    }
    plot_tuning_heatmap(&files.heatmap, &sweep.grid, &trial_means(&state.rows))?;

    let best = match best_trial(&state.rows) {
        None => None,
        Some(trial) => {
            let config = sweep.trial_config(trial, first_seed);
            let outcome = match state.kept {
                Some(kept) if kept.trial == trial => kept.outcome,
                _ => {
                    progress.note(format!(
                        "training the best grid point (trial {trial}) again with seed {first_seed} for its curves and weights"
                    ));
                    let label = format!("best trial {trial}");
                    let net = init_cifar_net(&config, device);
                    match train_sgd(net, &config, train, val, device, progress, &label, stop) {
                        Err(TrainError::Interrupted { .. }) => return Err(interrupted()),
                        other => other?,
                    }
                }
            };
            Some((config, outcome))
        }
    };
    Ok(SweepOutcome {
        dir,
        rows: state.rows,
        best,
    })
}

fn sort_by_plan(rows: &mut [TrialRow], plan: &[(usize, u64)]) {
    rows.sort_by_key(|r| {
        plan.iter()
            .position(|&(trial, seed)| trial == r.trial && seed == r.seed)
            .unwrap_or(usize::MAX)
    });
}

/// The recorded rows to continue from, after the same checks as a study's.
fn resume_or_start(files: &SweepFiles, sweep: &SweepConfig, existing: Existing) -> Result<Vec<TrialRow>, TrainError> {
    if existing == Existing::Overwrite {
        files.remove_results()?;
        return Ok(Vec::new());
    }
    let recorded: Vec<TrialRow> = read_csv(&files.table)?;
    let differences = || Ok(settings_differences(&read_config(&files.config)?, sweep));
    if decide_start(existing, &files.dir, &files.config, recorded.len(), differences)? == Start::Fresh {
        return Ok(Vec::new());
    }
    // Only rows of this job's own (trial, seed) pairs, each once.
    let owned = sweep.owned_runs();
    let mut rows: Vec<TrialRow> = recorded
        .into_iter()
        .filter(|r| owned.contains(&(r.trial, r.seed)))
        .collect();
    sort_by_plan(&mut rows, &sweep.plan());
    rows.dedup_by_key(|r| (r.trial, r.seed));
    Ok(rows)
}

/// Reads and checks a sweep's saved configuration.
pub fn read_config(path: &Path) -> Result<SweepConfig, TrainError> {
    let config: SweepConfig = read_json(path, "tuning-sweep configuration")?;
    config.validate().map_err(|e| TrainError::Read {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    Ok(config)
}

/// Checks that `shard_dirs` are all the finished shards of one sweep and
/// writes the combined sweep into `out`: the table, heat map and config of a
/// single run, plus the best grid point's files copied from its shard.
/// Returns the merged configuration, rows and best grid point.
pub fn merge_tuning_sweeps(
    shard_dirs: &[PathBuf],
    out: &Path,
    command: &str,
) -> Result<(SweepConfig, Vec<TrialRow>, Option<usize>), TrainError> {
    let (shards, whole) = check_shards(shard_dirs, ("sweep", "sweeps"), |dir| {
        read_config(&SweepFiles::in_dir(dir).config)
    })?;
    let mut rows = Vec::new();
    for s in &shards {
        let recorded: Vec<TrialRow> = read_csv(&SweepFiles::in_dir(s.dir).table)?;
        let owned = s.config.owned_runs();
        let finished = owned
            .iter()
            .filter(|&&(trial, seed)| recorded.iter().any(|r| r.trial == trial && r.seed == seed))
            .count();
        let stray = recorded
            .iter()
            .find(|r| !owned.contains(&(r.trial, r.seed)))
            .map(|r| format!("trial {} seed {}", r.trial, r.seed));
        check_complete(s, owned.len(), finished, recorded.len(), stray)?;
        rows.extend(recorded);
    }
    sort_by_plan(&mut rows, &whole.plan());
    let shard_commands = shard_commands(&shards, "two_layer_tuning_command.txt");
    // The best point's curves, weights and model come from the shard that
    // owns it: that shard found it best among its own points (same rule, same
    // tie-break). They must be that run's, not an interrupted or earlier job's.
    let best = best_trial(&rows);
    let best_files_dir = match best {
        None => None,
        Some(trial) => {
            let dir = shards
                .iter()
                .find(|s| s.shard.owns(trial - 1))
                .expect("every grid point has an owning shard")
                .dir;
            let expected =
                serde_json::to_value(whole.trial_config(trial, whole.seeds.0[0])).expect("configs serialise");
            let recorded = std::fs::read_to_string(dir.join("two_layer_summary.json"))
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
            Some(dir)
        }
    };
    check_merge_target(out, shard_dirs, |dir| {
        let earlier = read_config(&SweepFiles::in_dir(dir).config)?;
        Ok(earlier.shard.is_none() && settings_differences(&earlier, &whole).is_empty())
    })?;
    prepare_output_dir(out)?;
    let _lock = lock_output_dir(out)?;
    let files = SweepFiles::in_dir(out);
    files.remove_results()?;
    let json = serde_json::to_string_pretty(&whole).expect("a sweep config serialises");
    write_text(&files.config, &format!("{json}\n"))?;
    write_text(&files.command, &format!("{command}\n{shard_commands}"))?;
    write_csv(&files.table, &rows)?;
    plot_tuning_heatmap(&files.heatmap, &whole.grid, &trial_means(&rows))?;
    if let Some(dir) = best_files_dir {
        for name in BEST_TRIAL_FILES {
            let from = dir.join(name);
            if from.exists() {
                std::fs::copy(&from, out.join(name)).map_err(|source| TrainError::Write {
                    path: out.join(name),
                    source,
                })?;
            }
        }
    }
    Ok((whole, rows, best))
}

impl ShardedJob for SweepConfig {
    fn shard(&self) -> Option<Shard> {
        self.shard
    }
    fn set_shard(&mut self, shard: Option<Shard>) {
        self.shard = shard;
    }
    fn device(&self) -> &str {
        &self.device
    }
    fn set_device(&mut self, device: String) {
        self.device = device;
    }
}
