//! The engines: which step trains a network (Burn's autodiff, the fused CPU
//! step, or the stacked step: a group of networks at once), what
//! `--engine` asks for and what that resolves to on a device, and what each
//! engine can train: every refusal of an engine comes from here. Each
//! engine's step implements `Stepper` (`autodiff`, `fused`, `stacked`);
//! the dropout masks they all draw are in [`masks`].

pub mod masks;

use burn::prelude::*;
use mlp_model::{Mlp, MlpConfig};
use serde::{Deserialize, Serialize};

use super::config::{Optimizer, TrainConfig};
use crate::TrainError;

/// Adam's moment decay rates for every engine (Burn's and PyTorch's defaults).
pub(crate) const ADAM_BETA_1: f32 = 0.9;
pub(crate) const ADAM_BETA_2: f32 = 0.999;

/// One engine's state while a group of networks trains (a group of one for
/// the autodiff and fused steps).
pub(crate) trait Stepper: Sync {
    /// One optimiser step of every network: network `j` at learning rate
    /// `lrs[j]` on the training images `batches[j]` (all of one size).
    fn step(&mut self, batches: &[&[usize]], lrs: &[f64]);
    /// Per network, the summed loss and correct count of the epoch's steps
    /// so far; reading them may wait for the device.
    fn epoch_sums(&self) -> Vec<(f64, f64)>;
    /// Starts the next epoch's sums at zero.
    fn reset_sums(&mut self);
    /// Network `member`'s current weights as a plain (no autodiff), eval-mode model.
    fn eval_model(&self, member: usize) -> Mlp;
}

/// The one network's batch and learning rate of a group of one.
pub(crate) fn single<'b>(batches: &[&'b [usize]], lrs: &[f64]) -> (&'b [usize], f64) {
    assert!(
        batches.len() == 1 && lrs.len() == 1,
        "this engine trains one network at a time"
    );
    (batches[0], lrs[0])
}

/// What the fused step cannot train: `reason` and, under `--engine auto`,
/// what then trains through autodiff instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub instead: &'static str,
}

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
    /// (`stacked`), on any device.
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
    /// Groups of networks of one shape in one batched step (`stacked`).
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

    /// Why this engine cannot train `model` with `recipe`, if it cannot:
    /// the fused step has no residual layers and no SGD. Autodiff and the
    /// stacked step train every [`MlpConfig`] with either optimiser.
    pub fn refusal(self, model: &MlpConfig, recipe: &TrainConfig) -> Option<Refusal> {
        match self {
            Engine::Fused if model.residual => Some(Refusal {
                reason: "the fused step has no residual layers",
                instead: "residual networks then train",
            }),
            Engine::Fused if recipe.optimizer() == Optimizer::Sgd => Some(Refusal {
                reason: "the fused step has Adam only",
                instead: "SGD then trains",
            }),
            Engine::Autodiff | Engine::Fused | Engine::Stacked => None,
        }
    }

    /// The most networks one group of this engine trains at once: any
    /// number on the stacked engine (networks of one shape in one batched
    /// step) and the fused one (networks of one seed in one pass over the
    /// data, [`super::fused::shared`]), one on autodiff.
    pub fn max_group(self) -> usize {
        match self {
            Engine::Stacked | Engine::Fused => usize::MAX,
            Engine::Autodiff => 1,
        }
    }

    /// Whether this engine trains networks `a` and `b` (each with its seed)
    /// in one group with `recipe`: on the stacked engine, networks of the
    /// same shapes ([`same_shapes`]); on the fused one, networks of the same
    /// seed (they see the same batches) that it trains at all, of any
    /// depth; never on autodiff.
    pub fn trains_together(self, a: (&MlpConfig, u64), b: (&MlpConfig, u64), recipe: &TrainConfig) -> bool {
        match self {
            Engine::Stacked => same_shapes(a.0, b.0),
            Engine::Fused => {
                a.1 == b.1
                    && a.0.input == b.0.input
                    && self.refusal(a.0, recipe).is_none()
                    && self.refusal(b.0, recipe).is_none()
            }
            Engine::Autodiff => false,
        }
    }

    /// The engine that trains `model` with `recipe` where this one is the
    /// target's: itself, or Burn's autodiff for what it refuses (and the
    /// run's row says so).
    pub fn for_network(self, model: &MlpConfig, recipe: &TrainConfig) -> Engine {
        match self.refusal(model, recipe) {
            Some(_) => Engine::Autodiff,
            None => self,
        }
    }

    /// `--group-size` on this engine: the size asked for (none: no limit)
    /// where groups form; a size above 1 elsewhere is refused, naming the flag.
    pub fn group_size(self, asked: Option<usize>) -> Result<usize, TrainError> {
        match asked {
            Some(size) if size > self.max_group() => Err(TrainError::invalid(
                "--group-size",
                format!(
                    "networks train in groups only on the stacked and fused engines (the defaults on a GPU \
                     and on the CPU), and this job's is {self}; drop --group-size {size}, or use --engine auto"
                ),
            )),
            asked => Ok(asked.unwrap_or(usize::MAX).min(self.max_group())),
        }
    }

    /// Refuses a group of networks (`labels`, `models`, `recipes` and
    /// seeds by member) this engine cannot train together, naming
    /// `--group-size`: more than it trains at once, members it does not
    /// train together ([`Engine::trains_together`]), or members whose
    /// epochs, batch size, optimiser or Adam epsilon differ (they step
    /// together).
    pub fn check_group(self, members: &[(&str, &MlpConfig, &TrainConfig, u64)]) -> Result<(), TrainError> {
        let Some(&(first_label, first_model, a, first_seed)) = members.first() else {
            return Err(TrainError::invalid("--group-size", "a group needs a network"));
        };
        if members.len() > self.max_group() {
            return Err(TrainError::invalid(
                "--group-size",
                format!("the {self} engine trains one network at a time; groups need --engine stacked or fused"),
            ));
        }
        for &(label, model, b, seed) in &members[1..] {
            if !self.trains_together((first_model, first_seed), (model, seed), a) {
                let rule = match self {
                    Engine::Fused => "a fused group's networks must have one seed (they see the same batches)",
                    Engine::Stacked | Engine::Autodiff => "a group's networks must have the same shapes",
                };
                return Err(TrainError::invalid(
                    "--group-size",
                    format!("{first_label} and {label} cannot train together: {rule}"),
                ));
            }
            if a.epochs != b.epochs
                || a.batch_size != b.batch_size
                || a.optimizer() != b.optimizer()
                || a.adam_epsilon != b.adam_epsilon
            {
                return Err(TrainError::invalid(
                    "--group-size",
                    format!(
                        "{first_label} and {label} train with different epochs, batch size, optimiser or Adam epsilon; a group steps together"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Whether two networks can train in one stacked group: the same layer
/// shapes and the same kinds of layers (BatchNorm, residual, activation);
/// their initialisation and dropout probability may differ.
pub fn same_shapes(a: &MlpConfig, b: &MlpConfig) -> bool {
    a.hidden == b.hidden
        && a.input == b.input
        && a.classes == b.classes
        && a.batch_norm == b.batch_norm
        && a.residual == b.residual
        && a.activation == b.activation
}

impl EngineChoice {
    /// Refuses `--engine fused` for a job some of whose networks (`models`,
    /// trained with `recipe`) the fused step cannot train: asked for by
    /// name, an engine does not hand networks to another quietly; `auto`
    /// does, and each row records the engine that ran.
    pub fn check_networks(
        self,
        models: impl IntoIterator<Item = MlpConfig>,
        recipe: &TrainConfig,
    ) -> Result<(), TrainError> {
        if self != EngineChoice::Fused {
            return Ok(());
        }
        match models
            .into_iter()
            .find_map(|model| Engine::Fused.refusal(&model, recipe))
        {
            Some(Refusal { reason, instead }) => Err(TrainError::invalid(
                "--engine",
                format!("fused: {reason}; use --engine auto ({instead} through autodiff) or --engine autodiff"),
            )),
            None => Ok(()),
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

pub(crate) fn is_host_cpu(device: &Device) -> bool {
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

    #[test]
    fn each_engine_states_what_it_trains_and_refuses_the_rest_by_flag() {
        let plain = MlpConfig::new(vec![50, 40]);
        let residual = MlpConfig::new(vec![50, 50]).with_residual(true);
        let adam = TrainConfig::new();
        let sgd = TrainConfig::new().with_optimizer(Some(Optimizer::Sgd));
        for engine in [Engine::Autodiff, Engine::Stacked] {
            assert_eq!(engine.refusal(&residual, &sgd), None);
            assert_eq!(engine.for_network(&residual, &sgd), engine);
        }
        assert_eq!(Engine::Fused.refusal(&plain, &adam), None);
        assert_eq!(Engine::Fused.for_network(&plain, &adam), Engine::Fused);
        assert_eq!(Engine::Fused.for_network(&residual, &adam), Engine::Autodiff);
        assert_eq!(Engine::Fused.for_network(&plain, &sgd), Engine::Autodiff);

        let refused = |choice: EngineChoice, model: &MlpConfig, recipe: &TrainConfig| {
            choice
                .check_networks([plain.clone(), model.clone()], recipe)
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            refused(EngineChoice::Fused, &residual, &adam).unwrap_err(),
            "invalid --engine: fused: the fused step has no residual layers; use --engine auto (residual \
             networks then train through autodiff) or --engine autodiff"
        );
        assert_eq!(
            refused(EngineChoice::Fused, &plain, &sgd).unwrap_err(),
            "invalid --engine: fused: the fused step has Adam only; use --engine auto (SGD then trains \
             through autodiff) or --engine autodiff"
        );
        assert_eq!(refused(EngineChoice::Auto, &residual, &sgd), Ok(()));
        assert_eq!(refused(EngineChoice::Fused, &plain, &adam), Ok(()));

        assert_eq!(Engine::Stacked.group_size(None).unwrap(), usize::MAX);
        assert_eq!(Engine::Stacked.group_size(Some(4)).unwrap(), 4);
        assert_eq!(Engine::Fused.group_size(None).unwrap(), usize::MAX);
        assert_eq!(Engine::Fused.group_size(Some(4)).unwrap(), 4);
        assert_eq!(Engine::Autodiff.group_size(Some(1)).unwrap(), 1);
        let error = Engine::Autodiff.group_size(Some(4)).unwrap_err().to_string();
        assert!(
            error.contains("--group-size 4") && error.contains("stacked and fused engines"),
            "{error}"
        );

        let members = |a: &'static str, b: &'static str| [(a, &plain, &adam, 0), (b, &plain, &adam, 0)];
        assert!(Engine::Stacked.check_group(&members("a", "b")).is_ok());
        assert!(Engine::Fused.check_group(&members("a", "b")).is_ok());
        // The fused engine groups one seed's networks, of any depth; not
        // networks of two seeds, nor one it does not train.
        let deeper = MlpConfig::new(vec![50, 40]);
        assert!(
            Engine::Fused
                .check_group(&[("a", &plain, &adam, 3), ("b", &deeper, &adam, 3)])
                .is_ok()
        );
        let error = Engine::Fused
            .check_group(&[("a", &plain, &adam, 0), ("b", &plain, &adam, 1)])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("a and b cannot train together: a fused group's networks must have one seed"),
            "{error}"
        );
        assert!(
            Engine::Fused
                .check_group(&[("a", &plain, &adam, 0), ("b", &residual, &adam, 0)])
                .is_err()
        );
        let error = Engine::Autodiff
            .check_group(&members("a", "b"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("autodiff engine trains one network at a time"),
            "{error}"
        );
        let error = Engine::Stacked
            .check_group(&[("a", &plain, &adam, 0), ("b", &residual, &adam, 0)])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("a and b cannot train together: a group's networks must have the same shapes"),
            "{error}"
        );
        let error = Engine::Stacked
            .check_group(&[("a", &plain, &adam, 0), ("b", &plain, &sgd, 0)])
            .unwrap_err()
            .to_string();
        assert!(error.contains("different epochs, batch size, optimiser"), "{error}");
    }
}
