//! Which step trains a network: Burn's autodiff, the fused CPU step or the
//! stacked step (a group of networks at once); what `--engine` asks for, and
//! what that resolves to on a device.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::TrainError;

/// The engine asked for (`--engine`), recorded in a job's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EngineChoice {
    /// `fused` on the flex CPU device, `autodiff` on ndarray, else (a GPU)
    /// `stacked`.
    #[default]
    Auto,
    /// Burn's autodiff and Adam, on any device.
    Autodiff,
    /// The hand-written CPU step ([`super::fused`]), on a CPU device.
    Fused,
    /// Groups of networks of one shape in one batched step
    /// ([`super::stacked`]), on any device.
    Stacked,
}

/// How a training step computes its gradients and updates the weights: an
/// [`EngineChoice`] resolved for a device, once, with the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    /// Burn's autodiff and Adam, on any device.
    Autodiff,
    /// The hand-written CPU step ([`super::fused`]), on a CPU device.
    Fused,
    /// Groups of networks of one shape in one batched step ([`super::stacked`]).
    Stacked,
}

impl EngineChoice {
    pub const ALL: [EngineChoice; 4] = [
        EngineChoice::Auto,
        EngineChoice::Autodiff,
        EngineChoice::Fused,
        EngineChoice::Stacked,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EngineChoice::Auto => "auto",
            EngineChoice::Autodiff => "autodiff",
            EngineChoice::Fused => "fused",
            EngineChoice::Stacked => "stacked",
        }
    }

    /// The engine that trains on `device`: `Auto` decided, and a `Fused`
    /// that cannot run there refused, naming `--engine`.
    pub fn resolve(self, device: &Device) -> Result<Engine, TrainError> {
        match self {
            EngineChoice::Auto if is_flex(device) => Ok(Engine::Fused),
            EngineChoice::Auto if is_host_cpu(device) => Ok(Engine::Autodiff),
            EngineChoice::Auto | EngineChoice::Stacked => Ok(Engine::Stacked),
            EngineChoice::Autodiff => Ok(Engine::Autodiff),
            EngineChoice::Fused if !is_host_cpu(device) => Err(TrainError::invalid(
                "--engine",
                "`fused` computes on the CPU; use --device cpu, or --engine autodiff or auto",
            )),
            EngineChoice::Fused => Ok(Engine::Fused),
        }
    }
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Autodiff => "autodiff",
            Engine::Fused => "fused",
            Engine::Stacked => "stacked",
        }
    }
}

impl std::fmt::Display for EngineChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for EngineChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EngineChoice::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| format!("unknown engine '{s}'; choose from auto, autodiff, fused, stacked"))
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
        let resolve = |engine: EngineChoice, device: &Device| engine.resolve(device).map_err(|e| e.to_string());
        assert_eq!(resolve(EngineChoice::Auto, &Device::flex()), Ok(Engine::Fused));
        assert_eq!(
            resolve(EngineChoice::Auto, &Device::flex().autodiff()),
            Ok(Engine::Fused)
        );
        assert_eq!(resolve(EngineChoice::Auto, &Device::ndarray()), Ok(Engine::Autodiff));
        assert_eq!(resolve(EngineChoice::Auto, &gpu), Ok(Engine::Stacked));
        assert_eq!(resolve(EngineChoice::Autodiff, &gpu), Ok(Engine::Autodiff));
        assert_eq!(resolve(EngineChoice::Stacked, &Device::flex()), Ok(Engine::Stacked));
        assert_eq!(resolve(EngineChoice::Fused, &Device::ndarray()), Ok(Engine::Fused));
        assert_eq!(resolve(EngineChoice::Autodiff, &Device::flex()), Ok(Engine::Autodiff));
        let refused = resolve(EngineChoice::Fused, &gpu).unwrap_err();
        assert!(
            refused.contains("--engine") && refused.contains("--device cpu"),
            "{refused}"
        );
    }
}
