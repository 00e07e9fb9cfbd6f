//! The GPU code path on whatever wgpu adapter this machine has. Without an
//! adapter these tests pass and say on stderr that they were skipped, unless
//! `MLP_GPU_TESTS=require` (set by `.ci/run`, which installs Mesa's software
//! Vulkan driver, llvmpipe) makes a missing adapter fail them.

use std::io::Write as _;

use super::*;
use burn::tensor::wgpu::WgpuBackend;

/// The wgpu device through Vulkan (as `--device gpu` opens it), or `None`
/// (skip, said on stderr) when no adapter opens. With
/// `MLP_GPU_TESTS=require` a missing adapter fails the test instead.
fn wgpu_device() -> Option<Device> {
    match Device::wgpu_options()
        .graphics_api(WgpuBackend::Vulkan)
        .init_with_setup()
    {
        Ok((device, _)) => Some(device),
        Err(error) => {
            let test = std::thread::current().name().unwrap_or("a GPU test").to_owned();
            if std::env::var("MLP_GPU_TESTS").as_deref() == Ok("require") {
                panic!(
                    "MLP_GPU_TESTS=require, but no wgpu adapter could be opened for {test}: {error}; \
                     install a Vulkan driver (Debian/Ubuntu: apt install mesa-vulkan-drivers, or your GPU's)"
                );
            }
            // Straight to the process's stderr: the test harness captures
            // eprintln! of passing tests, and a skip must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "skipped {test}: no wgpu adapter could be opened ({error}). To run it, install a Vulkan \
                 driver (Debian/Ubuntu: apt install mesa-vulkan-drivers, or your GPU's); \
                 MLP_GPU_TESTS=require makes a missing adapter fail the GPU tests"
            );
            None
        }
    }
}

/// Batches unpacked and normalised on the GPU from the resident bytes equal
/// the host's bit for bit, for every preprocessing.
#[test]
fn resident_batches_on_wgpu_equal_host_batches() {
    let Some(device) = wgpu_device() else { return };
    let indices = [4169, 0, 17, 17, 2048];
    for preprocess in Preprocess::ALL {
        with_sources(preprocess, |sources, _| {
            let placed = on_device(sources, &device);
            let [train, _, test] = placed.on_device().unwrap();
            let (x_host, y_host) = sources.train.batch(&indices, DType::F32, &device);
            let (x_dev, y_dev) = train.batch(&indices);
            assert_eq!(x_dev.dims(), [5, 3072]);
            assert_eq!(x_host.into_data(), x_dev.into_data(), "{preprocess}");
            assert_eq!(y_host.into_data(), y_dev.into_data(), "{preprocess}");
            // The other splits are uploaded too, and read from their own bytes.
            let (x_host, _) = sources.test.batch(&[999, 3], DType::F32, &device);
            let (x_dev, _) = test.batch(&[999, 3]);
            assert_eq!(x_host.into_data(), x_dev.into_data(), "{preprocess} test split");
        });
    }
}
