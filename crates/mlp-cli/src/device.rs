//! Choosing the device once, at the edge: the libraries never pick one.

use anyhow::bail;
use burn::prelude::*;
use burn::tensor::wgpu::{WgpuBackend, wgpu};
use clap::ValueEnum;
use mlp_train::train::{DeviceMemory, EngineChoice, Placement, Target};

use crate::cuda::{CudaGpu, no_cuda_error, probe_cuda};

/// `--device` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceChoice {
    /// A hardware wgpu adapter if one opens, else a CUDA device if the
    /// driver opens one, else the CPU.
    Auto,
    /// wgpu on a hardware GPU adapter; an error if there is none.
    Gpu,
    /// Burn's CUDA runtime on the first NVIDIA device (builds with the
    /// `cuda` feature); an error if none opens.
    Cuda,
    /// Burn's flex backend (pure Rust, multi-threaded): the recommended CPU backend.
    Cpu,
    /// Burn's ndarray backend (deprecated upstream; kept to compare speed).
    Ndarray,
}

/// The device to train on and how to describe it in results.
pub struct ChosenDevice {
    pub device: Device,
    pub description: String,
    pub is_gpu: bool,
    /// Whose memory training fills, for the check before it starts.
    pub memory: DeviceMemory,
}

impl ChosenDevice {
    /// Everything decided about training on this device: the engine
    /// resolved for it, and the data placed on a GPU, on the host otherwise.
    pub fn target(self, engine: EngineChoice) -> anyhow::Result<Target> {
        let placement = if self.is_gpu {
            Placement::Device
        } else {
            Placement::Host
        };
        let mut target = Target::new(self.device, self.description, engine, placement)?;
        target.memory = self.memory;
        Ok(target)
    }
}

/// The device `--device` names, opened; notes on stderr say which, unless
/// `quiet`. `allow_software_gpu` lets `gpu` take a software adapter.
pub fn choose(choice: DeviceChoice, allow_software_gpu: bool, quiet: bool) -> anyhow::Result<ChosenDevice> {
    let cpu = || ChosenDevice {
        device: Device::flex(),
        description: "cpu (flex)".to_owned(),
        is_gpu: false,
        memory: DeviceMemory::Host,
    };
    let chosen = match choice {
        DeviceChoice::Cpu => cpu(),
        #[allow(deprecated)] // measured against flex on purpose
        DeviceChoice::Ndarray => ChosenDevice {
            device: Device::ndarray(),
            description: "cpu (ndarray)".to_owned(),
            is_gpu: false,
            memory: DeviceMemory::Host,
        },
        DeviceChoice::Gpu => {
            let gpu = probe_gpu().map_err(|cause| no_adapter_error("--device gpu", &cause))?;
            if gpu.software && !allow_software_gpu {
                bail!(
                    "--device gpu: the only wgpu adapter is '{}', a software renderer on the CPU, not a GPU; \
                     use --device cpu (faster), or set MLP_ALLOW_SOFTWARE_GPU=1 to test the GPU code path on it",
                    gpu.info.name
                );
            }
            gpu.into_chosen()
        }
        DeviceChoice::Cuda => cuda_chosen(probe_cuda().map_err(|cause| no_cuda_error("--device cuda", &cause))?),
        DeviceChoice::Auto => auto(quiet, cpu)?,
    };
    note(quiet, &format!("device: {}", chosen.description));
    Ok(chosen)
}

/// `--device auto`: a hardware wgpu adapter, else a CUDA device, else the
/// CPU, saying on stderr why each one before it was passed over.
fn auto(quiet: bool, cpu: impl Fn() -> ChosenDevice) -> anyhow::Result<ChosenDevice> {
    let why_not_wgpu = match probe_gpu() {
        Ok(gpu) if !gpu.software => return Ok(gpu.into_chosen()),
        Ok(gpu) => format!("wgpu adapter '{}' is a software renderer", gpu.info.name),
        Err(error) => format!("no wgpu adapter ({error:#})"),
    };
    let why_not_cuda = match probe_cuda() {
        Ok(gpu) => {
            note(quiet, &format!("--device auto: {why_not_wgpu}; using CUDA"));
            return Ok(cuda_chosen(gpu));
        }
        Err(error) => format!("no CUDA device ({error:#})"),
    };
    note(quiet, &format!("--device auto: {why_not_wgpu}; {why_not_cuda}; using the CPU"));
    Ok(cpu())
}

/// Training on a CUDA device: the GPU path, the stacked engine by default.
fn cuda_chosen(gpu: CudaGpu) -> ChosenDevice {
    ChosenDevice {
        device: gpu.device,
        description: format!("cuda {} (GPU)", gpu.name),
        is_gpu: true,
        memory: DeviceMemory::Cuda,
    }
}

fn note(quiet: bool, line: &str) {
    if !quiet {
        eprintln!("{line}");
    }
}

/// The wgpu adapter that `--device gpu` opens, and what it says of itself.
pub struct Gpu {
    device: Device,
    pub info: wgpu::AdapterInfo,
    /// A CPU rasteriser (Mesa's llvmpipe, SwiftShader, WARP), not a GPU.
    pub software: bool,
    /// The most bytes one buffer may hold: wgpu's `max_buffer_size` and
    /// `max_storage_buffer_binding_size` (every tensor is bound as storage), the smaller.
    pub max_buffer: u64,
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
            description: format!("wgpu {} ({:?}, {kind})", self.info.name, self.info.backend),
            is_gpu: true,
            memory: DeviceMemory::Gpu {
                max_buffer: self.max_buffer,
                shared_with_host: self.software,
            },
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
pub fn probe_gpu() -> anyhow::Result<Gpu> {
    let (device, setup) = Device::wgpu_options().graphics_api(GRAPHICS_API).init_with_setup()?;
    let info = setup.adapter.get_info();
    let limits = setup.adapter.limits();
    Ok(Gpu {
        device,
        software: info.device_type == wgpu::DeviceType::Cpu,
        info,
        max_buffer: limits
            .max_buffer_size
            .min(u64::from(limits.max_storage_buffer_binding_size)),
    })
}

/// `what: no wgpu adapter could be opened: cause`, then what to check, in
/// the order a failure is most likely to be found.
pub fn no_adapter_error(what: &str, cause: &anyhow::Error) -> anyhow::Error {
    anyhow::anyhow!(
        "{what}: no wgpu adapter could be opened: {cause:#}\n{}",
        no_adapter_hint()
    )
}

/// What to check when no adapter opens, with what this machine shows of each.
fn no_adapter_hint() -> String {
    let mut lines = vec!["check:".to_owned()];
    if cfg!(target_os = "linux") {
        let loader = match find_vulkan_loader() {
            Some(path) => format!("found at {}", path.display()),
            None => "not found in the library path (Debian/Ubuntu: apt install libvulkan1)".to_owned(),
        };
        lines.push(format!("  - the Vulkan loader libvulkan.so.1: {loader}"));
        lines.push(format!("  - the driver's ICD file: {}", describe_icd_files()));
    }
    lines.push(format!(
        "  - CUBECL_WGPU_DEFAULT_DEVICE (picks the adapter: Cpu, DiscreteGpu(0), IntegratedGpu(0), ...): {}",
        describe_env("CUBECL_WGPU_DEFAULT_DEVICE")
    ));
    lines.push("  - or train on the CPU: --device cpu".to_owned());
    lines.join("\n")
}

fn describe_env(name: &str) -> String {
    match std::env::var_os(name) {
        Some(value) => format!("set to '{}'", value.to_string_lossy()),
        None => "not set".to_owned(),
    }
}

/// The Vulkan loader wgpu opens at run time, if it is where the dynamic
/// linker looks.
fn find_vulkan_loader() -> Option<std::path::PathBuf> {
    find_library("libvulkan.so.1")
}

/// `name` in the directories the dynamic linker searches: LD_LIBRARY_PATH,
/// then the usual system directories (and WSL's driver directory).
pub fn find_library(name: &str) -> Option<std::path::PathBuf> {
    let from_env = std::env::var_os("LD_LIBRARY_PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    let system = [
        "/lib/x86_64-linux-gnu",
        "/usr/lib/x86_64-linux-gnu",
        "/lib/aarch64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib64",
        "/lib64",
        "/usr/lib",
        "/lib",
        "/usr/local/lib",
        "/usr/lib/wsl/lib",
    ]
    .map(std::path::PathBuf::from);
    from_env
        .into_iter()
        .chain(system)
        .map(|dir| dir.join(name))
        .find(|path| path.exists())
}

/// Where the Vulkan loader looks for drivers (ICD JSON files): the paths in
/// VK_DRIVER_FILES / VK_ICD_FILENAMES when set, else the standard directories.
fn describe_icd_files() -> String {
    for name in ["VK_DRIVER_FILES", "VK_ICD_FILENAMES"] {
        if let Some(value) = std::env::var_os(name) {
            let paths: Vec<String> = std::env::split_paths(&value)
                .map(|path| {
                    let state = if path.is_file() { "exists" } else { "missing" };
                    format!("{} ({state})", path.display())
                })
                .collect();
            return format!(
                "{name} is set, so only it is read: {}; unset it or point it at your driver's JSON \
                 (NVIDIA: nvidia_icd.json; Mesa: lvp_icd.*.json, radeon_icd.*.json, intel_icd.*.json). \
                 VK_DRIVER_FILES and its older name VK_ICD_FILENAMES both replace the standard directories",
                paths.join(", ")
            );
        }
    }
    let dirs = [
        "/etc/vulkan/icd.d",
        "/usr/share/vulkan/icd.d",
        "/usr/local/share/vulkan/icd.d",
    ];
    let found: Vec<String> = dirs
        .iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flat_map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path().display().to_string())))
        .filter(|path| path.ends_with(".json"))
        .collect();
    if found.is_empty() {
        format!(
            "none in {} (install your GPU's Vulkan driver; Mesa's software one is \
             Debian's mesa-vulkan-drivers), and neither VK_DRIVER_FILES nor VK_ICD_FILENAMES is set",
            dirs.join(", ")
        )
    } else {
        format!("{} (VK_DRIVER_FILES / VK_ICD_FILENAMES not set)", found.join(", "))
    }
}
