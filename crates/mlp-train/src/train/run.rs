//! The training loop of the depth study (assignment Q4), one for every device.

use std::sync::{Mutex, PoisonError};
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
use super::dynamics::{DynamicsProbe, LayerDynamics};
use super::engine::Engine;
use super::steps::{AutodiffStepper, FusedStepper, Stepper, count_correct};
use super::target::Target;
use crate::jobs::StopSignal;
use crate::{Progress, TrainError};

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
}

impl RunOutcome {
    pub fn best_record(&self) -> Option<&EpochRecord> {
        self.best_epoch.map(|e| &self.history[e - 1])
    }
}

/// Burn's random generator (weights, Burn's dropout masks) is one per
/// process, reseeded by `Device::seed`: the draws of two runs at once must
/// not interleave, or neither would be reproducible. A run holds this while
/// it seeds and draws its weights, and for the whole of its training only
/// when its steps draw dropout masks from it (autodiff with dropout; the
/// fused step draws its masks from its own seeded generator).
static GENERATOR: Mutex<()> = Mutex::new(());

/// How one training run reports and stops, and what it measures on the way.
#[derive(Clone, Copy)]
pub struct RunControl<'a> {
    pub progress: Progress,
    /// Prefix of the progress bar and of the per-epoch lines.
    pub label: &'a str,
    /// Checked before every step.
    pub stop: &'a StopSignal,
    /// Runs the dynamics probe (see [`super::dynamics`]) at initialisation
    /// and after every epoch; the training itself is the same either way.
    pub dynamics: bool,
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
    recipe.validate()?;
    // The fused step has no residual layers and no SGD: those train through
    // Burn's autodiff whatever the target's engine, and their rows say so.
    let engine = if model_config.residual || recipe.optimizer() == Optimizer::Sgd {
        Engine::Autodiff
    } else {
        target.engine
    };
    let (progress, label) = (control.progress, control.label);
    let generator = GENERATOR.lock().unwrap_or_else(PoisonError::into_inner);
    let start = Instant::now();
    let plain = target.device.clone().without_autodiff();
    let ad = plain.clone().autodiff();

    let [train_split, val_split, test_split] = data.splits();

    let mut rng = StdRng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..data.train.len()).collect();
    order.shuffle(&mut rng);
    let signal = probe_signal(
        model_config,
        seed,
        data,
        &order[..recipe.batch_size.min(order.len())],
        &ad,
    );

    // Both engines start from the same weights: the seeded Burn model.
    ad.seed(seed);
    let model = model_config.init(&ad);
    let mut stepper: Box<dyn Stepper + '_> = match engine {
        Engine::Fused => Box::new(FusedStepper::new(&model, recipe, seed, data.train, &plain)),
        Engine::Autodiff => Box::new(AutodiffStepper::new(model, recipe, train_split, &ad)),
    };
    // Every draw but Burn's dropout masks is done: other runs may go on.
    let _generator = (engine == Engine::Autodiff && model_config.dropout > 0.0).then_some(generator);

    let mut probe = control.dynamics.then(|| DynamicsProbe::new(data, &ad));
    let mut dynamics = match &mut probe {
        Some(probe) => probe.measure(0, &stepper.eval_model()),
        None => Vec::new(),
    };
    let mut history = Vec::new();
    let mut best: Option<(usize, f64, Mlp)> = None;
    let mut diverged_at = None;
    let mut lr = recipe.lr;
    let steps = data.train.len().div_ceil(recipe.batch_size);

    for epoch in 1..=recipe.epochs {
        let epoch_start = Instant::now();
        if epoch > 1 {
            order.shuffle(&mut rng);
        }
        let bar = progress.bar(steps as u64, format!("{label} epoch {epoch}/{}", recipe.epochs));
        stepper.reset_sums();
        let mut last_report = Instant::now();
        for (step, chunk) in order.chunks(recipe.batch_size).enumerate() {
            if control.stop.is_raised() {
                bar.finish_and_clear();
                return Err(TrainError::Interrupted {
                    dir: Default::default(),
                    finished: 0,
                    total: 1,
                });
            }
            stepper.step(chunk, lr);
            bar.inc(1);
            // Reading the loss may synchronise the device: at most once a second.
            if progress == Progress::Bars && last_report.elapsed().as_secs_f64() >= 1.0 {
                last_report = Instant::now();
                let seen = (step + 1) * recipe.batch_size;
                let rate = seen as f64 / epoch_start.elapsed().as_secs_f64();
                let (loss_sum, _) = stepper.epoch_sums();
                bar.set_message(format!("loss {:.4} {rate:.0} img/s", loss_sum / seen as f64));
            }
        }
        bar.finish_and_clear();

        let n = data.train.len() as f64;
        let (loss_sum, correct) = stepper.epoch_sums();
        let (train_loss, train_acc) = (loss_sum / n, correct / n);
        if !train_loss.is_finite() {
            diverged_at = Some(epoch);
            progress.note(format!(
                "{label}: training loss became {train_loss} in epoch {epoch}; recorded as diverged"
            ));
            break;
        }
        let eval_model = stepper.eval_model();
        let val = evaluate(&eval_model, &val_split, recipe.batch_size.max(500), &plain);
        history.push(EpochRecord {
            epoch,
            lr,
            train_loss,
            train_acc,
            val_loss: val.loss,
            val_acc: val.accuracy,
            seconds: epoch_start.elapsed().as_secs_f64(),
        });
        progress.note(format!(
            "{label} epoch {epoch:>2}: train loss {train_loss:.4} acc {:5.1}%  val loss {:.4} acc {:5.1}%  ({:.1}s)",
            100.0 * train_acc,
            val.loss,
            100.0 * val.accuracy,
            epoch_start.elapsed().as_secs_f64()
        ));
        // After the epoch's clock has stopped: the probe is not training time.
        if let Some(probe) = &mut probe {
            dynamics.extend(probe.measure(epoch, &eval_model));
        }
        if best.as_ref().is_none_or(|(_, acc, _)| val.accuracy > *acc) {
            best = Some((epoch, val.accuracy, eval_model));
        }
        lr *= recipe.lr_decay;
    }

    let test = best
        .as_ref()
        .filter(|_| !data.test.is_empty())
        .map(|(_, _, model)| evaluate(model, &test_split, recipe.batch_size.max(500), &plain));
    Ok(RunOutcome {
        history,
        best_epoch: best.as_ref().map(|(epoch, _, _)| *epoch),
        test,
        diverged_at,
        signal,
        dynamics,
        seconds: start.elapsed().as_secs_f64(),
        best_model: best.map(|(_, _, model)| model),
        engine,
    })
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
    Evaluation {
        loss: scalar(&loss_sum) / n,
        accuracy: scalar_int(&correct) / n,
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
    ad.seed(seed);
    let model = model_config.init(ad);
    let (x, y) = data.train.batch(indices, DType::F32, ad);
    let (logits, activations) = model.forward_trace(x);
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
    t.clone().into_scalar::<f64>()
}

fn scalar_int(t: &Tensor<1, Int>) -> f64 {
    t.clone().into_scalar::<i64>() as f64
}
