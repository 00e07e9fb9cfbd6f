//! The fused engine's step: [`FusedMlp`] on host buffers, one network, or a
//! group of one seed's networks in one pass over the data ([`SharedPass`]).

use burn::prelude::*;
use gemm_common::simd::NullaryFnOnce;
use mlp_data::{ImageSet, Normalizer};
use mlp_model::{Mlp, MlpConfig};

use super::adam::with_wide_lanes;
use super::shared::SharedPass;
use super::{AdamStep, FusedMlp};
use crate::train::config::TrainConfig;
use crate::train::engines::{ADAM_BETA_1, ADAM_BETA_2, Stepper};
use crate::train::host_split::HostSplit;

/// One network alone, or several sharing their passes.
enum Nets {
    One(FusedMlp),
    Shared(SharedPass),
}

/// The fused CPU step on host buffers.
pub(crate) struct FusedStepper<'a> {
    nets: Nets,
    /// Per network, its structure: an evaluation model is its skeleton
    /// with the trained weights written in (no copy of the weights is kept
    /// for it between evaluations).
    configs: Vec<MlpConfig>,
    /// Per network, its Adam (its own L2; the learning rate is set per step).
    adams: Vec<AdamStep>,
    train: HostSplit<'a>,
    device: Device,
    /// The labels of the current batch.
    labels: Vec<u8>,
    /// Per network, the epoch's summed loss and correct count.
    sums: Vec<(f64, usize)>,
}

impl<'a> FusedStepper<'a> {
    /// The networks `networks` (a config and the seed of its weights,
    /// [`MlpConfig::init_seeded`], each), made on `device` one at a time and
    /// trained with `recipes`; they share `seed` (their data order; it also
    /// seeds their dropout masks).
    pub fn new(
        networks: &[(&MlpConfig, u64)],
        recipes: &[&TrainConfig],
        seed: u64,
        train: HostSplit<'a>,
        device: &Device,
    ) -> Self {
        let plain = device.clone().without_autodiff();
        let mut made = networks
            .iter()
            .map(|(config, weights)| config.init_seeded(*weights, &plain));
        let nets = match networks {
            [_] => Nets::One(FusedMlp::from_model(&made.next().expect("one network"), seed)),
            _ => {
                let widths: Vec<usize> = networks
                    .iter()
                    .map(|(config, _)| config.hidden.first().copied().unwrap_or(config.classes))
                    .collect();
                Nets::Shared(SharedPass::from_models(&widths, made, seed))
            }
        };
        FusedStepper {
            nets,
            configs: networks.iter().map(|(config, _)| (*config).clone()).collect(),
            adams: recipes
                .iter()
                .map(|recipe| AdamStep {
                    lr: recipe.lr as f32,
                    weight_decay: recipe.weight_decay as f32,
                    beta_1: ADAM_BETA_1,
                    beta_2: ADAM_BETA_2,
                    epsilon: recipe.adam_epsilon as f32,
                    time: 0,
                })
                .collect(),
            train,
            device: plain,
            labels: Vec::new(),
            sums: vec![(0.0, 0); networks.len()],
        }
    }
}

/// Writes the batch's images `indices`, normalised, into `out`: the unit of
/// work [`with_wide_lanes`] runs in AVX2 lanes where there are some (the
/// same operations, so the same bits). Its `call` is always inlined, so
/// `write_to` (always inlined too) compiles inside that context; a closure
/// there was compiled apart, in the baseline's SSE lanes (measured with
/// `objdump`: it is called from two places).
struct Normalise<'a> {
    normalizer: &'a Normalizer,
    images: &'a ImageSet,
    indices: &'a [usize],
    out: &'a mut [f32],
}

impl NullaryFnOnce for Normalise<'_> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        self.normalizer.write_to(self.images, self.indices, self.out);
    }
}

impl Stepper for FusedStepper<'_> {
    fn step(&mut self, batches: &[&[usize]], lrs: &[f64]) {
        let indices = batches[0];
        // One seed, one data order: what makes the pass shareable.
        assert!(
            batches.iter().all(|b| *b == indices),
            "a fused group's networks see the same batches"
        );
        let (images, normalizer) = (self.train.images, self.train.normalizer);
        self.labels.clear();
        self.labels.extend(indices.iter().map(|&i| images.label(i)));
        let fill = |rows: std::ops::Range<usize>, out: &mut [f32]| {
            with_wide_lanes(Normalise {
                normalizer,
                images,
                indices: &indices[rows],
                out,
            })
        };
        let adams: Vec<AdamStep> = self
            .adams
            .iter()
            .zip(lrs)
            .map(|(adam, &lr)| AdamStep { lr: lr as f32, ..*adam })
            .collect();
        let stats = match &mut self.nets {
            Nets::One(net) => vec![net.step_filled(&self.labels, &fill, adams[0])],
            Nets::Shared(pass) => pass.step_filled(&self.labels, &fill, &adams),
        };
        for ((loss, correct), stats) in self.sums.iter_mut().zip(stats) {
            *loss += stats.loss_sum;
            *correct += stats.correct;
        }
    }

    fn epoch_sums(&self) -> Vec<(f64, f64)> {
        self.sums
            .iter()
            .map(|&(loss, correct)| (loss, correct as f64))
            .collect()
    }

    fn reset_sums(&mut self) {
        self.sums.iter_mut().for_each(|sum| *sum = (0.0, 0));
    }

    fn eval_model(&self, member: usize) -> Mlp {
        let skeleton = self.configs[member].skeleton(&self.device);
        match &self.nets {
            Nets::One(net) => net.write_into(skeleton, &self.device),
            Nets::Shared(pass) => pass.write_into(member, skeleton, &self.device),
        }
    }
}

#[cfg(test)]
mod tests {
    use mlp_data::Preprocess;

    use super::*;

    /// The batch's normalisation in wide lanes writes what `write_to` writes,
    /// bit for bit, for every preprocessing (the gathered layout included).
    #[test]
    fn wide_lanes_normalise_to_the_same_bits() {
        let images = crate::bench::synthetic_images(40, 3);
        let indices: Vec<usize> = (0..40).rev().step_by(3).collect();
        for mode in [Preprocess::Assignment, Preprocess::Standardize, Preprocess::MeanImage] {
            let normalizer = Normalizer::fit(mode, &images);
            let mut plain = vec![0.0; indices.len() * mlp_data::IMAGE_BYTES];
            normalizer.write_to(&images, &indices, &mut plain);
            let mut wide = vec![f32::NAN; plain.len()];
            with_wide_lanes(Normalise {
                normalizer: &normalizer,
                images: &images,
                indices: &indices,
                out: &mut wide,
            });
            assert!(
                plain.iter().zip(&wide).all(|(a, b)| a.to_bits() == b.to_bits()),
                "{mode:?}"
            );
        }
    }
}
