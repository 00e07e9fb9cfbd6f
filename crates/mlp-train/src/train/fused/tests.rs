//! The fused step against Burn's autodiff: loss, correct count, every
//! gradient and Adam's steps, to float rounding.

use burn::nn::loss::CrossEntropyLossConfig;
use mlp_model::{Activation, MlpConfig, WeightInit};

use super::*;

fn values(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

/// `count` standard normal values (Box–Muller) from a generator of their
/// own: tests in this binary run in parallel, so anything drawn from Burn's
/// process-wide generator would change with what the others draw.
fn normal_values(count: usize, seed: u64) -> Vec<f32> {
    use rand::{Rng, SeedableRng};
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let u: f64 = 1.0 - rng.random::<f64>();
            let v: f64 = rng.random();
            ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
        })
        .collect()
}

/// Features per input of the small test networks.
const INPUT: usize = 20;

/// A small network with signal in every layer (Kaiming), a batch and labels.
fn problem(hidden: Vec<usize>, batch: usize, seed: u64) -> (Mlp, Vec<f32>, Vec<u8>, Device) {
    problem_with_input(INPUT, hidden, batch, seed)
}

fn problem_with_input(input: usize, hidden: Vec<usize>, batch: usize, seed: u64) -> (Mlp, Vec<f32>, Vec<u8>, Device) {
    let device = Device::flex().autodiff();
    let config = MlpConfig::new(hidden)
        .with_input(input)
        .with_classes(4)
        .with_init(WeightInit::Kaiming);
    let model = config.init_seeded(seed, &device);
    let x = normal_values(batch * input, seed);
    let labels = (0..batch).map(|i| ((i * 7 + seed as usize) % 4) as u8).collect();
    (model, x, labels, device)
}

/// x: [batch, input] and labels as Burn tensors on `device`.
fn tensors(x: &[f32], labels: &[u8], device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
    let batch = labels.len();
    let x = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [batch, x.len() / batch]), device);
    let y: Vec<i64> = labels.iter().map(|&l| i64::from(l)).collect();
    (x, Tensor::<1, Int>::from_data(TensorData::new(y, [batch]), device))
}

/// The recipe's Adam at learning rate `lr` (the step counter is the net's).
fn adam(lr: f32) -> AdamStep {
    AdamStep {
        lr,
        weight_decay: 1e-3,
        beta_1: 0.9,
        beta_2: 0.999,
        epsilon: 1e-8,
        time: 0,
    }
}

/// Burn's Adam with the same settings as [`adam`].
fn burn_adam() -> burn::optim::ModuleOptimizer {
    use burn::optim::AdamConfig;
    use burn::optim::decay::WeightDecayConfig;
    AdamConfig::new()
        .with_epsilon(1e-8)
        .with_weight_decay(Some(WeightDecayConfig::new(1e-3)))
        .init()
}

fn assert_close(name: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{name}");
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 * scale.max(1e-3),
            "{name}[{i}]: fused {g}, autodiff {w}"
        );
    }
}

#[test]
fn loss_and_gradients_match_burn_autodiff() {
    // The last case's products are large enough to be split across cores.
    for (input, hidden, batch, seed) in [
        (INPUT, vec![], 5, 1),
        (INPUT, vec![9], 12, 2),
        (INPUT, vec![9, 7, 5], 31, 3),
        (1000, vec![40, 6], 50, 4),
    ] {
        let (model, x, labels, device) = problem_with_input(input, hidden.clone(), batch, seed);
        let mut fused = FusedMlp::from_model(&model, 0);
        fused.forward(batch, &|rows, out| {
            out.copy_from_slice(&x[rows.start * input..rows.end * input])
        });
        let stats = fused.softmax_cross_entropy(&labels);
        fused.backward(batch);

        let (x_t, y) = tensors(&x, &labels, &device);
        let logits = model.forward(x_t);
        let correct = logits
            .clone()
            .argmax(1)
            .squeeze_dim::<1>(1)
            .equal(y.clone())
            .int()
            .sum();
        let loss = CrossEntropyLossConfig::new().init(&device).forward(logits, y);
        let mean_loss = loss.clone().into_scalar::<f64>();
        assert!(
            (stats.loss_sum / batch as f64 - mean_loss).abs() < 1e-5,
            "{hidden:?}: loss {} vs {mean_loss}",
            stats.loss_sum / batch as f64
        );
        assert_eq!(stats.correct as i64, correct.inner().into_scalar::<i64>());

        let grads = loss.backward();
        let linears: Vec<&burn::nn::Linear> = model
            .hidden
            .iter()
            .map(|b| &b.linear)
            .chain(std::iter::once(&model.output))
            .collect();
        for (l, (linear, layer)) in linears.iter().zip(&fused.layers).enumerate() {
            let dw = values(linear.weight.val().grad(&grads).unwrap()); // [in, out]
            let db: Vec<f32> = linear
                .bias
                .as_ref()
                .unwrap()
                .val()
                .grad(&grads)
                .unwrap()
                .into_data()
                .try_to_vec()
                .unwrap();
            let fused_dw: Vec<f32> = (0..layer.input * layer.output)
                .map(|i| layer.weight_grad_t[(i % layer.output) * layer.input + i / layer.output])
                .collect();
            assert_close(&format!("{hidden:?} dW{}", l + 1), &fused_dw, &dw);
            assert_close(&format!("{hidden:?} db{}", l + 1), &layer.bias_grad, &db);
        }
    }
}

/// Weights written into a skeleton make a trainable model: a dynamics probe
/// moves it to the autodiff device and takes the gradient of every layer.
#[test]
fn a_model_written_into_a_skeleton_is_trainable() {
    let (model, x, labels, device) = problem(vec![6, 3], 5, 4);
    let config = MlpConfig::new(vec![6, 3]).with_input(INPUT).with_classes(4);
    let written = FusedMlp::from_model(&model, 0).write_into(config.skeleton(&Device::flex()), &Device::flex());
    let tracked = written.fork(&device).train();
    let (x, y) = tensors(&x, &labels, &device);
    let loss = CrossEntropyLossConfig::new()
        .init(&device)
        .forward(tracked.forward(x), y);
    let grads = loss.backward();
    for weight in tracked.linear_weights() {
        let grad = weight.grad(&grads).expect("every layer's weight has a gradient");
        assert!(grad.abs().sum().into_scalar::<f32>() > 0.0);
    }
}

#[test]
fn weights_go_out_as_they_came_in() {
    let (model, _, _, _) = problem(vec![6, 3], 1, 4);
    let plain = model.valid();
    let back = FusedMlp::from_model(&model, 0).write_into(plain.clone(), &Device::flex());
    let weights = |m: &Mlp| -> Vec<_> { m.hidden.iter().map(|b| b.linear.weight.val().into_data()).collect() };
    assert_eq!(weights(&plain), weights(&back));
    assert_eq!(
        plain.output.bias.unwrap().val().into_data(),
        back.output.bias.unwrap().val().into_data()
    );
}

#[test]
fn adam_steps_match_burns_optimizer() {
    use burn::optim::GradientsParams;
    let (mut model, x, labels, device) = problem(vec![9, 7], 16, 5);
    let mut fused = FusedMlp::from_model(&model, 0);
    let mut optimizer = burn_adam();
    let (x_t, y) = tensors(&x, &labels, &device);
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    for _ in 0..5 {
        fused.step(&x, &labels, adam(1e-2));
        let loss = loss_fn.forward(model.forward(x_t.clone()), y.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(1e-2, model, grads);
    }
    let trained = fused.write_into(model.valid(), &Device::flex());
    assert_close(
        "W1 after 5 steps",
        &values(trained.hidden[0].linear.weight.val()),
        &values(model.hidden[0].linear.weight.val().inner()),
    );
    assert_close(
        "W3 after 5 steps",
        &values(trained.output.weight.val()),
        &values(model.output.weight.val().inner()),
    );
}

/// Full-size first layer, batch 200: fifteen steps of both engines from
/// the same weights stay together to float rounding. (Over whole epochs
/// on real images they drift apart, as any two float orderings of SGD do
/// once a rounding flips the sign of a near-zero Adam update; the
/// integration tests compare where such runs end.)
#[test]
fn fifteen_steps_follow_the_autodiff_trajectory() {
    use burn::optim::GradientsParams;
    let device = Device::flex().autodiff();
    let mut model = MlpConfig::new(vec![50, 40])
        .with_init(WeightInit::Kaiming)
        .init_seeded(3, &device);
    let mut fused = FusedMlp::from_model(&model, 0);
    let mut optimizer = burn_adam();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    for step in 0..15 {
        let x = normal_values(200 * 3072, 100 + step as u64);
        let labels: Vec<u8> = (0..200).map(|i| ((i * 7 + step) % 10) as u8).collect();
        let stats = fused.step(&x, &labels, adam(1e-3));
        let (x, y) = tensors(&x, &labels, &device);
        let loss = loss_fn.forward(model.forward(x), y);
        let autodiff_loss = loss.clone().into_scalar::<f64>();
        let fused_loss = stats.loss_sum / 200.0;
        // f32 sums in another order, compounded over the steps: measured up
        // to 1.0e-5 apart by step 14 (4e-6 of the loss) when the inputs came
        // from Burn's generator, which other tests draw from meanwhile; from
        // their own generator they are the same every run, and 3.6e-7 apart
        // at most (the weights 7.8e-6).
        assert!(
            (fused_loss - autodiff_loss).abs() < 5e-5,
            "step {step}: {fused_loss} vs {autodiff_loss}"
        );
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(1e-3, model, grads);
    }
    let trained = fused.write_into(model.valid(), &Device::flex());
    for (a, b) in trained.hidden.iter().zip(&model.hidden) {
        let (a, b) = (values(a.linear.weight.val()), values(b.linear.weight.val().inner()));
        let max = a.iter().zip(&b).map(|(p, q)| (p - q).abs()).fold(0.0, f32::max);
        assert!(max < 1e-5, "weights differ by up to {max}");
    }
}

/// A network with BatchNorm and/or dropout after every hidden Linear.
fn problem_with_extras(
    input: usize,
    hidden: Vec<usize>,
    batch_norm: bool,
    dropout: f64,
    activation: Activation,
    batch: usize,
    seed: u64,
) -> (Mlp, Vec<f32>, Vec<u8>, Device) {
    let (_, x, labels, device) = problem_with_input(input, hidden.clone(), batch, seed);
    let model = MlpConfig::new(hidden)
        .with_input(input)
        .with_classes(4)
        .with_init(WeightInit::Kaiming)
        .with_batch_norm(batch_norm)
        .with_dropout(dropout)
        .with_activation(activation)
        .init_seeded(seed, &device);
    (model, x, labels, device)
}

/// Burn's training-mode forward of `model` with the dropout masks the
/// fused net drew (Burn's own `Dropout` would draw others): x: [batch,
/// input] -> logits [batch, classes]. Runs the BatchNorm layers in
/// training mode, so their running statistics move as in a step.
fn burn_forward_with_masks(model: &Mlp, fused: &FusedMlp, x: Tensor<2>) -> Tensor<2> {
    let device = x.device();
    let mut x = x;
    for (block, extras) in model.hidden.iter().zip(&fused.extras) {
        x = block.linear.forward(x);
        if let Some(norm) = &block.norm {
            x = norm.forward(x);
        }
        x = block.activation.forward(x);
        if let Some(dropout) = &extras.dropout {
            let dims = x.dims();
            let mask = TensorData::new(dropout.scale().to_vec(), dims);
            x = x * Tensor::<2>::from_data(mask, &device);
        }
    }
    model.output.forward(x)
}

fn vector(t: Tensor<1>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn batch_norm_and_dropout_gradients_match_burn_autodiff() {
    // (input, hidden, batch_norm, dropout, activation, batch, seed); the
    // last case of each activation has its first product split across
    // cores, with the BatchNorm after it.
    use Activation::{Relu, Tanh};
    for (input, hidden, batch_norm, dropout, activation, batch, seed) in [
        (INPUT, vec![9], true, 0.0, Relu, 12, 1),
        (INPUT, vec![9, 7, 5], true, 0.0, Relu, 31, 2),
        (INPUT, vec![9, 7], false, 0.4, Relu, 16, 3),
        (INPUT, vec![9, 7], true, 0.4, Relu, 16, 4),
        (1000, vec![40, 6], true, 0.4, Relu, 50, 5),
        (INPUT, vec![9, 7, 5], false, 0.0, Tanh, 31, 6),
        (INPUT, vec![9, 7], true, 0.0, Tanh, 16, 7),
        (INPUT, vec![9, 7], false, 0.4, Tanh, 16, 8),
        (1000, vec![40, 6], true, 0.4, Tanh, 50, 9),
    ] {
        let case = format!("{hidden:?} {activation} bn {batch_norm} dropout {dropout}");
        let (model, x, labels, device) =
            problem_with_extras(input, hidden.clone(), batch_norm, dropout, activation, batch, seed);
        let mut fused = FusedMlp::from_model(&model, seed);
        fused.forward(batch, &|rows, out| {
            out.copy_from_slice(&x[rows.start * input..rows.end * input])
        });
        let stats = fused.softmax_cross_entropy(&labels);
        fused.backward(batch);

        let (x_t, y) = tensors(&x, &labels, &device);
        let logits = burn_forward_with_masks(&model, &fused, x_t);
        let loss = CrossEntropyLossConfig::new().init(&device).forward(logits, y);
        let mean_loss = loss.clone().into_scalar::<f64>();
        assert!(
            (stats.loss_sum / batch as f64 - mean_loss).abs() < 1e-5,
            "{case}: loss {} vs {mean_loss}",
            stats.loss_sum / batch as f64
        );
        let grads = loss.backward();
        for (l, (block, (layer, extras))) in model
            .hidden
            .iter()
            .zip(fused.layers.iter().zip(&fused.extras))
            .enumerate()
        {
            let dw = values(block.linear.weight.val().grad(&grads).unwrap()); // [in, out]
            let fused_dw: Vec<f32> = (0..layer.input * layer.output)
                .map(|i| layer.weight_grad_t[(i % layer.output) * layer.input + i / layer.output])
                .collect();
            assert_close(&format!("{case} dW{}", l + 1), &fused_dw, &dw);
            if let (Some(norm), Some(fused_norm)) = (&block.norm, &extras.norm) {
                let (d_gamma, d_beta) = fused_norm.gradients();
                let burn_gamma = vector(norm.gamma.val().grad(&grads).unwrap());
                let burn_beta = vector(norm.beta.val().grad(&grads).unwrap());
                assert_close(&format!("{case} dgamma{}", l + 1), d_gamma, &burn_gamma);
                assert_close(&format!("{case} dbeta{}", l + 1), d_beta, &burn_beta);
                let (mean, var) = fused_norm.running();
                let (burn_mean, burn_var) = (norm.running_mean.value_sync(), norm.running_var.value_sync());
                assert_close(&format!("{case} running mean{}", l + 1), mean, &vector(burn_mean));
                assert_close(&format!("{case} running var{}", l + 1), var, &vector(burn_var));
            }
        }
        let last = fused.layers.last().unwrap();
        let dw = values(model.output.weight.val().grad(&grads).unwrap());
        let fused_dw: Vec<f32> = (0..last.input * last.output)
            .map(|i| last.weight_grad_t[(i % last.output) * last.input + i / last.output])
            .collect();
        assert_close(&format!("{case} dW out"), &fused_dw, &dw);
    }
}

#[test]
fn batch_norm_adam_steps_match_burns_optimizer() {
    use burn::optim::GradientsParams;
    let (mut model, x, labels, device) = problem_with_extras(INPUT, vec![9, 7], true, 0.0, Activation::Relu, 16, 7);
    let mut fused = FusedMlp::from_model(&model, 0);
    let mut optimizer = burn_adam();
    let (x_t, y) = tensors(&x, &labels, &device);
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    for _ in 0..5 {
        fused.step(&x, &labels, adam(1e-2));
        let loss = loss_fn.forward(model.forward(x_t.clone()), y.clone());
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        // The fused step holds the biases before a BatchNorm at their
        // zero gradient; Burn's would follow the rounding noise.
        for block in &model.hidden {
            grads.remove::<1>(block.linear.bias.as_ref().unwrap().id);
        }
        model = optimizer.step(1e-2, model, grads);
    }
    let trained = fused.write_into(model.valid(), &Device::flex());
    let want = model.valid();
    assert_close(
        "W1 after 5 steps",
        &values(trained.hidden[0].linear.weight.val()),
        &values(want.hidden[0].linear.weight.val()),
    );
    for (l, (got, want)) in trained.hidden.iter().zip(&want.hidden).enumerate() {
        let (got, want) = (got.norm.as_ref().unwrap(), want.norm.as_ref().unwrap());
        assert_close(
            &format!("gamma{l}"),
            &vector(got.gamma.val()),
            &vector(want.gamma.val()),
        );
        assert_close(&format!("beta{l}"), &vector(got.beta.val()), &vector(want.beta.val()));
        assert_close(
            &format!("running mean{l}"),
            &vector(got.running_mean.value()),
            &vector(want.running_mean.value()),
        );
        assert_close(
            &format!("running var{l}"),
            &vector(got.running_var.value()),
            &vector(want.running_var.value()),
        );
    }
    // The written model evaluates with the running statistics, as Burn's does.
    let x_plain = Tensor::<2>::from_data(TensorData::new(x.clone(), [16, INPUT]), &Device::flex());
    assert_close(
        "eval-mode logits",
        &values(trained.forward(x_plain.clone())),
        &values(want.forward(x_plain)),
    );
}

#[test]
fn dropout_keeps_units_at_the_rate_and_scale_asked_and_repeats_with_the_seed() {
    let (model, x, labels, _) = problem_with_extras(INPUT, vec![50], false, 0.4, Activation::Relu, 200, 8);
    let masks = |seed: u64| {
        let mut fused = FusedMlp::from_model(&model, seed);
        fused.step(&x, &labels, adam(1e-3));
        let first = fused.extras[0].dropout.as_ref().unwrap().scale().to_vec();
        fused.step(&x, &labels, adam(1e-3));
        (first, fused.extras[0].dropout.as_ref().unwrap().scale().to_vec())
    };
    let (first, second) = masks(1);
    assert_eq!(first.len(), 200 * 50);
    let kept = first.iter().filter(|&&s| s != 0.0).count() as f64 / first.len() as f64;
    // 10,000 draws at p = 0.6: the standard deviation is 0.005.
    assert!((kept - 0.6).abs() < 0.02, "kept {kept}");
    assert!(first.iter().all(|&s| s == 0.0 || (s - 1.0 / 0.6).abs() < 1e-6));
    assert_ne!(first, second, "every step draws a new mask");
    assert_eq!(masks(1), (first.clone(), second), "the same seed repeats the masks");
    assert_ne!(masks(2).0, first, "another seed draws other masks");
}

#[test]
fn a_nan_weight_shows_as_a_nan_loss() {
    // The ReLU keeps NaN (as Burn's does): a diverged hidden layer must
    // not be zeroed into a finite loss that hides the divergence.
    let (model, x, labels, _) = problem(vec![6], 4, 6);
    let mut fused = FusedMlp::from_model(&model, 0);
    fused.layers[0].weight.fill(f32::NAN);
    let stats = fused.step(&x, &labels, adam(1e-3));
    assert!(stats.loss_sum.is_nan(), "{stats:?}");
}

/// The shared pass gives every network what its own step gives, bit for
/// bit, step after step, on the real first-layer shapes: networks of
/// different depths, BatchNorm, dropout, tanh and a linear classifier, each
/// with its own learning rate. A network that diverges (learning rate 1e30)
/// fills only its own numbers with NaN.
#[test]
fn a_shared_pass_gives_each_network_its_own_steps_bit_for_bit() {
    use super::shared::SharedPass;
    let device = Device::flex();
    let (input, batch) = (3072, 200);
    let net = |hidden: Vec<usize>| MlpConfig::new(hidden).with_input(input).with_classes(10);
    let configs = [
        net(vec![50]).with_init(WeightInit::Kaiming),
        net(vec![40, 30])
            .with_init(WeightInit::Kaiming)
            .with_batch_norm(true)
            .with_dropout(0.3),
        net(vec![30, 20])
            .with_init(WeightInit::Xavier)
            .with_activation(Activation::Tanh)
            .with_dropout(0.2),
        net(vec![]),
        net(vec![25]).with_init(WeightInit::Kaiming),
    ];
    let lrs = [1e-3, 2e-3, 5e-4, 1e-2, 1e30];
    let diverging = 4;
    let models: Vec<Mlp> = configs
        .iter()
        .enumerate()
        .map(|(j, c)| c.init_seeded(j as u64, &device))
        .collect();
    let fused = || -> Vec<FusedMlp> {
        models
            .iter()
            .enumerate()
            .map(|(j, m)| FusedMlp::from_model(m, 7 + j as u64))
            .collect()
    };
    let mut alone = fused();
    let mut shared = SharedPass::new(fused());
    let adams: Vec<AdamStep> = lrs.iter().map(|&lr| adam(lr)).collect();
    for step in 0..4u64 {
        let x = normal_values(batch * input, 40 + step);
        let labels: Vec<u8> = (0..batch).map(|i| ((i * 3 + step as usize) % 10) as u8).collect();
        let fill = |rows: Range<usize>, out: &mut [f32]| out.copy_from_slice(&x[rows.start * input..rows.end * input]);
        let together = shared.step_filled(&labels, &fill, &adams);
        for (j, net) in alone.iter_mut().enumerate() {
            let own = net.step_filled(&labels, &fill, adams[j]);
            if j != diverging {
                assert_eq!(own, together[j], "step {step}, network {j}");
            }
        }
        if step > 0 {
            assert!(!together[diverging].loss_sum.is_finite(), "{:?}", together[diverging]);
        }
    }
    // Between steps a member keeps no activation buffer but its first
    // layer's delta: the pass lends each step one set per core.
    for member in shared.members() {
        assert!(member.outputs.iter().all(|o| o.capacity() == 0));
        assert!(member.deltas[1..].iter().all(|d| d.capacity() == 0));
    }
    let probe = Tensor::<2>::from_data(TensorData::new(normal_values(8 * input, 99), [8, input]), &device);
    for (j, net) in alone.iter().enumerate().filter(|(j, _)| *j != diverging) {
        // The pass's weights written into the config's skeleton, as the
        // engine's evaluations do, against the network's own into its model.
        let (a, b) = (
            net.write_into(models[j].clone(), &device),
            shared.write_into(j, configs[j].skeleton(&device), &device),
        );
        for (wa, wb) in a.linear_weights().into_iter().zip(b.linear_weights()) {
            assert_eq!(values(wa), values(wb), "network {j}");
        }
        assert_eq!(
            values(a.forward(probe.clone())),
            values(b.forward(probe.clone())),
            "network {j}"
        );
    }
}
