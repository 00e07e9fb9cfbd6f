//! The training loop: a group of networks (one, on the autodiff and fused
//! engines) trained together with the assignment's Q4 recipe, the same on
//! every device and engine. [`train_group`] reads in four parts: set-up
//! ([`Group::set_up`]), an epoch's steps ([`Group::steps`]), the epoch's
//! records ([`Group::record_epoch`]) and the end of the run
//! ([`Group::finish`]).

use std::time::Instant;

use burn::prelude::*;
use mlp_model::{Mlp, MlpConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;

use super::autodiff::AutodiffStepper;
use super::config::TrainConfig;
use super::data::TrainData;
use super::device_work::{EpochDeviceWork, host_reads, kernel_launches};
use super::dynamics::{DynamicsProbe, LayerDynamics};
use super::engines::{Engine, Stepper};
use super::evaluate::{evaluate, probe_signal};
use super::fused::FusedStepper;
use super::outcome::{EpochRecord, Evaluation, GroupMember, LayerSignal, MIN_EVAL_BATCH, RunControl, RunOutcome};
use super::stacked::StackedStepper;
use super::target::{Placement, Target};
use crate::{Progress, TrainError};

/// Trains the networks `members` together, each exactly as
/// [`train_mlp`](super::train_mlp) would train it alone: on the stacked
/// engine a group of networks of the same layer shapes
/// ([`same_shapes`](super::same_shapes)) in one batched step; on the fused
/// engine a group of networks of one seed in one pass over the data
/// ([`super::fused::shared`], bit for bit each network's own step); on
/// autodiff a group of one. The members must have recipes that agree on epochs,
/// batch size, optimiser and Adam's epsilon; learning rates, their decay
/// and L2 may differ. A member whose loss diverges is recorded as diverged
/// and the others train on. Each outcome's seconds are its share of the
/// group's steps plus its own evaluations. Returns [`TrainError::Stopped`]
/// within one step of `control.stop` being raised.
pub fn train_group(
    members: &[GroupMember],
    data: &TrainData,
    target: &Target,
    control: RunControl,
) -> Result<Vec<RunOutcome>, TrainError> {
    let mut group = Group::set_up(members, data, target, control.dynamics)?;
    for epoch in 1..=group.recipe.epochs {
        let epoch_start = Instant::now();
        let (launches_before, reads_before) = (kernel_launches(), host_reads());
        let (sums, reads_within_steps) = group.steps(epoch, epoch_start, &control)?;
        let step_launches = kernel_launches() - launches_before;
        group.record_epoch(epoch, epoch_start, &sums, control.progress);
        group.device_work.push(EpochDeviceWork {
            steps: group.steps,
            step_launches,
            reads_within_steps,
            reads: host_reads() - reads_before,
        });
        if group.states.iter().all(|s| s.diverged_at.is_some()) {
            break;
        }
    }
    Ok(group.finish())
}

/// What one network of a group has recorded so far.
struct MemberState<'a> {
    member: GroupMember<'a>,
    /// Its data order, reshuffled every epoch by its own generator.
    order: Vec<usize>,
    rng: StdRng,
    signal: Vec<LayerSignal>,
    probe: Option<DynamicsProbe>,
    dynamics: Vec<LayerDynamics>,
    history: Vec<EpochRecord>,
    best: Option<(usize, f64, Mlp)>,
    diverged_at: Option<usize>,
    lr: f64,
    /// Its share of the group's steps, up to the epoch it diverged in, if it did.
    steps_seconds: f64,
    /// Seconds of its own evaluations (beside its share of the steps).
    own_seconds: f64,
}

/// A group in training: its members' states, the engine's stepper and what
/// every epoch shares.
struct Group<'a> {
    states: Vec<MemberState<'a>>,
    stepper: Box<dyn Stepper + 'a>,
    engine: Engine,
    /// The first member's; the members agree on what the group shares.
    recipe: &'a TrainConfig,
    data: &'a TrainData<'a>,
    /// The device without autodiff: evaluations and the fused and stacked steps.
    plain: Device,
    eval_batch: usize,
    /// Optimiser steps per epoch.
    steps: usize,
    device_work: Vec<EpochDeviceWork>,
    start: Instant,
}

impl<'a> Group<'a> {
    /// Checks the group against its engine, then gives every member its data
    /// order, its signal at initialisation and its weights (the same on
    /// every engine and device, from its seed), and the engine its stepper.
    fn set_up(
        members: &'a [GroupMember<'a>],
        data: &'a TrainData<'a>,
        target: &Target,
        dynamics: bool,
    ) -> Result<Self, TrainError> {
        let start = Instant::now();
        for member in members {
            member.recipe.validate()?;
        }
        let first = *members
            .first()
            .ok_or_else(|| TrainError::invalid("--group-size", "a group needs a network"))?;
        let engine = target.engine.for_network(first.model, first.recipe);
        let checked: Vec<_> = members.iter().map(|m| (m.label, m.model, m.recipe, m.seed)).collect();
        engine.check_group(&checked)?;
        let recipe = first.recipe;
        let plain = target.device.clone().without_autodiff();
        let ad = plain.clone().autodiff();

        let mut states = Vec::with_capacity(members.len());
        for &member in members {
            let mut rng = StdRng::seed_from_u64(member.seed);
            let mut order: Vec<usize> = (0..data.train.len()).collect();
            order.shuffle(&mut rng);
            let first_batch = &order[..recipe.batch_size.min(order.len())];
            let signal = probe_signal(member.model, member.seed, data, first_batch, &ad);
            states.push(MemberState {
                member,
                order,
                rng,
                signal,
                probe: None,
                dynamics: Vec::new(),
                history: Vec::new(),
                best: None,
                diverged_at: None,
                lr: member.recipe.lr,
                steps_seconds: 0.0,
                own_seconds: 0.0,
            });
        }
        let [train_split, _, _] = data.splits();
        // The fused engine makes its networks one at a time from their
        // configs (all of them at once would only take memory).
        let mut models: Vec<Mlp> = match engine {
            Engine::Fused => Vec::new(),
            _ => members.iter().map(|m| m.model.init_seeded(m.seed, &ad)).collect(),
        };
        let stepper: Box<dyn Stepper + 'a> = match engine {
            Engine::Fused => {
                let recipes: Vec<&TrainConfig> = members.iter().map(|m| m.recipe).collect();
                let networks: Vec<(&MlpConfig, u64)> = members.iter().map(|m| (m.model, m.seed)).collect();
                Box::new(FusedStepper::new(&networks, &recipes, first.seed, data.train, &plain))
            }
            Engine::Autodiff => Box::new(AutodiffStepper::new(
                models.remove(0),
                recipe,
                first.seed,
                train_split,
                &ad,
            )),
            Engine::Stacked => {
                let recipes: Vec<&TrainConfig> = members.iter().map(|m| m.recipe).collect();
                let seeds: Vec<u64> = members.iter().map(|m| m.seed).collect();
                let configs: Vec<&MlpConfig> = members.iter().map(|m| m.model).collect();
                Box::new(StackedStepper::new(
                    &models,
                    &configs,
                    &recipes,
                    &seeds,
                    train_split,
                    &plain,
                ))
            }
        };
        drop(models);
        if dynamics {
            // One probe batch for the group: the members' probes share its tensors.
            let shared_probe = DynamicsProbe::new(data, &ad);
            let stepper = &*stepper;
            let measure = |j: usize| {
                let model = stepper.eval_model(j);
                let mut probe = shared_probe.clone();
                let dynamics = probe.measure(0, &model);
                (probe, dynamics)
            };
            // On the CPU the networks share the cores (see `record_epoch`).
            let measured: Vec<_> = if engine == Engine::Fused {
                (0..states.len()).into_par_iter().map(measure).collect()
            } else {
                (0..states.len()).map(measure).collect()
            };
            for (state, (probe, dynamics)) in states.iter_mut().zip(measured) {
                state.dynamics = dynamics;
                state.probe = Some(probe);
            }
        }
        Ok(Group {
            states,
            stepper,
            engine,
            recipe,
            data,
            plain,
            eval_batch: recipe.batch_size.max(MIN_EVAL_BATCH),
            steps: data.train.len().div_ceil(recipe.batch_size),
            device_work: Vec::with_capacity(recipe.epochs),
            start,
        })
    }

    /// Epoch `epoch`'s optimiser steps, every member on its own shuffle,
    /// with a progress bar. Returns each member's summed training loss and
    /// correct count, and how often the steps read from the device (the
    /// sums' own read comes after).
    fn steps(
        &mut self,
        epoch: usize,
        epoch_start: Instant,
        control: &RunControl,
    ) -> Result<(Vec<(f64, f64)>, usize), TrainError> {
        let (recipe, progress) = (self.recipe, control.progress);
        let reads_before = host_reads();
        if epoch > 1 {
            for state in &mut self.states {
                state.order.shuffle(&mut state.rng);
            }
        }
        let bar = progress.bar(
            self.steps as u64,
            format!("{} epoch {epoch}/{}", control.label, recipe.epochs),
        );
        self.stepper.reset_sums();
        let lrs: Vec<f64> = self.states.iter().map(|s| s.lr).collect();
        let (k, n) = (self.states.len() as f64, self.data.train.len());
        let mut last_report = Instant::now();
        for step in 0..self.steps {
            if control.stop.is_raised() {
                bar.finish_and_clear();
                return Err(TrainError::Stopped);
            }
            let range = step * recipe.batch_size..((step + 1) * recipe.batch_size).min(n);
            let batches: Vec<&[usize]> = self.states.iter().map(|s| &s.order[range.clone()]).collect();
            self.stepper.step(&batches, &lrs);
            bar.inc(1);
            if progress == Progress::Bars && last_report.elapsed().as_secs_f64() >= 1.0 {
                last_report = Instant::now();
                let seen = range.end as f64;
                let rate = seen * k / epoch_start.elapsed().as_secs_f64();
                // On a GPU, reading the sums would synchronise the device
                // inside the epoch: there the bar shows the rate only.
                if self.data.placement() == Placement::Host {
                    let sums = self.stepper.epoch_sums();
                    let mean_loss = sums.iter().map(|(loss, _)| loss).sum::<f64>() / (k * seen);
                    bar.set_message(format!("loss {mean_loss:.4} {rate:.0} img/s"));
                } else {
                    bar.set_message(format!("{rate:.0} img/s"));
                }
            }
        }
        bar.finish_and_clear();
        let reads_within_steps = host_reads() - reads_before;
        Ok((self.stepper.epoch_sums(), reads_within_steps))
    }

    /// Records epoch `epoch` of every member still training (`sums` from
    /// [`Group::steps`]): its share of the steps' time, a diverged loss, or
    /// its validation, dynamics and best weights; then decays its rate.
    fn record_epoch(&mut self, epoch: usize, epoch_start: Instant, sums: &[(f64, f64)], progress: Progress) {
        // Shared by the members still training (a diverged one's steps go on
        // in the group, but it would have stopped alone).
        let training = self.states.iter().filter(|s| s.diverged_at.is_none()).count();
        let step_share = epoch_start.elapsed().as_secs_f64() / training as f64;
        for state in self.states.iter_mut().filter(|s| s.diverged_at.is_none()) {
            state.steps_seconds += step_share;
        }
        let [_, val_split, _] = self.data.splits();
        let n = self.data.train.len() as f64;
        // First, in order: who diverged.
        let mut evaluated = Vec::with_capacity(self.states.len());
        for (j, (state, &(loss_sum, correct))) in self.states.iter_mut().zip(sums).enumerate() {
            if state.diverged_at.is_some() {
                continue;
            }
            let (train_loss, train_acc) = (loss_sum / n, correct / n);
            if !train_loss.is_finite() {
                state.diverged_at = Some(epoch);
                progress.note(format!(
                    "{}: training loss became {train_loss} in epoch {epoch}; recorded as diverged",
                    state.member.label
                ));
                continue;
            }
            evaluated.push((j, train_loss, train_acc));
        }
        // Then each one's validation and probe, which read only its own
        // eval-mode model and probe: on the fused engine (the CPU) the
        // networks share the cores, as their steps do; elsewhere one after
        // another. Each model exists only while it is evaluated, unless it
        // is the member's new best: one per core beside the kept best ones.
        let (plain, eval_batch, stepper) = (&self.plain, self.eval_batch, &*self.stepper);
        type Task<'s> = (usize, &'s mut Option<(usize, f64, Mlp)>, Option<&'s mut DynamicsProbe>);
        let mut tasks: Vec<Task> = self
            .states
            .iter_mut()
            .zip(0..)
            .filter(|(state, _)| state.diverged_at.is_none())
            .map(|(state, j)| (j, &mut state.best, state.probe.as_mut()))
            .collect();
        let evaluate_one = |(j, best, probe): &mut Task| {
            let model = stepper.eval_model(*j);
            let own_start = Instant::now();
            let val = evaluate(&model, &val_split, eval_batch, plain);
            let val_seconds = own_start.elapsed().as_secs_f64();
            // After the epoch's clock has stopped: the probe is not training time.
            let dynamics = probe.as_mut().map(|probe| probe.measure(epoch, &model));
            // At once: the old best is dropped before the next model is built.
            if best.as_ref().is_none_or(|(_, accuracy, _)| val.accuracy > *accuracy) {
                **best = Some((epoch, val.accuracy, model));
            }
            (val, val_seconds, own_start.elapsed().as_secs_f64(), dynamics)
        };
        let phase_start = Instant::now();
        let results: Vec<_> = if self.engine == Engine::Fused {
            tasks.par_iter_mut().map(evaluate_one).collect()
        } else {
            tasks.iter_mut().map(evaluate_one).collect()
        };
        drop(tasks);
        let overlap = wall_share(phase_start, results.iter().map(|r| r.2));
        // Last, in order: the records and the notes.
        for ((j, train_loss, train_acc), (val, val_seconds, _, dynamics)) in evaluated.into_iter().zip(results) {
            let state = &mut self.states[j];
            let own_seconds = val_seconds * overlap;
            let seconds = step_share + own_seconds;
            state.history.push(EpochRecord {
                epoch,
                lr: state.lr,
                train_loss,
                train_acc,
                val_loss: val.loss,
                val_acc: val.accuracy,
                seconds,
            });
            progress.note(format!(
                "{} epoch {epoch:>2}: train loss {train_loss:.4} acc {:5.1}%  val loss {:.4} acc {:5.1}%  ({seconds:.1}s)",
                state.member.label,
                100.0 * train_acc,
                val.loss,
                100.0 * val.accuracy,
            ));
            state.dynamics.extend(dynamics.into_iter().flatten());
            state.lr *= state.member.recipe.lr_decay;
            state.own_seconds += own_seconds;
        }
    }

    /// The end of the run: each member's best weights tested once, and its
    /// outcome, the group's unaccounted seconds (set-up, probes) shared out
    /// evenly so the members' seconds add up to the group's.
    fn finish(self) -> Vec<RunOutcome> {
        let Group {
            mut states,
            engine,
            data,
            plain,
            eval_batch,
            device_work,
            start,
            ..
        } = self;
        let [_, _, test_split] = data.splits();
        let test_one = |state: &MemberState| {
            let own_start = Instant::now();
            let test = state
                .best
                .as_ref()
                .filter(|_| !data.test.is_empty())
                .map(|(_, _, model)| evaluate(model, &test_split, eval_batch, &plain));
            (test, own_start.elapsed().as_secs_f64())
        };
        // On the CPU the networks share the cores (see `record_epoch`).
        let phase_start = Instant::now();
        let tests: Vec<(Option<Evaluation>, f64)> = if engine == Engine::Fused {
            states.par_iter().map(test_one).collect()
        } else {
            states.iter().map(test_one).collect()
        };
        let overlap = wall_share(phase_start, tests.iter().map(|t| t.1));
        let tests: Vec<Option<Evaluation>> = states
            .iter_mut()
            .zip(tests)
            .map(|(state, (test, seconds))| {
                state.own_seconds += seconds * overlap;
                test
            })
            .collect();
        let accounted: f64 = states.iter().map(|s| s.steps_seconds + s.own_seconds).sum();
        let shared_seconds = ((start.elapsed().as_secs_f64() - accounted) / states.len() as f64).max(0.0);
        states
            .into_iter()
            .zip(tests)
            .map(|(state, test)| RunOutcome {
                history: state.history,
                best_epoch: state.best.as_ref().map(|(epoch, _, _)| *epoch),
                test,
                diverged_at: state.diverged_at,
                signal: state.signal,
                dynamics: state.dynamics,
                seconds: state.steps_seconds + state.own_seconds + shared_seconds,
                best_model: state.best.map(|(_, _, model)| model),
                engine,
                device_work: device_work.clone(),
            })
            .collect()
    }
}

/// The share of a phase's wall time each of its tasks' seconds stands for:
/// 1 when they ran one after another, about 1/2 when two cores ran them
/// side by side. Scaling each task's own seconds by it keeps the members'
/// seconds adding up to the group's wall time.
fn wall_share(phase_start: Instant, task_seconds: impl Iterator<Item = f64>) -> f64 {
    let busy: f64 = task_seconds.sum();
    if busy > 0.0 {
        (phase_start.elapsed().as_secs_f64() / busy).min(1.0)
    } else {
        1.0
    }
}
