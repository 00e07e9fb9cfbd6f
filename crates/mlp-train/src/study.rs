//! The depth study: every depth × variant trained with one recipe, recorded
//! run by run, summarised as tables and plots.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use burn::prelude::*;
use mlp_data::{Preprocess, SplitSizes};
use mlp_model::{MlpConfig, WeightInit};
use serde::{Deserialize, Serialize};

use crate::mlp_loop::{LayerSignal, SplitSources, TrainConfig, train_mlp};
use crate::records::{prepare_output_dir, write_csv, write_text};
use crate::{Progress, TrainError, plots};

/// The hidden widths of the assignment's report: 2 layers = [50], …, 6 = [50, 40, 30, 25, 20].
pub const DEFAULT_WIDTHS: [usize; 5] = [50, 40, 30, 25, 20];

/// What is compared at each depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// The assignment's network: Normal(0, 1e-3) weights, nothing else.
    Plain,
    /// Kaiming (He) initialisation instead of Normal(0, 1e-3).
    Kaiming,
    /// BatchNorm after every hidden Linear, assignment initialisation.
    Batchnorm,
    /// BatchNorm plus Dropout(0.4) after every ReLU, as one report did.
    BatchnormDropout,
}

impl Variant {
    pub const ALL: [Variant; 4] = [
        Variant::Plain,
        Variant::Kaiming,
        Variant::Batchnorm,
        Variant::BatchnormDropout,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Variant::Plain => "plain",
            Variant::Kaiming => "kaiming",
            Variant::Batchnorm => "batchnorm",
            Variant::BatchnormDropout => "batchnorm-dropout",
        }
    }

    /// The model of this variant with the given hidden widths.
    pub fn model_config(self, hidden: Vec<usize>) -> MlpConfig {
        let config = MlpConfig::new(hidden);
        match self {
            Variant::Plain => config,
            Variant::Kaiming => config.with_init(WeightInit::Kaiming),
            Variant::Batchnorm => config.with_batch_norm(true),
            Variant::BatchnormDropout => config.with_batch_norm(true).with_dropout(0.4),
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Variant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Variant::ALL.into_iter().find(|v| v.name() == s).ok_or_else(|| {
            let names: Vec<_> = Variant::ALL.iter().map(|v| v.name()).collect();
            format!("unknown variant '{s}'; choose from {}", names.join(", "))
        })
    }
}

/// An inclusive range of depths counted in Linear layers, written `A..B` or `A`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRange {
    pub first: usize,
    pub last: usize,
}

impl LayerRange {
    pub fn depths(self) -> impl Iterator<Item = usize> {
        self.first..=self.last
    }
}

impl fmt::Display for LayerRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.first, self.last)
    }
}

impl FromStr for LayerRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parse = |part: &str| {
            part.trim()
                .parse::<usize>()
                .map_err(|_| format!("'{s}' is not a range of layer counts; write A..B (e.g. 2..6) or a single number"))
        };
        let (first, last) = match s.split_once("..") {
            Some((a, b)) => (parse(a)?, parse(b.strip_prefix('=').unwrap_or(b))?),
            None => {
                let n = parse(s)?;
                (n, n)
            }
        };
        if first == 0 {
            return Err(format!(
                "'{s}' starts at 0 layers; the smallest network has 1 Linear layer"
            ));
        }
        if first > last {
            return Err(format!(
                "'{s}' is empty: {first} is larger than {last}; write {last}..{first}"
            ));
        }
        Ok(LayerRange { first, last })
    }
}

/// Hidden widths of a network with `layers` Linear layers: the first `layers - 1` widths.
pub fn hidden_widths(layers: usize, widths: &[usize]) -> Result<Vec<usize>, TrainError> {
    if layers > widths.len() + 1 {
        return Err(TrainError::invalid(
            "--widths",
            format!(
                "{layers} layers need {} hidden widths but only {} were given ({}); add widths or lower --layers",
                layers - 1,
                widths.len(),
                join_widths(widths)
            ),
        ));
    }
    Ok(widths[..layers - 1].to_vec())
}

/// Everything that defines a study; saved as JSON beside the results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StudyConfig {
    pub layers: LayerRange,
    pub widths: Vec<usize>,
    pub variants: Vec<Variant>,
    pub recipe: TrainConfig,
    pub splits: SplitSizes,
    pub preprocess: Preprocess,
    /// Human description of the device the study ran on, recorded in every row.
    pub device: String,
}

impl StudyConfig {
    pub fn validate(&self) -> Result<(), TrainError> {
        self.recipe.validate()?;
        if self.variants.is_empty() {
            return Err(TrainError::invalid("--variants", "name at least one variant"));
        }
        if let Some(w) = self.widths.iter().find(|&&w| w == 0) {
            return Err(TrainError::invalid(
                "--widths",
                format!("width {w} is not allowed; every hidden layer needs at least 1 unit"),
            ));
        }
        hidden_widths(self.layers.last, &self.widths).map(|_| ())
    }
}

/// One row of `depth_study.csv`: one trained network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyRow {
    pub layers: usize,
    pub widths: String,
    pub variant: Variant,
    pub seed: u64,
    pub device: String,
    pub epochs: usize,
    pub best_epoch: Option<usize>,
    pub train_acc: Option<f64>,
    pub val_acc: Option<f64>,
    pub test_acc: Option<f64>,
    pub final_train_loss: Option<f64>,
    pub diverged: bool,
    pub seconds: f64,
}

/// One row of `depth_study_history.csv`: one epoch of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRow {
    pub layers: usize,
    pub variant: Variant,
    pub seed: u64,
    pub epoch: usize,
    pub lr: f64,
    pub train_loss: f64,
    pub train_acc: f64,
    pub val_loss: f64,
    pub val_acc: f64,
    pub seconds: f64,
}

/// One row of `depth_study_signal.csv`: one layer of one network at initialisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalRow {
    pub layers: usize,
    pub variant: Variant,
    pub seed: u64,
    pub layer: usize,
    pub activation_rms: f64,
    pub weight_grad_norm: f64,
}

/// All results of a study.
#[derive(Debug, Clone, Default)]
pub struct StudyResults {
    pub runs: Vec<StudyRow>,
    pub history: Vec<HistoryRow>,
    pub signal: Vec<SignalRow>,
}

/// Files a study writes into its output directory.
pub struct StudyFiles {
    pub runs: PathBuf,
    pub history: PathBuf,
    pub signal: PathBuf,
    pub summary: PathBuf,
    pub config: PathBuf,
    pub command: PathBuf,
    pub accuracy_plot: PathBuf,
    pub curves_plot: PathBuf,
    pub signal_plot: PathBuf,
}

impl StudyFiles {
    pub fn in_dir(dir: &Path) -> Self {
        StudyFiles {
            runs: dir.join("depth_study.csv"),
            history: dir.join("depth_study_history.csv"),
            signal: dir.join("depth_study_signal.csv"),
            summary: dir.join("depth_study.md"),
            config: dir.join("depth_study_config.json"),
            command: dir.join("depth_study_command.txt"),
            accuracy_plot: dir.join("depth_study_accuracy.png"),
            curves_plot: dir.join("depth_study_val_curves.png"),
            signal_plot: dir.join("depth_study_signal.png"),
        }
    }
}

/// Runs the study and writes its files into `out`; tables are rewritten
/// (atomically) after every run, so finished runs survive an interruption.
pub fn run_depth_study(
    config: &StudyConfig,
    data: &SplitSources,
    device: &Device,
    out: &Path,
    command: &str,
    progress: Progress,
) -> Result<StudyResults, TrainError> {
    config.validate()?;
    prepare_output_dir(out)?;
    let files = StudyFiles::in_dir(out);
    write_text(&files.command, &format!("{command}\n"))?;
    let config_json = serde_json::to_string_pretty(config).expect("a study config serialises");
    write_text(&files.config, &format!("{config_json}\n"))?;

    let runs: Vec<(usize, Variant)> = config
        .layers
        .depths()
        .flat_map(|layers| config.variants.iter().map(move |&v| (layers, v)))
        .collect();
    let mut results = StudyResults::default();
    for (i, &(layers, variant)) in runs.iter().enumerate() {
        let hidden = hidden_widths(layers, &config.widths)?;
        let label = format!("[{}/{}] {layers}L {variant}", i + 1, runs.len());
        let outcome = train_mlp(
            &variant.model_config(hidden.clone()),
            &config.recipe,
            data,
            device,
            progress,
            &label,
        )?;
        let best = outcome.best_record();
        let seed = config.recipe.seed;
        results.runs.push(StudyRow {
            layers,
            widths: join_widths(&hidden),
            variant,
            seed,
            device: config.device.clone(),
            epochs: config.recipe.epochs,
            best_epoch: outcome.best_epoch,
            train_acc: best.map(|r| r.train_acc),
            val_acc: best.map(|r| r.val_acc),
            test_acc: outcome.test.map(|t| t.accuracy),
            final_train_loss: outcome.history.last().map(|r| r.train_loss),
            diverged: outcome.diverged_at.is_some(),
            seconds: outcome.seconds,
        });
        results.history.extend(outcome.history.iter().map(|r| HistoryRow {
            layers,
            variant,
            seed,
            epoch: r.epoch,
            lr: r.lr,
            train_loss: r.train_loss,
            train_acc: r.train_acc,
            val_loss: r.val_loss,
            val_acc: r.val_acc,
            seconds: r.seconds,
        }));
        results
            .signal
            .extend(outcome.signal.iter().map(|s: &LayerSignal| SignalRow {
                layers,
                variant,
                seed,
                layer: s.layer,
                activation_rms: s.activation_rms,
                weight_grad_norm: s.weight_grad_norm,
            }));
        write_csv(&files.runs, &results.runs)?;
        write_csv(&files.history, &results.history)?;
        write_csv(&files.signal, &results.signal)?;
        progress.note(format!(
            "{label}: {}",
            describe_run(results.runs.last().expect("just pushed"))
        ));
    }

    write_text(&files.summary, &markdown_summary(&results.runs))?;
    plots::accuracy_vs_depth(&files.accuracy_plot, &results.runs)?;
    plots::validation_curves(&files.curves_plot, &results.history)?;
    plots::signal_at_init(&files.signal_plot, &results.signal)?;
    Ok(results)
}

fn describe_run(row: &StudyRow) -> String {
    if row.diverged {
        return "diverged".to_owned();
    }
    format!(
        "best epoch {}, val {}, test {} ({:.1}s)",
        row.best_epoch.map_or("-".into(), |e| e.to_string()),
        percent(row.val_acc),
        percent(row.test_acc),
        row.seconds
    )
}

/// The study as a Markdown table: one line per depth, one column per variant,
/// each cell `validation / test` accuracy of the best-on-validation weights.
pub fn markdown_summary(rows: &[StudyRow]) -> String {
    let mut variants: Vec<Variant> = rows.iter().map(|r| r.variant).collect();
    variants.sort();
    variants.dedup();
    let mut depths: Vec<(usize, String)> = rows.iter().map(|r| (r.layers, r.widths.clone())).collect();
    depths.sort();
    depths.dedup();

    let mut out = String::from("| Linear layers | hidden widths |");
    for v in &variants {
        out += &format!(" {v} (val / test) |");
    }
    out += "\n|---:|---|";
    out += &"---:|".repeat(variants.len());
    out += "\n";
    for (layers, widths) in &depths {
        out += &format!("| {layers} | {} |", if widths.is_empty() { "—" } else { widths });
        for v in &variants {
            let cell = rows
                .iter()
                .find(|r| r.layers == *layers && r.variant == *v)
                .map(|r| {
                    if r.diverged {
                        "diverged".to_owned()
                    } else {
                        format!("{} / {}", percent(r.val_acc), percent(r.test_acc))
                    }
                })
                .unwrap_or_default();
            out += &format!(" {cell} |");
        }
        out += "\n";
    }
    out
}

fn percent(x: Option<f64>) -> String {
    x.map_or("-".to_owned(), |x| format!("{:.1}%", 100.0 * x))
}

pub(crate) fn join_widths(widths: &[usize]) -> String {
    widths.iter().map(usize::to_string).collect::<Vec<_>>().join("-")
}
