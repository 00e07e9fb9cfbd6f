//! Choosing the device once, at the edge: the libraries never pick one.

use anyhow::{Context, bail};
use burn::prelude::*;
use burn::tensor::wgpu::{WgpuBackend, wgpu};
use clap::ValueEnum;

/// `--device` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceChoice {
    /// The GPU if a hardware wgpu adapter exists, else the CPU.
    Auto,
    /// wgpu on a hardware GPU adapter; an error if there is none.
    Gpu,
    /// Burn's flex backend (pure Rust, multi-threaded): the recommended CPU backend.
    Cpu,
    /// Burn's ndarray backend (deprecated upstream; kept to compare speed).
    Ndarray,
}

/// Lets `--device gpu` run on a software wgpu adapter (Mesa's llvmpipe) to
/// test the GPU code path on machines without a GPU. Never for timings.
pub const ALLOW_SOFTWARE_GPU_ENV: &str = "MLP_ALLOW_SOFTWARE_GPU";

/// The device to train on and how to describe it in results.
pub struct ChosenDevice {
    pub device: Device,
    pub description: String,
    pub is_gpu: bool,
}

pub fn choose(choice: DeviceChoice, quiet: bool) -> anyhow::Result<ChosenDevice> {
    let cpu = || ChosenDevice {
        device: Device::flex(),
        description: "cpu (flex)".to_owned(),
        is_gpu: false,
    };
    let chosen = match choice {
        DeviceChoice::Cpu => cpu(),
        #[allow(deprecated)] // measured against flex on purpose
        DeviceChoice::Ndarray => ChosenDevice {
            device: Device::ndarray(),
            description: "cpu (ndarray)".to_owned(),
            is_gpu: false,
        },
        DeviceChoice::Gpu => {
            let gpu = probe_gpu().context("--device gpu: no wgpu adapter could be opened")?;
            if gpu.software && std::env::var(ALLOW_SOFTWARE_GPU_ENV).as_deref() != Ok("1") {
                bail!(
                    "--device gpu: the only wgpu adapter is '{}', a software renderer on the CPU, not a GPU; \
                     use --device cpu (faster), or set {ALLOW_SOFTWARE_GPU_ENV}=1 to test the GPU code path on it",
                    gpu.name
                );
            }
            gpu.into_chosen()
        }
        DeviceChoice::Auto => match probe_gpu() {
            Ok(gpu) if !gpu.software => gpu.into_chosen(),
            Ok(gpu) => {
                note(
                    quiet,
                    &format!(
                        "--device auto: wgpu adapter '{}' is a software renderer; using the CPU",
                        gpu.name
                    ),
                );
                cpu()
            }
            Err(error) => {
                note(quiet, &format!("--device auto: no GPU ({error:#}); using the CPU"));
                cpu()
            }
        },
    };
    note(quiet, &format!("device: {}", chosen.description));
    Ok(chosen)
}

fn note(quiet: bool, line: &str) {
    if !quiet {
        eprintln!("{line}");
    }
}

struct Gpu {
    device: Device,
    name: String,
    backend: String,
    software: bool,
}

impl Gpu {
    fn into_chosen(self) -> ChosenDevice {
        let kind = if self.software {
            "software adapter, not a GPU"
        } else {
            "GPU"
        };
        ChosenDevice {
            device: self.device,
            description: format!("wgpu {} ({}, {kind})", self.name, self.backend),
            is_gpu: true,
        }
    }
}

/// The graphics API wgpu computes through: Metal on macOS, Vulkan elsewhere.
/// Never OpenGL: its compute path is slow, and on Mesa's software EGL it
/// deadlocked inside wgpu (seen here), where Vulkan fails fast or works.
#[cfg(target_os = "macos")]
const GRAPHICS_API: WgpuBackend = WgpuBackend::Metal;
#[cfg(not(target_os = "macos"))]
const GRAPHICS_API: WgpuBackend = WgpuBackend::Vulkan;

/// Opens the default wgpu adapter eagerly, so a missing GPU is an error here
/// rather than a panic on a background thread at the first tensor operation.
fn probe_gpu() -> anyhow::Result<Gpu> {
    let (device, setup) = Device::wgpu_options().graphics_api(GRAPHICS_API).init_with_setup()?;
    let info = setup.adapter.get_info();
    Ok(Gpu {
        device,
        name: info.name.clone(),
        backend: format!("{:?}", info.backend),
        software: info.device_type == wgpu::DeviceType::Cpu,
    })
}
