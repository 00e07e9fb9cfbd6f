use anyhow::Context;
use mlp_data::IMAGE_BYTES;
use mlp_train::Progress;
use mlp_train::bench::{
    BenchConfig, ProductSpread, check_memory, device_peak_gflops, format_table, product_spread, run_bench,
};

use crate::cli::{BenchArgs, BenchFormat};

/// Timed products per measurement of the matmul peak.
const PEAK_REPEATS: usize = 5;

/// Timed products of the first-layer product's spread (its median needs many).
const SPREAD_REPEATS: usize = 200;

pub fn run(args: BenchArgs, progress: Progress) -> anyhow::Result<()> {
    let models = args.models.into_iter().map(|model| model.0).collect();
    for (flag, value) in [
        ("--epochs", args.epochs),
        ("--num-train", args.num_train),
        ("--num-val", args.num_val),
        ("--batch-size", args.batch_size),
        ("--peak-size", args.peak_size),
        ("--networks", args.networks),
    ] {
        if value == 0 {
            anyhow::bail!("{flag} 0: must be at least 1");
        }
    }
    let target = args
        .device
        .choose(progress == Progress::Quiet)?
        .target(args.engine.engine)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let config = BenchConfig {
        models,
        num_train: args.num_train,
        num_val: args.num_val,
        batch_size: args.batch_size,
        warmup_epochs: args.warmup,
        epochs: args.epochs,
        networks: args.networks,
    };
    progress.note(check_memory(&config, &target, args.peak_size)?);
    progress.note(format!("measuring the matmul peak ({0}x{0} f32)...", args.peak_size));
    let peak_before = device_peak_gflops(&target.device, args.peak_size, PEAK_REPEATS);
    let bench_progress = if args.format != BenchFormat::Table {
        Progress::Quiet
    } else {
        progress
    };
    let rows = run_bench(&config, &target, threads, peak_before, bench_progress).context("benchmark failed")?;
    // A shared machine's speed drifts over seconds (measured here: the same
    // product at 90 and 150 GFLOP/s minutes apart); the peak measured again
    // after the models, and the better of the two kept, is the stricter
    // reference for every row.
    progress.note("measuring the matmul peak again...");
    let peak = peak_before.max(device_peak_gflops(&target.device, args.peak_size, PEAK_REPEATS));
    // Where a fused step runs below the peak, how much of it is the
    // machine: each model's first-layer product alone (K networks' widths
    // side by side), its best and its median repeat. Its best is a product
    // this device ran too, so it may raise the peak.
    let spreads: Vec<(String, ProductSpread)> = if rows.iter().any(|row| row.engine == "fused") {
        progress.note("measuring the first-layer products alone...");
        config
            .models
            .iter()
            .filter_map(|model| model.first())
            .map(|hidden| {
                let shape = (args.batch_size, IMAGE_BYTES, hidden * args.networks);
                let label = format!("{}x{}x{}", shape.0, shape.1, shape.2);
                (label, product_spread(shape.0, shape.1, shape.2, SPREAD_REPEATS))
            })
            .collect()
    } else {
        Vec::new()
    };
    let peak = spreads
        .iter()
        .fold(peak, |peak, (_, spread)| peak.max(spread.best_gflops));
    let rows: Vec<_> = rows.into_iter().map(|row| row.against_peak(peak)).collect();
    match args.format {
        BenchFormat::Table => {
            out!("{}", format_table(&rows, peak).trim_end());
            for (label, spread) in &spreads {
                out!(
                    "first-layer product {label} alone ({SPREAD_REPEATS} repeats): best {:.1} GFLOP/s ({:.0}% of peak), median {:.1} GFLOP/s ({:.0}%): the median is what a loop of them pays",
                    spread.best_gflops,
                    100.0 * spread.best_gflops / peak,
                    spread.median_gflops,
                    100.0 * spread.median_gflops / peak,
                );
            }
        }
        BenchFormat::Json => out!("{}", serde_json::to_string_pretty(&rows).context("rows serialise")?),
        BenchFormat::Csv => {
            let mut writer = csv_writer();
            for row in &rows {
                writer.serialize(row).context("cannot write CSV to stdout")?;
            }
            writer.flush().context("cannot write CSV to stdout")?;
        }
    }
    Ok(())
}

fn csv_writer() -> csv::Writer<std::io::Stdout> {
    csv::Writer::from_writer(std::io::stdout())
}
