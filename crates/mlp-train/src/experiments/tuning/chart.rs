//! The tuning run's heat map.

use std::path::Path;

use super::{TrialRow, TuneGrid};
use crate::{TrainError, plots};

/// Validation accuracy over hidden size × learning rate: for each cell the
/// best trial over the other axes (reg, iterations); pass one row per trial
/// (with several seeds, their means: see [`super::trial_means`]).
pub fn plot_tuning_heatmap(path: &Path, grid: &TuneGrid, rows: &[TrialRow]) -> Result<(), TrainError> {
    let values: Vec<Vec<Option<f64>>> = grid
        .hidden
        .iter()
        .map(|&h| {
            grid.lr
                .iter()
                .map(|&lr| {
                    rows.iter()
                        .filter(|r| r.hidden == h && r.lr == lr)
                        .filter_map(|r| r.val_acc)
                        .fold(None, |best: Option<f64>, v| Some(best.map_or(v, |b| b.max(v))))
                })
                .collect()
        })
        .collect();
    plots::heatmap(
        path,
        "validation accuracy (%): hidden size x learning rate",
        "hidden size",
        &grid.hidden.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
        "learning rate",
        &grid.lr.iter().map(|lr| format!("{lr:e}")).collect::<Vec<_>>(),
        &values,
    )
}
