use anyhow::bail;
use burn::prelude::*;
use burn::tensor::DType;
use mlp_data::{Normalizer, Preprocess, Splits};
use mlp_model::scratch::ToyProblem;
use mlp_train::StopSignal;
use mlp_train::experiments::tuning::{
    TrialSettings, TuneGrid, TuningConfig, TuningFiles, trial_means, tune as run_tune,
};
use mlp_train::jobs::{JobHeader, prepare_output_dir, write_text};
use mlp_train::ranges::grid_values;
use mlp_train::train::HostSplit;
use mlp_train::two_layer::{
    RunFiles, SgdConfig, SgdOutcome, TensorSplit, ToyCheck, accuracy, init_cifar_net, train_sgd,
};
use mlp_train::{Progress, TrainError};

use super::{Interrupted, invocation, job_error};
use crate::cli::{CheckArgs, TuneArgs, TwoLayerTrainArgs};

/// Q1 and Q2: prints the toy scores/loss errors and the gradient check table.
pub fn check(args: CheckArgs) -> anyhow::Result<()> {
    let toy = match &args.fixture {
        Some(path) => ToyProblem::load(path)?,
        None => ToyProblem::embedded(),
    };
    let check = ToyCheck::run(toy);
    let report = check.report();
    out!("{}", report.trim_end());
    if let Some(out) = &args.out {
        prepare_output_dir(out)?;
        write_text(&out.join("two_layer_check.txt"), &report)?;
        write_text(&out.join("two_layer_check_command.txt"), &format!("{}\n", invocation()))?;
    }
    if !check.passes() {
        bail!("the two-layer network failed its checks (see the table above)");
    }
    Ok(())
}

/// Q3: one SGD run, on the toy problem or CIFAR-10.
pub fn train(args: TwoLayerTrainArgs, progress: Progress, stop: &StopSignal) -> anyhow::Result<()> {
    let base = if args.toy {
        SgdConfig::toy()
    } else {
        SgdConfig::default()
    };
    let config = SgdConfig {
        // The toy's network is the fixture's.
        hidden: if args.toy {
            ToyProblem::embedded().hidden_size
        } else {
            args.hidden
        },
        lr: args.lr.unwrap_or(base.lr),
        reg: args.reg.unwrap_or(base.reg),
        iters: args.iters.unwrap_or(base.iters),
        lr_decay: args.sgd.lr_decay,
        batch_size: args.sgd.batch_size,
        std: args.sgd.std,
        seed: args.seed,
    };
    config.validate()?;
    if !args.toy {
        let sizes = args.data.sizes();
        progress.note(config.check_memory(sizes.num_train + sizes.num_val + sizes.num_test)?);
    }
    prepare_output_dir(&args.out)?;
    let command = format!("{}\n", invocation());

    if args.toy {
        let device = Device::flex();
        let toy = ToyProblem::embedded();
        let examples = TensorSplit {
            x: toy.inputs(DType::F64, &device),
            y: toy.labels(&device),
        };
        // The assignment trains the toy from its fixed weights and validates on the training data.
        let outcome = train_sgd(
            toy.net(DType::F64, &device),
            &config,
            &examples,
            &examples,
            &device,
            progress,
            "toy",
            stop,
        )
        .map_err(stopped)?;
        let files = RunFiles::in_dir(&args.out);
        files.write_history(&outcome, "two-layer toy")?;
        write_text(&args.out.join("two_layer_command.txt"), &command)?;
        files.write_summary(&config, "toy".into(), "cpu (flex), float64".into(), &outcome, None)?;
        out!(
            "toy run: {} iterations, final training loss {:.5} (assignment: < 0.02)",
            outcome.history.len(),
            outcome.final_loss().unwrap_or(f64::NAN)
        );
        return Ok(());
    }

    let chosen = args.device.choose(progress == Progress::Quiet)?;
    let splits = args.data.load_splits(progress)?;
    let normalizer = Normalizer::fit(Preprocess::MeanImage, &splits.train);
    let (train_src, val_src) = (
        HostSplit::new(&splits.train, &normalizer),
        HostSplit::new(&splits.val, &normalizer),
    );
    let net = init_cifar_net(&config, &chosen.device);
    let outcome = train_sgd(
        net,
        &config,
        &train_src,
        &val_src,
        &chosen.device,
        progress,
        "two-layer",
        stop,
    )
    .map_err(stopped)?;
    let files = RunFiles::in_dir(&args.out);
    files.write_history(&outcome, "two-layer")?;
    files.write_model(&outcome, &normalizer)?;
    let test_acc = args
        .test
        .then(|| test_accuracy(&outcome, &splits, &normalizer, &chosen.device));
    write_text(&args.out.join("two_layer_command.txt"), &command)?;
    let data = data_description(&args.data, &splits);
    files.write_summary(&config, data, chosen.description, &outcome, test_acc)?;
    print_result(&outcome, test_acc)?;
    out!("Results in {}", args.out.display());
    Ok(())
}

/// Q3 tuning: a grid search scored on validation (resumable, shardable); the
/// best grid point's curves, weights and model saved, its test accuracy
/// reported once if asked.
pub fn tune(args: TuneArgs, progress: Progress, stop: &StopSignal) -> anyhow::Result<()> {
    if args.jobs == Some(0) {
        bail!("invalid --jobs: must be at least 1");
    }
    // Bad values are clap's usage errors already; the settings are checked
    // together, once, by the job (before it writes anything), on a
    // configuration built whole with the device and the data it runs on.
    let chosen = args.device.choose(progress == Progress::Quiet)?;
    let splits = args.data.load_splits(progress)?;
    let tuning = TuningConfig {
        grid: TuneGrid {
            hidden: grid_values(&args.hidden),
            lr: grid_values(&args.lr),
            reg: grid_values(&args.reg),
            iters: grid_values(&args.iters),
        },
        base: TrialSettings {
            lr_decay: args.sgd.lr_decay,
            batch_size: args.sgd.batch_size,
            std: args.sgd.std,
        },
        header: JobHeader {
            seeds: args.seeds.clone(),
            splits: args.data.sizes(),
            data_fingerprint: splits.fingerprint(),
            shard: args.job.shard,
            device: chosen.description.clone(),
        },
    };
    let normalizer = Normalizer::fit(Preprocess::MeanImage, &splits.train);
    let (train_src, val_src) = (
        HostSplit::new(&splits.train, &normalizer),
        HostSplit::new(&splits.val, &normalizer),
    );

    let jobs = args.jobs.unwrap_or(if chosen.is_gpu {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    });
    let command = invocation();
    let run = args.job.run(&args.out, &command, progress, stop, (jobs, 1));
    let outcome = run_tune(&tuning, &train_src, &val_src, &chosen.device, run).map_err(|e| job_error(e, None))?;
    let out = &outcome.dir;
    let table = TuningFiles::in_dir(out).table;
    let Some((best_config, best)) = outcome.best else {
        bail!("every trial diverged; see {}", table.display());
    };
    let files = RunFiles::in_dir(out);
    files.write_history(&best, "best trial")?;
    files.write_model(&best, &normalizer)?;
    let test_acc = args
        .test
        .then(|| test_accuracy(&best, &splits, &normalizer, &chosen.device));
    let data = data_description(&args.data, &splits);
    files.write_summary(&best_config, data, chosen.description, &best, test_acc)?;
    let means = trial_means(&outcome.rows);
    out!(
        "best of {} grid points ({} seed(s) each): hidden {}, lr {:e}, reg {}, iterations {}",
        means.len(),
        tuning.header.seeds.0.len(),
        best_config.hidden,
        best_config.lr,
        best_config.reg,
        best_config.iters
    );
    print_result(&best, test_acc)?;
    out!("Results in {}", out.display());
    Ok(())
}

/// A single run stopped by Ctrl-C has nothing finished to save.
fn stopped(error: TrainError) -> anyhow::Error {
    match error {
        TrainError::Stopped => Interrupted {
            message: "interrupted before the run finished; nothing was saved".into(),
            resume: None,
        }
        .into(),
        other => other.into(),
    }
}

fn test_accuracy(outcome: &SgdOutcome, splits: &Splits, normalizer: &Normalizer, device: &Device) -> f64 {
    let test = HostSplit::new(&splits.test, normalizer);
    accuracy(&outcome.net, &test, &(0..test.len()).collect::<Vec<_>>(), device)
}

fn print_result(outcome: &SgdOutcome, test_acc: Option<f64>) -> anyhow::Result<()> {
    let pct = |x: f64| format!("{:.1}%", 100.0 * x);
    match outcome.last_accuracies() {
        Some((train, val)) => out!(
            "final loss {:.4}; train accuracy {} (first 1,000 train images), validation {}{}",
            outcome.final_loss().unwrap_or(f64::NAN),
            pct(train),
            pct(val),
            test_acc.map_or(String::new(), |t| format!(", test {}", pct(t)))
        ),
        None => out!("no epoch finished (diverged: {})", outcome.diverged),
    }
    Ok(())
}

fn data_description(data: &crate::cli::DataArgs, splits: &Splits) -> String {
    format!(
        "{}: train {}, val {}, test {}",
        data.data_dir.display(),
        splits.train.len(),
        splits.val.len(),
        splits.test.len()
    )
}

/// The best grid point of a merged tuning run, and where its results are.
pub fn print_merged_tuning(out: &std::path::Path, config: &TuningConfig, best: Option<usize>) -> anyhow::Result<()> {
    if let Some(trial) = best {
        let best = config.trial_config(trial, config.header.seeds.0[0]);
        out!(
            "best grid point: trial {trial}: hidden {}, lr {:e}, reg {}, iterations {}",
            best.hidden,
            best.lr,
            best.reg,
            best.iters
        );
    }
    out!("Results in {}", out.display());
    Ok(())
}
