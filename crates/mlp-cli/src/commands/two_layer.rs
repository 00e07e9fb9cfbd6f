use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, bail};
use burn::prelude::*;
use burn::tensor::DType;
use mlp_data::{Normalizer, Preprocess, Splits};
use mlp_model::scratch::{GRADCHECK_H, GRADCHECK_THRESHOLD, ToyProblem, check_gradients};
use mlp_train::jobs::{Job, JobHeader, StopSignal, prepare_output_dir, write_csv, write_text};
use mlp_train::train::BatchSource;
use mlp_train::two_layer::{TuningConfig, TuningFiles, trial_means, tune as run_tune};
use mlp_train::two_layer::{
    SgdConfig, SgdOutcome, TensorExamples, TuneGrid, accuracy, init_cifar_net, plot_history, plot_weights, train_sgd,
};
use mlp_train::{Progress, TrainError};
use serde::Serialize;

use super::{Interrupted, existing, interrupted, invocation};
use crate::cli::{CheckArgs, TuneArgs, TwoLayerTrainArgs};
use crate::device;

/// Q1 and Q2: prints the toy scores/loss errors and the gradient check table.
pub fn check(args: CheckArgs) -> anyhow::Result<()> {
    let toy = match &args.fixture {
        Some(path) => ToyProblem::load(path)?,
        None => ToyProblem::embedded(),
    };
    // Finite differences need double precision; flex computes f64 natively.
    let device = Device::flex();
    let net = toy.net(DType::F64, &device);
    let x = toy.inputs(DType::F64, &device);
    let y = toy.labels(&device);

    let scores: Vec<f64> = net
        .scores(x.clone())
        .into_data()
        .try_into_vec_as::<f64>()
        .expect("f64 scores");
    let score_diff: f64 = scores
        .iter()
        .zip(toy.correct_scores.concat())
        .map(|(a, b)| (a - b).abs())
        .sum();
    let loss =
        mlp_model::scratch::TwoLayerNet::loss_only(&net.params, x.clone(), y.clone(), toy.reg).into_scalar::<f64>();
    let loss_diff = (loss - toy.correct_loss).abs();
    let rows = check_gradients(&net, x, y, toy.reg);

    let mut report = String::new();
    let verdict = |ok: bool| if ok { "PASS" } else { "FAIL" };
    writeln!(
        report,
        "Two-layer network, toy problem (D={}, H={}, C={}, N={}, reg={}), float64",
        toy.input_size, toy.hidden_size, toy.num_classes, toy.num_inputs, toy.reg
    )?;
    writeln!(
        report,
        "Q1 scores: sum |scores - correct_scores| = {score_diff:.3e} (must be < 1e-7)  {}",
        verdict(score_diff < 1e-7)
    )?;
    writeln!(
        report,
        "Q1 loss:   {loss:.14} vs {:.11}: |diff| = {loss_diff:.3e} (must be < 1e-12)  {}",
        toy.correct_loss,
        verdict(loss_diff < 1e-12)
    )?;
    writeln!(
        report,
        "Q2 gradients: centred differences h = {GRADCHECK_H:e}; pass mark rel. error < {GRADCHECK_THRESHOLD:e}"
    )?;
    writeln!(
        report,
        "  {:<6} {:>8} {:>22} {:>26}",
        "param", "elements", "rel. error vs numeric", "max |manual - autodiff|"
    )?;
    for row in &rows {
        writeln!(
            report,
            "  {:<6} {:>8} {:>22.3e} {:>26.3e}  {}",
            row.param,
            row.elements,
            row.numeric_rel_error,
            row.autodiff_max_abs_diff,
            verdict(row.passes())
        )?;
    }
    let all_pass = score_diff < 1e-7 && loss_diff < 1e-12 && rows.iter().all(|r| r.passes());
    writeln!(
        report,
        "{}",
        if all_pass {
            "All checks passed."
        } else {
            "SOME CHECKS FAILED."
        }
    )?;
    print!("{report}");

    if let Some(out) = &args.out {
        prepare_output_dir(out)?;
        write_text(&out.join("two_layer_check.txt"), &report)?;
        write_text(&out.join("two_layer_check_command.txt"), &format!("{}\n", invocation()))?;
    }
    if !all_pass {
        bail!("the two-layer network failed its checks (see the table above)");
    }
    Ok(())
}

/// Summary saved as JSON beside a run's history.
#[derive(Serialize)]
struct RunSummary<'a> {
    config: &'a SgdConfig,
    data: String,
    device: String,
    iterations_run: usize,
    final_loss: Option<f64>,
    train_acc: Option<f64>,
    val_acc: Option<f64>,
    test_acc: Option<f64>,
    diverged: bool,
    seconds: f64,
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
    prepare_output_dir(&args.out)?;
    let command = format!("{}\n", invocation());

    if args.toy {
        let device = Device::flex();
        let toy = ToyProblem::embedded();
        let examples = TensorExamples {
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
        write_outputs(&args.out, &outcome, "two-layer toy")?;
        write_text(&args.out.join("two_layer_command.txt"), &command)?;
        save_summary(
            &args.out,
            &config,
            "toy".into(),
            "cpu (flex), float64".into(),
            &outcome,
            None,
        )?;
        out!(
            "toy run: {} iterations, final training loss {:.5} (assignment: < 0.02)",
            outcome.history.len(),
            outcome.final_loss().unwrap_or(f64::NAN)
        );
        return Ok(());
    }

    let chosen = device::choose(args.device.device, progress == Progress::Quiet)?;
    let splits = args.data.load_splits(progress)?;
    let normalizer = Normalizer::fit(Preprocess::MeanImage, &splits.train);
    let (train_src, val_src) = (
        BatchSource::new(&splits.train, &normalizer),
        BatchSource::new(&splits.val, &normalizer),
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
    write_outputs(&args.out, &outcome, "two-layer")?;
    let model = args.out.join("two_layer_model.bpk");
    outcome
        .net
        .save_file(&model)
        .map_err(|e| anyhow::anyhow!("cannot save the model to {}: {e:?}", model.display()))?;
    plot_weights(&args.out.join("two_layer_weights.png"), &outcome.net, &normalizer)?;
    let test_acc = args
        .test
        .then(|| test_accuracy(&outcome, &splits, &normalizer, &chosen.device));
    write_text(&args.out.join("two_layer_command.txt"), &command)?;
    save_summary(
        &args.out,
        &config,
        data_description(&args.data, &splits),
        chosen.description,
        &outcome,
        test_acc,
    )?;
    print_result(&outcome, test_acc)?;
    out!("Results in {}", args.out.display());
    Ok(())
}

/// Q3 tuning: a grid sweep scored on validation (resumable, shardable); the
/// best grid point's curves, weights and model saved, its test accuracy
/// reported once if asked.
pub fn tune(args: TuneArgs, progress: Progress, stop: &StopSignal) -> anyhow::Result<()> {
    let mut tuning = TuningConfig {
        grid: TuneGrid {
            hidden: parse_int_list("--hidden", &args.hidden)?,
            lr: parse_float_list("--lr", &args.lr)?,
            reg: parse_float_list("--reg", &args.reg)?,
            iters: parse_int_list("--iters", &args.iters)?,
        },
        base: SgdConfig {
            lr_decay: args.sgd.lr_decay,
            batch_size: args.sgd.batch_size,
            std: args.sgd.std,
            ..SgdConfig::default()
        },
        header: JobHeader {
            seeds: args.seeds.clone(),
            splits: args.data.sizes(),
            data_fingerprint: String::new(),
            shard: args.job.shard,
            device: String::new(),
        },
    };
    // Arguments and the output directory are checked before data or device.
    tuning.validate()?;
    if args.jobs == Some(0) {
        bail!("invalid --jobs: must be at least 1");
    }
    prepare_output_dir(&tuning.output_dir(&args.out))?;
    let chosen = device::choose(args.device.device, progress == Progress::Quiet)?;
    tuning.header.device = chosen.description.clone();
    let splits = args.data.load_splits(progress)?;
    tuning.header.data_fingerprint = splits.fingerprint();
    let normalizer = Normalizer::fit(Preprocess::MeanImage, &splits.train);
    let (train_src, val_src) = (
        BatchSource::new(&splits.train, &normalizer),
        BatchSource::new(&splits.val, &normalizer),
    );

    let jobs = args.jobs.unwrap_or(if chosen.is_gpu {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    });
    let outcome = match run_tune(
        &tuning,
        &train_src,
        &val_src,
        &chosen.device,
        jobs,
        &args.out,
        &invocation(),
        existing(&args.job),
        progress,
        stop,
    ) {
        Err(TrainError::Interrupted { dir, finished, total }) => {
            return Err(interrupted(&dir, finished, total).into());
        }
        other => other?,
    };
    let out = &outcome.dir;
    let table = TuningFiles::in_dir(out).table;
    let Some((best_config, best)) = outcome.best else {
        bail!("every trial diverged; see {}", table.display());
    };
    write_outputs(out, &best, "best trial")?;
    let model = out.join("two_layer_model.bpk");
    best.net
        .save_file(&model)
        .map_err(|e| anyhow::anyhow!("cannot save the best model to {}: {e:?}", model.display()))?;
    plot_weights(&out.join("two_layer_weights.png"), &best.net, &normalizer)?;
    let test_acc = args
        .test
        .then(|| test_accuracy(&best, &splits, &normalizer, &chosen.device));
    save_summary(
        out,
        &best_config,
        data_description(&args.data, &splits),
        chosen.description,
        &best,
        test_acc,
    )?;
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
        TrainError::Interrupted { .. } => Interrupted {
            message: "interrupted before the run finished; nothing was saved".into(),
            resume: None,
        }
        .into(),
        other => other.into(),
    }
}

fn write_outputs(out: &Path, outcome: &SgdOutcome, title: &str) -> anyhow::Result<()> {
    write_csv(&out.join("two_layer_history.csv"), &outcome.history)?;
    plot_history(
        &out.join("two_layer_loss.png"),
        &out.join("two_layer_accuracy.png"),
        &outcome.history,
        title,
    )?;
    Ok(())
}

fn test_accuracy(outcome: &SgdOutcome, splits: &Splits, normalizer: &Normalizer, device: &Device) -> f64 {
    let test = BatchSource::new(&splits.test, normalizer);
    accuracy(&outcome.net, &test, &(0..test.len()).collect::<Vec<_>>(), device)
}

fn save_summary(
    out: &Path,
    config: &SgdConfig,
    data: String,
    device: String,
    outcome: &SgdOutcome,
    test_acc: Option<f64>,
) -> anyhow::Result<()> {
    let accs = outcome.last_accuracies();
    let summary = RunSummary {
        config,
        data,
        device,
        iterations_run: outcome.history.len(),
        final_loss: outcome.final_loss(),
        train_acc: accs.map(|a| a.0),
        val_acc: accs.map(|a| a.1),
        test_acc,
        diverged: outcome.diverged,
        seconds: outcome.seconds,
    };
    let json = serde_json::to_string_pretty(&summary).context("summary serialises")?;
    write_text(&out.join("two_layer_summary.json"), &format!("{json}\n"))?;
    Ok(())
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

/// `50,100,200` or `50..300:50` (inclusive, step) or a mix.
fn parse_int_list(flag: &str, items: &[String]) -> anyhow::Result<Vec<usize>> {
    let mut out = Vec::new();
    for item in items {
        let bad = || anyhow::anyhow!("{flag}: '{item}' is not a whole number or a range A..B:STEP");
        match item.split_once("..") {
            Some((a, rest)) => {
                let (b, step) = rest.split_once(':').unwrap_or((rest, "1"));
                let (a, b, step): (usize, usize, usize) = (
                    a.parse().map_err(|_| bad())?,
                    b.parse().map_err(|_| bad())?,
                    step.parse().map_err(|_| bad())?,
                );
                if step == 0 || a > b {
                    return Err(bad());
                }
                out.extend((a..=b).step_by(step));
            }
            None => out.push(item.trim().parse().map_err(|_| bad())?),
        }
    }
    Ok(out)
}

/// Most values one range may give: a grid is a product of such lists.
const MAX_RANGE_VALUES: usize = 1000;

/// `5e-4,1e-3` or `1e-4..1e-2:x10` (inclusive, times 10 per step) or
/// `0.1..0.5:0.2` (inclusive, plus 0.2 per step) or a mix. Range values are
/// rounded to 10 significant digits, so 0.1 + 0.2 reads 0.3 in the tables.
fn parse_float_list(flag: &str, items: &[String]) -> anyhow::Result<Vec<f64>> {
    let mut out = Vec::new();
    for item in items {
        let item = item.trim();
        let bad = |why: &str| {
            anyhow::anyhow!("{flag}: '{item}' {why} (a number, A..B:xF multiplying by F, or A..B:S adding S)")
        };
        let number = |text: &str| -> anyhow::Result<f64> {
            match text.trim().parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ => Err(bad("is not a number or a range")),
            }
        };
        let Some((a, rest)) = item.split_once("..") else {
            out.push(number(item)?);
            continue;
        };
        let Some((b, step)) = rest.split_once(':') else {
            return Err(bad("has no step"));
        };
        let (a, b) = (number(a)?, number(b)?);
        if a > b {
            return Err(bad("runs backwards"));
        }
        let round = |v: f64| format!("{v:.9e}").parse::<f64>().expect("a formatted float parses");
        let end = b + 1e-9 * b.abs().max(f64::MIN_POSITIVE);
        let values: Vec<f64> = match step.trim().strip_prefix('x') {
            Some(factor) => {
                let factor = number(factor)?;
                if factor <= 1.0 || a <= 0.0 {
                    return Err(bad("needs a factor above 1 and a start above 0"));
                }
                std::iter::successors(Some(a), |v| Some(v * factor))
                    .take_while(|&v| v <= end)
                    .take(MAX_RANGE_VALUES + 1)
                    .map(round)
                    .collect()
            }
            None => {
                let step = number(step)?;
                if step <= 0.0 {
                    return Err(bad("needs a step above 0"));
                }
                (0..)
                    .map(|k| a + k as f64 * step)
                    .take_while(|&v| v <= end)
                    .take(MAX_RANGE_VALUES + 1)
                    .map(round)
                    .collect()
            }
        };
        if values.len() > MAX_RANGE_VALUES {
            return Err(bad(&format!("gives more than {MAX_RANGE_VALUES} values")));
        }
        out.extend(values);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn integer_lists_and_ranges() {
        assert_eq!(
            parse_int_list("--hidden", &list(&["50..300:50"])).unwrap(),
            [50, 100, 150, 200, 250, 300]
        );
        assert_eq!(
            parse_int_list("--hidden", &list(&["7", "10..12", "40..45:10"])).unwrap(),
            [7, 10, 11, 12, 40]
        );
        for bad in ["300..50:50", "50..300:0", "-5", "abc", "1..x"] {
            let err = parse_int_list("--hidden", &list(&[bad])).unwrap_err().to_string();
            assert!(err.starts_with("--hidden: ") && err.contains(bad), "{err}");
        }
    }

    #[test]
    fn float_lists_and_ranges() {
        assert_eq!(
            parse_float_list("--lr", &list(&["5e-4", "1e-3"])).unwrap(),
            [5e-4, 1e-3]
        );
        assert_eq!(
            parse_float_list("--lr", &list(&["1e-4..1e-2:x10"])).unwrap(),
            [1e-4, 1e-3, 1e-2]
        );
        assert_eq!(
            parse_float_list("--lr", &list(&["1e-4..5e-4:x2"])).unwrap(),
            [1e-4, 2e-4, 4e-4]
        );
        // Rounded: 0.1 + 2 × 0.1 is 0.30000000000000004 in floats.
        assert_eq!(
            parse_float_list("--reg", &list(&["0.1..0.5:0.1"])).unwrap(),
            [0.1, 0.2, 0.3, 0.4, 0.5]
        );
        assert_eq!(
            parse_float_list("--reg", &list(&["0..0.5:0.25", "1"])).unwrap(),
            [0.0, 0.25, 0.5, 1.0]
        );
        for bad in [
            "1e-2..1e-4:x10",
            "0..1:x10",
            "1e-4..1e-2:x1",
            "0.1..0.5:0",
            "0.1..0.5",
            "abc",
            "nan",
            "1e-9..1:1e-9",
        ] {
            let err = parse_float_list("--lr", &list(&[bad])).unwrap_err().to_string();
            assert!(err.starts_with("--lr: ") && err.contains(bad), "{err}");
        }
    }
}
