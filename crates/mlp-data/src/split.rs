//! Cutting the loaded dataset into the assignment's train / validation / test splits.

use crate::{Cifar10, DataError, IMAGE_BYTES, ImageSet};

/// How many images each split takes. The assignment's sizes (the default) are 49,000 /
/// 1,000 / 1,000; the bundled subset fits e.g. 4,170 / 1,000 / 1,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SplitSizes {
    pub num_train: usize,
    pub num_val: usize,
    pub num_test: usize,
}

impl Default for SplitSizes {
    fn default() -> Self {
        SplitSizes {
            num_train: 49_000,
            num_val: 1_000,
            num_test: 1_000,
        }
    }
}

/// The three splits, with the class names they are labelled with.
#[derive(Debug, Clone)]
pub struct Splits {
    /// Training images `[0, num_train)`.
    pub train: ImageSet,
    /// Training images `[num_train, num_train + num_val)`.
    pub val: ImageSet,
    /// Test images `[0, num_test)`.
    pub test: ImageSet,
    pub class_names: Vec<String>,
}

impl Splits {
    /// A short fingerprint of the three splits' contents (FNV-1a, 64 bits,
    /// over every label and every byte of every 97th image, in hex): equal
    /// data gives equal fingerprints wherever its files live, so resumed and
    /// merged jobs can check they trained on the same images.
    pub fn fingerprint(&self) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |bytes: &[u8]| {
            for &b in bytes {
                hash ^= u64::from(b);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        for set in [&self.train, &self.val, &self.test] {
            feed(&(set.len() as u64).to_le_bytes());
            feed(set.labels());
            for i in (0..set.len()).step_by(97) {
                feed(set.image(i));
            }
        }
        format!("{hash:016x}")
    }
}

impl Cifar10 {
    /// Splits the dataset as the assignment does: train = the first `num_train` training
    /// images, val = the next `num_val`, test = the first `num_test` test images.
    ///
    /// Consumes `self` so the pixels are held once: the training buffer is truncated and
    /// the validation images split off its end, so only they are copied.
    pub fn into_splits(self, sizes: SplitSizes) -> Result<Splits, DataError> {
        let SplitSizes {
            num_train,
            num_val,
            num_test,
        } = sizes;
        if num_train == 0 {
            return Err(DataError::EmptyTrainSplit);
        }
        let train_and_val = num_train.saturating_add(num_val);
        if train_and_val > self.train.len() {
            return Err(DataError::SplitTooLarge {
                flag: "--num-train + --num-val",
                requested: train_and_val,
                available: self.train.len(),
            });
        }
        if num_test > self.test.len() {
            return Err(DataError::SplitTooLarge {
                flag: "--num-test",
                requested: num_test,
                available: self.test.len(),
            });
        }

        let (mut pixels, mut labels) = self.train.into_parts();
        pixels.truncate(train_and_val * IMAGE_BYTES);
        labels.truncate(train_and_val);
        let val_pixels = pixels.split_off(num_train * IMAGE_BYTES);
        let val_labels = labels.split_off(num_train);

        let (mut test_pixels, mut test_labels) = self.test.into_parts();
        test_pixels.truncate(num_test * IMAGE_BYTES);
        test_labels.truncate(num_test);

        Ok(Splits {
            train: shrunk(pixels, labels),
            val: ImageSet::from_checked(val_pixels, val_labels),
            test: shrunk(test_pixels, test_labels),
            class_names: self.class_names,
        })
    }
}

/// Gives back the capacity the truncation freed (27 MB of the full test set, for
/// instance); shrinking a large allocation is usually a remap rather than a copy.
fn shrunk(mut pixels: Vec<u8>, mut labels: Vec<u8>) -> ImageSet {
    pixels.shrink_to_fit();
    labels.shrink_to_fit();
    ImageSet::from_checked(pixels, labels)
}
