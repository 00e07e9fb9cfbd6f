//! A set of labelled images kept as raw bytes.

use std::fmt;

use crate::{DataError, IMAGE_BYTES, NUM_CLASSES};

/// Images as `u8` in the official CHW order, flattened: image `i` is
/// `pixels[i * 3072..(i + 1) * 3072]` (1024 R, then 1024 G, then 1024 B bytes, each plane
/// 32x32 row-major), and `labels[i]` in `0..10` is its class.
///
/// The invariants (`pixels.len() == labels.len() * 3072`, every label below 10) are
/// checked on construction, so the accessors below need no further checks.
#[derive(Clone, Default, PartialEq)]
pub struct ImageSet {
    pixels: Vec<u8>,
    labels: Vec<u8>,
}

impl ImageSet {
    /// Builds a set from `pixels` (`[n, 3072]` row-major, CHW per image) and `labels` (`[n]`).
    pub fn new(pixels: Vec<u8>, labels: Vec<u8>) -> Result<Self, DataError> {
        if labels.len().checked_mul(IMAGE_BYTES) != Some(pixels.len()) {
            return Err(DataError::ShapeMismatch {
                pixels: pixels.len(),
                labels: labels.len(),
            });
        }
        if let Some((index, &label)) = labels.iter().enumerate().find(|&(_, &l)| usize::from(l) >= NUM_CLASSES) {
            return Err(DataError::LabelOutOfRange { index, label });
        }
        Ok(ImageSet { pixels, labels })
    }

    /// Builds a set whose invariants the caller (this crate) has already checked.
    pub(crate) fn from_checked(pixels: Vec<u8>, labels: Vec<u8>) -> Self {
        debug_assert_eq!(pixels.len(), labels.len() * IMAGE_BYTES);
        debug_assert!(labels.iter().all(|&l| usize::from(l) < NUM_CLASSES));
        ImageSet { pixels, labels }
    }

    /// Gives the buffers back, for splitting without copying.
    pub(crate) fn into_parts(self) -> (Vec<u8>, Vec<u8>) {
        (self.pixels, self.labels)
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// All pixels, `[len(), 3072]` row-major.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// All labels, `[len()]`.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The 3072 bytes of image `i` (R plane, G plane, B plane).
    ///
    /// # Panics
    /// If `i >= len()`, like slice indexing.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.pixels[i * IMAGE_BYTES..(i + 1) * IMAGE_BYTES]
    }

    /// The label of image `i`.
    ///
    /// # Panics
    /// If `i >= len()`, like slice indexing.
    pub fn label(&self, i: usize) -> u8 {
        self.labels[i]
    }

    /// How many images each class has.
    pub fn class_counts(&self) -> [usize; NUM_CLASSES] {
        let mut counts = [0; NUM_CLASSES];
        for &label in &self.labels {
            counts[usize::from(label)] += 1;
        }
        counts
    }
}

/// A summary rather than the bytes: a derived `Debug` would print 150 million numbers
/// for the full training set (for instance in a failed `assert_eq!`).
impl fmt::Debug for ImageSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImageSet")
            .field("len", &self.len())
            .field("class_counts", &self.class_counts())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_checks_shape_and_labels() {
        let set = ImageSet::new(vec![7; 2 * IMAGE_BYTES], vec![3, 9]).unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(set.image(1).len(), IMAGE_BYTES);
        assert_eq!(set.label(1), 9);
        assert_eq!(set.class_counts()[3], 1);

        let err = ImageSet::new(vec![0; 5], vec![1]).unwrap_err();
        assert!(err.to_string().contains("5 pixel bytes for 1 labels"), "{err}");
        let err = ImageSet::new(vec![0; IMAGE_BYTES], vec![10]).unwrap_err();
        assert!(err.to_string().contains("image 0 has label 10"), "{err}");
    }

    #[test]
    fn debug_is_a_summary() {
        let set = ImageSet::new(vec![0; IMAGE_BYTES], vec![4]).unwrap();
        let text = format!("{set:?}");
        assert!(text.contains("len: 1"), "{text}");
        assert!(text.len() < 200, "{text}");
    }
}
