//! Turning u8 images into normalised batch tensors.
//!
//! The pixels stay in memory once, as u8; each batch is gathered and
//! normalised into an f32 buffer of one batch that becomes the tensor's
//! storage, so no epoch copies the whole set.

use burn::prelude::*;
use burn::tensor::DType;
use mlp_data::{IMAGE_BYTES, ImageSet, Normalizer};

/// One split with the normaliser fitted on the training split. Shareable
/// between threads (parallel tuning trials).
#[derive(Clone, Copy)]
pub struct HostSplit<'a> {
    pub images: &'a ImageSet,
    pub normalizer: &'a Normalizer,
}

impl<'a> HostSplit<'a> {
    pub fn new(images: &'a ImageSet, normalizer: &'a Normalizer) -> Self {
        HostSplit { images, normalizer }
    }

    pub fn len(&self) -> usize {
        self.images.len()
    }

    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// The images `indices` as x: [batch, 3072] (in `dtype`) and labels y: [batch].
    pub fn batch(&self, indices: &[usize], dtype: DType, device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
        let mut values = Vec::with_capacity(indices.len() * IMAGE_BYTES);
        self.normalizer.apply_into(self.images, indices, &mut values);
        let mut data = TensorData::new(values, [indices.len(), IMAGE_BYTES]);
        if dtype != DType::F32 {
            data = data.convert_dtype(dtype);
        }
        let x = Tensor::from_data(data, (device, dtype));
        let labels: Vec<i64> = indices.iter().map(|&i| self.images.label(i) as i64).collect();
        let y = Tensor::from_data(TensorData::new(labels, [indices.len()]), device);
        (x, y)
    }

    /// Consecutive index ranges of at most `batch_size`, covering the split in order.
    pub fn sequential_batches(&self, batch_size: usize) -> impl Iterator<Item = Vec<usize>> + '_ {
        let n = self.len();
        (0..n.div_ceil(batch_size)).map(move |b| (b * batch_size..((b + 1) * batch_size).min(n)).collect())
    }
}
