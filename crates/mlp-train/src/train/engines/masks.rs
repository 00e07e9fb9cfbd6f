//! The dropout masks every engine draws: one stream per network, seeded by
//! its run's seed, drawn layer after layer and step after step, so a run's
//! masks (and so its numbers) do not depend on the engine that trains it.

use burn::prelude::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

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
