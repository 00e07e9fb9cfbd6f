//! One trainer for every experiment whose units are MLPs: each unit is one
//! [`mlp_model::Mlp`] trained once with the experiment's recipe and one
//! seed. An experiment provides only what differs ([`MlpGrid`]): the model
//! of a unit and the rows it records; training, grouping on the stacked
//! engine and the memory estimate are the same for all.

use mlp_model::MlpConfig;

use crate::jobs::{Finished, Job, JobRun, MemoryContext, Trainer, run_job};
use crate::memory::{MemoryNeed, data_bytes, mlp_need};
use crate::train::{
    EngineChoice, RunControl, RunOutcome, Target, TrainConfig, TrainData, job_groups, train_job_group, train_mlp,
};
use crate::{Progress, StopSignal, TrainError};

/// A [`Job`] whose every unit is one MLP trained with one recipe and seed.
pub trait MlpGrid: Job {
    /// The flags that make one network smaller, named when one alone does
    /// not fit in memory.
    const SIZE_FLAGS: &'static str;

    /// The network of `unit`.
    fn model(&self, unit: Self::Unit) -> Result<MlpConfig, TrainError>;
    /// The seed `unit` trains with.
    fn seed(unit: Self::Unit) -> u64;
    /// The recipe every unit trains with.
    fn recipe(&self) -> &TrainConfig;
    /// The engine asked for (`--engine`).
    fn engine(&self) -> EngineChoice;
    /// Whether runs record their dynamics (the probe costs a copy of the weights).
    fn dynamics(&self) -> bool {
        false
    }
    /// `unit` in the progress log, after its `[done/owned]`.
    fn label(unit: Self::Unit) -> String;
    /// Adds the rows of a trained `unit` (whose network was `model`) to
    /// `records`; returns what the progress log says of it.
    fn record(&self, records: &mut Self::Records, unit: Self::Unit, model: &MlpConfig, outcome: &RunOutcome) -> String;
    /// Called before training when earlier results are resumed.
    fn resuming(&self, _records: &Self::Records, _todo: &[Self::Unit], _target: &Target, _progress: Progress) {}
}

/// Every one of `depths` × every one of `values` × every seed, in that
/// order, as units: the plan of a grid over depth.
pub fn depth_plan<V: Copy, U>(
    depths: &[usize],
    values: &[V],
    seeds: &[u64],
    unit: impl Fn(usize, V, u64) -> U,
) -> Vec<U> {
    let mut plan = Vec::with_capacity(depths.len() * values.len() * seeds.len());
    for &depth in depths {
        for &value in values {
            for &seed in seeds {
                plan.push(unit(depth, value, seed));
            }
        }
    }
    plan
}

/// Refuses an `--engine` that cannot train some network of the grid's plan
/// (see [`EngineChoice::check_networks`]); part of each grid's [`Job::check`].
pub fn check_engine<G: MlpGrid>(config: &G) -> Result<(), TrainError> {
    let models = config.plan().into_iter().filter_map(|unit| config.model(unit).ok());
    config.engine().check_networks(models, config.recipe())
}

/// Trains the units of an [`MlpGrid`] on `target`.
struct MlpGridTrainer<'a, G> {
    config: &'a G,
    data: &'a TrainData<'a>,
    target: &'a Target,
}

impl<G: MlpGrid> MlpGridTrainer<'_, G> {
    fn control<'c>(&self, progress: Progress, label: &'c str, stop: &'c StopSignal) -> RunControl<'c> {
        RunControl {
            progress,
            label,
            stop,
            dynamics: self.config.dynamics(),
        }
    }
}

impl<G: MlpGrid> Trainer<G> for MlpGridTrainer<'_, G> {
    /// The network trained and what its run produced.
    type Outcome = (MlpConfig, RunOutcome);

    fn label(&self, unit: G::Unit, done: usize, owned: usize) -> String {
        format!("[{}/{owned}] {}", done + 1, G::label(unit))
    }

    fn train(
        &self,
        unit: G::Unit,
        label: &str,
        progress: Progress,
        stop: &StopSignal,
    ) -> Result<Self::Outcome, TrainError> {
        let model = self.config.model(unit)?;
        let control = self.control(progress, label, stop);
        let outcome = train_mlp(
            &model,
            self.config.recipe(),
            G::seed(unit),
            self.data,
            self.target,
            control,
        )?;
        Ok((model, outcome))
    }

    fn memory(&self, units: &[G::Unit]) -> MemoryNeed {
        let (batch, dynamics) = (self.config.recipe().batch_size, self.config.dynamics());
        MemoryNeed::stacked(
            units
                .iter()
                .filter_map(|&unit| self.config.model(unit).ok())
                .map(|model| mlp_need(&model, batch, dynamics)),
        )
    }

    fn memory_context(&self) -> MemoryContext {
        MemoryContext {
            data_bytes: data_bytes(self.data),
            device: self.target.memory,
            size_flags: G::SIZE_FLAGS,
        }
    }

    /// The units that train together, `group_size` at most: on the stacked
    /// engine those whose networks have the same shapes and kinds of
    /// layers, on the fused one those of one seed (see [`job_groups`]).
    fn groups(&self, todo: &[G::Unit], group_size: usize) -> Vec<Vec<G::Unit>> {
        job_groups(todo, group_size, self.target, self.config.recipe(), |unit| {
            self.config.model(unit).ok().map(|model| (model, G::seed(unit)))
        })
    }

    fn train_group(
        &self,
        units: &[G::Unit],
        labels: &[String],
        progress: Progress,
        stop: &StopSignal,
    ) -> Result<Vec<Self::Outcome>, TrainError> {
        let runs = units
            .iter()
            .map(|&unit| Ok((self.config.model(unit)?, G::seed(unit))))
            .collect::<Result<Vec<_>, TrainError>>()?;
        let control = self.control(progress, "", stop);
        let outcomes = train_job_group(&runs, self.config.recipe(), labels, self.data, self.target, control)?;
        Ok(runs.into_iter().map(|(model, _)| model).zip(outcomes).collect())
    }

    fn record(&self, records: &mut G::Records, unit: G::Unit, (model, outcome): Self::Outcome) -> String {
        self.config.record(records, unit, &model, &outcome)
    }

    fn resuming(&self, records: &G::Records, todo: &[G::Unit], progress: Progress) {
        self.config.resuming(records, todo, self.target, progress);
    }
}

/// Runs the units of `config` (or of its shard) on `target`, `run.workers`
/// at a time (on the stacked and fused engines, in groups of
/// `run.group_size` at most),
/// and writes its files into `config.output_dir(run.out)`; see [`run_job`].
/// The tables do not depend on `run.workers` (every run draws from
/// generators of its own), nor on the groups but for float rounding (see
/// [`train_group`](crate::train::train_group)).
pub fn run_mlp_grid<G: MlpGrid>(
    config: &G,
    data: &TrainData,
    target: &Target,
    run: JobRun,
) -> Result<G::Records, TrainError> {
    let trainer = MlpGridTrainer { config, data, target };
    let Finished { records, .. } = run_job(config, &trainer, run)?;
    Ok(records)
}
