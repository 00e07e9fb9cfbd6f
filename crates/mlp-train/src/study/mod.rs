//! The depth study: every depth × variant × seed trained with one recipe,
//! recorded run by run (so it can be resumed, sharded and merged), summarised
//! as tables and plots.

mod merge;
mod results;
mod summary;

pub(crate) use merge::check_merge_target;
pub use merge::{expand_shard_dirs, merge_depth_studies};
pub use results::{HistoryRow, RunKey, SignalRow, StudyFiles, StudyResults, StudyRow};
pub use summary::{SummaryRow, markdown_summary, summarize};

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use burn::prelude::*;
use mlp_data::{Preprocess, SplitSizes};
use mlp_model::{MlpConfig, WeightInit};
use serde::{Deserialize, Serialize};

use crate::mlp_loop::{Engine, RunControl, SplitSources, TrainConfig, train_mlp};
use crate::plan::{SeedList, Shard, StopSignal};
use crate::records::{
    Existing, Start, append_command, decide_start, lock_output_dir, prepare_output_dir, read_json,
    settings_differences, write_text,
};
use crate::{Progress, TrainError};

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

/// Everything that defines a study; saved as JSON beside the results, and
/// compared on `--resume` and by `merge`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StudyConfig {
    pub layers: LayerRange,
    pub widths: Vec<usize>,
    pub variants: Vec<Variant>,
    /// The recipe of every run; its `seed` is replaced by each of `seeds`.
    pub recipe: TrainConfig,
    /// Every depth × variant is trained once per seed.
    pub seeds: SeedList,
    pub splits: SplitSizes,
    /// [`mlp_data::Splits::fingerprint`] of the data trained on: resumed and
    /// merged runs must come from the same images, wherever the files live.
    #[serde(default)]
    pub data_fingerprint: String,
    pub preprocess: Preprocess,
    /// The slice of the runs this process trains; `None` trains them all.
    pub shard: Option<Shard>,
    /// Human description of the device the study ran on, recorded in every row.
    pub device: String,
    /// The step engine asked for; each row records the one that ran.
    #[serde(default)]
    pub engine: Engine,
}

impl StudyConfig {
    pub fn validate(&self) -> Result<(), TrainError> {
        self.recipe.validate()?;
        if self.variants.is_empty() {
            return Err(TrainError::invalid("--variants", "name at least one variant"));
        }
        if self.seeds.0.is_empty() {
            return Err(TrainError::invalid("--seeds", "name at least one seed"));
        }
        if let Some(w) = self.widths.iter().find(|&&w| w == 0) {
            return Err(TrainError::invalid(
                "--widths",
                format!("width {w} is not allowed; every hidden layer needs at least 1 unit"),
            ));
        }
        hidden_widths(self.layers.last, &self.widths)?;
        if let Some(shard) = self.shard {
            shard.check(self.plan().len(), "runs")?;
        }
        Ok(())
    }

    /// Every run of the whole study (all shards), in the order they are trained
    /// and tabled: depth, then variant, then seed.
    pub fn plan(&self) -> Vec<RunKey> {
        let mut plan = Vec::new();
        for layers in self.layers.depths() {
            for &variant in &self.variants {
                for &seed in &self.seeds.0 {
                    plan.push(RunKey { layers, variant, seed });
                }
            }
        }
        plan
    }

    /// The runs this process is responsible for: the whole plan, or its shard's slice.
    pub fn owned_runs(&self) -> Vec<RunKey> {
        let plan = self.plan();
        match self.shard {
            None => plan,
            Some(shard) => plan
                .into_iter()
                .enumerate()
                .filter(|(i, _)| shard.owns(*i))
                .map(|(_, key)| key)
                .collect(),
        }
    }

    /// Where the study's files go: `out`, or `out/shard-K-of-N` for a shard.
    pub fn output_dir(&self, out: &Path) -> PathBuf {
        match self.shard {
            None => out.to_owned(),
            Some(shard) => out.join(shard.dir_name()),
        }
    }
}

/// Runs the study's runs (or its shard's) and writes its files into
/// `config.output_dir(out)`. Tables are rewritten atomically after every run,
/// so finished runs survive a crash or Ctrl-C, and `Existing::Resume` picks up
/// where an interrupted study stopped.
#[allow(clippy::too_many_arguments)]
pub fn run_depth_study(
    config: &StudyConfig,
    data: &SplitSources,
    device: &Device,
    out: &Path,
    command: &str,
    existing: Existing,
    progress: Progress,
    stop: &StopSignal,
) -> Result<StudyResults, TrainError> {
    config.validate()?;
    // An engine that cannot train on `device` is refused before anything is written.
    let engine = config.engine.resolve(device)?;
    let dir = config.output_dir(out);
    prepare_output_dir(&dir)?;
    let _lock = lock_output_dir(&dir)?;
    let files = StudyFiles::in_dir(&dir);
    let mut results = resume_or_start(&files, config, existing)?;
    append_command(&files.command, command, !results.runs.is_empty())?;
    let config_json = serde_json::to_string_pretty(config).expect("a study config serialises");
    write_text(&files.config, &format!("{config_json}\n"))?;

    let owned = config.owned_runs();
    let plan = config.plan();
    let todo: Vec<RunKey> = owned.iter().copied().filter(|key| !results.has_run(*key)).collect();
    if !results.runs.is_empty() {
        progress.note(format!(
            "resuming {}: {} of {} runs already finished, {} to go",
            dir.display(),
            results.runs.len(),
            owned.len(),
            todo.len()
        ));
        // Allowed (both engines compute the same networks), but worth knowing.
        let mut mixed: Vec<(Variant, String, Engine)> = Vec::new();
        for key in &todo {
            let now = engine;
            let before = results
                .runs
                .iter()
                .find(|r| r.variant == key.variant && r.engine != now.name());
            if let Some(row) = before
                && !mixed.iter().any(|(v, _, _)| *v == key.variant)
            {
                mixed.push((key.variant, row.engine.clone(), now));
            }
        }
        for (variant, before, now) in mixed {
            progress.note(format!(
                "note: finished {variant} runs were trained by the {before} engine, the rest will be by {now}; \
                 add --engine {before} to keep one engine per variant"
            ));
        }
    }
    for key in todo {
        let interrupted = || TrainError::Interrupted {
            dir: dir.clone(),
            finished: results.runs.len(),
            total: owned.len(),
        };
        if stop.is_raised() {
            results.write_summaries(&files)?;
            return Err(interrupted());
        }
        let hidden = hidden_widths(key.layers, &config.widths)?;
        let label = format!(
            "[{}/{}] {}L {} seed {}",
            results.runs.len() + 1,
            owned.len(),
            key.layers,
            key.variant,
            key.seed
        );
        let recipe = config.recipe.clone().with_seed(key.seed);
        let model = key.variant.model_config(hidden.clone());
        let control = RunControl {
            progress,
            label: &label,
            stop,
            engine: config.engine,
        };
        let outcome = match train_mlp(&model, &recipe, data, device, control) {
            Err(TrainError::Interrupted { .. }) => {
                results.write_summaries(&files)?;
                return Err(interrupted());
            }
            other => other?,
        };
        results.record(key, &hidden, config, &outcome);
        results.sort_by_plan(&plan);
        results.write_tables(&files)?;
        progress.note(format!("{label}: {}", results.describe(key)));
    }
    results.write_summaries(&files)?;
    Ok(results)
}

/// The recorded results to continue from: none for a fresh study (after
/// removing an earlier one's results with `Existing::Overwrite`, before the
/// new configuration is written, so no later `--resume` can mix the two); the
/// finished runs of an earlier one with `Existing::Resume`.
fn resume_or_start(files: &StudyFiles, config: &StudyConfig, existing: Existing) -> Result<StudyResults, TrainError> {
    if existing == Existing::Overwrite {
        files.remove_results()?;
        return Ok(StudyResults::default());
    }
    let recorded = StudyResults::read_runs(&files.runs)?.len();
    let differences = || Ok(settings_differences(&read_config(&files.config)?, config));
    if decide_start(existing, &files.dir, &files.config, recorded, differences)? == Start::Fresh {
        return Ok(StudyResults::default());
    }
    let mut results = StudyResults::read(files)?;
    // Rows of runs this job does not own (a hand-edited table) are not its work.
    let owned = config.owned_runs();
    results.runs.retain(|r| owned.contains(&r.key()));
    results.history.retain(|h| owned.contains(&h.key()));
    results.signal.retain(|s| owned.contains(&s.key()));
    results.sort_by_plan(&config.plan());
    Ok(results)
}

/// Reads a study's saved `depth_study_config.json`.
pub fn read_config(path: &Path) -> Result<StudyConfig, TrainError> {
    let config: StudyConfig = read_json(path, "depth-study configuration")?;
    config.validate().map_err(|e| TrainError::Read {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    Ok(config)
}

pub(crate) fn percent(x: Option<f64>) -> String {
    x.map_or("-".to_owned(), |x| format!("{:.1}%", 100.0 * x))
}

pub(crate) fn join_widths(widths: &[usize]) -> String {
    widths.iter().map(usize::to_string).collect::<Vec<_>>().join("-")
}
