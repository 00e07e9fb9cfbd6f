//! BatchNorm for the fused step: Burn's `BatchNorm` in training mode, by hand.
//!
//! Forward: per feature, the batch mean `μ` and biased variance `σ²`,
//! `x̂ = (z - μ) / √(σ² + ε)`, `y = γ x̂ + β`; the running statistics move
//! toward the batch's by `momentum` (Burn updates `running_var` with the
//! biased variance, unlike PyTorch). Backward, with `N` the batch size:
//! `dγ = Σ dy x̂`, `dβ = Σ dy`, `dz = γ / √(σ² + ε) · (dy - Σdy / N - x̂ Σ(dy x̂) / N)`.

use burn::module::RunningState;
use burn::prelude::*;

use super::adam::{AdamStep, Moments};

pub(super) struct FusedBatchNorm {
    width: usize,
    epsilon: f32,
    momentum: f32,
    /// [width]
    gamma: Vec<f32>,
    /// [width]
    beta: Vec<f32>,
    /// [width]
    running_mean: Vec<f32>,
    /// [width]
    running_var: Vec<f32>,
    /// [width]
    gamma_grad: Vec<f32>,
    /// [width]
    beta_grad: Vec<f32>,
    gamma_moments: Moments,
    beta_moments: Moments,
    /// The current batch's `x̂`: [batch, width].
    normalized: Vec<f32>,
    /// The current batch's `1 / √(σ² + ε)`: [width].
    inv_std: Vec<f32>,
}

fn values(t: Tensor<1>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32 BatchNorm state")
}

impl FusedBatchNorm {
    pub(super) fn from_burn(norm: &burn::nn::BatchNorm) -> Self {
        let gamma = values(norm.gamma.val());
        let width = gamma.len();
        FusedBatchNorm {
            width,
            epsilon: norm.epsilon as f32,
            momentum: norm.momentum as f32,
            gamma,
            beta: values(norm.beta.val()),
            running_mean: values(norm.running_mean.value_sync()),
            running_var: values(norm.running_var.value_sync()),
            gamma_grad: vec![0.0; width],
            beta_grad: vec![0.0; width],
            gamma_moments: Moments::zeros(width),
            beta_moments: Moments::zeros(width),
            normalized: Vec::new(),
            inv_std: vec![0.0; width],
        }
    }

    /// z: [batch, width], the Linear's output, replaced by `γ x̂ + β`; the
    /// running statistics are updated.
    pub(super) fn forward_train(&mut self, z: &mut [f32]) {
        let width = self.width;
        let batch = z.len() / width;
        let mut mean = vec![0.0f64; width];
        for row in z.chunks_exact(width) {
            mean.iter_mut().zip(row).for_each(|(m, &v)| *m += f64::from(v));
        }
        mean.iter_mut().for_each(|m| *m /= batch as f64);
        let mut variance = vec![0.0f64; width];
        for row in z.chunks_exact(width) {
            for ((s, &v), &m) in variance.iter_mut().zip(row).zip(&mean) {
                let d = f64::from(v) - m;
                *s += d * d;
            }
        }
        variance.iter_mut().for_each(|s| *s /= batch as f64);

        for j in 0..width {
            self.inv_std[j] = (1.0 / (variance[j] + f64::from(self.epsilon)).sqrt()) as f32;
            let keep = 1.0 - self.momentum;
            self.running_mean[j] = self.running_mean[j] * keep + mean[j] as f32 * self.momentum;
            self.running_var[j] = self.running_var[j] * keep + variance[j] as f32 * self.momentum;
        }
        self.normalized.resize(z.len(), 0.0);
        for (row, xhat) in z.chunks_exact_mut(width).zip(self.normalized.chunks_exact_mut(width)) {
            for j in 0..width {
                xhat[j] = (row[j] - mean[j] as f32) * self.inv_std[j];
                row[j] = xhat[j] * self.gamma[j] + self.beta[j];
            }
        }
    }

    /// delta: [batch, width], dLoss/dy on the way in, dLoss/dz on the way
    /// out; fills the gradients of γ and β.
    pub(super) fn backward(&mut self, delta: &mut [f32]) {
        let width = self.width;
        let batch = delta.len() / width;
        self.gamma_grad.fill(0.0);
        self.beta_grad.fill(0.0);
        for (dy, xhat) in delta.chunks_exact(width).zip(self.normalized.chunks_exact(width)) {
            for j in 0..width {
                self.gamma_grad[j] += dy[j] * xhat[j];
                self.beta_grad[j] += dy[j];
            }
        }
        let n = batch as f32;
        for (dy, xhat) in delta.chunks_exact_mut(width).zip(self.normalized.chunks_exact(width)) {
            for j in 0..width {
                let centred = dy[j] - self.beta_grad[j] / n - xhat[j] * self.gamma_grad[j] / n;
                dy[j] = self.gamma[j] * self.inv_std[j] * centred;
            }
        }
    }

    pub(super) fn adam(&mut self, adam: &AdamStep) {
        adam.apply(&mut self.gamma, &self.gamma_grad, &mut self.gamma_moments);
        adam.apply(&mut self.beta, &self.beta_grad, &mut self.beta_moments);
    }

    /// Writes γ, β and the running statistics into `norm`.
    pub(super) fn write_into(&self, norm: burn::nn::BatchNorm, device: &Device) -> burn::nn::BatchNorm {
        let tensor = |v: &[f32]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [self.width]), device);
        burn::nn::BatchNorm {
            gamma: super::replaced(norm.gamma, tensor(&self.gamma)),
            beta: super::replaced(norm.beta, tensor(&self.beta)),
            running_mean: RunningState::new(tensor(&self.running_mean)),
            running_var: RunningState::new(tensor(&self.running_var)),
            ..norm
        }
    }

    #[cfg(test)]
    pub(super) fn gradients(&self) -> (&[f32], &[f32]) {
        (&self.gamma_grad, &self.beta_grad)
    }

    #[cfg(test)]
    pub(super) fn running(&self) -> (&[f32], &[f32]) {
        (&self.running_mean, &self.running_var)
    }
}
