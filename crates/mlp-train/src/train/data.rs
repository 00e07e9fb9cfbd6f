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

impl Split<'_> {
    pub fn len(&self) -> usize {
        match self {
            Split::Host(split) => split.len(),
            Split::Device(split) => split.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// x: [batch, 3072] f32 and y: [batch] for `indices`. A device batch
    /// stays off the autodiff graph, where inputs belong anyway.
    pub fn batch(&self, indices: &[usize], device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
        match self {
            Split::Host(split) => split.batch(indices, DType::F32, device),
            Split::Device(split) => split.batch(indices),
        }
    }
}
