//! A safe face for the `gemm` crate's strided f32 matrix product, with one
//! product split across the rayon pool.
//!
//! Why split it ourselves: the shapes of an MLP step are skinny (a 200-image
//! batch times a 3,072 × 50 weight), and `gemm`'s own threading scales badly
//! on them (measured on 2 cores: 37–80 GFLOP/s, against 87–96 GFLOP/s for two
//! single-threaded products over halves of the output).
//!
//! This is the one module of the workspace that uses `unsafe`: every view is
//! bounds-checked against its slice before the pointer call, and the parallel
//! parts write disjoint windows of the output.
#![allow(unsafe_code)]

use rayon::prelude::*;

/// A read-only strided matrix: element `(r, c)` is `data[r * row_stride + c * col_stride]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// data: [rows, cols], row-major (only the first `rows * cols` values are read).
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        let needed = checked_area(rows, cols);
        assert!(
            data.len() >= needed,
            "a {rows}x{cols} matrix needs {needed} values, got {}",
            data.len()
        );
        MatRef {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose, as a view of the same values.
    pub fn t(self) -> Self {
        MatRef {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    /// Rows `start..start + len` as a view.
    fn row_window(self, start: usize, len: usize) -> Self {
        assert!(start + len <= self.rows);
        MatRef {
            data: if len == 0 {
                &[]
            } else {
                &self.data[start * self.row_stride..]
            },
            rows: len,
            ..self
        }
    }

    /// Columns `start..start + len` as a view.
    pub fn col_window(self, start: usize, len: usize) -> Self {
        assert!(start + len <= self.cols);
        MatRef {
            data: if len == 0 {
                &[]
            } else {
                &self.data[start * self.col_stride..]
            },
            cols: len,
            ..self
        }
    }

    /// Every element the view names lies inside its slice.
    fn assert_in_bounds(&self) {
        if self.rows > 0 && self.cols > 0 {
            let last = (self.rows - 1)
                .checked_mul(self.row_stride)
                .and_then(|r| r.checked_add((self.cols - 1).checked_mul(self.col_stride)?))
                .expect("strided view too large to address");
            assert!(last < self.data.len(), "strided view reaches past its slice");
            // gemm takes strides as isize.
            assert!(self.row_stride <= isize::MAX as usize && self.col_stride <= isize::MAX as usize);
        }
    }
}

/// rows × cols, refusing sizes that overflow (release builds would wrap and
/// defeat every bounds check after it).
fn checked_area(rows: usize, cols: usize) -> usize {
    rows.checked_mul(cols).expect("matrix too large to address")
}

/// Products smaller than this many multiply-adds run on one thread: splitting
/// them costs more than it saves.
const PARALLEL_MIN_WORK: usize = 1 << 20;

/// `dst = a · b` (or `dst += a · b` when `accumulate`), with dst: [a.rows, b.cols]
/// row-major. Large products are split into one part per rayon thread along
/// the longer side of `dst`.
pub fn matmul(dst: &mut [f32], a: MatRef, b: MatRef, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if !check_product(dst, a, b, accumulate) {
        return;
    }
    let threads = rayon::current_num_threads().max(1);
    let split_rows = m >= n;
    let long_side = if split_rows { m } else { n };
    // (m·n fits, checked above; saturating keeps the work estimate from wrapping.)
    if threads == 1 || (m * n).saturating_mul(k) < PARALLEL_MIN_WORK || long_side < 2 * 8 {
        // SAFETY: both views are inside their slices and dst holds m x n values (checked above).
        unsafe { product_window(dst.as_mut_ptr(), n, 0, 0, a, b, accumulate) };
        return;
    }
    // Parts in multiples of 8 rows or columns, the microkernels' granularity.
    // How many parts does not change any output's rounding: each element is
    // still one dot product over the whole of k, blocked by gemm according to
    // k and the cache sizes only.
    let part = long_side.div_ceil(threads).div_ceil(8) * 8;
    let dst_addr = dst.as_mut_ptr() as usize;
    (0..long_side.div_ceil(part)).into_par_iter().for_each(|p| {
        let start = p * part;
        let len = part.min(long_side - start);
        let dst_ptr = dst_addr as *mut f32;
        // SAFETY: part p writes rows (or columns) start..start+len of dst only,
        // so the parts' windows are disjoint; the views are windows of views
        // checked above, and dst holds m x n values.
        unsafe {
            if split_rows {
                product_window(dst_ptr, n, start, 0, a.row_window(start, len), b, accumulate);
            } else {
                product_window(dst_ptr, n, 0, start, a, b.col_window(start, len), accumulate);
            }
        }
    });
}

/// [`matmul`] on the calling thread only: for callers that split the work themselves.
pub fn matmul_serial(dst: &mut [f32], a: MatRef, b: MatRef, accumulate: bool) {
    if check_product(dst, a, b, accumulate) {
        // SAFETY: both views are inside their slices and dst holds m x n values (checked).
        unsafe { product_window(dst.as_mut_ptr(), b.cols, 0, 0, a, b, accumulate) };
    }
}

/// Checks shapes and bounds of `dst = a · b`; handles the empty cases and
/// returns whether a product remains to be computed.
fn check_product(dst: &mut [f32], a: MatRef, b: MatRef, accumulate: bool) -> bool {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(k, b.rows, "inner dimensions differ: {m}x{k} times {}x{n}", b.rows);
    assert!(
        dst.len() >= checked_area(m, n),
        "the output needs {m}x{n} values, got {}",
        dst.len()
    );
    a.assert_in_bounds();
    b.assert_in_bounds();
    if m == 0 || n == 0 {
        return false;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return false;
    }
    true
}

/// One single-threaded product into the window of `dst` (row stride
/// `dst_row_stride`) whose top-left corner is (`row`, `col`).
///
/// # Safety
/// The window `[row, row + a.rows) x [col, col + b.cols)` must lie inside the
/// allocation behind `dst`, no other thread may touch it meanwhile, and the
/// views must be in bounds.
unsafe fn product_window(
    dst: *mut f32,
    dst_row_stride: usize,
    row: usize,
    col: usize,
    a: MatRef,
    b: MatRef,
    accumulate: bool,
) {
    unsafe {
        gemm::gemm(
            a.rows,
            b.cols,
            a.cols,
            dst.add(row * dst_row_stride + col),
            1,
            dst_row_stride as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: MatRef, b: MatRef) -> Vec<f32> {
        let mut out = vec![0.0; a.rows * b.cols];
        for r in 0..a.rows {
            for c in 0..b.cols {
                out[r * b.cols + c] = (0..a.cols)
                    .map(|i| {
                        a.data[r * a.row_stride + i * a.col_stride] as f64
                            * b.data[i * b.row_stride + c * b.col_stride] as f64
                    })
                    .sum::<f64>() as f32;
            }
        }
        out
    }

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (((i + seed) * 7919) % 201) as f32 / 100.0 - 1.0)
            .collect()
    }

    /// What a pass shared by several networks relies on: a product over
    /// their weights side by side gives each network's block bit for bit
    /// what its own product gives, forward (`x · [W1 | W2 | …]`, the first
    /// layer's shapes) and for the weight gradients (`[D1 | D2 | …]ᵀ · x`),
    /// on one thread and split across cores.
    #[test]
    fn a_product_over_side_by_side_weights_gives_each_block_bit_for_bit() {
        let (batch, input) = (100, 3072);
        let widths = [50, 40, 30, 25, 20, 50, 100, 7];
        let total: usize = widths.iter().sum();
        let x = values(batch * input, 1);
        let w_all = values(input * total, 2);
        let d_all = values(batch * total, 3);
        for product in [matmul_serial as fn(&mut [f32], MatRef, MatRef, bool), matmul] {
            let mut out_all = vec![0.5; batch * total];
            product(
                &mut out_all,
                MatRef::row_major(&x, batch, input),
                MatRef::row_major(&w_all, input, total),
                true,
            );
            let mut grad_all = vec![0.0; total * input];
            let d = MatRef::row_major(&d_all, batch, total).t();
            product(&mut grad_all, d, MatRef::row_major(&x, batch, input), false);
            let mut offset = 0;
            for &h in &widths {
                // This network's own weights [input, h] and deltas [batch, h].
                let w: Vec<f32> = (0..input * h)
                    .map(|i| w_all[(i / h) * total + offset + i % h])
                    .collect();
                let dj: Vec<f32> = (0..batch * h)
                    .map(|i| d_all[(i / h) * total + offset + i % h])
                    .collect();
                let mut out = vec![0.5; batch * h];
                product(
                    &mut out,
                    MatRef::row_major(&x, batch, input),
                    MatRef::row_major(&w, input, h),
                    true,
                );
                let block: Vec<f32> = (0..batch * h)
                    .map(|i| out_all[(i / h) * total + offset + i % h])
                    .collect();
                assert_eq!(out, block, "forward, width {h}");
                let mut grad = vec![0.0; h * input];
                product(
                    &mut grad,
                    MatRef::row_major(&dj, batch, h).t(),
                    MatRef::row_major(&x, batch, input),
                    false,
                );
                assert_eq!(
                    grad[..],
                    grad_all[offset * input..(offset + h) * input],
                    "gradient, width {h}"
                );
                offset += h;
            }
        }
    }

    fn assert_close(got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()), "element {i}: {g} vs {w}");
        }
    }

    #[test]
    fn every_layout_and_split_matches_the_naive_product() {
        // Small shapes run on one thread; the large ones are split by rows
        // (m >= n) or by columns (n > m), including ragged last parts.
        for &(m, k, n) in &[
            (3, 4, 5),
            (200, 3072, 50),
            (50, 200, 3072),
            (37, 1000, 41),
            (129, 300, 10),
        ] {
            let a_rm = values(m * k, 1);
            let b_rm = values(k * n, 2);
            let a_tr: Vec<f32> = (0..k * m).map(|i| a_rm[(i % m) * k + i / m]).collect(); // [k, m]
            let b_tr: Vec<f32> = (0..n * k).map(|i| b_rm[(i % k) * n + i / k]).collect(); // [n, k]
            let a_views = [MatRef::row_major(&a_rm, m, k), MatRef::row_major(&a_tr, k, m).t()];
            let b_views = [MatRef::row_major(&b_rm, k, n), MatRef::row_major(&b_tr, n, k).t()];
            let want = naive(a_views[0], b_views[0]);
            for a in a_views {
                for b in b_views {
                    let mut dst = vec![f32::NAN; m * n];
                    matmul(&mut dst, a, b, false);
                    assert_close(&dst, &want);
                    // Accumulating adds the product to what is there.
                    let mut acc = vec![1.0; m * n];
                    matmul(&mut acc, a, b, true);
                    let plus_one: Vec<f32> = want.iter().map(|w| w + 1.0).collect();
                    assert_close(&acc, &plus_one);
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "inner dimensions differ")]
    fn mismatched_shapes_are_refused() {
        let a = vec![0.0; 6];
        matmul(
            &mut [0.0; 4],
            MatRef::row_major(&a, 2, 3),
            MatRef::row_major(&a, 2, 3),
            false,
        );
    }

    #[test]
    #[should_panic(expected = "too large to address")]
    fn sizes_that_overflow_are_refused() {
        // (2^63 + 1) x 2 wraps to 2 values in release arithmetic.
        MatRef::row_major(&[0.0; 2], (1 << 63) + 1, 2);
    }

    #[test]
    #[should_panic(expected = "needs 6 values")]
    fn short_slices_are_refused() {
        MatRef::row_major(&[0.0; 5], 2, 3);
    }
}
