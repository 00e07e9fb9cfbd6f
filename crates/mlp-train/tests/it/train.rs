//! mlp-train tests on the bundled real CIFAR-10 subset (train 4,170 / val
//! 1,000 / test 1,000) and on the assignment's toy problem.

use std::path::Path;
use std::sync::OnceLock;

use burn::prelude::*;
use burn::tensor::DType;
use mlp_data::{Cifar10, Normalizer, Preprocess, SplitSizes, Splits, bundled_subset_dir};
use mlp_train::StopSignal;
use mlp_train::experiments::depth_study::{
    DynamicsSettings, StudyConfig, StudyResults, StudyRow, Variant, run_depth_study,
};
use mlp_train::jobs::Existing;
use mlp_train::jobs::{Job, JobHeader, JobRun, SeedList};
use mlp_train::ranges::LayerRange;
use mlp_train::train::HostSplit;
use mlp_train::train::{Engine, EngineChoice, Placement, RunControl, Target, TrainConfig, TrainData};
use mlp_train::{Progress, TrainError};

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

fn with_sources<T>(preprocess: Preprocess, f: impl FnOnce(&TrainData, &Normalizer) -> T) -> T {
    let splits = subset();
    let normalizer = Normalizer::fit(preprocess, &splits.train);
    let sources = TrainData::new(hosts(splits, &normalizer), &Target::cpu());
    f(&sources, &normalizer)
}

fn hosts<'a>(splits: &'a Splits, normalizer: &'a Normalizer) -> [HostSplit<'a>; 3] {
    [&splits.train, &splits.val, &splits.test].map(|images| HostSplit::new(images, normalizer))
}

/// The same splits uploaded to `device`.
fn on_device<'a>(sources: &TrainData<'a>, device: &Device) -> TrainData<'a> {
    let target = Target::new(device.clone(), "test".into(), EngineChoice::Autodiff, Placement::Device).unwrap();
    TrainData::new([sources.train, sources.val, sources.test], &target)
}

/// A job into `out`, quietly, one unit at a time.
fn job<'a>(out: &'a Path, existing: Existing, stop: &'a StopSignal) -> JobRun<'a> {
    JobRun {
        out,
        command: "test",
        existing,
        progress: Progress::Quiet,
        stop,
        workers: 1,
        group_size: 1,
    }
}

fn study(layers: &str, variants: Vec<Variant>, recipe: TrainConfig) -> StudyConfig {
    study_with_seed(layers, variants, recipe, 0)
}

fn study_with_seed(layers: &str, variants: Vec<Variant>, recipe: TrainConfig, seed: u64) -> StudyConfig {
    StudyConfig {
        layers: layers.parse().unwrap(),
        widths: vec![50, 40, 30, 25, 20],
        variants,
        activation: mlp_model::Activation::Relu,
        header: JobHeader {
            seeds: SeedList::single(seed),
            splits: SUBSET,
            data_fingerprint: String::new(),
            shard: None,
            device: "cpu (flex)".into(),
        },
        recipe,
        preprocess: Preprocess::Assignment,
        engine: EngineChoice::Auto,
        // On, so that resuming, sharding and merging are tested with its table.
        dynamics: DynamicsSettings {
            enabled: true,
            plot_depth: None,
        },
    }
}

/// A fresh study into `out` on the CPU, quietly, never interrupted.
fn run_study(config: &StudyConfig, sources: &TrainData, out: &Path) -> Result<StudyResults, TrainError> {
    run_depth_study(
        config,
        sources,
        &Target::cpu(),
        job(out, Existing::Refuse, &StopSignal::new()),
    )
}

fn row(rows: &[StudyRow], layers: usize, variant: Variant) -> &StudyRow {
    rows.iter()
        .find(|r| r.layers == layers && r.variant == variant)
        .unwrap()
}

mod depth_study;
mod dynamics;
mod jobs;
mod plots;
mod records;
mod stacked;
mod two_layer;
mod wgpu_path;
