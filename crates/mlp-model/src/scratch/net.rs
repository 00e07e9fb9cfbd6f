//! Forward pass, loss and hand-written backpropagation (assignment Q1–Q2).

use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::activation::{log_softmax, relu, softmax};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::params::Params;

/// What [`TwoLayerNet::loss`] returns, CS231n style: the scores when no labels
/// are given, the loss and the gradients when they are.
#[derive(Debug, Clone)]
pub enum LossOutput {
    /// softmax probabilities, [N, C]; rows sum to 1.
    Scores(Tensor<2>),
    /// loss: [1]; grads keyed like the parameters.
    Loss { loss: Tensor<1>, grads: Params },
}

/// Two-layer fully connected network:
///
/// ```text
/// z2 = X W1 + b1      a2 = ReLU(z2)
/// z3 = a2 W2 + b2     scores = softmax(z3)
/// J  = mean_i(-log scores[i, y_i]) + reg * (||W1||^2 + ||W2||^2)
/// ```
#[derive(Debug, Clone)]
pub struct TwoLayerNet {
    pub params: Params,
}

impl TwoLayerNet {
    /// Weights `std * N(0, 1)`, biases zero, in `dtype` on `device`.
    ///
    /// The weights are drawn on the host from `seed`, not from the device's
    /// random generator: that one is shared by every thread, so trials
    /// trained in parallel would otherwise get weights depending on timing.
    ///
    /// W1: [input, hidden], W2: [hidden, classes].
    pub fn init(
        input: usize,
        hidden: usize,
        classes: usize,
        std: f64,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let w1 = normal_samples(&mut rng, input * hidden, std);
        let w2 = normal_samples(&mut rng, hidden * classes, std);
        TwoLayerNet {
            params: Params::from_host(
                [input, hidden, classes],
                w1,
                vec![0.0; hidden],
                w2,
                vec![0.0; classes],
                dtype,
                device,
            ),
        }
    }

    /// x: [N, D]; labels: [N] in `0..C`.
    ///
    /// Without labels: `LossOutput::Scores` ([N, C] probabilities).
    /// With labels: the regularised loss and `dJ/dW1 … dJ/db2` by the formulas
    /// of Q2, keyed like the parameters.
    pub fn loss(&self, x: Tensor<2>, labels: Option<Tensor<1, Int>>, reg: f64) -> LossOutput {
        let p = &self.params;
        let [n, _] = x.dims();
        let [_, _, classes] = p.dims();

        let z2 = x.clone().matmul(p.w1.clone()) + p.b1.clone().unsqueeze(); // [N, H]
        let a2 = relu(z2.clone()); // [N, H]
        let z3 = a2.clone().matmul(p.w2.clone()) + p.b2.clone().unsqueeze(); // [N, C]

        let Some(labels) = labels else {
            return LossOutput::Scores(softmax(z3, 1));
        };

        // Loss through log-softmax (max-shifted log-sum-exp) so large scores
        // cannot overflow, the numerically stable form of -log softmax.
        let loss = data_loss(z3.clone(), labels.clone()) + weight_penalty(p, reg);

        // dz3 = (softmax(z3) - onehot(y)) / N
        let dtype = x.dtype();
        let onehot: Tensor<2> = labels.one_hot::<2>(classes).float().cast(dtype);
        let dz3 = (softmax(z3, 1) - onehot).div_scalar(n as f64); // [N, C]

        // dW2 = a2^T dz3 + 2 reg W2     db2 = sum_rows(dz3)
        let dw2 = a2.transpose().matmul(dz3.clone()) + p.w2.clone().mul_scalar(2.0 * reg); // [H, C]
        let db2 = dz3.clone().sum_dim(0).squeeze_dim::<1>(0); // [C]

        // dz2 = (dz3 W2^T) * 1[z2 > 0]
        let dz2 = dz3
            .matmul(p.w2.clone().transpose())
            .mask_fill(z2.lower_equal_elem(0.0), 0.0); // [N, H]

        // dW1 = X^T dz2 + 2 reg W1     db1 = sum_rows(dz2)
        let dw1 = x.transpose().matmul(dz2.clone()) + p.w1.clone().mul_scalar(2.0 * reg); // [D, H]
        let db1 = dz2.sum_dim(0).squeeze_dim::<1>(0); // [H]

        LossOutput::Loss {
            loss,
            grads: Params {
                w1: dw1,
                b1: db1,
                w2: dw2,
                b2: db2,
            },
        }
    }

    /// The regularised loss alone, built from the same operations as
    /// [`loss`](Self::loss). On an autodiff device this is what Burn
    /// differentiates to cross-check the manual gradients.
    ///
    /// x: [N, D]; labels: [N] -> [1]
    pub fn loss_only(params: &Params, x: Tensor<2>, labels: Tensor<1, Int>, reg: f64) -> Tensor<1> {
        let z2 = x.matmul(params.w1.clone()) + params.b1.clone().unsqueeze();
        let z3 = relu(z2).matmul(params.w2.clone()) + params.b2.clone().unsqueeze();
        data_loss(z3, labels) + weight_penalty(params, reg)
    }

    /// Softmax probabilities. x: [N, D] -> [N, C]
    pub fn scores(&self, x: Tensor<2>) -> Tensor<2> {
        match self.loss(x, None, 0.0) {
            LossOutput::Scores(scores) => scores,
            LossOutput::Loss { .. } => unreachable!("no labels were given"),
        }
    }

    /// Predicted class of every row: argmax of the scores. x: [N, D] -> [N]
    pub fn predict(&self, x: Tensor<2>) -> Tensor<1, Int> {
        let p = &self.params;
        let z2 = x.matmul(p.w1.clone()) + p.b1.clone().unsqueeze();
        let z3 = relu(z2).matmul(p.w2.clone()) + p.b2.clone().unsqueeze();
        z3.argmax(1).squeeze_dim::<1>(1)
    }
}

/// `n` samples of `N(0, std²)` by the Box–Muller transform.
fn normal_samples(rng: &mut StdRng, n: usize, std: f64) -> Vec<f64> {
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        // 1 - u lies in (0, 1], so the logarithm is finite.
        let radius = (-2.0 * (1.0 - rng.random::<f64>()).ln()).sqrt();
        let angle = std::f64::consts::TAU * rng.random::<f64>();
        out.push(std * radius * angle.cos());
        out.push(std * radius * angle.sin());
    }
    out.truncate(n);
    out
}

/// mean_i(-log softmax(z3)[i, y_i]). z3: [N, C]; labels: [N] -> [1]
fn data_loss(z3: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let log_probs = log_softmax(z3, 1); // [N, C]
    let picked = log_probs.gather(1, labels.unsqueeze_dim(1)); // [N, 1]
    picked.mean().neg()
}

/// reg * (||W1||^2 + ||W2||^2) -> [1]
fn weight_penalty(p: &Params, reg: f64) -> Tensor<1> {
    (p.w1.clone().square().sum() + p.w2.clone().square().sum()).mul_scalar(reg)
}
