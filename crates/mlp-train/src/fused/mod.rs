//! The fused CPU training step for the MLPs of mlp-model (Linear, optional
//! BatchNorm, ReLU, optional dropout): forward, cross-entropy, backward and
//! Adam written out by hand on host buffers, with the large matrix products
//! split across the cores.
//!
//! Why it exists: on a 2-core CPU, Burn's autodiff step for the assignment's
//! [50] model spends about half its time outside the two large products
//! (about a hundred small tensor ops per step: graph bookkeeping, bias,
//! cross-entropy, Adam's separate passes over every parameter), and its
//! matrix products use `gemm`'s threading, which scales badly on these
//! skinny shapes. Here every element-wise stage is one loop, and the large
//! products run as one single-threaded `gemm` per core (see [`gemm`]).
//!
//! It computes the same function as the autodiff step: the same initial
//! weights (taken from the Burn model), the same cross-entropy, the same
//! Adam with L2 (Burn's formula; see [`adam`]). Each step agrees with the
//! autodiff step to float rounding (tested), not bit for bit: the products
//! sum in another order. Over whole epochs two such runs drift apart, as
//! any two float orderings of SGD do, and end at the same accuracies within
//! noise (tested on real images).

mod adam;
mod batch_norm;
mod dropout;
pub mod gemm;

use std::ops::Range;

use burn::prelude::*;
use mlp_model::Mlp;

pub use adam::{AdamStep, Moments};
use batch_norm::FusedBatchNorm;
use dropout::{FusedDropout, dropout_rng};
use gemm::{MatRef, matmul, matmul_serial};
use rand::rngs::StdRng;
use rayon::prelude::*;

/// One Linear layer. The weight is stored `[in, out]`, as Burn's `Linear`
/// holds it, and its gradient `[out, in]`: measured on the first layer's
/// shapes, `x · W` runs fastest with the former and `δᵀ · x` with the latter
/// (`gemm`'s microkernels favour one orientation of the output; about 20%
/// each); Adam reads the gradient transposed.
struct FusedLinear {
    input: usize,
    output: usize,
    /// [input, output]
    weight: Vec<f32>,
    /// [output]
    bias: Vec<f32>,
    /// [output, input]
    weight_grad_t: Vec<f32>,
    /// [output]
    bias_grad: Vec<f32>,
    weight_moments: Moments,
    bias_moments: Moments,
}

impl FusedLinear {
    fn from_burn(linear: &burn::nn::Linear) -> Self {
        let [input, output] = linear.weight.val().dims();
        let weight = linear
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32 weights");
        // Every `Mlp` layer has a bias (mlp-model sets one at zero).
        let bias = linear
            .bias
            .as_ref()
            .expect("the fused step trains Linear layers with a bias");
        let bias = bias.val().into_data().try_to_vec::<f32>().expect("f32 bias");
        FusedLinear {
            input,
            output,
            weight,
            bias,
            weight_grad_t: vec![0.0; input * output],
            bias_grad: vec![0.0; output],
            weight_moments: Moments::zeros(input * output),
            bias_moments: Moments::zeros(output),
        }
    }

    /// The weight as the `[in, out]` matrix of `y = x · W + b`.
    fn weight_in_out(&self) -> MatRef<'_> {
        MatRef::row_major(&self.weight, self.input, self.output)
    }

    /// Writes the weight and bias into `linear` (its `[in, out]` layout).
    fn write_into(&self, linear: burn::nn::Linear, device: &Device) -> burn::nn::Linear {
        let weight = TensorData::new(self.weight.clone(), [self.input, self.output]);
        let bias = TensorData::new(self.bias.clone(), [self.output]);
        burn::nn::Linear {
            weight: linear.weight.map(|_| Tensor::from_data(weight, device)),
            bias: linear.bias.map(|b| b.map(|_| Tensor::from_data(bias, device))),
        }
    }
}

/// Writes the batch's images `rows` into a buffer of `rows.len()` images.
pub type Fill<'a> = dyn Fn(Range<usize>, &mut [f32]) + Sync + 'a;

/// out = input · W + b, then ReLU (keeping NaN, as Burn's does, so a
/// diverging run shows a NaN loss rather than silently zeroed units) when
/// `relu`. out: [rows, layer.output].
fn linear_relu(
    layer: &FusedLinear,
    input: MatRef,
    out: &mut [f32],
    relu: bool,
    product: fn(&mut [f32], MatRef, MatRef, bool),
) {
    // The bias first, then the product accumulated onto it: no extra pass.
    for row in out.chunks_exact_mut(layer.output) {
        row.copy_from_slice(&layer.bias);
    }
    product(out, input, layer.weight_in_out(), true);
    if relu {
        relu_in_place(out);
    }
}

/// ReLU that keeps NaN.
fn relu_in_place(values: &mut [f32]) {
    values.iter_mut().for_each(|v| {
        if *v < 0.0 {
            *v = 0.0
        }
    });
}

/// What follows a hidden layer's Linear besides the ReLU.
struct HiddenExtras {
    norm: Option<FusedBatchNorm>,
    dropout: Option<FusedDropout>,
}

/// Loss and correct predictions of one step's minibatch (training mode).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// Sum over the batch of the per-image cross-entropy.
    pub loss_sum: f64,
    pub correct: usize,
}

/// An MLP and its Adam state on host buffers, trained one minibatch at a time.
pub struct FusedMlp {
    layers: Vec<FusedLinear>,
    /// Per hidden layer, its BatchNorm and dropout, if any.
    extras: Vec<HiddenExtras>,
    /// Draws the dropout masks.
    rng: StdRng,
    /// The current batch's images: [batch, input].
    x: Vec<f32>,
    /// Per layer, its output for the current batch: [batch, out], after ReLU
    /// for hidden layers, the logits for the last.
    outputs: Vec<Vec<f32>>,
    /// Per layer, dLoss/d(pre-activation): [batch, out].
    deltas: Vec<Vec<f32>>,
    /// Adam steps taken.
    time: i32,
}

impl FusedMlp {
    /// Takes the weights (and BatchNorm state) of `model` as the starting
    /// point; `seed` seeds the dropout masks.
    pub fn from_model(model: &Mlp, seed: u64) -> Self {
        let layers: Vec<FusedLinear> = model
            .hidden
            .iter()
            .map(|block| FusedLinear::from_burn(&block.linear))
            .chain(std::iter::once(FusedLinear::from_burn(&model.output)))
            .collect();
        let extras = model
            .hidden
            .iter()
            .map(|block| HiddenExtras {
                norm: block.norm.as_ref().map(FusedBatchNorm::from_burn),
                dropout: block
                    .dropout
                    .as_ref()
                    .filter(|d| d.prob > 0.0)
                    .map(|d| FusedDropout::new(d.prob)),
            })
            .collect();
        FusedMlp {
            x: Vec::new(),
            outputs: vec![Vec::new(); layers.len()],
            deltas: vec![Vec::new(); layers.len()],
            layers,
            extras,
            rng: dropout_rng(seed),
            time: 0,
        }
    }

    /// Features per input image.
    pub fn input(&self) -> usize {
        self.layers[0].input
    }

    /// One Adam step on the minibatch x: [batch, input] with `labels`: [batch].
    /// `adam.time` is ignored: the step counter is kept here.
    pub fn step(&mut self, x: &[f32], labels: &[u8], adam: AdamStep) -> StepStats {
        let input = self.input();
        assert_eq!(x.len(), labels.len() * input, "x must be [batch, {input}]");
        self.step_filled(
            labels,
            &|rows, out| out.copy_from_slice(&x[rows.start * input..rows.end * input]),
            adam,
        )
    }

    /// [`step`](Self::step) on a batch whose images `fill` writes:
    /// `fill(rows, out)` writes the batch's images `rows` into out:
    /// [rows.len(), input]. It runs in parallel parts, each just before the
    /// first layer's product over the same rows, while they are in cache.
    pub fn step_filled(&mut self, labels: &[u8], fill: &Fill<'_>, adam: AdamStep) -> StepStats {
        let batch = labels.len();
        self.forward(batch, fill);
        let stats = self.softmax_cross_entropy(labels);
        self.backward(batch);
        self.time += 1;
        let adam = AdamStep {
            time: self.time,
            ..adam
        };
        for layer in &mut self.layers {
            adam.apply_transposed(
                &mut layer.weight,
                &layer.weight_grad_t,
                layer.input,
                &mut layer.weight_moments,
            );
            adam.apply(&mut layer.bias, &layer.bias_grad, &mut layer.bias_moments);
        }
        for norm in self.extras.iter_mut().filter_map(|e| e.norm.as_mut()) {
            norm.adam(&adam);
        }
        stats
    }

    /// Fills `x` and `outputs`: z = a · W + b per layer; on the hidden ones
    /// then BatchNorm, ReLU and dropout (those present).
    fn forward(&mut self, batch: usize, fill: &Fill<'_>) {
        let last = self.layers.len() - 1;
        let first_relu = self.relu_with_product(0);
        let first = &self.layers[0];
        self.x.resize(batch * first.input, 0.0);
        let out = &mut self.outputs[0];
        out.resize(batch * first.output, 0.0);
        // The first layer by row parts, one per thread: fill the images, then
        // their product, while the rows are in cache.
        let rows_per_part = batch.div_ceil(rayon::current_num_threads().max(1)).max(1);
        self.x
            .par_chunks_mut(rows_per_part * first.input)
            .zip(out.par_chunks_mut(rows_per_part * first.output))
            .enumerate()
            .for_each(|(part, (x, out))| {
                let start = part * rows_per_part;
                let rows = x.len() / first.input;
                fill(start..start + rows, x);
                linear_relu(
                    first,
                    MatRef::row_major(x, rows, first.input),
                    out,
                    first_relu,
                    matmul_serial,
                );
            });
        if last > 0 {
            self.finish_hidden(0);
        }
        for l in 1..=last {
            let relu = self.relu_with_product(l);
            let (before, rest) = self.outputs.split_at_mut(l);
            let layer = &self.layers[l];
            let out = &mut rest[0];
            out.resize(batch * layer.output, 0.0);
            let input = MatRef::row_major(&before[l - 1], batch, layer.input);
            linear_relu(layer, input, out, relu, matmul);
            if l < last {
                self.finish_hidden(l);
            }
        }
    }

    /// Whether layer `l`'s ReLU goes with its product: on hidden layers,
    /// unless a BatchNorm comes between.
    fn relu_with_product(&self, l: usize) -> bool {
        l + 1 < self.layers.len() && self.extras[l].norm.is_none()
    }

    /// After hidden layer `l`'s product: its BatchNorm and ReLU (when the
    /// product did not take the ReLU), then its dropout.
    fn finish_hidden(&mut self, l: usize) {
        let out = &mut self.outputs[l];
        let extras = &mut self.extras[l];
        if let Some(norm) = &mut extras.norm {
            norm.forward_train(out);
            relu_in_place(out);
        }
        if let Some(dropout) = &mut extras.dropout {
            dropout.forward_train(out, &mut self.rng);
        }
    }

    /// Turns the logits into the last layer's delta, (softmax - onehot) / batch,
    /// and returns the summed loss and the correct count.
    fn softmax_cross_entropy(&mut self, labels: &[u8]) -> StepStats {
        let last = self.layers.len() - 1;
        let classes = self.layers[last].output;
        let logits = &self.outputs[last];
        let delta = &mut self.deltas[last];
        delta.resize(logits.len(), 0.0);
        let scale = 1.0 / labels.len() as f32;
        let mut stats = StepStats {
            loss_sum: 0.0,
            correct: 0,
        };
        for ((z, d), &label) in logits
            .chunks_exact(classes)
            .zip(delta.chunks_exact_mut(classes))
            .zip(labels)
        {
            let label = usize::from(label);
            let (argmax, max) =
                z.iter().enumerate().fold(
                    (0, f32::NEG_INFINITY),
                    |best, (i, &v)| if v > best.1 { (i, v) } else { best },
                );
            let mut sum = 0.0;
            for (d, &v) in d.iter_mut().zip(z) {
                *d = (v - max).exp();
                sum += *d;
            }
            stats.loss_sum += f64::from(sum.ln() - (z[label] - max));
            stats.correct += usize::from(argmax == label);
            let norm = scale / sum;
            d.iter_mut().for_each(|d| *d *= norm);
            d[label] -= scale;
        }
        stats
    }

    /// From the last layer's delta: every weight and bias gradient, and the
    /// deltas of the hidden layers (through the ReLU masks).
    fn backward(&mut self, batch: usize) {
        for l in (0..self.layers.len()).rev() {
            let input = if l == 0 { &self.x[..] } else { &self.outputs[l - 1][..] };
            let (lower, upper) = self.deltas.split_at_mut(l);
            let delta = &upper[0][..batch * self.layers[l].output];
            let layer = &mut self.layers[l];
            // dWᵀ = δᵀ · a, db = column sums of δ.
            matmul(
                &mut layer.weight_grad_t,
                MatRef::row_major(delta, batch, layer.output).t(),
                MatRef::row_major(input, batch, layer.input),
                false,
            );
            layer.bias_grad.fill(0.0);
            // Before a BatchNorm the bias's gradient is zero (the batch mean
            // cancels any shift); summed, rounding leaves ~1e-9 of noise that
            // Adam would scale up into learning-rate-sized random steps. (Burn's
            // autodiff step takes them, which moves the running mean too.)
            let before_norm = l < self.extras.len() && self.extras[l].norm.is_some();
            if !before_norm {
                for row in delta.chunks_exact(layer.output) {
                    layer.bias_grad.iter_mut().zip(row).for_each(|(g, &d)| *g += d);
                }
            }
            if l > 0 {
                // δ of the layer below: back from its output a through its
                // dropout (the mask), its ReLU (a > 0, also false where
                // dropped) and its BatchNorm to its product.
                let below = &mut lower[l - 1];
                below.resize(batch * layer.input, 0.0);
                matmul(
                    below,
                    MatRef::row_major(delta, batch, layer.output),
                    layer.weight_in_out().t(),
                    false,
                );
                let extras = &mut self.extras[l - 1];
                if let Some(dropout) = &extras.dropout {
                    dropout.backward(below);
                }
                below.iter_mut().zip(&self.outputs[l - 1]).for_each(|(d, &a)| {
                    if a <= 0.0 {
                        *d = 0.0
                    }
                });
                if let Some(norm) = &mut extras.norm {
                    norm.backward(below);
                }
            }
        }
    }

    /// Writes the current weights into `model`, a copy of the network this was made from.
    pub fn write_into(&self, mut model: Mlp, device: &Device) -> Mlp {
        let (hidden, output) = self.layers.split_at(self.layers.len() - 1);
        model.hidden = model
            .hidden
            .into_iter()
            .zip(hidden.iter().zip(&self.extras))
            .map(|(mut block, (layer, extras))| {
                block.linear = layer.write_into(block.linear, device);
                block.norm = block
                    .norm
                    .zip(extras.norm.as_ref())
                    .map(|(n, f)| f.write_into(n, device));
                block
            })
            .collect();
        model.output = output[0].write_into(model.output, device);
        model
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::loss::CrossEntropyLossConfig;
    use mlp_model::{MlpConfig, WeightInit};

    use super::*;

    fn values(t: Tensor<2>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// Features per input of the small test networks.
    const INPUT: usize = 20;

    /// A small network with signal in every layer (Kaiming), a batch and labels.
    fn problem(hidden: Vec<usize>, batch: usize, seed: u64) -> (Mlp, Vec<f32>, Vec<u8>, Device) {
        problem_with_input(INPUT, hidden, batch, seed)
    }

    fn problem_with_input(
        input: usize,
        hidden: Vec<usize>,
        batch: usize,
        seed: u64,
    ) -> (Mlp, Vec<f32>, Vec<u8>, Device) {
        let device = Device::flex().autodiff();
        device.seed(seed);
        let config = MlpConfig::new(hidden)
            .with_input(input)
            .with_classes(4)
            .with_init(WeightInit::Kaiming);
        let model = config.init(&device);
        let x = values(Tensor::<2>::random(
            [batch, input],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        ));
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
        device.seed(3);
        let mut model = MlpConfig::new(vec![50, 40])
            .with_init(WeightInit::Kaiming)
            .init(&device);
        let mut fused = FusedMlp::from_model(&model, 0);
        let mut optimizer = burn_adam();
        let loss_fn = CrossEntropyLossConfig::new().init(&device);
        let normal = burn::tensor::Distribution::Normal(0.0, 1.0);
        for step in 0..15 {
            let x = values(Tensor::<2>::random([200, 3072], normal, &device));
            let labels: Vec<u8> = (0..200).map(|i| ((i * 7 + step) % 10) as u8).collect();
            let stats = fused.step(&x, &labels, adam(1e-3));
            let (x, y) = tensors(&x, &labels, &device);
            let loss = loss_fn.forward(model.forward(x), y);
            let autodiff_loss = loss.clone().into_scalar::<f64>();
            let fused_loss = stats.loss_sum / 200.0;
            assert!(
                (fused_loss - autodiff_loss).abs() < 1e-6,
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
        batch: usize,
        seed: u64,
    ) -> (Mlp, Vec<f32>, Vec<u8>, Device) {
        let (_, x, labels, device) = problem_with_input(input, hidden.clone(), batch, seed);
        device.seed(seed);
        let model = MlpConfig::new(hidden)
            .with_input(input)
            .with_classes(4)
            .with_init(WeightInit::Kaiming)
            .with_batch_norm(batch_norm)
            .with_dropout(dropout)
            .init(&device);
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
            x = burn::tensor::activation::relu(x);
            if let Some(dropout) = &extras.dropout {
                let dims = x.dims();
                let mask = TensorData::new(dropout.mask().to_vec(), dims);
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
        // (input, hidden, batch_norm, dropout, batch, seed); the last case's
        // first product is split across cores, with the BatchNorm after it.
        for (input, hidden, batch_norm, dropout, batch, seed) in [
            (INPUT, vec![9], true, 0.0, 12, 1),
            (INPUT, vec![9, 7, 5], true, 0.0, 31, 2),
            (INPUT, vec![9, 7], false, 0.4, 16, 3),
            (INPUT, vec![9, 7], true, 0.4, 16, 4),
            (1000, vec![40, 6], true, 0.4, 50, 5),
        ] {
            let case = format!("{hidden:?} bn {batch_norm} dropout {dropout}");
            let (model, x, labels, device) =
                problem_with_extras(input, hidden.clone(), batch_norm, dropout, batch, seed);
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
        let (mut model, x, labels, device) = problem_with_extras(INPUT, vec![9, 7], true, 0.0, 16, 7);
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
        let (model, x, labels, _) = problem_with_extras(INPUT, vec![50], false, 0.4, 200, 8);
        let masks = |seed: u64| {
            let mut fused = FusedMlp::from_model(&model, seed);
            fused.step(&x, &labels, adam(1e-3));
            let first = fused.extras[0].dropout.as_ref().unwrap().mask().to_vec();
            fused.step(&x, &labels, adam(1e-3));
            (first, fused.extras[0].dropout.as_ref().unwrap().mask().to_vec())
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
}
