//! Evaluating a model on a split, and the signal probe at initialisation.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::tensor::DType;
use mlp_model::{Mlp, MlpConfig};

use super::autodiff::count_correct;
use super::data::{Batches, Split, TrainData};
use super::device_work::{read_f64, read_sums};
use super::engines::masks::{dropout_rng, step_masks};
use super::outcome::{Evaluation, LayerSignal};

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
pub(super) fn probe_signal(
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
