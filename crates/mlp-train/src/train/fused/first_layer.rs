//! The first layer's weight gradient and its Adam step, in one pass over the
//! weight.
//!
//! The first layer's weight is `[3,072 × h]` (`[3,072 × Σh]` side by side in
//! a shared pass), and its gradient `xᵀ · δ` is as large. Computed whole, the
//! gradient goes out of the cache and comes back for Adam; computed in the
//! layout `gemm` runs a few percent faster (`[h, 3,072]`), Adam must also
//! gather it transposed, which cost a fifth of a shared pass's step
//! (measured with `perf`: 21% of `bench --networks 8`, most of it waiting on
//! the strided reads). Here the weight's rows are cut into chunks; each
//! chunk's gradient, `x[:, rows]ᵀ · δ`, goes into a buffer the size of the
//! chunk, already in the weight's layout, and Adam steps the chunk while
//! that buffer is still in cache.
//!
//! Bits: each gradient element is still one dot product over the batch,
//! which gemm sums in the order of k alone, whatever rows its chunk holds or
//! which operand is transposed (tested against the whole product in
//! `tests`).

use std::cell::RefCell;
use std::ops::Range;

use rayon::prelude::*;

use super::gemm::{MatRef, matmul_serial};
use super::{AdamStep, Moments, adam::UpdateRule};

/// Gradient bytes per chunk: the 1 MiB L2 of the machines measured.
const CHUNK_BYTES: usize = 1 << 20;

/// Weight rows per chunk at least: every chunk's product packs the whole of
/// δ ([batch, cols]) again, which costs about 16 / rows of the product's
/// time (measured: at 64 rows a shared pass of the study's 20 networks
/// spent a quarter of its gradient time packing).
const MIN_CHUNK_ROWS: usize = 256;

thread_local! {
    /// Each thread's gradient chunk, reused across steps.
    static CHUNK: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// dW = xᵀ · δ, then Adam on `weight` from it: the columns `blocks[j].1`
/// step with `blocks[j].0` (one block per network of a shared pass; one
/// block of every column for a network alone).
///
/// weight: [input, cols] with its `moments`; x: [batch, input]; deltas: [batch, cols].
pub fn gradient_and_adam(
    blocks: &[(AdamStep, Range<usize>)],
    weight: &mut [f32],
    moments: &mut Moments,
    x: &[f32],
    deltas: &[f32],
    batch: usize,
) {
    let cols = blocks.iter().map(|(_, range)| range.end).max().unwrap_or(0);
    assert!(
        cols > 0 && weight.len().is_multiple_of(cols),
        "weight must be [input, cols]"
    );
    let input = weight.len() / cols;
    let rules: Vec<(UpdateRule, Range<usize>)> = blocks
        .iter()
        .map(|(step, range)| (step.rule(), range.clone()))
        .collect();
    let x = MatRef::row_major(x, batch, input);
    let deltas = MatRef::row_major(deltas, batch, cols);
    let rows = chunk_rows(input, cols, rayon::current_num_threads());
    let (first, second) = moments.both_mut();
    weight
        .par_chunks_mut(rows * cols)
        .zip(first.par_chunks_mut(rows * cols))
        .zip(second.par_chunks_mut(rows * cols))
        .enumerate()
        .for_each(|(chunk, ((w, m), v))| {
            let (start, len) = (chunk * rows, w.len() / cols);
            CHUNK.with_borrow_mut(|gradient| {
                gradient.resize(len * cols, 0.0);
                matmul_serial(gradient, x.col_window(start, len).t(), deltas, false);
                UpdateRule::update_blocks(&rules, cols, w, gradient, m, v);
            });
        });
}

/// Rows per chunk: chunks of about [`CHUNK_BYTES`], as many as a multiple
/// of the threads so that none waits on a last odd chunk, and at least
/// [`MIN_CHUNK_ROWS`] rows each.
fn chunk_rows(input: usize, cols: usize, threads: usize) -> usize {
    let threads = threads.max(1);
    let bytes = input * cols * size_of::<f32>();
    let chunks = bytes.div_ceil(CHUNK_BYTES).div_ceil(threads).max(1) * threads;
    input.div_ceil(chunks).max(MIN_CHUNK_ROWS.min(input)).max(1)
}

#[cfg(test)]
mod tests {
    use super::super::gemm::matmul;
    use super::*;

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (((i + seed) * 7919) % 201) as f32 / 100.0 - 1.0)
            .collect()
    }

    fn step(lr: f32, time: i32) -> AdamStep {
        AdamStep {
            lr,
            weight_decay: 0.01,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
            time,
        }
    }

    /// Columns `range` of a row-major [rows, cols] matrix, as their own matrix.
    fn columns(matrix: &[f32], cols: usize, range: Range<usize>) -> Vec<f32> {
        matrix
            .chunks_exact(cols)
            .flat_map(|row| &row[range.clone()])
            .copied()
            .collect()
    }

    /// Bit for bit what each network gets alone: its gradient computed whole
    /// (`δᵀ · x`, the layout the other layers use) and stepped by
    /// `apply_transposed` with its own rate; for one network and for several
    /// side by side, on ragged chunks.
    #[test]
    fn the_chunked_pass_equals_each_network_s_whole_gradient_then_adam() {
        // 2,999 rows of 197 columns are 2.3 MiB: several chunks, the last
        // one ragged.
        let (batch, input) = (37, 2999);
        for widths in [vec![50], vec![50, 40, 7, 100]] {
            let cols: usize = widths.iter().sum();
            let x = values(batch * input, 1);
            let deltas = values(batch * cols, 2);
            let mut offset = 0;
            let mut blocks = Vec::new();
            for (j, &h) in widths.iter().enumerate() {
                blocks.push((step(0.01 * (j + 1) as f32, 3), offset..offset + h));
                offset += h;
            }
            let start = values(input * cols, 3);
            let mut chunked = start.clone();
            let mut chunked_moments = Moments::zeros(input * cols);
            let mut alone: Vec<(Vec<f32>, Moments)> = blocks
                .iter()
                .map(|(_, range)| {
                    (
                        columns(&start, cols, range.clone()),
                        Moments::zeros(input * range.len()),
                    )
                })
                .collect();
            for _ in 0..2 {
                gradient_and_adam(&blocks, &mut chunked, &mut chunked_moments, &x, &deltas, batch);
                for ((adam, range), (weight, moments)) in blocks.iter().zip(&mut alone) {
                    let own_deltas = columns(&deltas, cols, range.clone());
                    let mut gradient_t = vec![0.0; range.len() * input];
                    matmul(
                        &mut gradient_t,
                        MatRef::row_major(&own_deltas, batch, range.len()).t(),
                        MatRef::row_major(&x, batch, input),
                        false,
                    );
                    adam.apply_transposed(weight, &gradient_t, input, moments);
                }
            }
            let second = chunked_moments.both_mut().1.to_vec();
            for ((_, range), (weight, moments)) in blocks.iter().zip(&mut alone) {
                assert_eq!(
                    columns(&chunked, cols, range.clone()),
                    *weight,
                    "widths {widths:?}, {range:?}"
                );
                assert_eq!(columns(&second, cols, range.clone()), moments.both_mut().1, "{range:?}");
            }
        }
    }

    #[test]
    fn chunks_cover_the_rows_in_a_multiple_of_the_threads() {
        // 3,072 x 400 floats are 4.7 MiB: 5 chunks of 1 MiB, 6 for 2 threads.
        assert_eq!(chunk_rows(3072, 400, 2), 3072_usize.div_ceil(6));
        // Smaller matrices: one chunk per thread.
        assert_eq!(chunk_rows(3072, 50, 2), 1536);
        assert_eq!(chunk_rows(3072, 50, 1), 3072);
        // Wide ones: never under 256 rows (the map's 152 networks side by side).
        assert_eq!(chunk_rows(3072, 7600, 2), 256);
        assert_eq!(chunk_rows(100, 7600, 2), 100);
        assert_eq!(chunk_rows(3, 1, 8), 3);
    }
}
