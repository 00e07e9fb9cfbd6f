//! The depth study: every depth × variant × seed trained with one recipe, a
//! [`Job`] (so it can be resumed, sharded and merged), summarised as tables
//! and charts.

mod charts;
mod results;
mod summary;
mod variant;

pub use results::{DynamicsRow, HistoryRow, RunKey, SignalRow, StudyFiles, StudyResults, StudyRow};
pub use summary::{SummaryRow, markdown_summary, summarize};
pub use variant::{DEFAULT_WIDTHS, Variant, hidden_widths};

use std::path::{Path, PathBuf};

use mlp_data::Preprocess;
use serde::{Deserialize, Serialize};

use crate::jobs::merge::{collect, write_merged};
use crate::jobs::{Finished, Job, JobHeader, JobKind, JobRun, MemoryContext, Records, Trainer, run_job};
use crate::memory::{MemoryNeed, data_bytes, mlp_need};
use crate::ranges::LayerRange;
use crate::train::{
    Engine, EngineChoice, RunControl, RunOutcome, Target, TrainConfig, TrainData, member_engine, stacked_groups,
    train_job_group, train_mlp,
};
use crate::{Progress, StopSignal, TrainError};
use mlp_model::MlpConfig;

/// Everything that defines a study; saved as JSON beside the results, and
/// compared on `--resume` and by `merge`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StudyConfig {
    pub layers: LayerRange,
    pub widths: Vec<usize>,
    pub variants: Vec<Variant>,
    /// The recipe of every run, trained once per seed of the header.
    pub recipe: TrainConfig,
    #[serde(flatten)]
    pub header: JobHeader,
    pub preprocess: Preprocess,
    /// The step engine asked for; each row records the one that ran.
    #[serde(default)]
    pub engine: EngineChoice,
    /// The dynamics probe; studies recorded before it existed had none.
    #[serde(default)]
    pub dynamics: DynamicsSettings,
}

/// Whether the study's runs record their dynamics (`depth_study_dynamics.csv`)
/// and which depth the dynamics chart draws.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DynamicsSettings {
    pub enabled: bool,
    /// The depth drawn in `depth_study_dynamics.png`; `None`: the deepest.
    pub plot_depth: Option<usize>,
}

impl Job for StudyConfig {
    type Unit = RunKey;
    type Records = StudyResults;
    const KIND: JobKind = JobKind {
        name: "study",
        plural: "studies",
        subject: "the study",
        description: "depth-study configuration",
        config_file: "depth_study_config.json",
        command_file: "depth_study_command.txt",
        units: "runs",
        dealt: "runs",
    };

    fn header(&self) -> &JobHeader {
        &self.header
    }

    fn header_mut(&mut self) -> &mut JobHeader {
        &mut self.header
    }

    fn check(&self) -> Result<(), TrainError> {
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
        hidden_widths(self.layers.last, &self.widths)?;
        if let Some(depth) = self.dynamics.plot_depth
            && !self.layers.depths().any(|d| d == depth)
        {
            return Err(TrainError::invalid(
                "--dynamics-depth",
                format!(
                    "{depth} is not a depth of this study; choose one of {}..{}",
                    self.layers.first, self.layers.last
                ),
            ));
        }
        if self.engine == EngineChoice::Fused && self.variants.contains(&Variant::Residual) {
            return Err(TrainError::invalid(
                "--engine",
                "fused: the fused step has no residual layers; use --engine auto (residual networks \
                 then train through autodiff) or --engine autodiff",
            ));
        }
        Ok(())
    }

    /// Depth, then variant, then seed.
    fn plan(&self) -> Vec<RunKey> {
        let mut plan = Vec::new();
        for layers in self.layers.depths() {
            for &variant in &self.variants {
                for &seed in &self.header.seeds.0 {
                    plan.push(RunKey { layers, variant, seed });
                }
            }
        }
        plan
    }

    fn describe(key: RunKey) -> String {
        format!("the run {}L {} seed {}", key.layers, key.variant, key.seed)
    }

    fn read_records(dir: &Path) -> Result<StudyResults, TrainError> {
        StudyResults::read(&StudyFiles::in_dir(dir))
    }

    fn write_tables(dir: &Path, records: &StudyResults) -> Result<(), TrainError> {
        records.write_tables(&StudyFiles::in_dir(dir))
    }

    /// A stopped study writes its summaries too: they describe what is finished.
    fn write_summaries(&self, dir: &Path, records: &StudyResults, _complete: bool) -> Result<(), TrainError> {
        records.write_summaries(&StudyFiles::in_dir(dir), self.dynamics.plot_depth)
    }

    fn remove_results(dir: &Path) -> Result<(), TrainError> {
        StudyFiles::in_dir(dir).remove_results()
    }
}

/// Trains one network of the study.
struct StudyTrainer<'a> {
    config: &'a StudyConfig,
    data: &'a TrainData<'a>,
    target: &'a Target,
}

impl StudyTrainer<'_> {
    fn model_config(&self, key: RunKey) -> Result<MlpConfig, TrainError> {
        Ok(key
            .variant
            .model_config(hidden_widths(key.layers, &self.config.widths)?))
    }
}

impl Trainer<StudyConfig> for StudyTrainer<'_> {
    /// The hidden widths and what the run produced.
    type Outcome = (Vec<usize>, RunOutcome);

    fn label(&self, key: RunKey, done: usize, owned: usize) -> String {
        format!(
            "[{}/{owned}] {}L {} seed {}",
            done + 1,
            key.layers,
            key.variant,
            key.seed
        )
    }

    fn train(
        &self,
        key: RunKey,
        label: &str,
        progress: Progress,
        stop: &StopSignal,
    ) -> Result<Self::Outcome, TrainError> {
        let model = self.model_config(key)?;
        let hidden = model.hidden.clone();
        let control = RunControl {
            progress,
            label,
            stop,
            dynamics: self.config.dynamics.enabled,
        };
        let outcome = train_mlp(&model, &self.config.recipe, key.seed, self.data, self.target, control)?;
        Ok((hidden, outcome))
    }

    fn memory(&self, keys: &[RunKey]) -> MemoryNeed {
        let (batch, dynamics) = (self.config.recipe.batch_size, self.config.dynamics.enabled);
        MemoryNeed::stacked(
            keys.iter()
                .filter_map(|&key| self.model_config(key).ok())
                .map(|model| mlp_need(&model, batch, dynamics)),
        )
    }

    fn memory_context(&self) -> MemoryContext {
        MemoryContext {
            data_bytes: data_bytes(self.data),
            device: self.target.memory,
            size_flags: "--width (or --widths) or --layers",
        }
    }

    /// On the stacked engine, the runs of one depth whose networks have the
    /// same kinds of layers (plain with Kaiming; BatchNorm with and without
    /// dropout) train together, `group_size` at most.
    fn groups(&self, todo: &[RunKey], group_size: usize) -> Vec<Vec<RunKey>> {
        stacked_groups(todo, group_size, self.target, |key| self.model_config(key).ok())
    }

    fn train_group(
        &self,
        keys: &[RunKey],
        labels: &[String],
        progress: Progress,
        stop: &StopSignal,
    ) -> Result<Vec<Self::Outcome>, TrainError> {
        let runs = keys
            .iter()
            .map(|&key| Ok((self.model_config(key)?, key.seed)))
            .collect::<Result<Vec<_>, TrainError>>()?;
        let control = RunControl {
            progress,
            label: "",
            stop,
            dynamics: self.config.dynamics.enabled,
        };
        let outcomes = train_job_group(&runs, &self.config.recipe, labels, self.data, self.target, control)?;
        Ok(runs
            .into_iter()
            .zip(outcomes)
            .map(|((model, _), outcome)| (model.hidden, outcome))
            .collect())
    }

    fn record(&self, results: &mut StudyResults, key: RunKey, (hidden, outcome): Self::Outcome) -> String {
        results.record(key, &hidden, self.config, &outcome);
        results.describe(key)
    }

    /// Allowed (the engines compute the same networks), but worth knowing.
    fn resuming(&self, results: &StudyResults, todo: &[RunKey], progress: Progress) {
        let mut mixed: Vec<(Variant, String, Engine)> = Vec::new();
        for &key in todo {
            let Ok(model) = self.model_config(key) else { continue };
            let now = member_engine(&model, &self.config.recipe, self.target);
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
}

/// Runs the study's runs (or its shard's) on `target`, `run.workers` at a
/// time (on the stacked engine, in groups of `run.group_size` at most), and
/// writes its files into `config.output_dir(run.out)`; see [`run_job`]. The
/// tables do not depend on `run.workers` (every run draws from generators
/// of its own), nor on the groups but for float rounding (see
/// [`train_group`](crate::train::train_group)).
pub fn run_depth_study(
    config: &StudyConfig,
    data: &TrainData,
    target: &Target,
    run: JobRun,
) -> Result<StudyResults, TrainError> {
    let trainer = StudyTrainer { config, data, target };
    let Finished { records, .. } = run_job(config, &trainer, run)?;
    Ok(records)
}

/// Checks that `shard_dirs` are all the finished shards of one study and
/// writes the combined study into `out`: the same files a single unsharded
/// run would have written, with every shard's command line recorded.
pub fn merge_depth_studies(
    shard_dirs: &[PathBuf],
    out: &Path,
    command: &str,
) -> Result<(StudyConfig, StudyResults), TrainError> {
    let collected = collect::<StudyConfig>(shard_dirs)?;
    write_merged(&collected, out, command, &crate::JOB_KINDS)?;
    Ok((collected.whole, collected.records))
}

/// Reads a study's saved `depth_study_config.json`.
pub fn read_config(path: &Path) -> Result<StudyConfig, TrainError> {
    crate::jobs::read_config(path)
}

pub(crate) fn percent(x: Option<f64>) -> String {
    x.map_or("-".to_owned(), |x| format!("{:.1}%", 100.0 * x))
}

impl Records<RunKey> for StudyResults {
    fn len(&self) -> usize {
        self.runs.len()
    }

    fn units(&self) -> Vec<RunKey> {
        self.runs.iter().map(StudyRow::key).collect()
    }

    fn keep_owned(&mut self, owned: &[RunKey], plan: &[RunKey]) {
        self.runs.retain(|r| owned.contains(&r.key()));
        self.history.retain(|h| owned.contains(&h.key()));
        self.signal.retain(|s| owned.contains(&s.key()));
        self.dynamics.retain(|d| owned.contains(&d.key()));
        self.sort_by_plan(plan);
    }

    fn sort_by_plan(&mut self, plan: &[RunKey]) {
        StudyResults::sort_by_plan(self, plan);
    }

    fn append(&mut self, other: Self) {
        self.runs.extend(other.runs);
        self.history.extend(other.history);
        self.signal.extend(other.signal);
        self.dynamics.extend(other.dynamics);
    }
}
