//! Turning `u8` images into the `f32` features the networks see, the three ways the
//! assignment and its variants preprocess them.

use std::fmt;
use std::str::FromStr;

use crate::{CHANNELS, DataError, IMAGE_BYTES, IMAGE_SIDE, ImageSet, PLANE};

/// How images become features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preprocess {
    /// Q4: `x / 255`, then per channel `(x - 0.5) / 0.5`, i.e. `[0, 255] -> [-1, 1]`; CHW order.
    Assignment,
    /// Per channel `(x - mean) / std`, both measured on the training split; CHW order.
    Standardize,
    /// Q1-Q3: subtract the training split's mean image (per pixel and channel), then
    /// flatten in HWC order: feature `(h * 32 + w) * 3 + c`.
    MeanImage,
}

impl Preprocess {
    /// Every mode, in the order they are listed to users.
    pub const ALL: [Preprocess; 3] = [Preprocess::Assignment, Preprocess::Standardize, Preprocess::MeanImage];

    /// The name used on the command line and in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            Preprocess::Assignment => "assignment",
            Preprocess::Standardize => "standardize",
            Preprocess::MeanImage => "mean-image",
        }
    }
}

impl fmt::Display for Preprocess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preprocess {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Preprocess::ALL
            .into_iter()
            .find(|mode| mode.name() == s)
            .ok_or_else(|| DataError::UnknownPreprocess { name: s.to_owned() })
    }
}

/// A fitted per-feature affine map `out[j] = (x[src(j)] - offset[j]) * scale[j]`, where
/// `x` is an image's 3072 bytes (CHW) and `out` its 3072 features. The statistics come
/// from the training split only, and are then applied unchanged to validation and test.
#[derive(Debug, Clone)]
pub struct Normalizer {
    mode: Preprocess,
    /// `src(j)`: the byte of the CHW image that feature `j` reads.
    source: Vec<usize>,
    /// Whether `source` is the identity, which lets the hot loop skip the gather.
    identity: bool,
    offset: Vec<f32>,
    scale: Vec<f32>,
}

impl Normalizer {
    /// Measures what `mode` needs on `train`. An empty `train` gives zero means and unit
    /// scales (nothing to measure; splitting refuses an empty training split anyway).
    pub fn fit(mode: Preprocess, train: &ImageSet) -> Self {
        let chw: Vec<usize> = (0..IMAGE_BYTES).collect();
        match mode {
            Preprocess::Assignment => {
                // x / 255 * 2 - 1 == (x - 127.5) / 127.5
                Self::new(mode, chw, vec![127.5; IMAGE_BYTES], vec![1.0 / 127.5; IMAGE_BYTES])
            }
            Preprocess::Standardize => {
                let (mean, std) = channel_stats(train);
                // A constant channel has std 0; leave it unscaled instead of dividing by 0.
                let inv_std = std.map(|s| if s > 0.0 { (1.0 / s) as f32 } else { 1.0 });
                let offset = (0..IMAGE_BYTES).map(|j| mean[j / PLANE] as f32).collect();
                let scale = (0..IMAGE_BYTES).map(|j| inv_std[j / PLANE]).collect();
                Self::new(mode, chw, offset, scale)
            }
            Preprocess::MeanImage => {
                let mean = mean_image(train);
                let source: Vec<usize> = (0..IMAGE_BYTES).map(hwc_to_chw).collect();
                let offset = source.iter().map(|&s| mean[s] as f32).collect();
                Self::new(mode, source, offset, vec![1.0; IMAGE_BYTES])
            }
        }
    }

    fn new(mode: Preprocess, source: Vec<usize>, offset: Vec<f32>, scale: Vec<f32>) -> Self {
        let identity = source.iter().enumerate().all(|(j, &s)| j == s);
        Normalizer {
            mode,
            source,
            identity,
            offset,
            scale,
        }
    }

    /// The mode this normaliser was fitted for.
    pub fn mode(&self) -> Preprocess {
        self.mode
    }

    /// Appends the normalised images `indices` of `set` to `out`, as
    /// `[indices.len(), 3072]` row-major `f32`. Allocates nothing but `out`'s growth.
    ///
    /// # Panics
    /// If an index is `>= set.len()`, like slice indexing.
    pub fn apply_into(&self, set: &ImageSet, indices: &[usize], out: &mut Vec<f32>) {
        let start = out.len();
        out.resize(start + indices.len() * IMAGE_BYTES, 0.0);
        self.write_to(set, indices, &mut out[start..]);
    }

    /// Writes the normalised images `indices` of `set` into `out`, which
    /// must hold exactly `[indices.len(), 3072]` values (row-major `f32`).
    ///
    /// # Panics
    /// If an index is `>= set.len()` or `out` has another length.
    // Always inlined: a caller may compile it for wider SIMD lanes than the
    // build's baseline (the fused CPU step runs it in AVX2 where there is some).
    #[inline(always)]
    pub fn write_to(&self, set: &ImageSet, indices: &[usize], out: &mut [f32]) {
        assert_eq!(
            out.len(),
            indices.len() * IMAGE_BYTES,
            "output must hold one row per index"
        );
        for (&i, row) in indices.iter().zip(out.chunks_exact_mut(IMAGE_BYTES)) {
            let image = set.image(i);
            let affine = self.offset.iter().zip(&self.scale);
            if self.identity {
                for ((v, &x), (&o, &k)) in row.iter_mut().zip(image).zip(affine) {
                    *v = (f32::from(x) - o) * k;
                }
            } else {
                for ((v, &s), (&o, &k)) in row.iter_mut().zip(&self.source).zip(affine) {
                    *v = (f32::from(image[s]) - o) * k;
                }
            }
        }
    }

    /// The normalised images `indices` of `set`, `[indices.len(), 3072]` row-major.
    pub fn apply(&self, set: &ImageSet, indices: &[usize]) -> Vec<f32> {
        let mut out = Vec::new();
        self.apply_into(set, indices, &mut out);
        out
    }

    /// Every image of `set`, normalised, `[set.len(), 3072]` row-major.
    pub fn apply_all(&self, set: &ImageSet) -> Vec<f32> {
        let indices: Vec<usize> = (0..set.len()).collect();
        self.apply(set, &indices)
    }

    /// Byte of the CHW image that output feature `j` reads (`< 3072`).
    pub fn source_byte(&self, j: usize) -> usize {
        self.source[j]
    }

    /// Per-feature offsets and scales: feature `j` is `(x - offset[j]) * scale[j]`,
    /// `x` being the byte [`Self::source_byte`]`(j)`. Lets a device apply the same map.
    pub fn affine(&self) -> (&[f32], &[f32]) {
        (&self.offset, &self.scale)
    }

    /// Output feature `j` -> `(channel, row, col)` of the pixel it comes from, so that
    /// callers can draw first-layer weights as images whatever the feature order.
    ///
    /// # Panics
    /// If `j >= 3072`.
    pub fn feature_position(&self, j: usize) -> (usize, usize, usize) {
        let s = self.source[j];
        (s / PLANE, (s % PLANE) / IMAGE_SIDE, s % IMAGE_SIDE)
    }
}

/// HWC feature index `(h * 32 + w) * 3 + c` -> CHW byte index `c * 1024 + h * 32 + w`.
fn hwc_to_chw(j: usize) -> usize {
    let (pixel, c) = (j / CHANNELS, j % CHANNELS);
    c * PLANE + pixel
}

/// Per-channel mean and (population) standard deviation over all pixels of `set`.
/// Sums are exact integers (at most 50,000 x 1,024 x 255^2 < 2^64), so the statistics
/// do not depend on summation order.
fn channel_stats(set: &ImageSet) -> ([f64; CHANNELS], [f64; CHANNELS]) {
    let mut sum = [0u64; CHANNELS];
    let mut sum_sq = [0u64; CHANNELS];
    for image in set.pixels().chunks_exact(IMAGE_BYTES) {
        for (c, plane) in image.chunks_exact(PLANE).enumerate() {
            for &x in plane {
                let x = u64::from(x);
                sum[c] += x;
                sum_sq[c] += x * x;
            }
        }
    }
    let n = (set.len() * PLANE).max(1) as f64;
    let mean = sum.map(|s| s as f64 / n);
    // max(0): rounding can push a zero variance slightly negative.
    let std = std::array::from_fn(|c| (sum_sq[c] as f64 / n - mean[c] * mean[c]).max(0.0).sqrt());
    (mean, std)
}

/// Mean of every byte position over the images of `set` (CHW order).
fn mean_image(set: &ImageSet) -> Vec<f64> {
    let mut sum = vec![0u64; IMAGE_BYTES];
    for image in set.pixels().chunks_exact(IMAGE_BYTES) {
        for (s, &x) in sum.iter_mut().zip(image) {
            *s += u64::from(x);
        }
    }
    let n = set.len().max(1) as f64;
    sum.into_iter().map(|s| s as f64 / n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for mode in Preprocess::ALL {
            assert_eq!(mode.to_string().parse::<Preprocess>().unwrap(), mode);
        }
        let err = "zca".parse::<Preprocess>().unwrap_err().to_string();
        assert!(
            err.contains("'zca'") && err.contains("assignment, standardize, mean-image"),
            "{err}"
        );
    }

    #[test]
    fn hwc_permutation() {
        assert_eq!(hwc_to_chw(0), 0);
        assert_eq!(hwc_to_chw(1), PLANE);
        assert_eq!(hwc_to_chw(2), 2 * PLANE);
        assert_eq!(hwc_to_chw(3), 1);
        assert_eq!(hwc_to_chw(IMAGE_BYTES - 1), IMAGE_BYTES - 1);
        let mut seen: Vec<usize> = (0..IMAGE_BYTES).map(hwc_to_chw).collect();
        seen.sort_unstable();
        assert!(seen.iter().enumerate().all(|(j, &s)| j == s), "not a permutation");
    }

    #[test]
    fn assignment_maps_the_midpoint_to_zero() {
        let n = Normalizer::fit(Preprocess::Assignment, &ImageSet::default());
        // The affine map is (x - 127.5) / 127.5: 127.5 -> 0.
        assert!(n.offset.iter().all(|&o| o == 127.5));
        assert!(n.identity);
        assert_eq!(n.feature_position(1025), (1, 0, 1));
    }

    #[test]
    fn empty_training_set_gives_a_usable_map() {
        for mode in Preprocess::ALL {
            let n = Normalizer::fit(mode, &ImageSet::default());
            assert!(n.offset.iter().chain(&n.scale).all(|v| v.is_finite()), "{mode}");
        }
    }
}
