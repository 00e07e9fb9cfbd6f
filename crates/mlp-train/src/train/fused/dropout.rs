//! Dropout for the fused step: Burn's `Dropout` in training mode (keep each
//! unit with probability `1 - p`, scale the kept ones by `1 / (1 - p)`),
//! with its own seeded generator. Burn draws its masks from the process-wide
//! generator, so the two engines drop different units; each is reproducible
//! from the run's seed.

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
        let kept = 1.0 / self.keep;
        self.scale.clear();
        self.scale
            .extend((0..a.len()).map(|_| if rng.random::<f32>() < self.keep { kept } else { 0.0 }));
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
