//! Dropout for the fused step: Burn's `Dropout` in training mode (keep each
//! unit with probability `1 - p`, scale the kept ones by `1 / (1 - p)`),
//! with masks from the run's own seeded generator ([`dropout_rng`],
//! [`draw_mask`]): the stream every engine draws, layer after layer and
//! step after step, so a run's masks depend on its seed alone.

use burn::prelude::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub(super) struct FusedDropout {
    /// 1 - p
    keep: f32,
    /// The current batch's mask, 0 or `1 / keep` per unit: [batch, width].
    scale: Vec<f32>,
}

impl FusedDropout {
    pub(super) fn new(prob: f64) -> Self {
        FusedDropout {
            keep: (1.0 - prob) as f32,
            scale: Vec::new(),
        }
    }

    /// Draws a new mask and applies it to a: [batch, width].
    pub(super) fn forward_train(&mut self, a: &mut [f32], rng: &mut StdRng) {
        self.scale.clear();
        draw_mask(rng, self.keep, a.len(), &mut self.scale);
        a.iter_mut().zip(&self.scale).for_each(|(v, &s)| *v *= s);
    }

    /// delta: [batch, width], dLoss/d(output) in, dLoss/d(input) out.
    pub(super) fn backward(&self, delta: &mut [f32]) {
        delta.iter_mut().zip(&self.scale).for_each(|(d, &s)| *d *= s);
    }

    #[cfg(test)]
    pub(super) fn mask(&self) -> &[f32] {
        &self.scale
    }
}

/// The generator of a network's dropout masks, from the run's seed (mixed,
/// so the masks do not repeat the shuffle's draws from the same seed).
pub(crate) fn dropout_rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed ^ 0x9E37_79B9_7F4A_7C15)
}

/// Appends one layer's mask of `len` units to `out`: `1 / keep` where a
/// unit is kept (probability `keep`), 0 where it is dropped.
pub(crate) fn draw_mask(rng: &mut StdRng, keep: f32, len: usize, out: &mut Vec<f32>) {
    let kept = 1.0 / keep;
    out.extend((0..len).map(|_| if rng.random::<f32>() < keep { kept } else { 0.0 }));
}

/// One training pass's masks of a network with dropout probability `prob`
/// and hidden `widths`, for `batch` images: [batch, width] per hidden layer,
/// drawn layer after layer, on `device`.
pub(crate) fn step_masks(
    rng: &mut StdRng,
    prob: f64,
    batch: usize,
    widths: &[usize],
    device: &Device,
) -> Vec<Tensor<2>> {
    let keep = (1.0 - prob) as f32;
    widths
        .iter()
        .map(|&width| {
            let mut mask = Vec::with_capacity(batch * width);
            draw_mask(rng, keep, batch * width, &mut mask);
            Tensor::from_data(TensorData::new(mask, [batch, width]), device)
        })
        .collect()
}
