//! What a two-layer run leaves in its directory: the per-iteration history,
//! its curves, the trained model, W1 as images and a JSON summary. `train`
//! writes them for its run, `tune` for its best grid point, and `merge`
//! copies them from the shard that trained the best.

use std::path::{Path, PathBuf};

use mlp_data::Normalizer;
use serde::Serialize;

use super::{SgdConfig, SgdOutcome, plot_history, plot_weights};
use crate::TrainError;
use crate::jobs::{write_csv, write_text};

/// The files of one run, in `dir`.
pub struct RunFiles {
    pub history: PathBuf,
    pub loss_plot: PathBuf,
    pub accuracy_plot: PathBuf,
    pub weights_plot: PathBuf,
    /// Burn's record format; `TwoLayerNet::load_file` reads it back.
    pub model: PathBuf,
    pub summary: PathBuf,
}

/// Their names, for a job that copies or removes them.
pub const RUN_FILES: [&str; 6] = [
    "two_layer_history.csv",
    "two_layer_loss.png",
    "two_layer_accuracy.png",
    "two_layer_weights.png",
    "two_layer_model.bpk",
    "two_layer_summary.json",
];

impl RunFiles {
    pub fn in_dir(dir: &Path) -> Self {
        let [history, loss_plot, accuracy_plot, weights_plot, model, summary] = RUN_FILES.map(|name| dir.join(name));
        RunFiles {
            history,
            loss_plot,
            accuracy_plot,
            weights_plot,
            model,
            summary,
        }
    }

    /// The history table and its loss and accuracy curves, titled `title`.
    pub fn write_history(&self, outcome: &SgdOutcome, title: &str) -> Result<(), TrainError> {
        write_csv(&self.history, &outcome.history)?;
        plot_history(&self.loss_plot, &self.accuracy_plot, &outcome.history, title)
    }

    /// The trained model and its first layer as images (`normalizer` maps
    /// W1's rows back to pixels).
    pub fn write_model(&self, outcome: &SgdOutcome, normalizer: &Normalizer) -> Result<(), TrainError> {
        outcome.net.save_file(&self.model).map_err(|e| TrainError::Write {
            path: self.model.clone(),
            source: std::io::Error::other(format!("{e:?}")),
        })?;
        plot_weights(&self.weights_plot, &outcome.net, normalizer)
    }

    /// The run's settings and numbers as JSON; `data` and `device` say what
    /// it trained on.
    pub fn write_summary(
        &self,
        config: &SgdConfig,
        data: String,
        device: String,
        outcome: &SgdOutcome,
        test_acc: Option<f64>,
    ) -> Result<(), TrainError> {
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
        let json = serde_json::to_string_pretty(&summary).expect("a run summary serialises");
        write_text(&self.summary, &format!("{json}\n"))
    }
}

/// `two_layer_summary.json`.
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
