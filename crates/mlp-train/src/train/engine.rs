//! Which step trains a network: Burn's autodiff or the fused CPU step.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::TrainError;

/// How a training step computes its gradients and updates the weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    /// `fused` on the flex CPU device, else `autodiff`.
    #[default]
    Auto,
    /// Burn's autodiff and Adam, on any device.
    Autodiff,
    /// The hand-written CPU step ([`super::fused`]), on a CPU device.
    Fused,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Auto => "auto",
            Engine::Autodiff => "autodiff",
            Engine::Fused => "fused",
        }
    }

    /// The engine that trains on `device`: `Auto` decided, and a `Fused`
    /// that cannot run there refused, naming `--engine`.
    pub fn resolve(self, device: &Device) -> Result<Engine, TrainError> {
        let host_cpu = is_host_cpu(device);
        match self {
            Engine::Auto if is_flex(device) => Ok(Engine::Fused),
            Engine::Auto | Engine::Autodiff => Ok(Engine::Autodiff),
            Engine::Fused if !host_cpu => Err(TrainError::invalid(
                "--engine",
                "`fused` computes on the CPU; use --device cpu, or --engine autodiff or auto",
            )),
            Engine::Fused => Ok(Engine::Fused),
        }
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn is_flex(device: &Device) -> bool {
    matches!(
        device.clone().without_autodiff().as_dispatch(),
        burn::backend::DispatchDevice::Flex(_)
    )
}

fn is_host_cpu(device: &Device) -> bool {
    let ndarray = matches!(
        device.clone().without_autodiff().as_dispatch(),
        burn::backend::DispatchDevice::NdArray(_)
    );
    is_flex(device) || ndarray
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(deprecated)] // ndarray: still offered, and still a CPU device
    fn engines_resolve_by_device() {
        // Lazy: no adapter is opened.
        let gpu = Device::wgpu(burn::tensor::DeviceKind::DefaultDevice);
        let resolve = |engine: Engine, device: &Device| engine.resolve(device).map_err(|e| e.to_string());
        assert_eq!(resolve(Engine::Auto, &Device::flex()), Ok(Engine::Fused));
        assert_eq!(resolve(Engine::Auto, &Device::flex().autodiff()), Ok(Engine::Fused));
        assert_eq!(resolve(Engine::Auto, &Device::ndarray()), Ok(Engine::Autodiff));
        assert_eq!(resolve(Engine::Auto, &gpu), Ok(Engine::Autodiff));
        assert_eq!(resolve(Engine::Fused, &Device::ndarray()), Ok(Engine::Fused));
        assert_eq!(resolve(Engine::Autodiff, &Device::flex()), Ok(Engine::Autodiff));
        let refused = resolve(Engine::Fused, &gpu).unwrap_err();
        assert!(
            refused.contains("--engine") && refused.contains("--device cpu"),
            "{refused}"
        );
    }
}
