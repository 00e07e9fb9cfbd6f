//! The fused CPU training step for the MLPs of mlp-model (Linear, optional
//! BatchNorm, ReLU or tanh, optional dropout): forward, cross-entropy, backward and
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
//!
//! This file is one concept, the step of the whole network (its layers'
//! forward and backward passes and the step that ties them), so it stays one
//! file of about 420 lines; the parts that stand alone are beside it (Adam,
//! BatchNorm, dropout, the split matrix products, the first layer's
//! gradient-and-Adam pass, the shared pass) and its tests in `tests.rs`.

mod adam;
mod batch_norm;
mod dropout;
mod first_layer;
pub mod gemm;
pub mod shared;
mod stepper;

use std::ops::Range;

use burn::module::Param;
use burn::prelude::*;
use mlp_model::{Activation, Mlp};

use super::engines::masks;
pub use adam::{AdamStep, Moments};
use batch_norm::FusedBatchNorm;
use dropout::FusedDropout;
use gemm::{MatRef, matmul, matmul_serial};
use rand::rngs::StdRng;
use rayon::prelude::*;
pub(crate) use stepper::FusedStepper;

/// One Linear layer. The weight is stored `[in, out]`, as Burn's `Linear`
/// holds it, and its gradient `[out, in]`: `x · W` runs fastest with the
/// former and `δᵀ · x` with the latter (`gemm`'s microkernels favour one
/// orientation of the output); Adam reads the gradient transposed. The
/// first layer's gradient is the exception: a training step computes it in
/// the weight's own layout, chunk by chunk inside Adam (`first_layer`).
struct FusedLinear {
    input: usize,
    output: usize,
    /// [input, output]
    weight: Vec<f32>,
    /// [output]
    bias: Vec<f32>,
    /// [output, input]; empty for the first layer until asked for whole
    /// (`weight_gradient`, which the tests use).
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

    /// Writes `weight` ([in, out], this layer's or a copy of it) and the
    /// bias into `linear` (its `[in, out]` layout), without reading what
    /// `linear` held: it may be a skeleton's lazy, never-drawn parameters.
    fn write_weight_into(&self, weight: &[f32], linear: burn::nn::Linear, device: &Device) -> burn::nn::Linear {
        let weight = TensorData::new(weight.to_vec(), [self.input, self.output]);
        let bias = TensorData::new(self.bias.clone(), [self.output]);
        burn::nn::Linear {
            weight: replaced(linear.weight, Tensor::from_data(weight, device)),
            bias: linear.bias.map(|b| replaced(b, Tensor::from_data(bias, device))),
        }
    }
}

/// `param` holding `value` instead, under its id, and trainable (as every
/// parameter this writes is in the model's own init: a probe that moves the
/// model to the autodiff device takes its gradients); what it held is not
/// read (a lazy parameter stays undrawn).
fn replaced<const D: usize>(param: Param<Tensor<D>>, value: Tensor<D>) -> Param<Tensor<D>> {
    Param::initialized(param.id, value).set_require_grad(true)
}

/// Writes the batch's images `rows` into a buffer of `rows.len()` images.
pub type Fill<'a> = dyn Fn(Range<usize>, &mut [f32]) + Sync + 'a;

/// out = input · W + b, then `activation` where there is one.
/// out: [rows, layer.output].
fn linear_activated(
    layer: &FusedLinear,
    input: MatRef,
    out: &mut [f32],
    activation: Option<Activation>,
    product: fn(&mut [f32], MatRef, MatRef, bool),
) {
    // The bias first, then the product accumulated onto it: no extra pass.
    for row in out.chunks_exact_mut(layer.output) {
        row.copy_from_slice(&layer.bias);
    }
    product(out, input, layer.weight_in_out(), true);
    if let Some(activation) = activation {
        activate_in_place(out, activation);
    }
}

/// The activation, elementwise, keeping NaN (as Burn's ReLU does, so a
/// diverging run shows a NaN loss rather than silently zeroed units).
fn activate_in_place(values: &mut [f32], activation: Activation) {
    match activation {
        Activation::Relu => values.iter_mut().for_each(|v| {
            if *v < 0.0 {
                *v = 0.0
            }
        }),
        Activation::Tanh => values.iter_mut().for_each(|v| *v = v.tanh()),
    }
}

/// delta: dLoss/d(activation output) in, dLoss/d(activation input) out,
/// from the layer's `outputs` a = φ(z) · mask: ReLU passes where a > 0
/// (false where dropped), tanh multiplies by 1 − φ(z)², with φ(z) = a / mask
/// where a unit was kept (`scale`, the dropout mask, if any; a dropped
/// unit's delta is already 0).
fn activation_backward(delta: &mut [f32], outputs: &[f32], activation: Activation, scale: Option<&[f32]>) {
    match (activation, scale) {
        (Activation::Relu, _) => delta.iter_mut().zip(outputs).for_each(|(d, &a)| {
            if a <= 0.0 {
                *d = 0.0
            }
        }),
        (Activation::Tanh, None) => delta.iter_mut().zip(outputs).for_each(|(d, &a)| *d *= 1.0 - a * a),
        (Activation::Tanh, Some(scale)) => {
            for ((d, &a), &s) in delta.iter_mut().zip(outputs).zip(scale) {
                if s != 0.0 {
                    let t = a / s;
                    *d *= 1.0 - t * t;
                }
            }
        }
    }
}

/// What follows a hidden layer's Linear besides the activation.
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

/// A step's activation buffers, lent to the networks of a shared pass one
/// step at a time ([`FusedMlp::swap_activations`]): they are needed only
/// within a network's step, so a pass keeps one set per core, not one per
/// network.
#[derive(Default)]
struct Activations {
    outputs: Vec<Vec<f32>>,
    deltas: Vec<Vec<f32>>,
}

/// An MLP and its Adam state on host buffers, trained one minibatch at a time.
pub struct FusedMlp {
    layers: Vec<FusedLinear>,
    /// Per hidden layer, its BatchNorm and dropout, if any.
    extras: Vec<HiddenExtras>,
    /// The hidden layers' nonlinearity.
    activation: Activation,
    /// Draws the dropout masks.
    rng: StdRng,
    /// The current batch's images: [batch, input].
    x: Vec<f32>,
    /// Per layer, its output for the current batch: [batch, out], after the
    /// activation (and dropout) for hidden layers, the logits for the last.
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
        // Residual layers are not written out here; training one as if it were
        // plain would be silently wrong. `Engine::refusal` sends residual
        // networks to autodiff, so no caller asks.
        assert!(
            model.hidden.iter().all(|block| !block.residual),
            "the fused step has no residual layers: train residual networks through Burn's autodiff"
        );
        let mut layers: Vec<FusedLinear> = model
            .hidden
            .iter()
            .map(|block| &block.linear)
            .chain(std::iter::once(&model.output))
            .map(FusedLinear::from_burn)
            .collect();
        // Computed chunk by chunk within Adam when training; allocated only
        // when asked for whole (`weight_gradient`).
        layers[0].weight_grad_t = Vec::new();
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
            activation: model.activation(),
            rng: masks::dropout_rng(seed),
            time: 0,
        }
    }

    /// Swaps this network's activation buffers (every layer's output and
    /// every delta above the first layer's) with `scratch`'s: once to lend
    /// them for a step, once more to give them back. The first layer's delta
    /// stays: a shared pass reads it after the step.
    fn swap_activations(&mut self, scratch: &mut Activations) {
        let layers = self.layers.len();
        if scratch.outputs.len() < layers {
            scratch.outputs.resize_with(layers, Vec::new);
            scratch.deltas.resize_with(layers, Vec::new);
        }
        for (own, lent) in self.outputs.iter_mut().zip(&mut scratch.outputs) {
            std::mem::swap(own, lent);
        }
        for (own, lent) in self.deltas.iter_mut().zip(&mut scratch.deltas).skip(1) {
            std::mem::swap(own, lent);
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
        self.backward_above_first(batch);
        self.bias_gradient(0, batch);
        let adam = self.next_adam(adam);
        // The first layer's weight gradient is computed within its Adam
        // step, chunk by chunk (see `first_layer`).
        let first = &mut self.layers[0];
        first_layer::gradient_and_adam(
            &[(adam, 0..first.output)],
            &mut first.weight,
            &mut first.weight_moments,
            &self.x[..batch * first.input],
            &self.deltas[0][..batch * first.output],
            batch,
        );
        self.apply_adam_but_first_weight(adam);
        stats
    }

    /// Counts a step: `adam` at this network's step number.
    fn next_adam(&mut self, adam: AdamStep) -> AdamStep {
        self.time += 1;
        AdamStep {
            time: self.time,
            ..adam
        }
    }

    /// Adam (from [`next_adam`](Self::next_adam)) on every parameter but the
    /// first layer's weight (a shared pass keeps that one side by side with
    /// the other networks'). Each update is element-wise, so the order of
    /// the parameters changes no number.
    fn apply_adam_but_first_weight(&mut self, adam: AdamStep) {
        for (l, layer) in self.layers.iter_mut().enumerate() {
            if l > 0 {
                adam.apply_transposed(
                    &mut layer.weight,
                    &layer.weight_grad_t,
                    layer.input,
                    &mut layer.weight_moments,
                );
            }
            adam.apply(&mut layer.bias, &layer.bias_grad, &mut layer.bias_moments);
        }
        for norm in self.extras.iter_mut().filter_map(|e| e.norm.as_mut()) {
            norm.adam(&adam);
        }
    }

    /// Fills `x` and `outputs`: z = a · W + b per layer; on the hidden ones
    /// then BatchNorm, the activation and dropout (those present).
    fn forward(&mut self, batch: usize, fill: &Fill<'_>) {
        let first_activation = self.activation_with_product(0);
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
                linear_activated(
                    first,
                    MatRef::row_major(x, rows, first.input),
                    out,
                    first_activation,
                    matmul_serial,
                );
            });
        self.forward_after_first(batch);
    }

    /// The forward pass from the first layer's output on (`outputs[0]`,
    /// after its product and any activation that goes with it): its
    /// BatchNorm, activation and dropout, then every later layer.
    fn forward_after_first(&mut self, batch: usize) {
        let last = self.layers.len() - 1;
        if last > 0 {
            self.finish_hidden(0);
        }
        for l in 1..=last {
            let activation = self.activation_with_product(l);
            let (before, rest) = self.outputs.split_at_mut(l);
            let layer = &self.layers[l];
            let out = &mut rest[0];
            out.resize(batch * layer.output, 0.0);
            let input = MatRef::row_major(&before[l - 1], batch, layer.input);
            linear_activated(layer, input, out, activation, matmul);
            if l < last {
                self.finish_hidden(l);
            }
        }
    }

    /// The activation that goes with layer `l`'s product: on hidden layers,
    /// unless a BatchNorm comes between.
    fn activation_with_product(&self, l: usize) -> Option<Activation> {
        (l + 1 < self.layers.len() && self.extras[l].norm.is_none()).then_some(self.activation)
    }

    /// After hidden layer `l`'s product: its BatchNorm and activation (when
    /// the product did not take it), then its dropout.
    fn finish_hidden(&mut self, l: usize) {
        let out = &mut self.outputs[l];
        let extras = &mut self.extras[l];
        if let Some(norm) = &mut extras.norm {
            norm.forward_train(out);
            activate_in_place(out, self.activation);
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
    /// deltas of the hidden layers (through their activations). (The
    /// training step computes the first layer's weight gradient within
    /// Adam instead.)
    #[cfg(test)]
    fn backward(&mut self, batch: usize) {
        self.backward_above_first(batch);
        self.weight_gradient(0, batch);
        self.bias_gradient(0, batch);
    }

    /// [`backward`](Self::backward) down to the first layer's delta
    /// (`deltas[0]`): every gradient but the first layer's.
    fn backward_above_first(&mut self, batch: usize) {
        for l in (1..self.layers.len()).rev() {
            self.weight_gradient(l, batch);
            self.bias_gradient(l, batch);
            self.delta_below(l, batch);
        }
    }

    /// Layer `l`'s dWᵀ = δᵀ · a (a: its input, the images for the first layer).
    fn weight_gradient(&mut self, l: usize, batch: usize) {
        let input = if l == 0 { &self.x[..] } else { &self.outputs[l - 1][..] };
        let delta = &self.deltas[l][..batch * self.layers[l].output];
        let layer = &mut self.layers[l];
        // The training step never stores the first layer's (it goes into
        // Adam chunk by chunk): it is allocated when asked for.
        layer.weight_grad_t.resize(layer.input * layer.output, 0.0);
        matmul(
            &mut layer.weight_grad_t,
            MatRef::row_major(delta, batch, layer.output).t(),
            MatRef::row_major(input, batch, layer.input),
            false,
        );
    }

    /// Layer `l`'s db = column sums of δ.
    fn bias_gradient(&mut self, l: usize, batch: usize) {
        let delta = &self.deltas[l][..batch * self.layers[l].output];
        let layer = &mut self.layers[l];
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
    }

    /// The delta of the layer below `l` (l ≥ 1), from l's delta.
    fn delta_below(&mut self, l: usize, batch: usize) {
        let (lower, upper) = self.deltas.split_at_mut(l);
        let delta = &upper[0][..batch * self.layers[l].output];
        let layer = &self.layers[l];
        // Back from the output a of the layer below through its dropout (the
        // mask), its activation and its BatchNorm to its product.
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
        let scale = extras.dropout.as_ref().map(FusedDropout::scale);
        activation_backward(below, &self.outputs[l - 1], self.activation, scale);
        if let Some(norm) = &mut extras.norm {
            norm.backward(below);
        }
    }

    /// Writes the current weights into `model`: the network this was made
    /// from, a copy of it, or its config's skeleton (nothing of it is read).
    pub fn write_into(&self, model: Mlp, device: &Device) -> Mlp {
        self.write_into_with_first(model, device, &self.layers[0].weight)
    }

    /// [`write_into`](Self::write_into) with `first` ([input, output]) as the
    /// first layer's weight: a shared pass keeps it.
    fn write_into_with_first(&self, mut model: Mlp, device: &Device, first: &[f32]) -> Mlp {
        let write = |l: usize, linear| {
            let layer: &FusedLinear = &self.layers[l];
            layer.write_weight_into(if l == 0 { first } else { &layer.weight }, linear, device)
        };
        let last = self.layers.len() - 1;
        model.hidden = model
            .hidden
            .into_iter()
            .zip(&self.extras)
            .enumerate()
            .map(|(l, (mut block, extras))| {
                block.linear = write(l, block.linear);
                block.norm = block
                    .norm
                    .zip(extras.norm.as_ref())
                    .map(|(n, f)| f.write_into(n, device));
                block
            })
            .collect();
        model.output = write(last, model.output);
        model
    }
}

#[cfg(test)]
mod tests;
