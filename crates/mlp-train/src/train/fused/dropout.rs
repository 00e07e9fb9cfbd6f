//! Dropout for the fused step: Burn's `Dropout` in training mode (keep each
//! unit with probability `1 - p`, scale the kept ones by `1 / (1 - p)`),
//! with masks from the stream every engine draws
//! ([`super::super::engines::masks`]), so a run's masks depend on its seed alone.

use rand::rngs::StdRng;

use crate::train::engines::masks::draw_mask;

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

    /// The current batch's mask, 0 or `1 / keep` per unit: [batch, width].
    pub(super) fn scale(&self) -> &[f32] {
        &self.scale
    }
}
