//! Adam with L2 in one pass per parameter, bit for bit Burn's formula.

use rayon::prelude::*;

/// Hyper-parameters of one Adam step, `time` counting from 1.
#[derive(Debug, Clone, Copy)]
pub struct AdamStep {
    pub lr: f32,
    pub weight_decay: f32,
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
    pub time: i32,
}

/// The first and second moments of one parameter tensor.
#[derive(Debug, Clone)]
pub struct Moments {
    first: Vec<f32>,
    second: Vec<f32>,
}

impl Moments {
    pub fn zeros(len: usize) -> Self {
        Moments {
            first: vec![0.0; len],
            second: vec![0.0; len],
        }
    }
}

/// Parameters per parallel chunk: big enough that splitting pays.
const CHUNK: usize = 1 << 14;

/// Gradient values per tile of [`AdamStep::apply_transposed`].
const TILE: usize = 1 << 12;

impl AdamStep {
    /// Updates `params` in place from `grads`, as Burn's `Adam` with
    /// `WeightDecay` does: `g += wd · p`, `m = β1 m + (1-β1) g`,
    /// `v = β2 v + (1-β2) g²`, then
    /// `p -= lr · m · c / (√v + ε · √(1-β2ᵗ))` with `c = √(1-β2ᵗ) / (1-β1ᵗ)`.
    /// (Starting from zero moments gives Burn's first step too.)
    pub fn apply(&self, params: &mut [f32], grads: &[f32], moments: &mut Moments) {
        assert!(grads.len() == params.len() && moments.first.len() == params.len());
        if params.len() < 2 * CHUNK {
            self.update(params, grads, &mut moments.first, &mut moments.second);
        } else {
            params
                .par_chunks_mut(CHUNK)
                .zip(grads.par_chunks(CHUNK))
                .zip(moments.first.par_chunks_mut(CHUNK))
                .zip(moments.second.par_chunks_mut(CHUNK))
                .for_each(|(((p, g), m), v)| self.update(p, g, m, v));
        }
    }

    /// [`apply`](Self::apply) with the gradient stored transposed:
    /// params: [rows, cols] and grads_t: [cols, rows], both row-major. (The
    /// first layer's weight gradient is fastest to compute in that layout.)
    pub fn apply_transposed(&self, params: &mut [f32], grads_t: &[f32], rows: usize, moments: &mut Moments) {
        let cols = params.len() / rows.max(1);
        Self::apply_transposed_blocks(&[(*self, 0..cols)], params, grads_t, rows, moments);
    }

    /// [`apply_transposed`](Self::apply_transposed) on a matrix whose
    /// column blocks each step with their own Adam: `blocks[j].0` updates
    /// columns `blocks[j].1` (the networks of a shared pass, side by side).
    /// Every element gets exactly the update its block's own
    /// `apply_transposed` would give it.
    pub fn apply_transposed_blocks(
        blocks: &[(AdamStep, std::ops::Range<usize>)],
        params: &mut [f32],
        grads_t: &[f32],
        rows: usize,
        moments: &mut Moments,
    ) {
        assert!(grads_t.len() == params.len() && moments.first.len() == params.len());
        assert!(
            rows > 0 && params.len().is_multiple_of(rows),
            "params must be [rows, cols]"
        );
        let cols = params.len() / rows;
        assert!(blocks.iter().all(|(_, range)| range.end <= cols), "blocks within the columns");
        // Row blocks: the block's gradient is gathered into a tile first, so
        // the update itself runs over contiguous memory. A tile of 16 KiB
        // stays in L1 between the gather and the update.
        let block_rows = (TILE / cols.max(1)).max(1);
        let update_block = |block: usize, p: &mut [f32], m: &mut [f32], v: &mut [f32]| {
            let first_row = block * block_rows;
            let tile_rows = p.len() / cols;
            let mut tile = vec![0.0; p.len()];
            for c in 0..cols {
                let column = &grads_t[c * rows + first_row..][..tile_rows];
                for (r, &g) in column.iter().enumerate() {
                    tile[r * cols + c] = g;
                }
            }
            if let [(step, range)] = blocks
                && *range == (0..cols)
            {
                // One block of every column: the tile is one contiguous update.
                step.update(p, &tile, m, v);
                return;
            }
            for r in 0..tile_rows {
                for (step, range) in blocks {
                    let span = r * cols + range.start..r * cols + range.end;
                    step.update(&mut p[span.clone()], &tile[span.clone()], &mut m[span.clone()], &mut v[span]);
                }
            }
        };
        params
            .par_chunks_mut(block_rows * cols)
            .zip(moments.first.par_chunks_mut(block_rows * cols))
            .zip(moments.second.par_chunks_mut(block_rows * cols))
            .enumerate()
            .for_each(|(block, ((p, m), v))| update_block(block, p, m, v));
    }

    /// The update over matching slices.
    fn update(&self, params: &mut [f32], grads: &[f32], first: &mut [f32], second: &mut [f32]) {
        let bias_correction_2 = (1.0 - self.beta_2.powi(self.time)).sqrt();
        let factor = bias_correction_2 / (1.0 - self.beta_1.powi(self.time));
        let epsilon = self.epsilon * bias_correction_2;
        for (((p, &g), m), v) in params.iter_mut().zip(grads).zip(first).zip(second) {
            let g = *p * self.weight_decay + g;
            *m = *m * self.beta_1 + g * (1.0 - self.beta_1);
            *v = *v * self.beta_2 + g * g * (1.0 - self.beta_2);
            *p -= (*m * factor) / (v.sqrt() + epsilon) * self.lr;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(time: i32) -> AdamStep {
        AdamStep {
            lr: 0.01,
            weight_decay: 0.1,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
            time,
        }
    }

    #[test]
    fn one_step_by_hand() {
        // p = 1, g = 0.5: g' = 0.6, m = 0.06, v = 0.00036; at t = 1 the bias
        // corrections give m̂ = 0.6, v̂ = 0.36, so p -= 0.01 · 0.6 / (0.6 + ε).
        let mut p = [1.0f32];
        let mut moments = Moments::zeros(1);
        step(1).apply(&mut p, &[0.5], &mut moments);
        assert!((p[0] - (1.0 - 0.01)).abs() < 1e-6, "{}", p[0]);
        // (1 - 0.999 is 0.0010000467 in f32, hence the relative tolerance.)
        assert!((moments.first[0] - 0.06).abs() < 1e-4 * 0.06);
        assert!((moments.second[0] - 0.00036).abs() < 1e-4 * 0.00036);
    }

    #[test]
    fn the_transposed_gradient_gives_the_same_update() {
        // Big enough for several parallel blocks and a ragged last one.
        let (rows, cols) = (3000, 7);
        let grads: Vec<f32> = (0..rows * cols).map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0).collect();
        let grads_t: Vec<f32> = (0..rows * cols).map(|i| grads[(i % rows) * cols + i / rows]).collect();
        let start: Vec<f32> = (0..rows * cols).map(|i| ((i * 13) % 29) as f32 / 10.0).collect();
        let (mut a, mut b) = (start.clone(), start);
        let (mut ma, mut mb) = (Moments::zeros(rows * cols), Moments::zeros(rows * cols));
        for t in 1..=3 {
            step(t).apply(&mut a, &grads, &mut ma);
            step(t).apply_transposed(&mut b, &grads_t, rows, &mut mb);
        }
        assert_eq!(a, b);
        assert_eq!(ma.second, mb.second);
    }
}
