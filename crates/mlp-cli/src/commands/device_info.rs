//! `device-info`: both GPU runtimes (the wgpu adapter `--device gpu` would
//! open, and the CUDA device of `--device cuda`), what each says of itself,
//! and what `--device gpu` / `cuda` / `auto` make of them.

use mlp_train::memory::{host_available, human_bytes};

use crate::cli::DeviceInfoArgs;
use crate::cuda::{self, DriverFiles};
use crate::device::{self, Gpu};

/// Prints both runtimes; an error (exit 1) when neither opens a GPU.
pub fn run(args: DeviceInfoArgs) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let wgpu = device::probe_gpu();
    let cuda = cuda::probe_cuda();
    match &wgpu {
        Ok(gpu) => print_adapter(gpu)?,
        Err(cause) => out!("wgpu adapter:  none ({cause:#})"),
    }
    match &cuda {
        Ok(gpu) => {
            out!("cuda device:   {} (the first of {})", gpu.name, gpu.count);
            out!("cuda driver:   libcuda.so.1 {}", gpu.driver.describe());
        }
        Err(cause) => {
            out!("cuda device:   none ({cause:#})");
            out!("cuda driver:   libcuda.so.1 {}", DriverFiles::find().describe());
        }
    }
    let allowed = args.software_gpu.allow_software_gpu;
    let hardware_wgpu = wgpu.as_ref().is_ok_and(|gpu| !gpu.software);
    let gpu_verdict = match &wgpu {
        Ok(gpu) if !gpu.software => "trains on this adapter",
        Ok(_) if allowed => "trains on this adapter (MLP_ALLOW_SOFTWARE_GPU=1: for testing, never for timings)",
        Ok(_) => "refused (set MLP_ALLOW_SOFTWARE_GPU=1 to test the GPU code path on it)",
        Err(_) => "an error: no wgpu adapter",
    };
    let cuda_verdict = match &cuda {
        Ok(gpu) => format!("trains on {}", gpu.name),
        Err(_) => "an error: no CUDA device".to_owned(),
    };
    let auto_verdict = match (&wgpu, &cuda) {
        _ if hardware_wgpu => "this wgpu adapter".to_owned(),
        (_, Ok(gpu)) => format!("CUDA, on {}", gpu.name),
        _ => "the CPU (flex)".to_owned(),
    };
    out!("--device gpu:  {gpu_verdict}");
    out!("--device cuda: {cuda_verdict}");
    out!("--device auto: {auto_verdict}");
    out!("cpu:           {cores} cores");
    out!("host memory:   {}", host_memory()?);
    match (wgpu, cuda) {
        (Err(wgpu), Err(cuda)) => Err(anyhow::anyhow!(
            "{}\n{}",
            device::no_adapter_error("device-info", &wgpu),
            cuda::no_cuda_error("device-info", &cuda)
        )),
        _ => Ok(()),
    }
}

/// What the wgpu adapter says of itself.
fn print_adapter(gpu: &Gpu) -> anyhow::Result<()> {
    let info = &gpu.info;
    let kind = if gpu.software {
        "a software renderer on the CPU, not a GPU"
    } else {
        "a GPU"
    };
    out!("wgpu adapter:  {}", info.name);
    out!("type:          {:?} ({kind})", info.device_type);
    out!("backend:       {:?}", info.backend);
    out!("driver:        {}", info.driver);
    out!("driver info:   {}", info.driver_info);
    out!("vendor:        {:#x}, device {:#x}", info.vendor, info.device);
    out!(
        "max buffer:    {} (the largest tensor it holds; training checks its weights against it)",
        human_bytes(gpu.max_buffer)
    );
    Ok(())
}

/// The memory training may fill, as the check before training reads it.
fn host_memory() -> anyhow::Result<String> {
    Ok(match host_available()? {
        Some(available) => format!("{} available ({})", human_bytes(available.bytes), available.source),
        None => "not reported by this system (training is not checked against it)".to_owned(),
    })
}
