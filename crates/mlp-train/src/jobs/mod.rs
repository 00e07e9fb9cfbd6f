//! Long jobs, whatever they train: resumable, shardable, mergeable, locked.
//!
//! A job is a configuration ([`Job`]) whose plan is a list of units (one
//! network of the depth study, one grid point × seed of a tuning run), a
//! table of recorded units ([`Records`]), and a [`Trainer`] that trains one
//! unit. [`run_job`] does the rest, the same for every job: lock the output
//! directory → resume or start → write the command and configuration →
//! train the plan's missing units (stoppable, one or several at a time),
//! rewriting the tables after each → summaries. [`merge`] combines the
//! shards of one job. An experiment plugs in only its plan, how one unit
//! trains, its rows and its charts.

mod files;
pub mod merge;
mod resume;
mod seeds;
mod shard;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use mlp_data::SplitSizes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use files::{
    DirLock, append_command, command_line, lock_output_dir, prepare_output_dir, read_csv, read_json, remove_files,
    write_csv, write_text,
};
pub use resume::{Existing, settings_differences};
pub use seeds::SeedList;
pub use shard::Shard;

use crate::memory::{MemoryNeed, Workload, host_available, in_flight};
use crate::train::DeviceMemory;
use crate::{Progress, StopSignal, TrainError};
use resume::{Start, decide_start};

/// What every job records beside its own settings, and compares on
/// `--resume` and by `merge` (all but `device`, which may differ between a
/// job's parts: every row records its own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobHeader {
    /// Every configuration is trained once per seed.
    pub seeds: SeedList,
    pub splits: SplitSizes,
    /// [`mlp_data::Splits::fingerprint`] of the data trained on: resumed and
    /// merged runs must come from the same images, wherever the files live.
    #[serde(default)]
    pub data_fingerprint: String,
    /// The slice of the plan this process trains; `None` trains it all.
    pub shard: Option<Shard>,
    /// Human description of the device the job ran on.
    pub device: String,
}

/// The names of one kind of job, for its files and messages.
#[derive(Debug, Clone, Copy)]
pub struct JobKind {
    /// `study`, `tuning run`: "shards of different {plural}".
    pub name: &'static str,
    pub plural: &'static str,
    /// The job as the subject of a message: `the study`, `the tuning run`.
    pub subject: &'static str,
    /// What `read_config` says a bad configuration file is not.
    pub description: &'static str,
    pub config_file: &'static str,
    pub command_file: &'static str,
    /// The table with one row per finished unit: what says a unit is done.
    pub table_file: &'static str,
    /// The plan's units in messages: `runs`, `trials`.
    pub units: &'static str,
    /// What shards deal, in messages: `runs`, `grid points`.
    pub dealt: &'static str,
}

/// A job's recorded rows, one group per finished unit of its plan.
pub trait Records<U>: Default + Send {
    /// How many units are recorded.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The recorded units, in table order.
    fn units(&self) -> Vec<U>;
    /// Keeps only the rows of the units `keep` accepts.
    fn retain_units(&mut self, keep: &dyn Fn(U) -> bool);
    /// Orders every table by the plan, so a resumed or merged job's tables
    /// read exactly like those of one uninterrupted run.
    fn sort_by_plan(&mut self, plan: &[U]);
    /// Keeps only the rows of `owned` units (a hand-edited table may hold
    /// others'), in plan order.
    fn keep_owned(&mut self, owned: &[U], plan: &[U])
    where
        U: PartialEq,
    {
        self.retain_units(&|unit| owned.contains(&unit));
        self.sort_by_plan(plan);
    }
    /// Adds another shard's rows.
    fn append(&mut self, other: Self);
}

/// A job's configuration: saved as JSON beside its results, and what its
/// plan, files and tables are.
pub trait Job: Clone + Serialize + DeserializeOwned + Sync {
    /// One unit of the plan: trained once, recorded as one group of rows.
    type Unit: Copy + PartialEq + Send + Sync;
    type Records: Records<Self::Unit>;
    const KIND: JobKind;

    fn header(&self) -> &JobHeader;
    fn header_mut(&mut self) -> &mut JobHeader;
    /// Checks the job's own settings (the header's are checked by [`Job::validate`]).
    fn check(&self) -> Result<(), TrainError>;
    /// Every unit of the whole job (all shards), in the order they are
    /// trained and tabled.
    fn plan(&self) -> Vec<Self::Unit>;
    /// How many items shards deal: the plan's units unless a job deals coarser.
    fn dealt(&self) -> usize {
        self.plan().len()
    }
    /// The dealt item (0-based) of the unit at `position` in the plan.
    fn deal_index(&self, position: usize, _unit: Self::Unit) -> usize {
        position
    }
    /// A unit in messages (`the run 2L plain seed 0`).
    fn describe(unit: Self::Unit) -> String;

    /// The recorded rows in `dir` (none where no table exists yet).
    fn read_records(dir: &Path) -> Result<Self::Records, TrainError>;
    /// Rewrites the tables of `records`; the table of finished units last.
    fn write_tables(dir: &Path, records: &Self::Records) -> Result<(), TrainError>;
    /// Writes the tables and what is derived from them (summaries, charts).
    /// `complete` is false for a job stopped early.
    fn write_summaries(&self, dir: &Path, records: &Self::Records, complete: bool) -> Result<(), TrainError>;
    /// Removes the results (not the configuration and command, which a new
    /// job writes next).
    fn remove_results(dir: &Path) -> Result<(), TrainError>;

    /// The header's checks, then the job's own.
    fn validate(&self) -> Result<(), TrainError> {
        if self.header().seeds.0.is_empty() {
            return Err(TrainError::invalid("--seeds", "name at least one seed"));
        }
        self.check()?;
        if let Some(shard) = self.header().shard {
            shard.check(self.dealt(), Self::KIND.dealt)?;
        }
        Ok(())
    }

    /// The units this process is responsible for: the whole plan, or its shard's slice.
    fn owned_units(&self) -> Vec<Self::Unit> {
        let shard = self.header().shard;
        self.plan()
            .into_iter()
            .enumerate()
            .filter(|&(position, unit)| shard.is_none_or(|s| s.owns(self.deal_index(position, unit))))
            .map(|(_, unit)| unit)
            .collect()
    }

    /// Where the job's files go: `out`, or `out/shard-K-of-N` for a shard.
    fn output_dir(&self, out: &Path) -> PathBuf {
        match self.header().shard {
            None => out.to_owned(),
            Some(shard) => out.join(shard.dir_name()),
        }
    }
}

/// Where `unit` comes in `plan` (after every planned unit if it is not
/// there): the key every job's tables are sorted by.
pub fn plan_position<U: PartialEq>(plan: &[U], unit: U) -> usize {
    plan.iter().position(|u| *u == unit).unwrap_or(usize::MAX)
}

/// The recorded rows in `dir` ([`Job::read_records`]), refusing a unit
/// recorded twice. Every job's tables are rewritten whole after each unit,
/// so a second row of one unit was put there by hand (or by joining
/// tables), and which of the two is right is for the user to say: the same
/// error for every job, on `--resume` and in `merge`.
pub fn read_recorded<J: Job>(dir: &Path) -> Result<J::Records, TrainError> {
    let records = J::read_records(dir)?;
    let units = records.units();
    let twice = units.iter().enumerate().find(|&(i, u)| units[..i].contains(u));
    if let Some((_, &unit)) = twice {
        return Err(TrainError::Read {
            path: dir.join(J::KIND.table_file),
            message: format!(
                "{} is recorded twice; delete one of its rows (or both, to train it again with --resume)",
                J::describe(unit)
            ),
        });
    }
    Ok(records)
}

/// Reads and checks a job's saved configuration.
pub fn read_config<J: Job>(path: &Path) -> Result<J, TrainError> {
    let config: J = read_json(path, J::KIND.description)?;
    config.validate().map_err(|e| TrainError::Read {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    Ok(config)
}

/// The configuration as the JSON file saved beside the results.
pub(crate) fn config_json<J: Job>(config: &J) -> String {
    let json = serde_json::to_string_pretty(config).expect("job configurations serialise");
    format!("{json}\n")
}

/// How one unit of a job trains, with the data and device it needs.
pub trait Trainer<J: Job>: Sync {
    /// What training one unit gives.
    type Outcome: Send;
    /// The unit's label in the progress log; `done` of `owned` units are recorded.
    fn label(&self, unit: J::Unit, done: usize, owned: usize) -> String;
    /// Trains one unit; [`TrainError::Stopped`] within one step of `stop`.
    fn train(
        &self,
        unit: J::Unit,
        label: &str,
        progress: Progress,
        stop: &StopSignal,
    ) -> Result<Self::Outcome, TrainError>;
    /// Adds a trained unit's rows to `records`; returns what the progress
    /// log says of it after its label.
    fn record(&self, records: &mut J::Records, unit: J::Unit, outcome: Self::Outcome) -> String;
    /// What training `group` (one of [`Trainer::groups`]) together needs in
    /// memory at its peak (see [`crate::memory`]).
    fn memory(&self, group: &[J::Unit]) -> MemoryNeed;
    /// What the job holds whatever trains, for the memory check: its data's
    /// bytes, whose memory the networks fill, and the flags that make one
    /// network smaller (named when one alone does not fit).
    fn memory_context(&self) -> MemoryContext;
    /// Called before training when earlier results are resumed.
    fn resuming(&self, _records: &J::Records, _todo: &[J::Unit], _progress: Progress) {}
    /// `todo` split into groups of at most `group_size` units that train
    /// together ([`Trainer::train_group`]), in the order they train; by
    /// default every unit alone.
    fn groups(&self, todo: &[J::Unit], _group_size: usize) -> Vec<Vec<J::Unit>> {
        todo.iter().map(|&unit| vec![unit]).collect()
    }
    /// Trains a group of [`Trainer::groups`] together (`labels` are the
    /// units'), one outcome per unit; by default one after the other.
    fn train_group(
        &self,
        units: &[J::Unit],
        labels: &[String],
        progress: Progress,
        stop: &StopSignal,
    ) -> Result<Vec<Self::Outcome>, TrainError> {
        units
            .iter()
            .zip(labels)
            .map(|(&unit, label)| self.train(unit, label, progress, stop))
            .collect()
    }
}

/// See [`Trainer::memory_context`].
#[derive(Debug, Clone, Copy)]
pub struct MemoryContext {
    pub data_bytes: u64,
    pub device: DeviceMemory,
    pub size_flags: &'static str,
}

/// Refuses a job whose groups in flight (`--jobs` of its largest groups of
/// at most `--group-size`) would not fit in memory, before anything is
/// written: the estimate over every unit this process owns, so a resumed
/// job is judged as the whole. Returns the estimate's line for the log.
fn check_memory<J: Job, T: Trainer<J>>(job: &J, trainer: &T, run: &JobRun) -> Result<String, TrainError> {
    let owned = job.owned_units();
    let groups: Vec<MemoryNeed> = trainer
        .groups(&owned, run.group_size)
        .iter()
        .map(|group| trainer.memory(group))
        .collect();
    let largest_network = owned
        .iter()
        .map(|&unit| trainer.memory(&[unit]))
        .max_by_key(|need| need.bytes)
        .unwrap_or_default();
    let context = trainer.memory_context();
    let workload = Workload {
        command: J::KIND.subject,
        data_bytes: context.data_bytes,
        in_flight: in_flight(groups, run.workers),
        largest_network,
        size_flags: context.size_flags,
        grouped: true,
    };
    workload.check(context.device, host_available()?.as_ref())
}

/// Where a job writes, what it does with earlier results, and how it runs.
#[derive(Clone, Copy)]
pub struct JobRun<'a> {
    /// The output directory (a shard writes into its `shard-K-of-N` below it).
    pub out: &'a Path,
    /// The command line, saved beside the results.
    pub command: &'a str,
    pub existing: Existing,
    pub progress: Progress,
    pub stop: &'a StopSignal,
    /// Units (or groups of units) trained at the same time (`--jobs`); at least 1.
    pub workers: usize,
    /// Units trained together in one group, at most, where the trainer
    /// groups them (`--group-size`); at least 1.
    pub group_size: usize,
}

/// A finished job: its directory and every recorded unit, in plan order.
pub struct Finished<R> {
    pub dir: PathBuf,
    pub records: R,
}

struct Shared<R> {
    records: R,
    error: Option<TrainError>,
}

/// Runs the units of `job` (or of its shard) that are not recorded yet and
/// writes its files into `job.output_dir(run.out)`. Tables are rewritten
/// atomically after every unit (or group of units, [`Trainer::groups`]), so
/// finished units survive a crash or Ctrl-C, and `Existing::Resume` picks up
/// where an interrupted job stopped.
pub fn run_job<J: Job, T: Trainer<J>>(job: &J, trainer: &T, run: JobRun) -> Result<Finished<J::Records>, TrainError> {
    job.validate()?;
    if run.workers == 0 {
        return Err(TrainError::invalid("--jobs", "must be at least 1"));
    }
    if run.group_size == 0 {
        return Err(TrainError::invalid("--group-size", "must be at least 1"));
    }
    let memory = check_memory(job, trainer, &run)?;
    run.progress.note(memory);
    let dir = job.output_dir(run.out);
    prepare_output_dir(&dir)?;
    let _lock = lock_output_dir(&dir)?;
    let config_path = dir.join(J::KIND.config_file);
    let records = resume_or_start(job, &dir, &config_path, run.existing)?;
    append_command(&dir.join(J::KIND.command_file), run.command, !records.is_empty())?;
    write_text(&config_path, &config_json(job))?;

    let plan = job.plan();
    let owned = job.owned_units();
    let recorded = records.units();
    let todo: Vec<J::Unit> = owned.iter().copied().filter(|u| !recorded.contains(u)).collect();
    let progress = run.progress;
    if !records.is_empty() {
        progress.note(format!(
            "resuming {}: {} of {} {} already finished, {} to go",
            dir.display(),
            records.len(),
            owned.len(),
            J::KIND.units,
            todo.len()
        ));
        trainer.resuming(&records, &todo, progress);
    }

    let groups = trainer.groups(&todo, run.group_size);
    let workers = run.workers.min(groups.len()).max(1);
    // One group at a time shows its own bar; several share one overall bar.
    let (unit_progress, overall) = if workers == 1 {
        (progress, Progress::Quiet.bar(0, String::new()))
    } else {
        let bar = progress.bar(todo.len() as u64, format!("{} ({workers} at a time)", J::KIND.units));
        (Progress::Quiet, bar)
    };
    let next = AtomicUsize::new(0);
    let shared = Mutex::new(Shared { records, error: None });
    let lock = || shared.lock().expect("workers return errors, they do not panic");
    let worker = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= groups.len() || lock().error.is_some() || run.stop.is_raised() {
                break;
            }
            let group = &groups[i];
            let done = lock().records.len();
            let labels: Vec<String> = (0..group.len())
                .map(|j| trainer.label(group[j], done + j, owned.len()))
                .collect();
            let result = match group.as_slice() {
                [unit] => trainer
                    .train(*unit, &labels[0], unit_progress, run.stop)
                    .map(|o| vec![o]),
                units => trainer.train_group(units, &labels, unit_progress, run.stop),
            };
            let mut state = lock();
            let outcomes = match result {
                Ok(outcomes) => outcomes,
                Err(error) => {
                    state.error.get_or_insert(error);
                    break;
                }
            };
            let mut lines = Vec::with_capacity(group.len());
            for (&unit, outcome) in group.iter().zip(outcomes) {
                lines.push(trainer.record(&mut state.records, unit, outcome));
            }
            state.records.sort_by_plan(&plan);
            // A group is written whole: an interruption loses at most the groups in flight.
            if let Err(error) = J::write_tables(&dir, &state.records) {
                state.error.get_or_insert(error);
                break;
            }
            for (label, line) in labels.iter().zip(lines) {
                overall.inc(1);
                overall.suspend(|| progress.note(format!("{label}: {line}")));
            }
        }
    };
    if workers == 1 {
        worker();
    } else {
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(worker);
            }
        });
    }
    overall.finish_and_clear();
    let Shared { records, error } = shared.into_inner().expect("workers return errors, they do not panic");
    let interrupted = match error {
        Some(TrainError::Stopped) => true,
        Some(error) => return Err(error),
        None => run.stop.is_raised(),
    };
    if interrupted {
        job.write_summaries(&dir, &records, false)?;
        return Err(TrainError::Interrupted {
            dir,
            finished: records.len(),
            total: owned.len(),
        });
    }
    job.write_summaries(&dir, &records, true)?;
    Ok(Finished { dir, records })
}

/// The recorded results to continue from: none for a fresh job (after
/// removing an earlier one's results with `Existing::Overwrite`, before the
/// new configuration is written, so no later `--resume` can mix the two); the
/// finished units of an earlier one with `Existing::Resume`.
fn resume_or_start<J: Job>(job: &J, dir: &Path, config: &Path, existing: Existing) -> Result<J::Records, TrainError> {
    if existing == Existing::Overwrite {
        J::remove_results(dir)?;
        return Ok(J::Records::default());
    }
    let mut records = read_recorded::<J>(dir)?;
    let differences = || Ok(settings_differences(&read_config::<J>(config)?, job));
    if decide_start(existing, dir, config, records.len(), differences)? == Start::Fresh {
        return Ok(J::Records::default());
    }
    records.keep_owned(&job.owned_units(), &job.plan());
    Ok(records)
}
