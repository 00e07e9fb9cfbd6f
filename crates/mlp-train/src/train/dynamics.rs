//! The dynamics probe: how the signal and the gradients move layer by layer
//! while a network trains (after Glorot & Bengio, 2010). At initialisation
//! and after every epoch, the eval-mode network runs forward and backward on
//! one fixed batch of training images.
//!
//! The network is measured as a training step sees it, less dropout's
//! noise: BatchNorm normalises over the probe batch (at initialisation the
//! running statistics are still 0 and 1, and an eval-mode pass would show a
//! BatchNorm network collapsing like a plain one), dropout passes through.
//!
//! It changes nothing about the run: it reads the weights of the eval-mode
//! model the loop already builds for validation, its batch is chosen by
//! position (no random draw), and its pass ([`Mlp::forward_pure`]) leaves
//! BatchNorm's running statistics alone and draws nothing from Burn's random
//! generator. Both engines and every device give it the same model, so it
//! measures them all the same way.

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::tensor::DType;
use mlp_model::{Activation, Mlp, NormStatistics};
use serde::{Deserialize, Serialize};

use super::data::TrainData;
use super::device_work::read_f64;

/// Images in the probe batch (fewer when the training split is smaller).
pub const PROBE_IMAGES: usize = 500;

/// A tanh unit is saturated where |tanh(z)| exceeds this (1 − tanh² < 0.02).
pub const SATURATED: f64 = 0.99;

/// One layer of one network at one moment of its training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerDynamics {
    /// 0 at initialisation, then the epoch just finished.
    pub epoch: usize,
    /// 1-based index of the Linear layer (the last one gives the logits).
    pub layer: usize,
    /// Mean, standard deviation and RMS of the layer's output over the probe
    /// batch: after the activation (and the residual sum) for a hidden
    /// layer, the logits for the last.
    pub activation_mean: f64,
    pub activation_std: f64,
    pub activation_rms: f64,
    /// Fraction of the layer's ReLU units that output 0 for every probe
    /// image; `None` for the output layer and for tanh layers.
    pub dead_fraction: Option<f64>,
    /// tanh's counterpart: the fraction of the layer's units with
    /// |tanh| > [`SATURATED`] on every probe image, where its gradient is
    /// below 2% of its largest; `None` for the output layer and ReLU layers.
    pub saturated_fraction: Option<f64>,
    /// Frobenius norm of dLoss/dW on the probe batch.
    pub weight_grad_norm: f64,
    /// ‖W_now − W_before‖ / ‖W_before‖ over the epoch; `None` at initialisation.
    pub update_ratio: Option<f64>,
}

/// The fixed batch and the weights of the previous measurement. A clone
/// shares the batch's tensors (a group's members measure on one copy).
#[derive(Clone)]
pub(crate) struct DynamicsProbe {
    /// [images, 3072], on the autodiff device.
    x: Tensor<2>,
    /// [images]
    y: Tensor<1, Int>,
    ad: Device,
    /// Every Linear weight at the previous measurement, on the plain device.
    previous: Option<Vec<Tensor<2>>>,
}

impl DynamicsProbe {
    /// The probe batch: [`PROBE_IMAGES`] training images spread evenly over
    /// the split, the same for every run of a job. `ad` is the autodiff
    /// form of the training device.
    pub fn new(data: &TrainData, ad: &Device) -> Self {
        let n = data.train.len();
        let images = PROBE_IMAGES.min(n);
        let indices: Vec<usize> = (0..images).map(|i| i * n / images).collect();
        let (x, y) = data.train.batch(&indices, DType::F32, ad);
        DynamicsProbe {
            x,
            y,
            ad: ad.clone(),
            previous: None,
        }
    }

    /// Measures the eval-mode `model` (on the plain device) after `epoch`
    /// (0: before training). Reads the device once.
    pub fn measure(&mut self, epoch: usize, model: &Mlp) -> Vec<LayerDynamics> {
        let weights = model.linear_weights();
        let layers = weights.len();
        let activation = model.activation();
        let tracked = model.clone().fork(&self.ad).train();
        let tracked_weights = tracked.linear_weights();
        let (logits, traces) = tracked.forward_pure(self.x.clone(), NormStatistics::Batch);
        let loss = CrossEntropyLossConfig::new()
            .init(&self.ad)
            .forward(logits.clone(), self.y.clone());
        let grads = loss.backward();

        // Per layer: mean, std, rms, dead or saturated, grad norm, update
        // ratio, as one row of six, so that the whole probe is one read from
        // the device.
        let outputs = traces
            .iter()
            .map(|t| t.output.clone())
            .chain(std::iter::once(logits))
            .map(|a| a.detach().inner());
        let mut columns: Vec<Tensor<1>> = Vec::with_capacity(layers * 6);
        let none = || Tensor::full([1], f64::NAN, &weights[0].device());
        for (i, output) in outputs.enumerate() {
            let mean = output.clone().mean();
            let centred = output.clone() - mean.clone().unsqueeze::<2>();
            columns.push(mean);
            columns.push(centred.square().mean().sqrt());
            columns.push(output.square().mean().sqrt());
            columns.push(match traces.get(i) {
                Some(trace) => {
                    let activated = trace.activated.clone().detach().inner();
                    let width = activated.dims()[1] as f64;
                    let stuck = match activation {
                        // A ReLU is dead when its largest output over the batch is 0.
                        Activation::Relu => activated.max_dim(0).lower_equal_elem(0.0),
                        // A tanh unit is saturated when its smallest |output| is above SATURATED.
                        Activation::Tanh => activated.abs().min_dim(0).greater_elem(SATURATED),
                    };
                    stuck.float().sum().div_scalar(width)
                }
                None => none(),
            });
            columns.push(tracked_weights[i].grad(&grads).map_or_else(none, frobenius));
            columns.push(match &self.previous {
                Some(before) => frobenius(weights[i].clone() - before[i].clone()) / frobenius(before[i].clone()),
                None => none(),
            });
        }
        let values = read_f64(Tensor::cat(columns, 0));
        self.previous = Some(weights);
        values
            .chunks(6)
            .enumerate()
            .map(|(i, v)| LayerDynamics {
                epoch,
                layer: i + 1,
                activation_mean: v[0],
                activation_std: v[1],
                activation_rms: v[2],
                dead_fraction: (i + 1 < layers && activation == Activation::Relu).then_some(v[3]),
                saturated_fraction: (i + 1 < layers && activation == Activation::Tanh).then_some(v[3]),
                weight_grad_norm: v[4],
                update_ratio: (epoch > 0).then_some(v[5]),
            })
            .collect()
    }
}

/// ‖t‖ (Frobenius) as a [1] tensor.
fn frobenius(t: Tensor<2>) -> Tensor<1> {
    t.square().sum().sqrt()
}
