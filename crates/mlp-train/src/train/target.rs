//! Where and how networks train, resolved once, at the edge (the CLI) and
//! passed down: the libraries never pick a device, an engine or a placement.

use burn::prelude::*;

use super::engines::{Engine, EngineChoice};
use crate::TrainError;

/// Where the splits live while networks train; chosen once, at the edge,
/// with the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Batches are built on the host from the u8 images: best on the CPU,
    /// where host and device memory are the same.
    Host,
    /// The splits are uploaded to the device once, as bytes, and every batch
    /// is built there, so no pixels cross the bus per step (for a GPU).
    /// Bit for bit the batches of `Host`.
    Device,
}

/// Where a target's networks live, for the check: the host's memory (the
/// CPU, or a software GPU adapter, whose memory is the host's), or a GPU's,
/// whose size wgpu does not report but whose largest buffer it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceMemory {
    #[default]
    Host,
    /// A GPU adapter that allocates at most `max_buffer` bytes at once
    /// (wgpu's `max_buffer_size` and `max_storage_buffer_binding_size`, the
    /// smaller); `shared_with_host` for a software adapter (Mesa's llvmpipe).
    Gpu { max_buffer: u64, shared_with_host: bool },
    /// A CUDA device, whose memory is not read before training.
    Cuda,
}

/// A device with everything decided about training on it.
#[derive(Debug, Clone)]
pub struct Target {
    pub device: Device,
    /// How results describe the device (`cpu (flex)`, `wgpu … (Vulkan, GPU)`).
    pub description: String,
    /// The step engine that trains on `device`.
    pub engine: Engine,
    /// Where the splits live while networks train.
    pub placement: Placement,
    /// Whose memory the networks fill, for the check before training
    /// (`crate::memory`): the host's unless the edge says it is a GPU's.
    pub memory: DeviceMemory,
}

impl Target {
    /// Resolves `engine` for `device`, refusing one that cannot train there
    /// (naming `--engine`), before anything is read or written.
    pub fn new(
        device: Device,
        description: String,
        engine: EngineChoice,
        placement: Placement,
    ) -> Result<Self, TrainError> {
        Ok(Target {
            engine: engine.resolve(&device)?,
            device,
            description,
            placement,
            memory: DeviceMemory::Host,
        })
    }

    /// The flex CPU device with the engine `Auto` picks there (fused) and
    /// data on the host: what the tests and examples train on.
    pub fn cpu() -> Self {
        Target::new(
            Device::flex(),
            "cpu (flex)".to_owned(),
            EngineChoice::Auto,
            Placement::Host,
        )
        .expect("every engine choice trains on the flex CPU device")
    }
}
