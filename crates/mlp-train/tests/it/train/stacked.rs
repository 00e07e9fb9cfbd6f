//! The stacked engine: a group of networks trained in one batched step
//! gives each network the numbers it gets trained alone.

use super::*;
use mlp_model::Activation;
use mlp_train::train::{GroupMember, RunOutcome, job_groups, train_group, train_mlp};

/// Per epoch: train loss, train accuracy, validation loss and accuracy.
fn history(outcome: &RunOutcome) -> Vec<[f64; 4]> {
    outcome
        .history
        .iter()
        .map(|r| [r.train_loss, r.train_acc, r.val_loss, r.val_acc])
        .collect()
}

fn control(stop: &StopSignal) -> RunControl<'_> {
    RunControl {
        progress: Progress::Quiet,
        label: "t",
        stop,
        dynamics: false,
    }
}

fn stacked() -> Target {
    Target {
        engine: Engine::Stacked,
        ..Target::cpu()
    }
}

/// The networks of `members` trained as one group, and each alone.
fn together_and_alone(members: &[GroupMember], sources: &TrainData) -> (Vec<RunOutcome>, Vec<RunOutcome>) {
    let stop = StopSignal::new();
    let together = train_group(members, sources, &stacked(), control(&stop)).unwrap();
    let alone = members
        .iter()
        .map(|m| {
            train_group(std::slice::from_ref(m), sources, &stacked(), control(&stop))
                .unwrap()
                .remove(0)
        })
        .collect();
    (together, alone)
}

/// Equal to float rounding: a group's batched products may sum in another
/// order than a group of one's.
fn assert_close(a: &RunOutcome, b: &RunOutcome, what: &str) {
    let (a, b) = (history(a), history(b));
    assert_eq!(a.len(), b.len(), "{what}: epochs");
    for (epoch, (x, y)) in a.iter().zip(&b).enumerate() {
        for (u, v) in x.iter().zip(y) {
            assert!((u - v).abs() <= 1e-4, "{what} epoch {}: {x:?} vs {y:?}", epoch + 1);
        }
    }
}

/// The test: per-epoch losses and accuracies over 3 epochs, groups
/// of several sizes, with both kinds of layers the study groups (plain and
/// Kaiming share one; BatchNorm with and without dropout the other).
#[test]
fn a_group_trains_each_network_as_it_trains_alone() {
    let recipe = TrainConfig::new().with_epochs(3);
    with_sources(Preprocess::Assignment, |sources, _| {
        let plain = Variant::Plain.model_config(vec![50, 40]);
        let kaiming = Variant::Kaiming.model_config(vec![50, 40]);
        let norm = Variant::Batchnorm.model_config(vec![50]);
        let norm_dropout = Variant::BatchnormDropout.model_config(vec![50]);
        let member = |model, seed| GroupMember {
            model,
            recipe: &recipe,
            seed,
            label: "m",
        };
        let groups = [
            vec![member(&plain, 0), member(&kaiming, 0), member(&plain, 1)],
            vec![
                member(&norm_dropout, 2),
                member(&norm, 2),
                member(&norm_dropout, 3),
                member(&norm, 4),
            ],
            vec![member(&kaiming, 5), member(&plain, 6)],
        ];
        for group in &groups {
            let (together, alone) = together_and_alone(group, sources);
            assert_eq!(together.len(), group.len());
            for (j, (t, a)) in together.iter().zip(&alone).enumerate() {
                let what = format!("group of {} member {j}", group.len());
                assert_close(t, a, &what);
                assert_eq!(t.best_epoch, a.best_epoch, "{what}");
                let (tt, at) = (t.test.unwrap(), a.test.unwrap());
                assert!(
                    (tt.accuracy - at.accuracy).abs() <= 1e-3,
                    "{what}: test {tt:?} vs {at:?}"
                );
                assert_eq!(t.engine, Engine::Stacked);
                // It learnt: above chance (10%) on validation, even the plain 3-layer net.
                assert!(t.history[2].val_acc > 0.15, "{what}: {:?}", history(t));
            }
        }
    });
}

/// The stacked step computes what the other engines compute: the same
/// initial weights, the same loss, the same Adam, the same dropout masks
/// (every engine draws the run's own stream), for ReLU and tanh. Over one
/// epoch the float orderings drift a little apart.
#[test]
fn the_stacked_step_follows_the_fused_and_autodiff_steps() {
    let recipe = TrainConfig::new().with_epochs(1);
    with_sources(Preprocess::Assignment, |sources, _| {
        let stop = StopSignal::new();
        let tanh = |variant: Variant| variant.model_config(vec![50]).with_activation(Activation::Tanh);
        for (variant, model) in [
            ("plain", Variant::Plain.model_config(vec![50])),
            ("batchnorm-dropout", Variant::BatchnormDropout.model_config(vec![50])),
            ("tanh xavier", tanh(Variant::Xavier)),
            ("tanh batchnorm-dropout", tanh(Variant::BatchnormDropout)),
        ] {
            let engines = [Engine::Fused, Engine::Autodiff];
            let ours = train_mlp(&model, &recipe, 3, sources, &stacked(), control(&stop)).unwrap();
            for engine in engines {
                let target = Target {
                    engine,
                    ..Target::cpu()
                };
                let theirs = train_mlp(&model, &recipe, 3, sources, &target, control(&stop)).unwrap();
                let (a, b) = (&ours.history[0], &theirs.history[0]);
                assert!(
                    (a.train_loss - b.train_loss).abs() < 2e-3,
                    "{variant} vs {engine}: {a:?} vs {b:?}"
                );
                assert!(
                    (a.val_acc - b.val_acc).abs() < 0.03,
                    "{variant} vs {engine}: {a:?} vs {b:?}"
                );
            }
        }
    });
}

/// Plain SGD (the trainability map's other optimiser) steps like Burn's SGD
/// with L2, in a group as alone.
#[test]
fn sgd_groups_train_as_burns_sgd() {
    let recipe = TrainConfig::new()
        .with_epochs(2)
        .with_lr(0.05)
        .with_optimizer(Some(mlp_train::train::Optimizer::Sgd));
    with_sources(Preprocess::Assignment, |sources, _| {
        let model = Variant::Kaiming.model_config(vec![50, 40]);
        let member = |seed| GroupMember {
            model: &model,
            recipe: &recipe,
            seed,
            label: "m",
        };
        let (together, alone) = together_and_alone(&[member(0), member(1)], sources);
        for (t, a) in together.iter().zip(&alone) {
            assert_close(t, a, "sgd");
        }
        let stop = StopSignal::new();
        let target = Target {
            engine: Engine::Autodiff,
            ..Target::cpu()
        };
        let burn = train_mlp(&model, &recipe, 0, sources, &target, control(&stop)).unwrap();
        let (a, b) = (&together[0].history[0], &burn.history[0]);
        assert!((a.train_loss - b.train_loss).abs() < 2e-3, "{a:?} vs {b:?}");
        assert!((a.val_acc - b.val_acc).abs() < 0.03, "{a:?} vs {b:?}");
        assert!(a.val_acc > 0.2, "{a:?}");
    });
}

/// A member whose learning rate makes it diverge is recorded as diverged,
/// and the rest of its group trains exactly as without it.
#[test]
fn a_diverging_network_leaves_its_group_untouched() {
    let recipe = TrainConfig::new().with_epochs(2);
    let exploding = TrainConfig::new().with_epochs(2).with_lr(1e35);
    with_sources(Preprocess::Assignment, |sources, _| {
        let model = Variant::Kaiming.model_config(vec![50, 40]);
        let member = |recipe, seed| GroupMember {
            model: &model,
            recipe,
            seed,
            label: "m",
        };
        let group = [member(&recipe, 0), member(&exploding, 1), member(&recipe, 2)];
        let (together, alone) = together_and_alone(&group, sources);
        assert_eq!(together[1].diverged_at, Some(1), "{:?}", history(&together[1]));
        assert!(together[1].history.is_empty() && together[1].test.is_none());
        assert_eq!(alone[1].diverged_at, Some(1));
        for j in [0, 2] {
            assert_eq!(together[j].diverged_at, None);
            assert_close(&together[j], &alone[j], &format!("member {j}"));
        }
    });
}

/// What the engine cannot train together is refused, naming the flag.
#[test]
fn groups_the_engine_cannot_train_are_refused() {
    let recipe = TrainConfig::new().with_epochs(1);
    let longer = TrainConfig::new().with_epochs(2);
    with_sources(Preprocess::Assignment, |sources, _| {
        let stop = StopSignal::new();
        let a = Variant::Plain.model_config(vec![50]);
        let b = Variant::Batchnorm.model_config(vec![50]);
        let seeded = |model, recipe, seed| GroupMember {
            model,
            recipe,
            seed,
            label: "m",
        };
        let member = |model, recipe| seeded(model, recipe, 0);
        let refused = |group: &[GroupMember], target: &Target| {
            train_group(group, sources, target, control(&stop))
                .err()
                .expect("refused")
                .to_string()
        };
        // The fused engine groups one seed's networks (they see the same batches).
        let fused = refused(&[seeded(&a, &recipe, 0), seeded(&b, &recipe, 1)], &Target::cpu());
        assert!(fused.contains("--group-size") && fused.contains("one seed"), "{fused}");
        let autodiff = Target {
            engine: Engine::Autodiff,
            ..Target::cpu()
        };
        let alone = refused(&[member(&a, &recipe), member(&a, &recipe)], &autodiff);
        assert!(alone.contains("one network at a time"), "{alone}");
        let shapes = refused(&[member(&a, &recipe), member(&b, &recipe)], &stacked());
        assert!(shapes.contains("same shapes"), "{shapes}");
        let epochs = refused(&[member(&a, &recipe), member(&a, &longer)], &stacked());
        assert!(epochs.contains("epochs"), "{epochs}");
    });
}

/// Groups form from runs of the same shapes and kinds of layers, in the
/// order the runs come, at most `group_size` each; on the fused engine
/// from runs of one seed that it trains; autodiff trains every run alone.
#[test]
fn groups_form_by_shape_in_order_up_to_the_size() {
    let models = [
        Variant::Plain.model_config(vec![50]),
        Variant::Kaiming.model_config(vec![50]),
        Variant::Batchnorm.model_config(vec![50]),
        Variant::Plain.model_config(vec![50, 40]),
        Variant::Plain.model_config(vec![50]),
        Variant::BatchnormDropout.model_config(vec![50]),
    ];
    let runs: Vec<usize> = (0..models.len()).collect();
    let recipe = TrainConfig::new();
    // Seeds: runs 0, 2 and 5 have seed 0, the others seed 1.
    let seed = |i: usize| u64::from(!matches!(i, 0 | 2 | 5));
    let groups = |size: usize, target: &Target| {
        job_groups(&runs, size, target, &recipe, |i| Some((models[i].clone(), seed(i))))
    };
    assert_eq!(groups(2, &stacked()), [vec![0, 1], vec![2, 5], vec![3], vec![4]]);
    assert_eq!(groups(usize::MAX, &stacked()), [vec![0, 1, 4], vec![2, 5], vec![3]]);
    assert_eq!(groups(1, &stacked()).len(), 6);
    // The fused engine: one seed's networks, whatever their shapes.
    assert_eq!(groups(usize::MAX, &Target::cpu()), [vec![0, 2, 5], vec![1, 3, 4]]);
    assert_eq!(groups(2, &Target::cpu()), [vec![0, 2], vec![1, 3], vec![4], vec![5]]);
    let autodiff = Target {
        engine: Engine::Autodiff,
        ..Target::cpu()
    };
    assert_eq!(groups(usize::MAX, &autodiff).len(), 6, "autodiff trains one at a time");
}

/// A shared pass evaluates and probes its networks side by side on the
/// cores; each network's seconds are still its share of the group's wall
/// time, so they add up to no more than the wall time of the whole call.
#[test]
fn a_shared_pass_s_seconds_add_up_to_its_wall_time() {
    let recipe = TrainConfig::new().with_epochs(2);
    with_sources(Preprocess::Assignment, |sources, _| {
        let models = [vec![50], vec![50, 40], vec![50, 40, 30]].map(|h| Variant::Batchnorm.model_config(h));
        let members: Vec<GroupMember> = models
            .iter()
            .map(|model| GroupMember {
                model,
                recipe: &recipe,
                seed: 0,
                label: "t",
            })
            .collect();
        let stop = StopSignal::new();
        let control = RunControl {
            dynamics: true,
            ..control(&stop)
        };
        let start = std::time::Instant::now();
        let outcomes = train_group(&members, sources, &Target::cpu(), control).unwrap();
        let wall = start.elapsed().as_secs_f64();
        assert!(outcomes.iter().all(|o| o.engine == Engine::Fused && o.seconds > 0.0));
        // Probed at initialisation and after both epochs, every layer.
        for (o, model) in outcomes.iter().zip(&models) {
            assert_eq!(o.dynamics.len(), 3 * (model.hidden.len() + 1));
        }
        let total: f64 = outcomes.iter().map(|o| o.seconds).sum();
        assert!(total <= wall, "the networks' seconds add up to {total} s, the call took {wall} s");
    });
}
