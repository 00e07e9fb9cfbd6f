//! Speed of the real training path: the assignment's MLPs trained by
//! [`train_group`] on full-size synthetic data, one at a time or `K`
//! together in a stacked group, timed per epoch (steps, per-batch
//! normalisation and validation included), against the device's measured
//! matrix-multiply peak; and, on a device with kernels, what a step costs
//! in kernel launches and synchronisations (see [`crate::train::LaunchCounting`]).

use std::time::Instant;

use burn::prelude::*;
use mlp_data::{IMAGE_BYTES, ImageSet, NUM_CLASSES, Normalizer, Preprocess};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use serde::Serialize;

use crate::memory::{MemoryNeed, check_single, image_bytes, mlp_need};
use crate::train::{
    Engine, GroupMember, HostSplit, LaunchCounting, RunControl, Target, TrainConfig, TrainData, train_group,
};
use crate::{Progress, StopSignal, TrainError};

/// What to time.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Hidden widths of each model, e.g. `[50]` and `[50, 40, 30, 25, 20]`.
    pub models: Vec<Vec<usize>>,
    pub num_train: usize,
    pub num_val: usize,
    pub batch_size: usize,
    /// Untimed epochs first (kernel compilation, allocator warm-up).
    pub warmup_epochs: usize,
    /// Timed epochs; the table reports their median and minimum.
    pub epochs: usize,
    /// Networks of each model trained together: on the stacked engine in
    /// one batched step (seeds 0..K), on the fused one in one pass over the
    /// data (all of seed 0: they see the same batches, as a seed's networks
    /// in a study do); more than one needs one of them.
    pub networks: usize,
}

impl Default for BenchConfig {
    /// The assignment's sizes: 49,000 training and 1,000 validation images, batch 200.
    fn default() -> Self {
        BenchConfig {
            models: vec![vec![50], vec![50, 40, 30, 25, 20]],
            num_train: 49_000,
            num_val: 1_000,
            batch_size: 200,
            warmup_epochs: 1,
            epochs: 3,
            networks: 1,
        }
    }
}

/// One model to time, as its hidden widths: `50-40-30` (`--models` takes
/// a comma-separated list of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelWidths(pub Vec<usize>);

impl std::str::FromStr for ModelWidths {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split('-')
            .map(|w| match w.trim().parse::<usize>() {
                Ok(width) if width > 0 => Ok(width),
                _ => Err(format!("'{s}' is not a list of hidden widths like 50-40-30")),
            })
            .collect::<Result<Vec<usize>, String>>()
            .map(ModelWidths)
    }
}

/// One line of the benchmark table. The columns match
/// `scripts/pytorch_reference.py`, so `scripts/bench.sh` can put them side by side.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    /// Hidden widths joined by `-`.
    pub model: String,
    pub device: String,
    /// The step engine that ran (`fused`, `autodiff` or `stacked`).
    pub engine: String,
    /// Networks trained together (1: one at a time).
    pub networks: usize,
    pub threads: usize,
    /// Seconds per epoch of all the networks together.
    pub epoch_seconds_median: f64,
    pub epoch_seconds_min: f64,
    /// Training images × networks per second at the median epoch time.
    pub images_per_second: f64,
    /// Kernel launches per optimiser step of the whole group (median over
    /// the timed epochs); empty on a device without kernels (the CPU).
    pub dispatches_per_step: Option<f64>,
    /// `dispatches_per_step` divided by `networks`.
    pub dispatches_per_network_step: Option<f64>,
    /// Host reads of device data (synchronisations on a GPU) per epoch:
    /// the read of the epoch's loss sums and validation included.
    pub syncs_per_epoch: f64,
    /// The part of `syncs_per_epoch` between the epoch's first and last step.
    pub syncs_within_steps: f64,
    /// Peak resident memory of the whole process so far (Linux), in MiB.
    pub peak_memory_mib: Option<f64>,
    pub gflop_per_epoch: f64,
    pub gflops: f64,
    /// Achieved GFLOP/s over the measured matmul peak.
    pub peak_fraction: f64,
}

/// Matrix-multiply FLOPs of one epoch: forward, weight gradients and input
/// gradients (none for the first layer: the images need no gradient) over the
/// training images, and a forward pass over the validation images. Biases,
/// activations, loss and optimiser are left out: they are a few percent.
pub fn gflop_per_epoch(hidden: &[usize], num_train: usize, num_val: usize) -> f64 {
    let mut sizes = vec![IMAGE_BYTES];
    sizes.extend_from_slice(hidden);
    sizes.push(NUM_CLASSES);
    let products: Vec<f64> = sizes.windows(2).map(|w| (w[0] * w[1]) as f64).collect();
    let forward = 2.0 * products.iter().sum::<f64>();
    let backward = 2.0 * products.iter().sum::<f64>() + 2.0 * products[1..].iter().sum::<f64>();
    ((forward + backward) * num_train as f64 + forward * num_val as f64) / 1e9
}

/// The best GFLOP/s of a square f32 matrix product of side `n` on `device`,
/// over `repeats` timed products after one untimed one.
pub fn matmul_peak_gflops(device: &Device, n: usize, repeats: usize) -> f64 {
    let a = Tensor::<2>::random([n, n], burn::tensor::Distribution::Default, device);
    let b = Tensor::<2>::random([n, n], burn::tensor::Distribution::Default, device);
    // Reading one element waits for the device to finish the product.
    let sync = |t: Tensor<2>| t.slice([0..1, 0..1]).into_scalar::<f32>();
    sync(a.clone().matmul(b.clone()));
    let mut best = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        sync(a.clone().matmul(b.clone()));
        best = best.min(start.elapsed().as_secs_f64());
    }
    2.0 * (n as f64).powi(3) / best / 1e9
}

/// The device's matmul peak: the best GFLOP/s of any square f32 product of
/// side `n` this process runs there, over `repeats` timed products each.
/// That is Burn's matmul ([`matmul_peak_gflops`]) and, on the CPU, the
/// fused engine's `gemm` split across the rayon pool, which is faster than
/// Burn's flex matmul on the machines measured (about 140 against 90–150
/// GFLOP/s on 2 cores): the higher of the two is the honest reference.
pub fn device_peak_gflops(device: &Device, n: usize, repeats: usize) -> f64 {
    let burn = matmul_peak_gflops(device, n, repeats);
    if crate::train::is_host_cpu(device) {
        burn.max(split_gemm_peak_gflops(n, repeats))
    } else {
        burn
    }
}

/// The best GFLOP/s of the fused engine's split `gemm` on a square f32
/// product of side `n`, over `repeats` timed products after one untimed one.
pub fn split_gemm_peak_gflops(n: usize, repeats: usize) -> f64 {
    product_spread(n, n, n, repeats).best_gflops
}

/// GFLOP/s of one product `out = x · W`, x: [rows, inner], W: [inner, cols],
/// through the fused engine's split `gemm` (the shared pass's first-layer
/// product has these shapes: the batch, 3,072 features and the networks'
/// widths side by side), timed `repeats` times on the same operands after
/// one untimed product, with nothing else running.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProductSpread {
    /// The fastest repeat.
    pub best_gflops: f64,
    /// The median repeat: what a loop of such products pays on average.
    pub median_gflops: f64,
}

/// Measures the [`ProductSpread`] of `[rows × inner] · [inner × cols]`.
/// On a machine whose cache or memory others share, the median falls well
/// below the best while a square product's rate holds: the gap is the
/// machine's, not the code's.
pub fn product_spread(rows: usize, inner: usize, cols: usize, repeats: usize) -> ProductSpread {
    use crate::train::fused::gemm::{MatRef, matmul};
    let x: Vec<f32> = (0..rows * inner).map(|i| (i % 251) as f32 / 251.0).collect();
    let w: Vec<f32> = (0..inner * cols).map(|i| (i % 241) as f32 / 241.0 - 0.5).collect();
    let mut out = vec![0.0; rows * cols];
    let product = |out: &mut [f32]| {
        matmul(
            out,
            MatRef::row_major(&x, rows, inner),
            MatRef::row_major(&w, inner, cols),
            false,
        )
    };
    product(&mut out);
    let mut seconds: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let start = Instant::now();
            product(&mut out);
            start.elapsed().as_secs_f64()
        })
        .collect();
    seconds.sort_by(f64::total_cmp);
    let flop = 2.0 * (rows * inner * cols) as f64;
    ProductSpread {
        best_gflops: flop / seconds[0] / 1e9,
        median_gflops: flop / seconds[seconds.len() / 2] / 1e9,
    }
}

/// Random pixels and labels (fixed seed): speed does not depend on content.
pub fn synthetic_images(count: usize, seed: u64) -> ImageSet {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut pixels = vec![0u8; count * IMAGE_BYTES];
    rng.fill_bytes(&mut pixels);
    let labels = (0..count).map(|_| rng.random_range(0..NUM_CLASSES as u8)).collect();
    ImageSet::new(pixels, labels).expect("synthetic images have valid shapes and labels")
}

/// Times every model of `config` on `target` and returns one row each.
/// `peak_gflops` is the device's matmul peak ([`matmul_peak_gflops`]).
/// Refuses a benchmark that would not fit in memory, before the matmul peak
/// (three `peak_size`² matrices) or any model is measured: its largest
/// model's group of `networks`, or the peak's matrices, beside the
/// synthetic images; else returns the estimate's line for the log.
pub fn check_memory(config: &BenchConfig, target: &Target, peak_size: usize) -> Result<String, TrainError> {
    let networks = config.networks as u64;
    let models = config.models.iter().map(|hidden| {
        let need = mlp_need(&mlp_model::MlpConfig::new(hidden.clone()), config.batch_size, false);
        MemoryNeed {
            bytes: need.bytes.saturating_mul(networks),
            largest_buffer: need.largest_buffer.saturating_mul(networks),
        }
    });
    let largest_model = models.max_by_key(|need| need.bytes).unwrap_or_default();
    let square = (peak_size as u64).saturating_mul(peak_size as u64).saturating_mul(4);
    let peak = MemoryNeed {
        bytes: square.saturating_mul(3),
        largest_buffer: square,
    };
    let (need, flags) = if peak.bytes > largest_model.bytes {
        (peak, "--peak-size")
    } else {
        (largest_model, "--models or --networks")
    };
    let data = image_bytes(config.num_train + config.num_val);
    check_single("the benchmark", need, data, flags, target.memory)
}

pub fn run_bench(
    config: &BenchConfig,
    target: &Target,
    threads: usize,
    peak_gflops: f64,
    progress: Progress,
) -> Result<Vec<BenchRow>, TrainError> {
    if config.epochs == 0 {
        return Err(TrainError::invalid("--epochs", "time at least 1 epoch"));
    }
    let train = synthetic_images(config.num_train, 1);
    let val = synthetic_images(config.num_val, 2);
    let test = ImageSet::default();
    let normalizer = Normalizer::fit(Preprocess::Assignment, &train);
    let data = TrainData::new(
        [&train, &val, &test].map(|images| HostSplit::new(images, &normalizer)),
        target,
    );
    let recipe = TrainConfig::new()
        .with_epochs(config.warmup_epochs + config.epochs)
        .with_batch_size(config.batch_size);
    if config.networks == 0 {
        return Err(TrainError::invalid("--networks", "train at least 1 network"));
    }
    if config.networks > 1 && target.engine.max_group() == 1 {
        return Err(TrainError::invalid(
            "--networks",
            format!(
                "{} networks train together only through the stacked and fused engines, not {}; \
                 use --engine auto, stacked or fused",
                config.networks, target.engine
            ),
        ));
    }
    // Installed for the whole bench: only launches are counted, nothing is timed.
    let _counting = LaunchCounting::start();
    let mut rows = Vec::new();
    for hidden in &config.models {
        let model = mlp_model::MlpConfig::new(hidden.clone());
        let name = hidden.iter().map(usize::to_string).collect::<Vec<_>>().join("-");
        let stop = StopSignal::new();
        let control = RunControl {
            progress,
            label: &name,
            stop: &stop,
            dynamics: false,
        };
        let members: Vec<GroupMember> = (0..config.networks as u64)
            .map(|j| GroupMember {
                model: &model,
                recipe: &recipe,
                // A fused group is one seed's networks.
                seed: if target.engine == Engine::Fused { 0 } else { j },
                label: &name,
            })
            .collect();
        let outcomes = train_group(&members, &data, target, control)?;
        let timed = config.warmup_epochs..config.warmup_epochs + config.epochs;
        if outcomes.iter().any(|o| o.history.len() < timed.end) {
            return Err(TrainError::invalid(
                "--epochs",
                format!("a network of model {name} diverged before the last timed epoch"),
            ));
        }
        // An epoch of the group: every network's share of the steps plus its own validation.
        let times: Vec<f64> = timed
            .clone()
            .map(|epoch| outcomes.iter().map(|o| o.history[epoch].seconds).sum())
            .collect();
        let work = &outcomes[0].device_work[timed];
        let per_step = median(work.iter().map(|w| w.step_launches as f64 / w.steps as f64).collect());
        let dispatches = (per_step > 0.0).then_some(per_step);
        let networks = config.networks as f64;
        let median_seconds = median(times.clone());
        let gflop = gflop_per_epoch(hidden, config.num_train, config.num_val) * networks;
        rows.push(BenchRow {
            model: name,
            device: target.description.clone(),
            engine: outcomes[0].engine.to_string(),
            networks: config.networks,
            threads,
            epoch_seconds_median: median_seconds,
            epoch_seconds_min: times.iter().copied().fold(f64::INFINITY, f64::min),
            images_per_second: config.num_train as f64 * networks / median_seconds,
            dispatches_per_step: dispatches,
            dispatches_per_network_step: dispatches.map(|d| d / networks),
            syncs_per_epoch: median(work.iter().map(|w| w.reads as f64).collect()),
            syncs_within_steps: median(work.iter().map(|w| w.reads_within_steps as f64).collect()),
            peak_memory_mib: peak_resident_mib(),
            gflop_per_epoch: gflop,
            gflops: gflop / median_seconds,
            peak_fraction: gflop / median_seconds / peak_gflops,
        });
    }
    Ok(rows)
}

impl BenchRow {
    /// The row against another measured peak (see `mlp-cli bench`, which
    /// measures the peak before and after the models and keeps the best).
    pub fn against_peak(self, peak_gflops: f64) -> Self {
        BenchRow {
            peak_fraction: self.gflops / peak_gflops,
            ..self
        }
    }
}

/// The median of `values` (not empty).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// The process's peak resident set (VmHWM) in MiB, where Linux reports it.
pub fn peak_resident_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The rows as an aligned text table.
pub fn format_table(rows: &[BenchRow], peak_gflops: f64) -> String {
    let mut out = format!(
        "{:<16} {:<20} {:<9} {:>4} {:>7} {:>10} {:>10} {:>10} {:>9} {:>9} {:>10} {:>9} {:>11} {:>8} {:>7}\n",
        "model",
        "device",
        "engine",
        "nets",
        "threads",
        "s/epoch",
        "min s",
        "images/s",
        "disp/step",
        "disp/net",
        "syncs/ep",
        "peak MiB",
        "GFLOP/epoch",
        "GFLOP/s",
        "% peak"
    );
    let optional = |value: Option<f64>| value.map_or("-".to_owned(), |v| format!("{v:.1}"));
    for r in rows {
        out += &format!(
            "{:<16} {:<20} {:<9} {:>4} {:>7} {:>10.3} {:>10.3} {:>10.0} {:>9} {:>9} {:>10} {:>9} {:>11.2} {:>8.1} {:>6.1}%\n",
            r.model,
            r.device,
            r.engine,
            r.networks,
            r.threads,
            r.epoch_seconds_median,
            r.epoch_seconds_min,
            r.images_per_second,
            optional(r.dispatches_per_step),
            optional(r.dispatches_per_network_step),
            format!("{:.0} ({:.0})", r.syncs_per_epoch, r.syncs_within_steps),
            r.peak_memory_mib.map_or("-".to_owned(), |m| format!("{m:.0}")),
            r.gflop_per_epoch,
            r.gflops,
            100.0 * r.peak_fraction
        );
    }
    out += &format!(
        "matmul peak (f32, the best product measured on this device: square ones before and after the models, and on the CPU the first-layer product below): {peak_gflops:.1} GFLOP/s\n"
    );
    out += "images/s counts images x networks; disp: kernel launches per step (of the group, per network); \
            syncs/ep: host reads of device data per epoch (of them, within the steps)\n";
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_product_spread_has_its_best_at_or_above_its_median() {
        let spread = super::product_spread(20, 64, 30, 5);
        assert!(
            spread.median_gflops > 0.0 && spread.median_gflops.is_finite(),
            "{spread:?}"
        );
        assert!(spread.best_gflops >= spread.median_gflops, "{spread:?}");
    }

    use super::*;

    #[test]
    fn flops_of_the_assignment_models() {
        // [50]: 3072*50 + 50*10 = 154,100 multiply-adds per layer pass.
        // train: fwd 2x + dW 2x + dX 2x (second layer only: 500) per image.
        let expected = ((4.0 * 154_100.0 + 2.0 * 500.0) * 49_000.0 + 2.0 * 154_100.0 * 1_000.0) / 1e9;
        assert!((gflop_per_epoch(&[50], 49_000, 1_000) - expected).abs() < 1e-9);
        assert!((gflop_per_epoch(&[50], 49_000, 1_000) - 30.5).abs() < 0.1);
    }

    #[test]
    fn synthetic_images_are_reproducible() {
        let (a, b) = (synthetic_images(3, 7), synthetic_images(3, 7));
        assert_eq!(a.pixels(), b.pixels());
        assert_eq!(a.len(), 3);
        assert_ne!(a.pixels(), synthetic_images(3, 8).pixels());
    }
}
