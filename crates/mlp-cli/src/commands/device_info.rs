//! `device-info`: the wgpu adapter `--device gpu` would open, what it says
//! of itself, and what `--device gpu` / `--device auto` make of it.

use mlp_train::memory::{host_available, human_bytes};

use crate::cli::DeviceInfoArgs;
use crate::device;

pub fn run(args: DeviceInfoArgs) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let gpu = match device::probe_gpu() {
        Ok(gpu) => gpu,
        Err(cause) => {
            out!("cpu:           {cores} cores (--device cpu and --device auto train here)");
            out!("host memory:   {}", host_memory()?);
            return Err(device::no_adapter_error("device-info", &cause));
        }
    };
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
    let allowed = args.software_gpu.allow_software_gpu;
    let (gpu_verdict, auto_verdict) = match (gpu.software, allowed) {
        (false, _) => ("trains on this adapter", "this adapter"),
        (true, false) => (
            "refused (set MLP_ALLOW_SOFTWARE_GPU=1 to test the GPU code path on it)",
            "the CPU (flex)",
        ),
        (true, true) => (
            "trains on this adapter (MLP_ALLOW_SOFTWARE_GPU=1: for testing, never for timings)",
            "the CPU (flex)",
        ),
    };
    out!("--device gpu:  {gpu_verdict}");
    out!("--device auto: {auto_verdict}");
    out!("cpu:           {cores} cores");
    out!("host memory:   {}", host_memory()?);
    Ok(())
}

/// The memory training may fill, as the check before training reads it.
fn host_memory() -> anyhow::Result<String> {
    Ok(match host_available()? {
        Some(available) => format!("{} available ({})", human_bytes(available.bytes), available.source),
        None => "not reported by this system (training is not checked against it)".to_owned(),
    })
}
