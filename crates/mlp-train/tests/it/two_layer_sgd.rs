//! Q3: the numbers of SGD on the scratch two-layer network, through the
//! public `mlp_train::two_layer` API, on the bundled real CIFAR-10 subset
//! (train 4,170 / val 1,000 / test 1,000, mean-image preprocessing as the CLI
//! uses). The training split is wrapped in a recorder that logs every batch
//! `train_sgd` asks for, so the tests see which images each minibatch and
//! each accuracy measurement used.

use std::sync::{Mutex, OnceLock};

use burn::prelude::*;
use burn::tensor::DType;
use mlp_data::{Cifar10, Normalizer, Preprocess, SplitSizes, Splits, bundled_subset_dir};
use mlp_model::scratch::{LossOutput, Params};
use mlp_train::Progress;
use mlp_train::StopSignal;
use mlp_train::train::Batches;
use mlp_train::train::HostSplit;
use mlp_train::two_layer::{IterationRow, SgdConfig, SgdOutcome, accuracy, init_cifar_net, train_sgd};

const SUBSET: SplitSizes = SplitSizes {
    num_train: 4170,
    num_val: 1000,
    num_test: 1000,
};

/// The documented train-accuracy sample: the first 1,000 training images.
const TRAIN_ACC_SAMPLE: usize = 1000;

fn data() -> &'static (Splits, Normalizer) {
    static DATA: OnceLock<(Splits, Normalizer)> = OnceLock::new();
    DATA.get_or_init(|| {
        let splits = Cifar10::load(&bundled_subset_dir())
            .unwrap()
            .into_splits(SUBSET)
            .unwrap();
        let normalizer = Normalizer::fit(Preprocess::MeanImage, &splits.train);
        (splits, normalizer)
    })
}

/// The first `n` images of a split, logging the indices of every batch asked for.
struct Recorder {
    source: HostSplit<'static>,
    n: usize,
    calls: Mutex<Vec<Vec<usize>>>,
}

impl Recorder {
    fn train(n: usize) -> Self {
        let (splits, normalizer) = data();
        assert!(n <= splits.train.len());
        Recorder {
            source: HostSplit::new(&splits.train, normalizer),
            n,
            calls: Mutex::new(Vec::new()),
        }
    }

    fn val() -> Self {
        let (splits, normalizer) = data();
        Recorder {
            source: HostSplit::new(&splits.val, normalizer),
            n: splits.val.len(),
            calls: Mutex::new(Vec::new()),
        }
    }

    fn calls(&self) -> Vec<Vec<usize>> {
        self.calls.lock().unwrap().clone()
    }
}

impl Batches for Recorder {
    fn len(&self) -> usize {
        self.n
    }
    fn batch(&self, indices: &[usize], device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
        assert!(
            indices.iter().all(|&i| i < self.n),
            "index out of the {} examples asked for",
            self.n
        );
        self.calls.lock().unwrap().push(indices.to_vec());
        self.source.batch(indices, DType::F32, device)
    }
}

/// A small, quick recipe on the real data (hidden 10, lr 1e-3, reg 0.25).
fn recipe(iters: usize, batch_size: usize) -> SgdConfig {
    SgdConfig {
        hidden: 10,
        lr: 1e-3,
        lr_decay: 0.95,
        reg: 0.25,
        iters,
        batch_size,
        seed: 0,
        ..SgdConfig::default()
    }
}

struct Run {
    outcome: SgdOutcome,
    train: Recorder,
    val: Recorder,
}

/// Trains a fresh CIFAR-10 net with `config` on the first `n_train` training images.
fn run(config: &SgdConfig, n_train: usize) -> Run {
    let device = Device::flex();
    let train = Recorder::train(n_train);
    let val = Recorder::val();
    let outcome = train_sgd(
        init_cifar_net(config, &device),
        config,
        &train,
        &val,
        &device,
        Progress::Quiet,
        "test",
        &StopSignal::new(),
    )
    .unwrap();
    assert!(!outcome.diverged);
    Run { outcome, train, val }
}

fn epoch_rows(history: &[IterationRow]) -> Vec<&IterationRow> {
    history.iter().filter(|r| r.epoch.is_some()).collect()
}

fn rel_diff(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(f64::MIN_POSITIVE)
}

/// Pins the epoch length `max(N / B, 1)` (integer division): the epoch
/// records (train/val accuracy, lr) sit exactly at iterations per_epoch,
/// 2·per_epoch, …, numbered 1, 2, …, there are `iters / per_epoch` of them,
/// and the last iteration is also scored (lr and accuracies, no epoch) when
/// it ends no epoch. Cases: N=4170/B=200 (20), a partial last epoch, N < B,
/// N just under and at 2B, and a large batch.
#[test]
fn an_epoch_is_n_over_batch_iterations_and_ends_with_the_accuracies() {
    // (N, B, iterations, expected iterations per epoch)
    let cases = [
        (4170, 200, 60, 20),
        (4170, 200, 50, 20),
        (150, 200, 4, 1),
        (399, 200, 3, 1),
        (400, 200, 5, 2),
        (4170, 1000, 9, 4),
    ];
    for (n, batch, iters, per_epoch) in cases {
        let what = format!("N={n} B={batch} iters={iters}");
        let history = run(&recipe(iters, batch), n).outcome.history;
        assert_eq!(history.len(), iters, "{what}: one row per iteration");
        for (i, row) in history.iter().enumerate() {
            let it = i + 1;
            assert_eq!(row.iteration, it, "{what}");
            let epoch_end = it % per_epoch == 0;
            let expected_epoch = epoch_end.then_some(it / per_epoch);
            assert_eq!(row.epoch, expected_epoch, "{what}: epoch at iteration {it}");
            let scored = epoch_end || it == iters;
            assert_eq!(row.lr.is_some(), scored, "{what}: lr at iteration {it}");
            assert_eq!(row.train_acc.is_some(), scored, "{what}: train_acc at iteration {it}");
            assert_eq!(row.val_acc.is_some(), scored, "{what}: val_acc at iteration {it}");
        }
        let epochs = epoch_rows(&history);
        assert_eq!(epochs.len(), iters / per_epoch, "{what}: number of epoch records");
        let at: Vec<usize> = epochs.iter().map(|r| r.iteration).collect();
        let expected: Vec<usize> = (1..=iters / per_epoch).map(|k| k * per_epoch).collect();
        assert_eq!(at, expected, "{what}: epoch records at");
    }
}

/// Pins the learning-rate schedule: the lr recorded for epoch k (the one its
/// steps used) is lr0 × decay^(k-1), so the lr after epoch k is lr0 × decay^k
/// (to 1e-12 relative), and the scored last iteration of a partial epoch
/// shows lr0 × decay^(epochs finished). Then replays the run by hand (the
/// recorded minibatches, `param -= lr * grad` with that schedule) from the
/// same initial weights and requires the same per-iteration losses, so the
/// decayed lr is the one the steps really used; a replay without decay
/// must not match (the check can fail).
#[test]
fn the_learning_rate_decays_after_every_epoch_and_the_steps_use_it() {
    let (lr0, decay, per_epoch, iters) = (2e-3, 0.5, 20, 70);
    let config = SgdConfig {
        lr: lr0,
        lr_decay: decay,
        ..recipe(iters, 200)
    };
    let Run { outcome, train, .. } = run(&config, 4170);
    let history = &outcome.history;

    let epochs = epoch_rows(history);
    assert_eq!(epochs.len(), 3);
    for row in &epochs {
        let k = row.epoch.unwrap();
        let expected = lr0 * decay.powi(k as i32 - 1);
        let lr = row.lr.unwrap();
        assert!(
            rel_diff(lr, expected) < 1e-12,
            "epoch {k}: lr {lr}, expected {expected}"
        );
    }
    let last = history.last().unwrap();
    assert_eq!((last.iteration, last.epoch), (70, None));
    let expected = lr0 * decay.powi(3);
    assert!(
        rel_diff(last.lr.unwrap(), expected) < 1e-12,
        "last iteration lr {:?}, expected {expected}",
        last.lr
    );

    // The minibatches are the calls of `batch_size` indices (accuracy calls take 1,000).
    let minibatches: Vec<Vec<usize>> = train.calls().into_iter().filter(|c| c.len() == 200).collect();
    assert_eq!(minibatches.len(), iters);
    let device = Device::flex();
    let replay = |schedule: &dyn Fn(usize) -> f64| -> Vec<f64> {
        let mut net = init_cifar_net(&config, &device);
        minibatches
            .iter()
            .enumerate()
            .map(|(i, indices)| {
                let (x, y) = train.source.batch(indices, DType::F32, &device);
                let LossOutput::Loss { loss, grads } = net.loss(x, Some(y), config.reg) else {
                    unreachable!()
                };
                let lr = schedule(i);
                let p = &net.params;
                net.params = Params {
                    w1: p.w1.clone() - grads.w1.mul_scalar(lr),
                    b1: p.b1.clone() - grads.b1.mul_scalar(lr),
                    w2: p.w2.clone() - grads.w2.mul_scalar(lr),
                    b2: p.b2.clone() - grads.b2.mul_scalar(lr),
                };
                loss.into_scalar::<f64>()
            })
            .collect()
    };
    let worst = |losses: &[f64]| {
        losses
            .iter()
            .zip(history)
            .map(|(&l, r)| rel_diff(l, r.loss))
            .fold(0.0, f64::max)
    };
    let scheduled = replay(&|i| lr0 * decay.powi((i / per_epoch) as i32));
    let tolerance = 1e-5;
    assert!(
        worst(&scheduled) < tolerance,
        "hand replay with the decayed lr differs from the recorded losses by {:e}",
        worst(&scheduled)
    );
    let constant = replay(&|_| lr0);
    assert!(
        worst(&constant) > 100.0 * tolerance,
        "a replay without decay should not match ({:e})",
        worst(&constant)
    );
}

/// Pins the loss history: one finite loss per iteration, the first being
/// ln 10 (≈ 2.3026; tiny weights score every class alike, and the loss is a
/// mean over the minibatch, not a sum), and falling on real data: the mean
/// of the last 50 iterations is clearly below that of the first 50.
#[test]
fn every_iteration_loss_is_recorded_and_falls_on_real_data() {
    let config = SgdConfig {
        hidden: 20,
        ..recipe(200, 200)
    };
    let outcome = run(&config, 4170).outcome;
    let losses: Vec<f64> = outcome.history.iter().map(|r| r.loss).collect();
    assert_eq!(losses.len(), 200);
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    assert!(
        (losses[0] - 10f64.ln()).abs() < 0.01,
        "first loss {} should be ln 10",
        losses[0]
    );
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let (first, last) = (mean(&losses[..50]), mean(&losses[150..]));
    assert!(last < first - 0.05, "mean loss: first 50 {first}, last 50 {last}");
    assert_eq!(outcome.final_loss(), Some(losses[199]));
}

/// Pins what the accuracies are measured on: at every scored iteration the
/// train accuracy is taken on exactly the first min(N, 1,000) training
/// images (a fixed sample, not the current minibatch) and the validation
/// accuracy on the whole validation split; recomputing both with the final
/// weights gives the last record's numbers. Also for N < 1,000, where the
/// sample is the whole split.
#[test]
fn train_accuracy_is_scored_on_a_fixed_sample_and_val_on_the_whole_split() {
    let device = Device::flex();
    for (n, iters) in [(4170, 45), (700, 7)] {
        let what = format!("N={n}");
        let Run { outcome, train, val } = run(&recipe(iters, 200), n);
        let scored = outcome.history.iter().filter(|r| r.train_acc.is_some()).count();
        let sample: Vec<usize> = (0..n.min(TRAIN_ACC_SAMPLE)).collect();

        let (minibatches, measured): (Vec<_>, Vec<_>) = train.calls().into_iter().partition(|c| c.len() == 200);
        assert_eq!(minibatches.len(), iters, "{what}");
        assert_eq!(measured.len(), scored, "{what}: one accuracy pass per scored iteration");
        assert!(
            measured.iter().all(|c| *c == sample),
            "{what}: train accuracy not on the sample"
        );
        let all_val: Vec<usize> = (0..val.n).collect();
        let val_calls = val.calls();
        assert_eq!(val_calls.len(), scored, "{what}");
        assert!(
            val_calls.iter().all(|c| *c == all_val),
            "{what}: validation not on the whole split"
        );

        let last = outcome.history.last().unwrap();
        let train_acc = accuracy(&outcome.net, &train, &sample, &device);
        let val_acc = accuracy(&outcome.net, &val, &all_val, &device);
        assert_eq!(
            last.train_acc,
            Some(train_acc),
            "{what}: train accuracy of the final weights"
        );
        assert_eq!(
            last.val_acc,
            Some(val_acc),
            "{what}: validation accuracy of the final weights"
        );
        assert_eq!(outcome.last_accuracies(), Some((train_acc, val_acc)));
        // Whole-image counts of the sample and of the validation split.
        for row in outcome.history.iter().filter(|r| r.train_acc.is_some()) {
            let (t, v) = (row.train_acc.unwrap(), row.val_acc.unwrap());
            let t_count = t * sample.len() as f64;
            let v_count = v * all_val.len() as f64;
            assert!((t_count - t_count.round()).abs() < 1e-6, "{what}: {t}");
            assert!((v_count - v_count.round()).abs() < 1e-6, "{what}: {v}");
        }
        // Real data, 45 steps at lr 1e-3: clearly above chance.
        if n == 4170 {
            assert!(val_acc > 0.15, "val accuracy {val_acc}");
        }
    }
}

/// Pins the minibatch draws: `batch_size` indices per iteration, drawn with
/// replacement (most batches of 200 from 4,170 repeat an index; a shuffled
/// epoch never would) from the whole split, and seeded: the same seed
/// gives the same minibatches and the identical loss history, another seed
/// different ones.
#[test]
fn minibatches_are_drawn_with_replacement_and_seeded() {
    let draw = |seed: u64| {
        let config = SgdConfig {
            seed,
            ..recipe(60, 200)
        };
        let Run { outcome, train, .. } = run(&config, 4170);
        let minibatches: Vec<Vec<usize>> = train.calls().into_iter().filter(|c| c.len() == 200).collect();
        let losses: Vec<f64> = outcome.history.iter().map(|r| r.loss).collect();
        (minibatches, losses)
    };
    let (batches, losses) = draw(7);
    assert_eq!(batches.len(), 60);
    let with_repeats = batches
        .iter()
        .filter(|b| {
            let mut b = (*b).clone();
            b.sort_unstable();
            b.windows(2).any(|w| w[0] == w[1])
        })
        .count();
    // P(no repeat in 200 draws from 4,170) ≈ 0.9%, so ~59 of 60 batches repeat.
    assert!(with_repeats >= 40, "only {with_repeats} of 60 batches repeat an index");
    let all: Vec<usize> = batches.concat();
    assert!(*all.iter().min().unwrap() < 50 && *all.iter().max().unwrap() >= 4120);
    assert!(
        all.iter().filter(|&&i| i >= TRAIN_ACC_SAMPLE).count() > all.len() / 2,
        "minibatches come from the whole split"
    );

    let (batches_again, losses_again) = draw(7);
    assert_eq!(batches_again, batches, "same seed, same minibatches");
    assert_eq!(losses_again, losses, "same seed, same loss history");

    let (other_batches, other_losses) = draw(8);
    assert_ne!(other_batches, batches, "another seed, other minibatches");
    assert_ne!(other_losses, losses, "another seed, another loss history");
}
