//! mlp-train tests on the bundled real CIFAR-10 subset (train 4,170 / val
//! 1,000 / test 1,000) and on the assignment's toy problem.

use std::sync::OnceLock;

use burn::prelude::*;
use burn::tensor::DType;
use mlp_data::{Cifar10, Normalizer, Preprocess, SplitSizes, Splits, bundled_subset_dir};
use mlp_train::Progress;
use mlp_train::batches::BatchSource;
use mlp_train::mlp_loop::{SplitSources, TrainConfig};
use mlp_train::study::{LayerRange, StudyConfig, StudyRow, Variant, run_depth_study};

const SUBSET: SplitSizes = SplitSizes {
    num_train: 4170,
    num_val: 1000,
    num_test: 1000,
};

fn subset() -> &'static Splits {
    static SPLITS: OnceLock<Splits> = OnceLock::new();
    SPLITS.get_or_init(|| {
        Cifar10::load(&bundled_subset_dir())
            .unwrap()
            .into_splits(SUBSET)
            .unwrap()
    })
}

fn with_sources<T>(preprocess: Preprocess, f: impl FnOnce(&SplitSources, &Normalizer) -> T) -> T {
    let splits = subset();
    let normalizer = Normalizer::fit(preprocess, &splits.train);
    let sources = SplitSources {
        train: BatchSource::new(&splits.train, &normalizer),
        val: BatchSource::new(&splits.val, &normalizer),
        test: BatchSource::new(&splits.test, &normalizer),
    };
    f(&sources, &normalizer)
}

fn study(layers: &str, variants: Vec<Variant>, recipe: TrainConfig) -> StudyConfig {
    StudyConfig {
        layers: layers.parse().unwrap(),
        widths: vec![50, 40, 30, 25, 20],
        variants,
        recipe,
        splits: SUBSET,
        preprocess: Preprocess::Assignment,
        device: "cpu (flex)".into(),
    }
}

fn row(rows: &[StudyRow], layers: usize, variant: Variant) -> &StudyRow {
    rows.iter()
        .find(|r| r.layers == layers && r.variant == variant)
        .unwrap()
}

mod depth_study {
    use super::*;

    /// The study's acceptance on the real subset with the assignment's recipe:
    /// 2 layers learn (>= 35% test), plain 5–6 layer nets collapse to chance
    /// (<= 15%) as in the reports, and Kaiming or BatchNorm rescue them (>= 22%).
    #[test]
    fn plain_deep_nets_collapse_and_kaiming_or_batchnorm_rescue_them() {
        let out = tempfile::tempdir().unwrap();
        let config = study(
            "2..6",
            vec![Variant::Plain, Variant::Kaiming, Variant::Batchnorm],
            TrainConfig::new(),
        );
        let results = with_sources(Preprocess::Assignment, |sources, _| {
            run_depth_study(&config, sources, &Device::flex(), out.path(), "test", Progress::Quiet).unwrap()
        });
        let rows = &results.runs;
        assert_eq!(rows.len(), 15);
        let test_acc = |l, v| row(rows, l, v).test_acc.unwrap();
        assert!(
            test_acc(2, Variant::Plain) >= 0.35,
            "2-layer plain: {}",
            test_acc(2, Variant::Plain)
        );
        for layers in [5, 6] {
            assert!(
                test_acc(layers, Variant::Plain) <= 0.15,
                "{layers}-layer plain: {}",
                test_acc(layers, Variant::Plain)
            );
            for fix in [Variant::Kaiming, Variant::Batchnorm] {
                assert!(
                    test_acc(layers, fix) >= 0.22,
                    "{layers}-layer {fix}: {}",
                    test_acc(layers, fix)
                );
            }
        }
        // Why: at init the plain 6-layer net's output is ~1e-3 times smaller per
        // layer, while Kaiming keeps it level.
        let rms = |v, layer| {
            results
                .signal
                .iter()
                .find(|s| s.layers == 6 && s.variant == v && s.layer == layer)
                .unwrap()
                .activation_rms
        };
        assert!(
            rms(Variant::Plain, 6) < 1e-8 * rms(Variant::Plain, 1),
            "plain signal should vanish"
        );
        assert!(
            rms(Variant::Kaiming, 6) > 1e-2 * rms(Variant::Kaiming, 1),
            "kaiming signal should survive"
        );

        // Every file is there, with one history row per run and epoch.
        for name in [
            "depth_study.csv",
            "depth_study_history.csv",
            "depth_study_signal.csv",
            "depth_study.md",
            "depth_study_config.json",
            "depth_study_command.txt",
        ] {
            assert!(out.path().join(name).is_file(), "{name} missing");
        }
        for name in [
            "depth_study_accuracy.png",
            "depth_study_val_curves.png",
            "depth_study_signal.png",
        ] {
            let bytes = std::fs::read(out.path().join(name)).unwrap();
            assert_eq!(&bytes[..4], b"\x89PNG", "{name} is not a PNG");
        }
        let history = std::fs::read_to_string(out.path().join("depth_study_history.csv")).unwrap();
        assert_eq!(history.lines().count(), 1 + 15 * 10);
        let csv = std::fs::read_to_string(out.path().join("depth_study.csv")).unwrap();
        assert!(csv.starts_with("layers,widths,variant,seed,device,epochs,best_epoch,train_acc,val_acc,test_acc,final_train_loss,diverged,seconds"));
    }

    #[test]
    fn the_same_seed_gives_the_same_numbers_on_the_cpu() {
        let recipe = TrainConfig::new().with_epochs(2).with_seed(7);
        let config = study("3", vec![Variant::BatchnormDropout], recipe);
        let run = || {
            let out = tempfile::tempdir().unwrap();
            with_sources(Preprocess::Assignment, |sources, _| {
                run_depth_study(&config, sources, &Device::flex(), out.path(), "test", Progress::Quiet).unwrap()
            })
        };
        let (a, b) = (run(), run());
        let strip = |h: &[mlp_train::study::HistoryRow]| {
            h.iter()
                .map(|r| (r.train_loss, r.train_acc, r.val_loss, r.val_acc))
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&a.history), strip(&b.history));
        assert_eq!(a.runs[0].test_acc, b.runs[0].test_acc);
    }

    #[test]
    fn a_diverging_run_is_recorded_and_the_study_goes_on() {
        let out = tempfile::tempdir().unwrap();
        let recipe = TrainConfig::new().with_epochs(2).with_lr(1e30).with_weight_decay(0.0);
        let config = study("2..3", vec![Variant::Plain], recipe);
        let results = with_sources(Preprocess::Assignment, |sources, _| {
            run_depth_study(&config, sources, &Device::flex(), out.path(), "test", Progress::Quiet).unwrap()
        });
        assert_eq!(results.runs.len(), 2);
        for r in &results.runs {
            assert!(r.diverged, "{r:?}");
            assert_eq!(r.test_acc, None);
        }
        assert!(
            std::fs::read_to_string(out.path().join("depth_study.md"))
                .unwrap()
                .contains("diverged")
        );
    }

    #[test]
    fn layer_ranges_and_widths_are_checked() {
        assert_eq!("2..6".parse::<LayerRange>().unwrap(), LayerRange { first: 2, last: 6 });
        assert_eq!("4".parse::<LayerRange>().unwrap(), LayerRange { first: 4, last: 4 });
        assert!("6..2".parse::<LayerRange>().unwrap_err().contains("6..2"));
        assert!("0..3".parse::<LayerRange>().unwrap_err().contains("0 layers"));
        assert!("abc".parse::<LayerRange>().unwrap_err().contains("'abc'"));
        let mut config = study("2..7", vec![Variant::Plain], TrainConfig::new());
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("--widths") && err.contains("7 layers need 6"), "{err}");
        config.layers = "2..6".parse().unwrap();
        config.recipe.batch_size = 0;
        assert!(config.validate().unwrap_err().to_string().contains("--batch-size"));
        assert!("dropout".parse::<Variant>().unwrap_err().contains("batchnorm-dropout"));
    }
}

mod two_layer {
    use super::*;
    use mlp_model::scratch::ToyProblem;
    use mlp_train::two_layer::{SgdConfig, TensorExamples, init_cifar_net, train_sgd};

    #[test]
    fn toy_sgd_run_reaches_the_assignments_loss() {
        // Assignment: lr 0.1, reg 5e-6, 100 iterations from the toy weights ->
        // final training loss < 0.02 (reports: 0.01554).
        let device = Device::flex();
        let toy = ToyProblem::embedded();
        let examples = TensorExamples {
            x: toy.inputs(DType::F64, &device),
            y: toy.labels(&device),
        };
        let outcome = train_sgd(
            toy.net(DType::F64, &device),
            &SgdConfig::toy(),
            &examples,
            &examples,
            &device,
            Progress::Quiet,
            "toy",
        )
        .unwrap();
        assert_eq!(outcome.history.len(), 100);
        let loss = outcome.final_loss().unwrap();
        assert!(loss < 0.02, "final toy loss {loss}");
        // N = 5 < batch 200, so every iteration is an epoch with its accuracies recorded.
        assert!(outcome.history.iter().all(|r| r.epoch.is_some()));
    }

    #[test]
    fn parallel_trials_give_the_same_table_and_winner_as_serial_ones() {
        use mlp_train::two_layer::{TuneGrid, tune};
        with_sources(Preprocess::MeanImage, |sources, _| {
            let grid = TuneGrid {
                hidden: vec![20, 40],
                lr: vec![1e-3, 2e-3],
                reg: vec![0.5],
                iters: vec![60],
            };
            let base = SgdConfig::default();
            let dir = tempfile::tempdir().unwrap();
            let run = |jobs: usize| {
                let csv = dir.path().join(format!("t{jobs}.csv"));
                let (rows, best) = tune(
                    &grid,
                    &base,
                    &sources.train,
                    &sources.val,
                    &Device::flex(),
                    jobs,
                    &csv,
                    Progress::Quiet,
                )
                .unwrap();
                let table: Vec<_> = rows
                    .iter()
                    .map(|r| (r.trial, r.hidden, r.final_loss, r.val_acc))
                    .collect();
                assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 1 + 4);
                (table, best.unwrap().0)
            };
            let (serial, serial_best) = run(1);
            let (parallel, parallel_best) = run(2);
            assert_eq!(serial.len(), 4);
            assert_eq!(serial, parallel);
            assert_eq!(serial_best, parallel_best);
        });
    }

    #[test]
    fn tuned_network_clearly_beats_the_default_on_the_subset() {
        with_sources(Preprocess::MeanImage, |sources, _| {
            let device = Device::flex();
            let run = |config: SgdConfig| {
                let net = init_cifar_net(&config, &device);
                train_sgd(
                    net,
                    &config,
                    &sources.train,
                    &sources.val,
                    &device,
                    Progress::Quiet,
                    "t",
                )
                .unwrap()
            };
            let default = run(SgdConfig::default());
            let tuned = run(SgdConfig {
                hidden: 100,
                lr: 1e-3,
                reg: 0.5,
                iters: 2000,
                ..SgdConfig::default()
            });
            let (_, default_val) = default.last_accuracies().unwrap();
            let (_, tuned_val) = tuned.last_accuracies().unwrap();
            // The assignment's defaults are far too timid (lr 1e-4 with std 1e-4
            // weights): on the full data they reach ~29%; the tuned settings ~49%.
            assert!(tuned_val >= 0.35, "tuned val {tuned_val}");
            assert!(
                tuned_val > default_val + 0.05,
                "tuned {tuned_val} vs default {default_val}"
            );
            assert_eq!(tuned.history.len(), 2000);
        });
    }
}

mod records {
    use mlp_train::records::{command_line, write_csv};

    #[test]
    fn csv_is_written_whole_and_no_temporary_file_is_left() {
        #[derive(serde::Serialize)]
        struct Row {
            a: u32,
            b: Option<f64>,
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        write_csv(&path, &[Row { a: 1, b: None }, Row { a: 2, b: Some(0.5) }]).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a,b\n1,\n2,0.5\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn command_lines_are_quoted_for_the_shell() {
        let args = ["mlp-cli", "depth-study", "--out", "my dir", "--layers", "2..6"].map(String::from);
        assert_eq!(command_line(&args), "mlp-cli depth-study --out 'my dir' --layers 2..6");
    }
}

mod plots {
    #[test]
    fn a_heatmap_is_drawn_as_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("heat.png");
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let values = vec![
            vec![Some(0.30), Some(0.41), None],
            vec![Some(0.35), Some(0.43), Some(0.40)],
        ];
        mlp_train::plots::heatmap(
            &path,
            "t",
            "rows",
            &names(&["50", "100"]),
            "cols",
            &names(&["a", "b", "c"]),
            &values,
        )
        .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..4], b"\x89PNG");
    }
}
