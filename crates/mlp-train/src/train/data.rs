//! The three splits a training run reads, placed once: on the host, or
//! uploaded to the training device.

use burn::prelude::*;
use burn::tensor::DType;

use super::device_split::DeviceSplit;
use super::host_split::HostSplit;
use super::target::{Placement, Target};

/// Train, validation and test splits, each with the train-fitted normaliser,
/// placed once and shared by every run of a job.
pub struct TrainData<'a> {
    pub train: HostSplit<'a>,
    pub val: HostSplit<'a>,
    pub test: HostSplit<'a>,
    /// The same splits on the device, with [`Placement::Device`].
    on_device: Option<[DeviceSplit; 3]>,
}

impl<'a> TrainData<'a> {
    /// The splits at the target's placement: [`Placement::Device`] uploads
    /// them to its device now.
    pub fn new([train, val, test]: [HostSplit<'a>; 3], target: &Target) -> Self {
        let on_device = (target.placement == Placement::Device).then(|| {
            let device = target.device.clone().without_autodiff();
            [train, val, test].map(|split| DeviceSplit::upload(&split, &device))
        });
        TrainData {
            train,
            val,
            test,
            on_device,
        }
    }

    pub fn placement(&self) -> Placement {
        if self.on_device.is_some() {
            Placement::Device
        } else {
            Placement::Host
        }
    }

    /// The device copies of train, validation and test, with [`Placement::Device`].
    pub fn on_device(&self) -> Option<&[DeviceSplit; 3]> {
        self.on_device.as_ref()
    }

    /// The three splits as the training loop reads them.
    pub fn splits(&self) -> [Split<'_>; 3] {
        match &self.on_device {
            Some([train, val, test]) => [Split::Device(train), Split::Device(val), Split::Device(test)],
            None => [
                Split::Host(&self.train),
                Split::Host(&self.val),
                Split::Host(&self.test),
            ],
        }
    }
}

/// One split as a training run reads it: on the host or on the device.
#[derive(Clone, Copy)]
pub enum Split<'a> {
    Host(&'a HostSplit<'a>),
    Device(&'a DeviceSplit),
}

/// Where minibatches come from: one interface for every form a split's
/// images take ([`Split`] on the host or the device, a [`HostSplit`] alone,
/// or a whole small problem held as tensors, such as the toy).
pub trait Batches {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// x: [indices.len(), D] f32 and y: [indices.len()] for `indices`.
    fn batch(&self, indices: &[usize], device: &Device) -> (Tensor<2>, Tensor<1, Int>);
}

impl Batches for Split<'_> {
    fn len(&self) -> usize {
        match self {
            Split::Host(split) => split.len(),
            Split::Device(split) => split.len(),
        }
    }

    /// A device batch stays off the autodiff graph, where inputs belong anyway.
    fn batch(&self, indices: &[usize], device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
        match self {
            Split::Host(split) => split.batch(indices, DType::F32, device),
            Split::Device(split) => split.batch(indices),
        }
    }
}

/// Normalised to f32 on `device`.
impl Batches for HostSplit<'_> {
    fn len(&self) -> usize {
        HostSplit::len(self)
    }

    fn batch(&self, indices: &[usize], device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
        HostSplit::batch(self, indices, DType::F32, device)
    }
}
