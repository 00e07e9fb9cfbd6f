//! The map's heat map: mean test accuracy over depth × gain.

use std::path::Path;

use super::config::TrainabilityConfig;
use super::rows::MapRows;
use crate::TrainError;
use crate::plots::heatmap;
use crate::stats::mean_std;

impl TrainabilityConfig {
    /// Mean test accuracy over the seeds of each depth (rows, deepest first)
    /// × gain (columns); `None` where no run has a test accuracy yet.
    pub fn mean_test_grid(&self, rows: &MapRows) -> Vec<Vec<Option<f64>>> {
        let mut depths: Vec<usize> = self.layers.depths().collect();
        depths.reverse();
        depths
            .iter()
            .map(|&layers| {
                self.gains
                    .iter()
                    .map(|&gain| {
                        let accs: Vec<f64> = rows
                            .0
                            .iter()
                            .filter(|r| r.layers == layers && r.gain == gain)
                            .filter_map(|r| r.test_acc)
                            .collect();
                        mean_std(&accs).map(|(mean, _)| mean)
                    })
                    .collect()
            })
            .collect()
    }

    /// The heat map, its columns named by gain; the critical gain sqrt(2) and
    /// the assignment's effective gains (0.007–0.055) are marked in the names.
    pub(super) fn plot(&self, path: &Path, rows: &MapRows) -> Result<(), TrainError> {
        let mut depths: Vec<usize> = self.layers.depths().collect();
        depths.reverse();
        let row_names: Vec<String> = depths.iter().map(|d| d.to_string()).collect();
        let col_names: Vec<String> = self.gains.iter().map(|&g| gain_label(g)).collect();
        heatmap(
            path,
            &format!(
                "mean test accuracy, width {}, {}, {} epochs",
                self.width,
                self.recipe.optimizer().name().to_uppercase(),
                self.recipe.epochs
            ),
            "Linear layers",
            &row_names,
            "initial gain: std = gain / sqrt(fan_in)   (* critical, sqrt 2;  a: the assignment's 0.007-0.055)",
            &col_names,
            &self.mean_test_grid(rows),
        )
    }
}

/// A gain as a column name: `1.414*` at the critical gain, `0.05a` within
/// the assignment's range.
fn gain_label(gain: f64) -> String {
    let mark = if (gain - std::f64::consts::SQRT_2).abs() < 0.01 {
        "*"
    } else if (0.007..=0.056).contains(&gain) {
        "a"
    } else {
        ""
    };
    format!("{}{mark}", (gain * 1000.0).round() / 1000.0)
}
