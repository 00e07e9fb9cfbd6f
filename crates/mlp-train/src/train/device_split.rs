//! A split uploaded to the device once and kept there as bytes: four pixels
//! packed into each 32-bit word (so a GPU without 8-bit integers holds it at
//! one byte per pixel). Each batch is gathered, unpacked and normalised on
//! the device; only the batch's indices cross from the host.

use burn::prelude::*;
use burn::tensor::DType;
use mlp_data::IMAGE_BYTES;

use super::host_split::HostSplit;

/// 32-bit words per image.
const WORDS: usize = IMAGE_BYTES / 4;

/// One split on the device.
pub struct DeviceSplit {
    /// [n, 768]: word `w` of image `i` holds features `4w..4w+4`, the first
    /// in the lowest byte, already in the normaliser's feature order.
    words: Tensor<2, Int>,
    /// [n]
    labels: Tensor<1, Int>,
    /// [1, 3072]: feature `j` is `(byte - offset[j]) * scale[j]`, as on the host.
    offset: Tensor<2>,
    scale: Tensor<2>,
    len: usize,
}

impl DeviceSplit {
    /// Packs `source` on the host and uploads it to `device` (without autodiff).
    pub fn upload(source: &HostSplit, device: &Device) -> Self {
        let n = source.len();
        let normalizer = source.normalizer;
        let order: Vec<usize> = (0..IMAGE_BYTES).map(|j| normalizer.source_byte(j)).collect();
        let mut words = Vec::with_capacity(n * WORDS);
        for i in 0..n {
            let image = source.images.image(i);
            words.extend(order.chunks(4).map(|bytes| {
                let word = bytes
                    .iter()
                    .rev()
                    .fold(0u32, |word, &b| (word << 8) | u32::from(image[b]));
                // Stored as i32 bits; the unpacking masks each byte, so the sign is harmless.
                word as i32
            }));
        }
        let labels: Vec<i64> = source.images.labels().iter().map(|&l| i64::from(l)).collect();
        let (offset, scale) = normalizer.affine();
        let row = |values: &[f32]| Tensor::<2>::from_data(TensorData::new(values.to_vec(), [1, IMAGE_BYTES]), device);
        DeviceSplit {
            words: Tensor::from_data(TensorData::new(words, [n, WORDS]), (device, DType::I32)),
            labels: Tensor::from_data(TensorData::new(labels, [n]), device),
            offset: row(offset),
            scale: row(scale),
            len: n,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The images `indices` as x: [batch, 3072] f32 and labels y: [batch],
    /// bit for bit what [`HostSplit::batch`] gives.
    pub fn batch(&self, indices: &[usize]) -> (Tensor<2>, Tensor<1, Int>) {
        let device = self.words.device();
        let b = indices.len();
        let idx: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
        let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [b]), &device);
        let words = self.words.clone().select(0, idx.clone()); // [b, 768]
        let bytes: Vec<Tensor<2, Int>> = (0..4)
            .map(|k| words.clone().bitwise_right_shift_scalar(8 * k).bitwise_and_scalar(0xff))
            .collect();
        // [b, 768, 4] -> [b, 3072]: byte k of word w is feature 4w + k.
        let x = Tensor::stack::<3>(bytes, 2).reshape([b, IMAGE_BYTES]).float();
        let x = (x - self.offset.clone()) * self.scale.clone();
        (x, self.labels.clone().select(0, idx))
    }
}
