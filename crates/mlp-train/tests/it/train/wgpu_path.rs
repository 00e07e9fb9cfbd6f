//! The GPU code path on whatever wgpu adapter this machine has. CI installs
//! Mesa's software Vulkan driver (llvmpipe) so these always run there.

use super::*;
use burn::tensor::wgpu::WgpuBackend;

/// The wgpu device through Vulkan (as `--device gpu` opens it), or `None`
/// when `MLP_SKIP_GPU_TESTS=1` says to skip. Without an adapter and
/// without that variable the test fails: a missing driver must be seen.
fn wgpu_device() -> Option<Device> {
    match Device::wgpu_options()
        .graphics_api(WgpuBackend::Vulkan)
        .init_with_setup()
    {
        Ok((device, _)) => Some(device),
        Err(error) if std::env::var("MLP_SKIP_GPU_TESTS").as_deref() == Ok("1") => {
            eprintln!("skipped: no wgpu adapter ({error}) and MLP_SKIP_GPU_TESTS=1");
            None
        }
        Err(error) => panic!(
            "no wgpu adapter could be opened ({error}); install a Vulkan driver \
             (Debian/Ubuntu: apt install mesa-vulkan-drivers) or set MLP_SKIP_GPU_TESTS=1 to skip"
        ),
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
