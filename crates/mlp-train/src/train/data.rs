//! The three splits a training run reads, on the host or resident on the
//! training device.

use burn::prelude::*;
use burn::tensor::DType;

use super::device::ResidentImages;
use super::host::BatchSource;

/// Train, validation and test splits, each with the train-fitted normaliser.
#[derive(Clone, Copy)]
pub struct SplitSources<'a> {
    pub train: BatchSource<'a>,
    pub val: BatchSource<'a>,
    pub test: BatchSource<'a>,
    /// The same splits uploaded to the training device once, as bytes (see
    /// [`ResidentSplits`]): every batch is then built there, and no pixels
    /// cross the bus per step (for a GPU). `None` builds batches on the host,
    /// best on the CPU, where host and device memory are the same. Both give
    /// bit-identical batches.
    pub resident: Option<&'a ResidentSplits>,
}

/// Train, validation and test splits resident on a device; upload them once
/// and share them between the runs of a study.
pub struct ResidentSplits {
    pub train: ResidentImages,
    pub val: ResidentImages,
    pub test: ResidentImages,
}

impl ResidentSplits {
    pub fn upload(sources: &SplitSources, device: &Device) -> Self {
        let device = device.clone().without_autodiff();
        ResidentSplits {
            train: ResidentImages::upload(&sources.train, &device),
            val: ResidentImages::upload(&sources.val, &device),
            test: ResidentImages::upload(&sources.test, &device),
        }
    }
}

/// One split as a training run reads it: on the host or resident on the device.
#[derive(Clone, Copy)]
pub enum SplitData<'a> {
    Host(&'a BatchSource<'a>),
    Resident(&'a ResidentImages),
}

impl SplitData<'_> {
    pub fn len(&self) -> usize {
        match self {
            SplitData::Host(source) => source.len(),
            SplitData::Resident(images) => images.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// x: [batch, 3072] f32 and y: [batch] for `indices`. A resident batch
    /// stays off the autodiff graph, where inputs belong anyway.
    pub fn batch(&self, indices: &[usize], device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
        match self {
            SplitData::Host(source) => source.batch(indices, DType::F32, device),
            SplitData::Resident(images) => images.batch(indices),
        }
    }
}

impl<'a> SplitSources<'a> {
    /// The three splits as the training loop reads them.
    pub fn splits(&'a self) -> [SplitData<'a>; 3] {
        match self.resident {
            Some(r) => [
                SplitData::Resident(&r.train),
                SplitData::Resident(&r.val),
                SplitData::Resident(&r.test),
            ],
            None => [
                SplitData::Host(&self.train),
                SplitData::Host(&self.val),
                SplitData::Host(&self.test),
            ],
        }
    }
}
