//! The training loop of the depth study (assignment Q4), one for every device.

use std::time::Instant;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::tensor::DType;
use mlp_model::{Mlp, MlpConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::config::{Optimizer, TrainConfig};
use super::data::{Split, TrainData};
use super::device_work::{EpochDeviceWork, host_reads, kernel_launches, read_f64, read_sums};
use super::dynamics::{DynamicsProbe, LayerDynamics};
use super::engine::Engine;
use super::fused::{dropout_rng, step_masks};
use super::stacked::StackedStepper;
use super::steps::{AutodiffStepper, FusedStepper, Stepper, count_correct};
use super::target::{Placement, Target};
use crate::{Progress, StopSignal, TrainError};

/// Evaluations (validation, test) read at least this many images a batch,
/// however small the training batch.
pub const MIN_EVAL_BATCH: usize = 500;

/// Loss and accuracy of a model on one split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
}

/// What happened in one epoch. Train loss and accuracy are averaged over the
/// epoch's minibatches in training mode (as PyTorch reports usually do); the
/// validation numbers come from the eval-mode model at the end of the epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub lr: f64,
    pub train_loss: f64,
    pub train_acc: f64,
    pub val_loss: f64,
    pub val_acc: f64,
    pub seconds: f64,
}

/// How the signal and the gradients look at initialisation, layer by layer:
/// the "why" behind a collapsed deep network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerSignal {
    /// 1-based index of the Linear layer.
    pub layer: usize,
    /// RMS of the layer's output after ReLU (hidden layers) or of the logits.
    pub activation_rms: f64,
    /// Frobenius norm of dLoss/dW of this layer on the first minibatch.
    pub weight_grad_norm: f64,
}

/// Everything one training run produced.
pub struct RunOutcome {
    pub history: Vec<EpochRecord>,
    /// Epoch whose weights scored best on validation (1-based), if any epoch finished.
    pub best_epoch: Option<usize>,
    /// Test loss and accuracy of the best-on-validation weights, evaluated once.
    pub test: Option<Evaluation>,
    /// The epoch in which the training loss became NaN or infinite.
    pub diverged_at: Option<usize>,
    pub signal: Vec<LayerSignal>,
    /// Per layer at initialisation and after every finished epoch, when
    /// [`RunControl::dynamics`] asked for it; else empty.
    pub dynamics: Vec<LayerDynamics>,
    pub seconds: f64,
    /// The best-on-validation model in eval mode.
    pub best_model: Option<Mlp>,
    /// The engine that computed the steps.
    pub engine: Engine,
    /// Per finished (or diverging) epoch, what its group asked of the device.
    pub device_work: Vec<EpochDeviceWork>,
}

impl RunOutcome {
    pub fn best_record(&self) -> Option<&EpochRecord> {
        self.best_epoch.map(|e| &self.history[e - 1])
    }
}

/// How one training run (or group) reports and stops, and what it measures
/// on the way.
#[derive(Clone, Copy)]
pub struct RunControl<'a> {
    pub progress: Progress,
    /// Prefix of the progress bar and, for one run, of its per-epoch lines.
    pub label: &'a str,
    /// Checked before every step.
    pub stop: &'a StopSignal,
    /// Runs the dynamics probe (see [`super::dynamics`]) at initialisation
    /// and after every epoch; the training itself is the same either way.
    pub dynamics: bool,
}

/// One network of a group: what it is, how it trains, its seed (weights,
/// dropout masks and data order) and the label of its per-epoch lines.
#[derive(Clone, Copy)]
pub struct GroupMember<'a> {
    pub model: &'a MlpConfig,
    pub recipe: &'a TrainConfig,
    pub seed: u64,
    pub label: &'a str,
}

/// Trains `model_config` with `recipe` on `data`, on the target's device
/// with its engine (the autodiff engine tracks gradients on the device's
/// autodiff form). `seed` seeds the weights, dropout and the per-epoch
/// shuffles. Returns [`TrainError::Interrupted`] within one step of
/// `control.stop` being raised.
pub fn train_mlp(
    model_config: &MlpConfig,
    recipe: &TrainConfig,
    seed: u64,
    data: &TrainData,
    target: &Target,
    control: RunControl,
) -> Result<RunOutcome, TrainError> {
    let member = GroupMember {
        model: model_config,
        recipe,
        seed,
        label: control.label,
    };
    let mut outcomes = train_group(&[member], data, target, control)?;
    Ok(outcomes.pop().expect("one outcome per member"))
}

/// The engine that trains `member` on `target`: the fused step has no
/// residual layers and no SGD, so those train through Burn's autodiff
/// whatever the target's engine (and their rows say so).
pub fn member_engine(model: &MlpConfig, recipe: &TrainConfig, target: &Target) -> Engine {
    match target.engine {
        Engine::Fused if model.residual || recipe.optimizer() == Optimizer::Sgd => Engine::Autodiff,
        engine => engine,
    }
}

/// Whether two networks can train in one stacked group: the same layer
/// shapes and the same kinds of layers (BatchNorm, residual); their
/// initialisation and dropout probability may differ.
pub fn same_shapes(a: &MlpConfig, b: &MlpConfig) -> bool {
    a.hidden == b.hidden
        && a.input == b.input
        && a.classes == b.classes
        && a.batch_norm == b.batch_norm
        && a.residual == b.residual
}

/// `runs` split into the groups the target trains together, in order: on
/// the stacked engine, runs whose networks ([`model_of`]) have the same
/// shapes ([`same_shapes`]), `group_size` at most per group; on the other
/// engines, every run alone.
pub fn stacked_groups<U: Copy>(
    runs: &[U],
    group_size: usize,
    target: &Target,
    model_of: impl Fn(U) -> Option<MlpConfig>,
) -> Vec<Vec<U>> {
    let mut groups: Vec<(Option<MlpConfig>, Vec<U>)> = Vec::new();
    for &run in runs {
        let model = model_of(run);
        // A run without a model (an invalid one) stays alone, and fails when it trains.
        let joins = |(first, group): &(Option<MlpConfig>, Vec<U>)| {
            target.engine == Engine::Stacked
                && group.len() < group_size
                && matches!((first, &model), (Some(first), Some(model)) if same_shapes(first, model))
        };
        match groups.iter_mut().find(|group| joins(group)) {
            Some((_, group)) => group.push(run),
            None => groups.push((model, vec![run])),
        }
    }
    groups.into_iter().map(|(_, group)| group).collect()
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

/// Trains the networks `members` together, each exactly as [`train_mlp`]
/// would train it alone: on the stacked engine a group of any size (one
/// batched step for all), on the others a group of one. The members must
/// have the same layer shapes ([`same_shapes`]) and recipes that agree on
/// epochs, batch size, optimiser and Adam's epsilon; learning rates, their
/// decay and L2 may differ. A member whose loss diverges is recorded as
/// diverged and the others train on. Each outcome's seconds are its share
/// of the group's steps plus its own evaluations. Returns
/// [`TrainError::Interrupted`] within one step of `control.stop` being raised.
pub fn train_group(
    members: &[GroupMember],
    data: &TrainData,
    target: &Target,
    control: RunControl,
) -> Result<Vec<RunOutcome>, TrainError> {
    let first = *members
        .first()
        .ok_or_else(|| TrainError::invalid("--group-size", "a group needs a network"))?;
    for member in members {
        member.recipe.validate()?;
    }
    let engine = member_engine(first.model, first.recipe, target);
    check_group(members, engine)?;
    let recipe = first.recipe;
    let k = members.len() as f64;
    let (progress, label) = (control.progress, control.label);
    let start = Instant::now();
    let plain = target.device.clone().without_autodiff();
    let ad = plain.clone().autodiff();

    let [train_split, val_split, test_split] = data.splits();
    let mut states = Vec::with_capacity(members.len());
    let mut models = Vec::with_capacity(members.len());
    for &member in members {
        let mut rng = StdRng::seed_from_u64(member.seed);
        let mut order: Vec<usize> = (0..data.train.len()).collect();
        order.shuffle(&mut rng);
        let signal = probe_signal(
            member.model,
            member.seed,
            data,
            &order[..recipe.batch_size.min(order.len())],
            &ad,
        );
        // Every engine and device starts from the same weights.
        models.push(member.model.init_seeded(member.seed, &ad));
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
    let mut stepper: Box<dyn Stepper + '_> = match engine {
        Engine::Fused => Box::new(FusedStepper::new(&models[0], recipe, first.seed, data.train, &plain)),
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
            Box::new(StackedStepper::new(&models, &recipes, &seeds, train_split, &plain))
        }
    };
    drop(models);

    for (j, state) in states.iter_mut().enumerate() {
        if control.dynamics {
            let mut probe = DynamicsProbe::new(data, &ad);
            state.dynamics = probe.measure(0, &stepper.eval_model(j));
            state.probe = Some(probe);
        }
    }
    let eval_batch = recipe.batch_size.max(MIN_EVAL_BATCH);
    let steps = data.train.len().div_ceil(recipe.batch_size);
    let mut device_work = Vec::with_capacity(recipe.epochs);

    for epoch in 1..=recipe.epochs {
        let epoch_start = Instant::now();
        if epoch > 1 {
            for state in &mut states {
                state.order.shuffle(&mut state.rng);
            }
        }
        let bar = progress.bar(steps as u64, format!("{label} epoch {epoch}/{}", recipe.epochs));
        let (launches_before, reads_before) = (kernel_launches(), host_reads());
        stepper.reset_sums();
        let lrs: Vec<f64> = states.iter().map(|s| s.lr).collect();
        let mut last_report = Instant::now();
        for step in 0..steps {
            if control.stop.is_raised() {
                bar.finish_and_clear();
                return Err(TrainError::Interrupted {
                    dir: Default::default(),
                    finished: 0,
                    total: 1,
                });
            }
            let range = step * recipe.batch_size..((step + 1) * recipe.batch_size).min(data.train.len());
            let batches: Vec<&[usize]> = states.iter().map(|s| &s.order[range.clone()]).collect();
            stepper.step(&batches, &lrs);
            bar.inc(1);
            if progress == Progress::Bars && last_report.elapsed().as_secs_f64() >= 1.0 {
                last_report = Instant::now();
                let seen = range.end as f64;
                let rate = seen * k / epoch_start.elapsed().as_secs_f64();
                // On a GPU, reading the sums would synchronise the device
                // inside the epoch: there the bar shows the rate only.
                if data.placement() == Placement::Host {
                    let sums = stepper.epoch_sums();
                    let mean_loss = sums.iter().map(|(loss, _)| loss).sum::<f64>() / (k * seen);
                    bar.set_message(format!("loss {mean_loss:.4} {rate:.0} img/s"));
                } else {
                    bar.set_message(format!("{rate:.0} img/s"));
                }
            }
        }
        bar.finish_and_clear();
        let reads_within_steps = host_reads() - reads_before;
        let sums = stepper.epoch_sums();
        let step_launches = kernel_launches() - launches_before;
        // Shared by the members still training (a diverged one's steps go on
        // in the group, but it would have stopped alone).
        let training = states.iter().filter(|s| s.diverged_at.is_none()).count();
        let step_share = epoch_start.elapsed().as_secs_f64() / training as f64;
        for state in states.iter_mut().filter(|s| s.diverged_at.is_none()) {
            state.steps_seconds += step_share;
        }

        let n = data.train.len() as f64;
        for (j, (state, &(loss_sum, correct))) in states.iter_mut().zip(&sums).enumerate() {
            if state.diverged_at.is_some() {
                continue;
            }
            let own_start = Instant::now();
            let name = state.member.label;
            let (train_loss, train_acc) = (loss_sum / n, correct / n);
            if !train_loss.is_finite() {
                state.diverged_at = Some(epoch);
                progress.note(format!(
                    "{name}: training loss became {train_loss} in epoch {epoch}; recorded as diverged"
                ));
                continue;
            }
            let eval_model = stepper.eval_model(j);
            let val = evaluate(&eval_model, &val_split, eval_batch, &plain);
            let seconds = step_share + own_start.elapsed().as_secs_f64();
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
                "{name} epoch {epoch:>2}: train loss {train_loss:.4} acc {:5.1}%  val loss {:.4} acc {:5.1}%  ({seconds:.1}s)",
                100.0 * train_acc,
                val.loss,
                100.0 * val.accuracy,
            ));
            let seconds_so_far = own_start.elapsed().as_secs_f64();
            // After the epoch's clock has stopped: the probe is not training time.
            if let Some(probe) = &mut state.probe {
                state.dynamics.extend(probe.measure(epoch, &eval_model));
            }
            if state.best.as_ref().is_none_or(|(_, acc, _)| val.accuracy > *acc) {
                state.best = Some((epoch, val.accuracy, eval_model));
            }
            state.lr *= state.member.recipe.lr_decay;
            state.own_seconds += seconds_so_far;
        }
        device_work.push(EpochDeviceWork {
            steps,
            step_launches,
            reads_within_steps,
            reads: host_reads() - reads_before,
        });
        if states.iter().all(|s| s.diverged_at.is_some()) {
            break;
        }
    }

    let tests: Vec<Option<Evaluation>> = states
        .iter_mut()
        .map(|state| {
            let own_start = Instant::now();
            let test = state
                .best
                .as_ref()
                .filter(|_| !data.test.is_empty())
                .map(|(_, _, model)| evaluate(model, &test_split, eval_batch, &plain));
            state.own_seconds += own_start.elapsed().as_secs_f64();
            test
        })
        .collect();
    // The rest (set-up, the probes) is shared out evenly, so that the
    // members' seconds add up to the group's.
    let accounted: f64 = states.iter().map(|s| s.steps_seconds + s.own_seconds).sum();
    let shared_seconds = ((start.elapsed().as_secs_f64() - accounted) / k).max(0.0);
    Ok(states
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
        .collect())
}

/// [`train_group`] for the units of a job: `runs` (a network and its seed
/// each, labelled `labels`) with one recipe; the group's progress bar is
/// named after its first run.
pub fn train_job_group(
    runs: &[(MlpConfig, u64)],
    recipe: &TrainConfig,
    labels: &[String],
    data: &TrainData,
    target: &Target,
    control: RunControl,
) -> Result<Vec<RunOutcome>, TrainError> {
    let members: Vec<GroupMember> = runs
        .iter()
        .zip(labels)
        .map(|((model, seed), label)| GroupMember {
            model,
            recipe,
            seed: *seed,
            label,
        })
        .collect();
    let label = format!("{} (+{} in its group)", labels[0], runs.len() - 1);
    train_group(
        &members,
        data,
        target,
        RunControl {
            label: &label,
            ..control
        },
    )
}

/// Refuses a group its engine cannot train together, naming `--group-size`.
fn check_group(members: &[GroupMember], engine: Engine) -> Result<(), TrainError> {
    let first = members[0];
    if members.len() > 1 && engine != Engine::Stacked {
        return Err(TrainError::invalid(
            "--group-size",
            format!("the {engine} engine trains one network at a time; groups need --engine stacked"),
        ));
    }
    for member in &members[1..] {
        if !same_shapes(first.model, member.model) {
            return Err(TrainError::invalid(
                "--group-size",
                format!(
                    "{} and {} have different layers; a group's networks must have the same shapes",
                    first.label, member.label
                ),
            ));
        }
        let (a, b) = (first.recipe, member.recipe);
        if a.epochs != b.epochs
            || a.batch_size != b.batch_size
            || a.optimizer() != b.optimizer()
            || a.adam_epsilon != b.adam_epsilon
        {
            return Err(TrainError::invalid(
                "--group-size",
                format!(
                    "{} and {} train with different epochs, batch size, optimiser or Adam epsilon; a group steps together",
                    first.label, member.label
                ),
            ));
        }
    }
    Ok(())
}

/// Mean cross-entropy and accuracy of an eval-mode `model` over `source`.
pub fn evaluate(model: &Mlp, source: &Split, batch_size: usize, device: &Device) -> Evaluation {
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let mut loss_sum = Tensor::<1>::zeros([1], device);
    let mut correct = Tensor::<1, Int>::zeros([1], device);
    let n = source.len();
    for start in (0..n).step_by(batch_size.max(1)) {
        let indices: Vec<usize> = (start..(start + batch_size).min(n)).collect();
        let (x, y) = source.batch(&indices, device);
        let logits = model.forward(x);
        loss_sum = loss_sum
            + loss_fn
                .forward(logits.clone(), y.clone())
                .mul_scalar(indices.len() as f64);
        correct = correct + count_correct(logits, y);
    }
    let n = source.len().max(1) as f64;
    let (loss, correct) = read_sums(loss_sum, correct)[0];
    Evaluation {
        loss: loss / n,
        accuracy: correct / n,
    }
}

/// Activation RMS and weight-gradient norm per layer at initialisation, on one
/// minibatch. Uses its own copy of the initial weights (same seed), so the
/// probe cannot touch the trained model's BatchNorm statistics.
fn probe_signal(
    model_config: &MlpConfig,
    seed: u64,
    data: &TrainData,
    indices: &[usize],
    ad: &Device,
) -> Vec<LayerSignal> {
    let model = model_config.init_seeded(seed, ad);
    let (x, y) = data.train.batch(indices, DType::F32, ad);
    // A training-mode pass: with dropout, the masks of the run's first step.
    let (logits, activations) = match model_config.dropout > 0.0 {
        true => {
            let masks = step_masks(
                &mut dropout_rng(seed),
                model_config.dropout,
                indices.len(),
                &model_config.hidden,
                ad,
            );
            model.forward_masked(x, &masks)
        }
        false => model.forward_trace(x),
    };
    let loss = CrossEntropyLossConfig::new().init(ad).forward(logits.clone(), y);
    let grads = loss.backward();
    activations
        .into_iter()
        .chain(std::iter::once(logits))
        .zip(model.linear_weights())
        .enumerate()
        .map(|(i, (activation, weight))| LayerSignal {
            layer: i + 1,
            activation_rms: scalar(&activation.detach().inner().square().mean().sqrt()),
            weight_grad_norm: weight
                .grad(&grads)
                .map(|g| scalar(&g.square().sum().sqrt()))
                .unwrap_or(f64::NAN),
        })
        .collect()
}

fn scalar(t: &Tensor<1>) -> f64 {
    read_f64(t.clone())[0]
}
