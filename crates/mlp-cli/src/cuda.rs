//! Burn's CUDA runtime, the second GPU path (`--device cuda`): for NVIDIA
//! machines without Vulkan (containers granted only the `compute` driver
//! capability, headless drivers). Compiled with the `cuda` cargo feature
//! only, because its build downloads Burn's LLVM bundle (see the README).
//!
//! Burn 0.22.1 loads the driver, `libcuda.so`, at run time (no CUDA toolkit
//! is needed to build or run), and compiles its kernels to PTX in the
//! process with LLVM, which the driver then loads: NVRTC, `libnvrtc.so`, is
//! not used (only cubecl's `cuda-cpp` feature uses it). A missing driver
//! would panic on a background thread at the first tensor operation, so the
//! device is opened here first, through a probe that cannot panic.

use std::path::PathBuf;

use burn::prelude::*;

use crate::device::find_library;

/// What this machine shows of an NVIDIA driver, read from the file system
/// without loading anything.
pub struct DriverFiles {
    /// `libcuda.so.1`, where the dynamic linker would find it.
    pub library: Option<PathBuf>,
    /// The kernel module's version (`/proc/driver/nvidia/version`), else the
    /// one in the name of the file `libcuda.so.1` links to.
    pub version: Option<String>,
}

impl DriverFiles {
    pub fn find() -> Self {
        let library = find_library("libcuda.so.1");
        let from_proc = std::fs::read_to_string("/proc/driver/nvidia/version")
            .ok()
            .and_then(|text| kernel_module_version(&text));
        let from_link = library
            .as_ref()
            .and_then(|path| std::fs::canonicalize(path).ok())
            .and_then(|target| {
                let name = target.file_name()?.to_string_lossy().into_owned();
                name.strip_prefix("libcuda.so.").filter(|v| v.contains('.')).map(str::to_owned)
            });
        DriverFiles {
            library,
            version: from_proc.or(from_link),
        }
    }

    /// One line on the driver library: found where, or not found.
    pub fn describe(&self) -> String {
        match (&self.library, &self.version) {
            (Some(path), Some(version)) => format!("found at {} (driver {version})", path.display()),
            (Some(path), None) => format!("found at {}", path.display()),
            (None, _) => "not found in the library path (the NVIDIA driver installs it; in a container, \
                          the NVIDIA container toolkit mounts it)"
                .to_owned(),
        }
    }
}

/// The version in `/proc/driver/nvidia/version`'s first line
/// (`NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar 5 …`).
fn kernel_module_version(text: &str) -> Option<String> {
    let line = text.lines().next()?;
    let after = line.split("Kernel Module").nth(1)?;
    after.split_whitespace().next().map(str::to_owned)
}

/// The CUDA device `--device cuda` opens.
pub struct CudaGpu {
    pub device: Device,
    /// The device's name, as the driver gives it.
    pub name: String,
    /// CUDA devices the driver lists (the first is used).
    pub count: usize,
    pub driver: DriverFiles,
}

/// Opens the first CUDA device, or says why none opens; never panics.
#[cfg(feature = "cuda")]
pub fn probe_cuda() -> anyhow::Result<CudaGpu> {
    use burn::tensor::DeviceType;
    let driver = DriverFiles::find();
    if driver.library.is_none() {
        anyhow::bail!("the CUDA driver library libcuda.so.1 is not in the library path");
    }
    // Lists nothing, without loading the driver's functions, where the
    // library does not open or reports no device (cubecl asks whether the
    // library loads before it asks for a count, which would panic).
    let devices = Device::enumerate(DeviceType::Cuda);
    let Some(device) = devices.first().cloned() else {
        anyhow::bail!("the CUDA driver ({}) lists no device", driver.describe());
    };
    // Opens the device: its name comes from the driver.
    let name = device
        .identity()
        .map_or_else(|| "unknown CUDA device".to_owned(), |identity| identity.name);
    Ok(CudaGpu {
        device,
        name,
        count: devices.len(),
        driver,
    })
}

/// Without the `cuda` feature there is no CUDA runtime to open.
#[cfg(not(feature = "cuda"))]
pub fn probe_cuda() -> anyhow::Result<CudaGpu> {
    anyhow::bail!(
        "this mlp-cli was built without Burn's CUDA runtime; build it with \
         `cargo build --release -p mlp-cli --features cuda` (the build downloads Burn's LLVM from github.com)"
    )
}

/// Whether this binary has the CUDA runtime.
pub const BUILT_WITH_CUDA: bool = cfg!(feature = "cuda");

/// `what: no CUDA device could be opened: cause`, then what to check.
pub fn no_cuda_error(what: &str, cause: &anyhow::Error) -> anyhow::Error {
    anyhow::anyhow!("{what}: no CUDA device could be opened: {cause:#}\n{}", no_cuda_hint())
}

/// What to check when no CUDA device opens, with what this machine shows.
fn no_cuda_hint() -> String {
    let capabilities = match std::env::var("NVIDIA_DRIVER_CAPABILITIES") {
        Ok(value) => format!("set to '{value}'"),
        Err(_) => "not set".to_owned(),
    };
    [
        "check:".to_owned(),
        format!("  - the driver library libcuda.so.1: {}", DriverFiles::find().describe()),
        "  - NVRTC (libnvrtc.so): not needed; Burn 0.22.1 compiles its CUDA kernels to PTX itself (LLVM) \
         and the driver loads them"
            .to_owned(),
        format!(
            "  - in a container, NVIDIA_DRIVER_CAPABILITIES ({capabilities}) must include `compute` for CUDA \
             (and `graphics` for Vulkan, --device gpu); run it with the GPU passed in (docker run --gpus all, \
             or your scheduler's GPU request)"
        ),
        format!(
            "  - this binary {} the CUDA runtime (cargo feature `cuda`)",
            if BUILT_WITH_CUDA { "has" } else { "was built without" }
        ),
        "  - or train on the CPU: --device cpu".to_owned(),
    ]
    .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_modules_version_is_read_from_its_banner() {
        let banner = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\n\
                      GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n";
        assert_eq!(kernel_module_version(banner).as_deref(), Some("550.54.15"));
        assert_eq!(kernel_module_version("something else"), None);
    }
}
