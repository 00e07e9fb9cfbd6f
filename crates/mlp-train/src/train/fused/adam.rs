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

    /// The first and second moments, to step in parts.
    pub(super) fn both_mut(&mut self) -> (&mut [f32], &mut [f32]) {
        (&mut self.first, &mut self.second)
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
    /// params: [rows, cols] and grads_t: [cols, rows], both row-major (the
    /// layout `FusedMlp` computes the hidden layers' weight gradients in).
    pub fn apply_transposed(&self, params: &mut [f32], grads_t: &[f32], rows: usize, moments: &mut Moments) {
        assert!(grads_t.len() == params.len() && moments.first.len() == params.len());
        assert!(
            rows > 0 && params.len().is_multiple_of(rows),
            "params must be [rows, cols]"
        );
        let cols = params.len() / rows;
        // Row blocks: the block's gradient is gathered into a tile first, so
        // the update itself runs over contiguous memory. A tile of 16 KiB
        // stays in L1 between the gather and the update.
        let block_rows = (TILE / cols.max(1)).max(1);
        let rule = self.rule();
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
            rule.update(p, &tile, m, v);
        };
        params
            .par_chunks_mut(block_rows * cols)
            .zip(moments.first.par_chunks_mut(block_rows * cols))
            .zip(moments.second.par_chunks_mut(block_rows * cols))
            .enumerate()
            .for_each(|(block, ((p, m), v))| update_block(block, p, m, v));
    }

    /// This step's constants, computed once for a whole tensor.
    pub(super) fn rule(&self) -> UpdateRule {
        let bias_correction_2 = (1.0 - self.beta_2.powi(self.time)).sqrt();
        UpdateRule {
            lr: self.lr,
            weight_decay: self.weight_decay,
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            factor: bias_correction_2 / (1.0 - self.beta_1.powi(self.time)),
            epsilon: self.epsilon * bias_correction_2,
        }
    }

    /// The update over matching slices.
    fn update(&self, params: &mut [f32], grads: &[f32], first: &mut [f32], second: &mut [f32]) {
        self.rule().update(params, grads, first, second);
    }
}

/// An [`AdamStep`] with its bias corrections folded into two constants.
#[derive(Debug, Clone, Copy)]
pub(super) struct UpdateRule {
    lr: f32,
    weight_decay: f32,
    beta_1: f32,
    beta_2: f32,
    /// √(1-β2ᵗ) / (1-β1ᵗ)
    factor: f32,
    /// ε · √(1-β2ᵗ)
    epsilon: f32,
}

impl UpdateRule {
    /// Rows of `cols` values (row-major, in matching slices) whose column
    /// blocks `rules[j].1` each update with their own rule `rules[j].0`.
    pub(super) fn update_blocks(
        rules: &[(UpdateRule, std::ops::Range<usize>)],
        cols: usize,
        params: &mut [f32],
        grads: &[f32],
        first: &mut [f32],
        second: &mut [f32],
    ) {
        if let [(rule, range)] = rules
            && *range == (0..cols)
        {
            // One block of every column: one contiguous update.
            rule.update(params, grads, first, second);
            return;
        }
        with_wide_lanes(
            #[inline(always)]
            || {
                for r in 0..params.len() / cols.max(1) {
                    for (rule, range) in rules {
                        let span = r * cols + range.start..r * cols + range.end;
                        rule.update_lanes(
                            &mut params[span.clone()],
                            &grads[span.clone()],
                            &mut first[span.clone()],
                            &mut second[span],
                        );
                    }
                }
            },
        );
    }

    /// The update over matching slices (see [`AdamStep::apply`]).
    pub(super) fn update(&self, params: &mut [f32], grads: &[f32], first: &mut [f32], second: &mut [f32]) {
        with_wide_lanes(
            #[inline(always)]
            || self.update_lanes(params, grads, first, second),
        );
    }

    /// [`update`](Self::update) compiled for whatever lanes its caller has.
    #[inline(always)]
    fn update_lanes(&self, params: &mut [f32], grads: &[f32], first: &mut [f32], second: &mut [f32]) {
        let n = params.len();
        assert!(grads.len() == n && first.len() == n && second.len() == n);
        for (((p, &g), m), v) in params.iter_mut().zip(grads).zip(first).zip(second) {
            let g = *p * self.weight_decay + g;
            *m = *m * self.beta_1 + g * (1.0 - self.beta_1);
            *v = *v * self.beta_2 + g * g * (1.0 - self.beta_2);
            *p -= (*m * self.factor) / (v.sqrt() + self.epsilon) * self.lr;
        }
    }
}

/// Runs `f` compiled for AVX2 where the CPU has it (gemm's `V3` level,
/// detected at run time; the build targets baseline x86-64, whose SSE
/// lanes run Adam's loop at about half the speed, measured here). The
/// arithmetic is the same IEEE operations, in 8 lanes instead of 4: Rust
/// never fuses a multiply and an add on its own, so the bits do not change.
/// Only code inlined into `f` gets the wider lanes.
#[inline(always)]
pub(super) fn with_wide_lanes<F: gemm_common::simd::NullaryFnOnce>(f: F) -> F::Output {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = gemm_common::simd::V3::try_new() {
        return simd.vectorize(f);
    }
    f.call()
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

    /// The AVX2 build of the loop (where the CPU has it) gives the bits of
    /// the baseline build: the same operations, wider lanes.
    #[test]
    fn wide_lanes_change_no_bit() {
        let len = 10_007;
        let grads: Vec<f32> = (0..len).map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0).collect();
        let start: Vec<f32> = (0..len).map(|i| ((i * 13) % 29) as f32 / 10.0 - 1.4).collect();
        let (mut wide, mut narrow) = (start.clone(), start);
        let (mut wide_m, mut narrow_m) = (Moments::zeros(len), Moments::zeros(len));
        for t in 1..=3 {
            let rule = step(t).rule();
            rule.update(&mut wide, &grads, &mut wide_m.first, &mut wide_m.second);
            // Called here, outside any AVX2 context: the baseline build.
            rule.update_lanes(&mut narrow, &grads, &mut narrow_m.first, &mut narrow_m.second);
        }
        assert_eq!(wide, narrow);
        assert_eq!(wide_m.first, narrow_m.first);
        assert_eq!(wide_m.second, narrow_m.second);
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
