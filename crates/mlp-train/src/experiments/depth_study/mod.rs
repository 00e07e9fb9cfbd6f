//! The depth study: every depth × variant × seed trained with one recipe, a
//! [`Job`] (so it can be resumed, sharded and merged), summarised as tables
//! and charts.

mod charts;
mod config;
mod results;
mod summary;
mod variant;

pub use config::{DynamicsSettings, StudyConfig};
pub use results::{DynamicsRow, HistoryRow, RunKey, SignalRow, StudyFiles, StudyResults, StudyRow};
pub use summary::{SummaryRow, markdown_summary, summarize};
pub use variant::{DEFAULT_WIDTHS, Variant, hidden_widths};

use std::path::Path;

use super::mlp_grid::{MlpGrid, check_engine, depth_plan, run_mlp_grid};
use crate::jobs::{Job, JobHeader, JobKind, JobRun, Records};
use crate::train::{Engine, EngineChoice, RunOutcome, Target, TrainConfig, TrainData};
use crate::{Progress, TrainError};
use mlp_model::MlpConfig;

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
        table_file: StudyFiles::TABLE_NAME,
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
        check_engine(self)
    }

    /// Depth, then variant, then seed.
    fn plan(&self) -> Vec<RunKey> {
        depth_plan(
            &self.layers.depths().collect::<Vec<_>>(),
            &self.variants,
            &self.header.seeds.0,
            |layers, variant, seed| RunKey { layers, variant, seed },
        )
    }

    fn describe(key: RunKey) -> String {
        format!("the run {}", <Self as MlpGrid>::label(key))
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

impl MlpGrid for StudyConfig {
    const SIZE_FLAGS: &'static str = "--width (or --widths) or --layers";

    fn model(&self, key: RunKey) -> Result<MlpConfig, TrainError> {
        let model = key.variant.model_config(hidden_widths(key.layers, &self.widths)?);
        Ok(model.with_activation(self.activation))
    }

    fn seed(key: RunKey) -> u64 {
        key.seed
    }

    fn recipe(&self) -> &TrainConfig {
        &self.recipe
    }

    fn engine(&self) -> EngineChoice {
        self.engine
    }

    fn dynamics(&self) -> bool {
        self.dynamics.enabled
    }

    fn label(key: RunKey) -> String {
        format!("{}L {} seed {}", key.layers, key.variant, key.seed)
    }

    fn record(&self, results: &mut StudyResults, key: RunKey, model: &MlpConfig, outcome: &RunOutcome) -> String {
        results.record(key, &model.hidden, self, outcome);
        results.describe(key)
    }

    /// Allowed (the engines compute the same networks), but worth knowing.
    fn resuming(&self, results: &StudyResults, todo: &[RunKey], target: &Target, progress: Progress) {
        let mut mixed: Vec<(Variant, String, Engine)> = Vec::new();
        for &key in todo {
            let Ok(model) = self.model(key) else { continue };
            let now = target.engine.for_network(&model, &self.recipe);
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

/// Runs the study's runs (or its shard's) on `target`; see [`run_mlp_grid`].
pub fn run_depth_study(
    config: &StudyConfig,
    data: &TrainData,
    target: &Target,
    run: JobRun,
) -> Result<StudyResults, TrainError> {
    run_mlp_grid(config, data, target, run)
}

/// Reads a study's saved `depth_study_config.json`.
pub fn read_config(path: &Path) -> Result<StudyConfig, TrainError> {
    crate::jobs::read_config(path)
}

impl Records<RunKey> for StudyResults {
    fn len(&self) -> usize {
        self.runs.len()
    }

    fn units(&self) -> Vec<RunKey> {
        self.runs.iter().map(StudyRow::key).collect()
    }

    fn retain_units(&mut self, keep: &dyn Fn(RunKey) -> bool) {
        self.runs.retain(|r| keep(r.key()));
        self.history.retain(|h| keep(h.key()));
        self.signal.retain(|s| keep(s.key()));
        self.dynamics.retain(|d| keep(d.key()));
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
