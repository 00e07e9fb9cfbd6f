//! The dynamics probe: what it records, and that it changes nothing.

use super::*;
use mlp_train::train::{RunOutcome, train_mlp};

/// One run of `variant` with `hidden` on the subset, with or without the probe.
fn train(variant: Variant, hidden: &[usize], engine: Engine, dynamics: bool) -> RunOutcome {
    let recipe = TrainConfig::new().with_epochs(2);
    with_sources(Preprocess::Assignment, |sources, _| {
        let stop = StopSignal::new();
        let control = RunControl {
            progress: Progress::Quiet,
            label: "t",
            stop: &stop,
            dynamics,
        };
        let target = Target {
            engine,
            ..Target::cpu()
        };
        train_mlp(
            &variant.model_config(hidden.to_vec()),
            &recipe,
            9,
            sources,
            &target,
            control,
        )
        .unwrap()
    })
}

/// Everything a run reports but its timings.
fn numbers(outcome: &RunOutcome) -> (Vec<[f64; 4]>, Option<usize>, Option<(f64, f64)>) {
    let history = outcome
        .history
        .iter()
        .map(|r| [r.train_loss, r.train_acc, r.val_loss, r.val_acc])
        .collect();
    (history, outcome.best_epoch, outcome.test.map(|t| (t.loss, t.accuracy)))
}

/// The probe reads the network and draws nothing: with it, every run gives
/// the numbers it gives without it, bit for bit, on both engines, with
/// BatchNorm (whose running statistics it must not move) and dropout (whose
/// masks come from the generator it must not draw from).
#[test]
fn the_probe_leaves_every_number_of_the_run_unchanged() {
    for engine in [Engine::Fused, Engine::Autodiff] {
        for (variant, hidden) in [
            (Variant::BatchnormDropout, vec![50, 40]),
            (Variant::Plain, vec![50, 40, 30]),
        ] {
            let with = train(variant, &hidden, engine, true);
            let without = train(variant, &hidden, engine, false);
            assert_eq!(numbers(&with), numbers(&without), "{engine} {variant}");
            assert!(without.dynamics.is_empty());

            // One row per layer at init and after each of the 2 epochs.
            let layers = hidden.len() + 1;
            assert_eq!(with.dynamics.len(), 3 * layers, "{engine} {variant}");
            for (i, row) in with.dynamics.iter().enumerate() {
                let what = format!("{engine} {variant} {row:?}");
                assert_eq!((row.epoch, row.layer), (i / layers, i % layers + 1), "{what}");
                assert_eq!(row.update_ratio.is_some(), row.epoch > 0, "{what}");
                assert_eq!(row.dead_fraction.is_some(), row.layer < layers, "{what}");
                assert!(row.weight_grad_norm > 0.0 && row.weight_grad_norm.is_finite(), "{what}");
                assert!(row.activation_rms > 0.0 && row.activation_std >= 0.0, "{what}");
                // RMS² = mean² + std² (population statistics).
                let rms2 = row.activation_mean.powi(2) + row.activation_std.powi(2);
                assert!(
                    (rms2 - row.activation_rms.powi(2)).abs() <= 1e-3 * row.activation_rms.powi(2),
                    "{what}"
                );
                if let Some(dead) = row.dead_fraction {
                    assert!((0.0..=1.0).contains(&dead), "{what}");
                }
                if let Some(ratio) = row.update_ratio {
                    assert!(ratio > 0.0 && ratio.is_finite(), "{what}");
                }
            }
        }
    }
}

/// At initialisation both engines start from the same weights, so the
/// probe reads the same network from either: the same numbers to rounding.
#[test]
fn both_engines_show_the_probe_the_same_initial_network() {
    let hidden = [50, 40];
    let fused = train(Variant::Batchnorm, &hidden, Engine::Fused, true);
    let autodiff = train(Variant::Batchnorm, &hidden, Engine::Autodiff, true);
    let at_init = |o: &RunOutcome| -> Vec<[f64; 3]> {
        o.dynamics
            .iter()
            .filter(|d| d.epoch == 0)
            .map(|d| [d.activation_rms, d.weight_grad_norm, d.dead_fraction.unwrap_or(-1.0)])
            .collect()
    };
    for (f, a) in at_init(&fused).iter().zip(at_init(&autodiff)) {
        for (x, y) in f.iter().zip(a) {
            assert!(
                (x - y).abs() <= 1e-5 * x.abs().max(1e-12),
                "fused {f:?} vs autodiff {a:?}"
            );
        }
    }
}
