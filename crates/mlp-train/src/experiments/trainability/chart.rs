//! The map's heat map: mean test accuracy over depth × gain, with the
//! mean-field theory's trainable depth and critical gain drawn over it.

use std::path::Path;

use mlp_model::Activation;

use super::config::TrainabilityConfig;
use super::rows::MapRows;
use crate::TrainError;
use crate::plots::{HeatmapLabels, HeatmapOverlay, heatmap_with};
use crate::stats::mean_std;

impl TrainabilityConfig {
    /// Mean test accuracy over the seeds of each depth (rows, deepest first)
    /// × gain (columns); `None` where no run has a test accuracy yet.
    pub fn mean_test_grid(&self, rows: &MapRows) -> Vec<Vec<Option<f64>>> {
        let mut depths: Vec<usize> = self.layers.depths();
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

    /// The heat map, its columns named by gain, with the theory over it:
    /// the depth each gain should train to (6 depth scales, a black line)
    /// and the critical gain (white dashes; `*` on a column within 0.01 of
    /// it). ReLU maps mark the assignment's effective gains (0.007–0.055) `a`.
    pub(super) fn plot(&self, path: &Path, rows: &MapRows) -> Result<(), TrainError> {
        let mut depths: Vec<usize> = self.layers.depths();
        depths.reverse();
        let row_names: Vec<String> = depths.iter().map(|d| d.to_string()).collect();
        let critical = self.critical_gain();
        let assignment = self.activation == Activation::Relu;
        let col_names: Vec<String> = self.gains.iter().map(|&g| gain_label(g, critical, assignment)).collect();
        let theory = self.theory();
        let scale = match theory.iter().any(|t| t.xi_c.is_finite()) {
            true => "ξ_c",
            false => "ξ_q",
        };
        let bias = match self.bias_std {
            0.0 => String::new(),
            b => format!(", σ_b {b}"),
        };
        let title = format!(
            "mean test accuracy: {}, width {}{bias}, {}, {} epochs",
            self.activation,
            self.width,
            self.recipe.optimizer().name().to_uppercase(),
            self.recipe.epochs
        );
        let col_label = format!(
            "gain σ_w (std = σ_w / √fan_in);  line: 6 {scale} (theory);  dashes, *: critical σ_w {critical:.3}{}",
            if assignment { ";  a: assignment's" } else { "" }
        );
        let overlay = HeatmapOverlay {
            line: theory.iter().map(|t| Some(depth_position(&depths, t.trainable_depth))).collect(),
            vertical: gain_position(&self.gains, critical),
        };
        let labels = HeatmapLabels {
            title: &title,
            row_label: "Linear layers",
            row_names: &row_names,
            col_label: &col_label,
            col_names: &col_names,
        };
        heatmap_with(path, &labels, &self.mean_test_grid(rows), &overlay)
    }
}

/// Where `depth` falls on a heat map whose rows are `depths`, deepest first
/// and drawn from the bottom, in cell units: at a row's centre on its
/// depth, linear between rows, the bottom edge for anything deeper than
/// the deepest row and the top edge for anything shallower than the shallowest.
fn depth_position(depths: &[usize], depth: f64) -> f64 {
    let centre = |r: usize| r as f64 + 0.5;
    let d = |r: usize| depths[r] as f64;
    if depths.is_empty() || depth > d(0) {
        return 0.0;
    }
    for r in 0..depths.len() - 1 {
        if depth >= d(r + 1) {
            return centre(r) + (d(r) - depth) / (d(r) - d(r + 1));
        }
    }
    match depth >= d(depths.len() - 1) {
        true => centre(depths.len() - 1),
        false => depths.len() as f64,
    }
}

/// Where `gain` falls between the columns of `gains` (each at its centre),
/// linear in log gain; `None` outside them.
fn gain_position(gains: &[f64], gain: f64) -> Option<f64> {
    if gains.len() == 1 {
        return ((gains[0] - gain).abs() < 1e-9).then_some(0.5);
    }
    gains.windows(2).enumerate().find_map(|(c, pair)| {
        let (a, b) = (pair[0].min(pair[1]), pair[0].max(pair[1]));
        if !(a..=b).contains(&gain) || a == b {
            return None;
        }
        let t = (gain / pair[0]).ln() / (pair[1] / pair[0]).ln();
        Some(c as f64 + 0.5 + t)
    })
}

/// A gain as a column name: `1.414*` within 0.01 of the critical gain,
/// `0.05a` within the assignment's range (when `assignment`).
fn gain_label(gain: f64, critical: f64, assignment: bool) -> String {
    let mark = if (gain - critical).abs() < 0.01 {
        "*"
    } else if assignment && (0.007..=0.056).contains(&gain) {
        "a"
    } else {
        ""
    };
    format!("{}{mark}", (gain * 1000.0).round() / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depths_and_gains_land_between_their_rows_and_columns() {
        let depths = [100, 50, 10, 2];
        assert_eq!(depth_position(&depths, 100.0), 0.5);
        assert_eq!(depth_position(&depths, 75.0), 1.0);
        assert_eq!(depth_position(&depths, 10.0), 2.5);
        assert_eq!(depth_position(&depths, f64::INFINITY), 0.0);
        assert_eq!(depth_position(&depths, 1.0), 4.0);
        let gains = [1.0, 2.0, 4.0];
        assert_eq!(gain_position(&gains, 2.0), Some(1.5));
        assert!((gain_position(&gains, 2.0f64.sqrt()).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(gain_position(&gains, 5.0), None);
        assert_eq!(gain_label(1.414, std::f64::consts::SQRT_2, true), "1.414*");
        assert_eq!(gain_label(0.05, 1.0, true), "0.05a");
        assert_eq!(gain_label(0.05, 1.0, false), "0.05");
    }
}
