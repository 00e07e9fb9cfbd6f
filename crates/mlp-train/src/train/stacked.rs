//! The stacked step: `k` networks of the same layer shapes trained as one
//! model, on any device. Every weight is stacked along a leading network
//! axis (`[k, in, out]`), so one batched matrix product, one bias add, one
//! activation, one backward and one Adam update per parameter serve the whole
//! group: a GPU launches the kernels of one network's step for all `k`,
//! instead of `k` times as many small ones (the host's dispatch overhead,
//! not the arithmetic, is what a step of these small networks costs there).
//!
//! Nothing is shared between the networks but the kernels: each has its own
//! initial weights (its own seeded Burn model), its own batch of its own
//! data order, its own dropout probability and masks (from its own seeded
//! generator, the fused step's stream), its own BatchNorm statistics over
//! its own batch, its own learning rate and L2 coefficient in an
//! element-wise Adam. The loss is the sum of the networks' mean losses, so
//! network `j`'s gradients are those of its own loss: a network that
//! diverges (NaN) leaves the others' numbers untouched, and a network's
//! numbers do not depend on which others share its group (on flex the
//! tables are identical, bit for bit, for every group size (tested); a GPU
//! may tile a batched product differently, which changes float rounding).

use burn::module::{Param, RunningState};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use mlp_model::{Activation, Mlp, MlpConfig};
use rand::rngs::StdRng;

use super::config::{Optimizer, TrainConfig};
use super::data::{Batches, Split};
use super::device_work::read_sums;
use super::engines::masks::{draw_mask, dropout_rng};
use super::engines::{ADAM_BETA_1, ADAM_BETA_2, Stepper};

/// One parameter of the group, with its optimiser state: [k, rows, cols].
struct StackedParam {
    value: Tensor<3>,
    /// Adam's moments; `None` before the first step (and for SGD).
    moments: Option<(Tensor<3>, Tensor<3>)>,
}

impl StackedParam {
    fn new(value: Tensor<3>) -> Self {
        StackedParam { value, moments: None }
    }

    /// The parameter as a gradient-tracking leaf.
    fn tracked(&self) -> Tensor<3> {
        self.value.clone().autodiff().require_grad()
    }
}

/// BatchNorm of one hidden layer, per network.
struct StackedNorm {
    /// [k, 1, width]
    gamma: StackedParam,
    beta: StackedParam,
    running_mean: Tensor<3>,
    running_var: Tensor<3>,
    momentum: f64,
    epsilon: f64,
}

/// One Linear layer and what follows it.
struct StackedLayer {
    /// [k, in, out]
    weight: StackedParam,
    /// [k, 1, out]
    bias: StackedParam,
    norm: Option<StackedNorm>,
    /// Adds the layer's input to its output (hidden layers with in == out).
    residual: bool,
}

/// A group's dropout: per network its keep probability and mask generator.
struct GroupDropout {
    /// 1 - p per network; 1 for a network without dropout.
    keep: Vec<f32>,
    rngs: Vec<StdRng>,
}

/// What a hidden layer's forward pass leaves for the running statistics.
struct BatchMoments {
    mean: Tensor<3>,
    var: Tensor<3>,
}

/// The stacked step of a group of networks on one device.
pub(crate) struct StackedStepper<'a> {
    /// Hidden layers, then the output layer.
    layers: Vec<StackedLayer>,
    /// The hidden layers' nonlinearity (one for the group: `same_shapes`).
    activation: Activation,
    /// Per network, its structure: an evaluation model is its skeleton
    /// with the network's slice of the stacked weights written in (no copy
    /// of the weights is kept for it).
    configs: Vec<MlpConfig>,
    optimizer: Optimizer,
    epsilon: f32,
    /// Adam's step count, from 1.
    time: i32,
    /// [k, 1, 1]
    weight_decay: Tensor<3>,
    /// The learning rates of the current epoch, and as a tensor [k, 1, 1].
    lr: (Vec<f64>, Tensor<3>),
    dropout: Option<GroupDropout>,
    train: Split<'a>,
    device: Device,
    input: usize,
    /// Per network, on the device until the epoch ends: [k]
    loss_sum: Tensor<1>,
    correct: Tensor<1, Int>,
}

impl<'a> StackedStepper<'a> {
    /// Stacks `models` (one per network, any device, built from `configs`;
    /// the same layer shapes, BatchNorm, residual layers and activation in
    /// all) with their recipes and seeds (`seeds` seed the dropout masks).
    /// Trains on `device` (its plain form holds the weights; each step
    /// tracks gradients on its autodiff form).
    pub fn new(
        models: &[Mlp],
        configs: &[&MlpConfig],
        recipes: &[&TrainConfig],
        seeds: &[u64],
        train: Split<'a>,
        device: &Device,
    ) -> Self {
        assert_eq!(models.len(), configs.len(), "one config per network");
        let device = device.clone().without_autodiff();
        let k = models.len();
        let eval_mode: Vec<Mlp> = models.iter().map(|m| m.valid()).collect();
        let first = &eval_mode[0];
        // Per network `part` of its model, stacked: [k, rows, cols].
        let stacked = |part: &dyn Fn(&Mlp) -> Tensor<2>| Tensor::stack::<3>(eval_mode.iter().map(part).collect(), 0);
        let param = |part: &dyn Fn(&Mlp) -> Tensor<2>| StackedParam::new(stacked(part));
        let row = |t: Tensor<1>| t.unsqueeze_dim::<2>(0);
        let mut layers = Vec::with_capacity(first.linear_layers());
        for (l, block) in first.hidden.iter().enumerate() {
            let norm = block.norm.as_ref().map(|norm| StackedNorm {
                gamma: param(&|m: &Mlp| row(norm_of(m, l).gamma.val())),
                beta: param(&|m: &Mlp| row(norm_of(m, l).beta.val())),
                running_mean: stacked(&|m: &Mlp| row(norm_of(m, l).running_mean.value_sync())),
                running_var: stacked(&|m: &Mlp| row(norm_of(m, l).running_var.value_sync())),
                momentum: norm.momentum,
                epsilon: norm.epsilon,
            });
            layers.push(StackedLayer {
                weight: param(&|m: &Mlp| m.hidden[l].linear.weight.val()),
                bias: param(&|m: &Mlp| row(linear_bias(&m.hidden[l].linear))),
                norm,
                residual: block.residual,
            });
        }
        layers.push(StackedLayer {
            weight: param(&|m: &Mlp| m.output.weight.val()),
            bias: param(&|m: &Mlp| row(linear_bias(&m.output))),
            norm: None,
            residual: false,
        });

        let keep: Vec<f32> = models.iter().map(|m| (1.0 - m.dropout()) as f32).collect();
        let dropout = keep.iter().any(|&keep| keep < 1.0).then(|| GroupDropout {
            keep,
            rngs: seeds.iter().map(|&seed| dropout_rng(seed)).collect(),
        });
        let per_network = |values: Vec<f32>| Tensor::<3>::from_data(TensorData::new(values, [k, 1, 1]), &device);
        let input = first.hidden.first().map_or(&first.output, |b| &b.linear).weight.dims()[0];
        StackedStepper {
            layers,
            activation: first.activation(),
            configs: configs.iter().map(|&config| config.clone()).collect(),
            optimizer: recipes[0].optimizer(),
            epsilon: recipes[0].adam_epsilon as f32,
            time: 0,
            weight_decay: per_network(recipes.iter().map(|r| r.weight_decay as f32).collect()),
            lr: (Vec::new(), per_network(vec![0.0; k])),
            dropout,
            train,
            loss_sum: Tensor::zeros([k], &device),
            correct: Tensor::zeros([k], &device),
            device,
            input,
        }
    }

    fn members(&self) -> usize {
        self.configs.len()
    }

    /// This step's dropout masks of every hidden layer, 0 or `1 / keep` per
    /// unit, [k, batch, width] (all ones for a network without dropout);
    /// drawn network by network, layer by layer, in the fused step's order.
    fn draw_masks(&mut self, batch: usize) -> Option<Vec<Tensor<3>>> {
        let dropout = self.dropout.as_mut()?;
        let k = self.configs.len();
        let widths: Vec<usize> = self.layers[..self.layers.len() - 1]
            .iter()
            .map(|layer| layer.weight.value.dims()[2])
            .collect();
        let mut masks: Vec<Vec<f32>> = widths.iter().map(|&w| Vec::with_capacity(k * batch * w)).collect();
        for (j, (&keep, rng)) in dropout.keep.iter().zip(&mut dropout.rngs).enumerate() {
            // The fused step draws layer after layer within a step.
            for (mask, &width) in masks.iter_mut().zip(&widths) {
                debug_assert_eq!(mask.len(), j * batch * width);
                if keep < 1.0 {
                    draw_mask(rng, keep, batch * width, mask);
                } else {
                    mask.extend(std::iter::repeat_n(1.0, batch * width));
                }
            }
        }
        Some(
            masks
                .into_iter()
                .zip(&widths)
                .map(|(mask, &width)| Tensor::from_data(TensorData::new(mask, [k, batch, width]), &self.device))
                .collect(),
        )
    }

    fn update(&self, param: &mut StackedParam, grad: Tensor<3>) {
        let lr = self.lr.1.clone();
        let grad = grad + param.value.clone() * self.weight_decay.clone();
        match self.optimizer {
            Optimizer::Sgd => param.value = param.value.clone() - grad * lr,
            Optimizer::Adam => {
                // Burn's Adam (and the fused step's), element-wise per network.
                let (first, second) = match param.moments.take() {
                    Some((first, second)) => (
                        first.mul_scalar(ADAM_BETA_1) + grad.clone().mul_scalar(1.0 - ADAM_BETA_1),
                        second.mul_scalar(ADAM_BETA_2) + grad.square().mul_scalar(1.0 - ADAM_BETA_2),
                    ),
                    None => (
                        grad.clone().mul_scalar(1.0 - ADAM_BETA_1),
                        grad.square().mul_scalar(1.0 - ADAM_BETA_2),
                    ),
                };
                let bias_correction_2 = (1.0 - ADAM_BETA_2.powi(self.time)).sqrt();
                let factor = bias_correction_2 / (1.0 - ADAM_BETA_1.powi(self.time));
                let step = first
                    .clone()
                    .mul_scalar(factor)
                    .div(second.clone().sqrt().add_scalar(self.epsilon * bias_correction_2));
                param.value = param.value.clone() - step * lr;
                param.moments = Some((first, second));
            }
        }
    }
}

impl Stepper for StackedStepper<'_> {
    fn step(&mut self, batches: &[&[usize]], lrs: &[f64]) {
        let k = self.members();
        assert!(batches.len() == k && lrs.len() == k, "one batch and one lr per network");
        let batch = batches[0].len();
        assert!(
            batches.iter().all(|b| b.len() == batch),
            "the networks' batches have one size"
        );
        if self.lr.0 != lrs {
            let values = lrs.iter().map(|&lr| lr as f32).collect();
            self.lr = (
                lrs.to_vec(),
                Tensor::from_data(TensorData::new(values, [k, 1, 1]), &self.device),
            );
        }
        self.time += 1;
        let masks = self.draw_masks(batch);

        let indices: Vec<usize> = batches.concat();
        let (x, y) = self.train.batch(&indices, &self.device);
        let mut x = x.reshape([k, batch, self.input]).autodiff(); // [k, batch, input]
        let y = y.reshape([k, batch, 1]); // [k, batch, 1]

        let tracked: Vec<_> = self
            .layers
            .iter()
            .map(|layer| {
                let norm = layer.norm.as_ref().map(|n| (n.gamma.tracked(), n.beta.tracked()));
                (layer.weight.tracked(), layer.bias.tracked(), norm)
            })
            .collect();
        let hidden = self.layers.len() - 1;
        let mut moments = Vec::with_capacity(hidden);
        for (l, (layer, (weight, bias, norm))) in self.layers.iter().zip(&tracked).enumerate().take(hidden) {
            let mut z = x.clone().matmul(weight.clone()) + bias.clone(); // [k, batch, width]
            if let (Some(spec), Some((gamma, beta))) = (&layer.norm, norm) {
                // Biased batch variance, as Burn's BatchNorm (and the fused step).
                let mean = z.clone().mean_dim(1); // [k, 1, width]
                let centred = z - mean.clone();
                let var = centred.clone().square().mean_dim(1);
                z = centred / var.clone().add_scalar(spec.epsilon).sqrt() * gamma.clone() + beta.clone();
                moments.push(Some(BatchMoments {
                    mean: mean.detach().inner(),
                    var: var.detach().inner(),
                }));
            } else {
                moments.push(None);
            }
            let mut a = self.activation.forward(z);
            if let Some(masks) = &masks {
                a = a * masks[l].clone().autodiff();
            }
            x = if layer.residual { x + a } else { a };
        }
        let (weight, bias, _) = &tracked[hidden];
        let logits = x.matmul(weight.clone()) + bias.clone(); // [k, batch, classes]
        let picked = log_softmax(logits.clone(), 2).gather(2, y.clone()); // [k, batch, 1]
        let losses = picked.sum_dim(1).reshape([k]).mul_scalar(-1.0 / batch as f64); // [k]
        let grads = losses.clone().sum().backward();

        self.loss_sum = self.loss_sum.clone() + losses.detach().inner().mul_scalar(batch as f64);
        let predicted = logits.detach().inner().argmax(2); // [k, batch, 1]
        self.correct = self.correct.clone() + predicted.equal(y).int().sum_dim(1).reshape([k]);

        let mut layers = std::mem::take(&mut self.layers);
        for (layer, (weight, bias, norm)) in layers.iter_mut().zip(tracked) {
            self.update(&mut layer.weight, weight.grad(&grads).expect("every weight is used"));
            self.update(&mut layer.bias, bias.grad(&grads).expect("every bias is used"));
            if let (Some(spec), Some((gamma, beta))) = (&mut layer.norm, norm) {
                self.update(&mut spec.gamma, gamma.grad(&grads).expect("gamma is used"));
                self.update(&mut spec.beta, beta.grad(&grads).expect("beta is used"));
            }
        }
        for (layer, moments) in layers.iter_mut().zip(moments) {
            if let (Some(norm), Some(BatchMoments { mean, var })) = (&mut layer.norm, moments) {
                let m = norm.momentum;
                norm.running_mean = norm.running_mean.clone().mul_scalar(1.0 - m) + mean.mul_scalar(m);
                norm.running_var = norm.running_var.clone().mul_scalar(1.0 - m) + var.mul_scalar(m);
            }
        }
        self.layers = layers;
    }

    fn epoch_sums(&self) -> Vec<(f64, f64)> {
        // One read for the whole group.
        read_sums(self.loss_sum.clone(), self.correct.clone())
    }

    fn reset_sums(&mut self) {
        self.loss_sum = self.loss_sum.clone().zeros_like();
        self.correct = self.correct.clone().zeros_like();
    }

    fn eval_model(&self, member: usize) -> Mlp {
        // Every parameter below is replaced, so the skeleton's are never drawn.
        let mut model = self.configs[member].skeleton(&self.device);
        let take = |t: &Tensor<3>| {
            let [_, rows, cols] = t.dims();
            t.clone().slice(member..member + 1).reshape([rows, cols])
        };
        let take_row = |t: &Tensor<3>| {
            let [_, _, cols] = t.dims();
            t.clone().slice(member..member + 1).reshape([cols])
        };
        let linears = model
            .hidden
            .iter_mut()
            .map(|block| (&mut block.linear, block.norm.as_mut()))
            .chain(std::iter::once((&mut model.output, None)));
        for ((linear, norm), layer) in linears.zip(&self.layers) {
            linear.weight = Param::from_tensor(take(&layer.weight.value));
            linear.bias = Some(Param::from_tensor(take_row(&layer.bias.value)));
            if let (Some(norm), Some(stacked)) = (norm, &layer.norm) {
                norm.gamma = Param::from_tensor(take_row(&stacked.gamma.value));
                norm.beta = Param::from_tensor(take_row(&stacked.beta.value));
                norm.running_mean = RunningState::new(take_row(&stacked.running_mean));
                norm.running_var = RunningState::new(take_row(&stacked.running_var));
            }
        }
        model
    }
}

/// Hidden layer `l`'s BatchNorm (a group's networks all have one there).
fn norm_of(model: &Mlp, l: usize) -> &burn::nn::BatchNorm {
    model.hidden[l]
        .norm
        .as_ref()
        .expect("a group's networks have the same kinds of layers")
}

/// The bias of a Linear layer of mlp-model (every one has one, at zero).
fn linear_bias(linear: &burn::nn::Linear) -> Tensor<1> {
    linear
        .bias
        .as_ref()
        .expect("mlp-model's Linear layers have a bias")
        .val()
}
