//! `MlpConfig::init_seeded` draws what Burn's flex device draws after
//! `seed(seed)`, bit for bit. Its own test binary, with one test: Burn's
//! generator is one per process, and a test running beside this one could
//! draw from it between the seed and the draws.

use burn::prelude::*;
use mlp_model::{Mlp, MlpConfig, WeightInit};

fn weights(model: &Mlp) -> Vec<Vec<f32>> {
    model
        .linear_weights()
        .into_iter()
        .map(|w| w.into_data().try_to_vec::<f32>().unwrap())
        .collect()
}

#[test]
fn seeded_weights_are_burns_flex_weights() {
    let device = Device::flex();
    let configs = [
        MlpConfig::new(vec![50]),
        MlpConfig::new(vec![50, 40, 30, 25, 20]).with_init(WeightInit::Kaiming),
        MlpConfig::new(vec![50, 40]).with_init(WeightInit::Gain { gain: 0.7 }),
        MlpConfig::new(vec![40, 40]).with_batch_norm(true).with_dropout(0.4),
        MlpConfig::new(vec![]).with_input(7).with_classes(3),
        MlpConfig::new(vec![60, 30])
            .with_init(WeightInit::Xavier)
            .with_activation(mlp_model::Activation::Tanh),
    ];
    for config in &configs {
        for seed in [0, 1, 12345] {
            device.seed(seed);
            let burn = weights(&config.init(&device));
            let ours = config.init_seeded(seed, &device);
            assert_eq!(weights(&ours), burn, "{config:?} seed {seed}");
            // Biases start at zero, as with `init`.
            for block in &ours.hidden {
                let bias = block
                    .linear
                    .bias
                    .as_ref()
                    .unwrap()
                    .val()
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap();
                assert!(bias.iter().all(|&b| b == 0.0));
            }
        }
        // Another seed draws other weights.
        assert_ne!(
            weights(&config.init_seeded(0, &device)),
            weights(&config.init_seeded(1, &device))
        );
    }
    // On the autodiff device too (what training builds on).
    let ad = device.clone().autodiff();
    let config = &configs[1];
    assert_eq!(
        weights(&config.init_seeded(3, &ad).valid()),
        weights(&config.init_seeded(3, &device))
    );
}
