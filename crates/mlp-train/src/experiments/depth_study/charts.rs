//! The depth study's charts: accuracy against depth, validation curves per
//! variant, the signal at initialisation layer by layer, and how the signal
//! and the gradients move during training.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;

use super::{DynamicsRow, HistoryRow, SignalRow, StudyRow, Variant};
use crate::TrainError;
use crate::plots::{Axes, Series, bounds, canvas, draw_lines, max_y, plot_error};
use crate::stats::mean_std;

/// Validation and test accuracy against depth, one line per variant; with
/// several seeds, the line joins the means and error bars span ± one sample
/// standard deviation.
pub fn accuracy_vs_depth(path: &Path, rows: &[StudyRow]) -> Result<(), TrainError> {
    let root = canvas(path, 2, 1);
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let panels = root.split_evenly((1, 2));
    let (min_l, max_l) = bounds(rows.iter().map(|r| r.layers as f64));
    let seeds = {
        let mut seeds: Vec<u64> = rows.iter().map(|r| r.seed).collect();
        seeds.sort_unstable();
        seeds.dedup();
        seeds.len()
    };
    for (panel, (title, pick)) in panels.iter().zip([
        (
            "Validation accuracy vs depth",
            (|r: &StudyRow| r.val_acc) as fn(&StudyRow) -> Option<f64>,
        ),
        ("Test accuracy vs depth", |r: &StudyRow| r.test_acc),
    ]) {
        // variant -> depth -> accuracies (%) over seeds
        let mut by_variant: BTreeMap<Variant, BTreeMap<usize, Vec<f64>>> = BTreeMap::new();
        for r in rows {
            // A diverged run is left out of the line, as the table marks it "diverged".
            if let Some(acc) = pick(r).filter(|_| !r.diverged) {
                by_variant
                    .entry(r.variant)
                    .or_default()
                    .entry(r.layers)
                    .or_default()
                    .push(100.0 * acc);
            }
        }
        let mut series: Vec<Series> = Vec::new();
        let mut bars = Vec::new();
        for (variant, depths) in by_variant {
            let stats: Vec<(f64, f64, f64)> = depths
                .into_iter()
                .filter_map(|(layers, accs)| mean_std(&accs).map(|(m, sd)| (layers as f64, m, sd)))
                .collect();
            series.push((variant.to_string(), stats.iter().map(|&(x, m, _)| (x, m)).collect()));
            bars.push(
                stats
                    .iter()
                    .filter(|s| s.2 > 0.0)
                    .map(|&(x, m, sd)| (x, m - sd, m, m + sd))
                    .collect(),
            );
        }
        let title = if seeds > 1 {
            format!("{title} (mean ± std, {seeds} seeds)")
        } else {
            title.to_owned()
        };
        let top = bars
            .iter()
            .flatten()
            .map(|b: &(f64, f64, f64, f64)| b.3)
            .fold(max_y(&series), f64::max);
        let axes = Axes {
            title: &title,
            x_label: "Linear layers",
            y_label: "accuracy (%)",
            x: (min_l - 0.2, max_l + 0.2),
            y: (0.0, 100.0f64.min(top.max(20.0) + 10.0)),
            log_y: false,
            reference: Some((10.0, "chance (10%)")),
            error_bars: &bars,
        };
        draw_lines(panel, &axes, &series).map_err(|e| plot_error(path, e))?;
    }
    root.present().map_err(|e| plot_error(path, e))
}

/// Means over seeds: `(group, x) -> values` to `group -> [(x, mean)]`.
fn seed_means<G: Ord, X: Ord + Copy + Into<f64>>(
    values: impl Iterator<Item = (G, X, f64)>,
) -> BTreeMap<G, Vec<(f64, f64)>> {
    let mut grouped: BTreeMap<G, BTreeMap<X, Vec<f64>>> = BTreeMap::new();
    for (group, x, v) in values {
        grouped.entry(group).or_default().entry(x).or_default().push(v);
    }
    grouped
        .into_iter()
        .map(|(group, xs)| {
            let points = xs
                .into_iter()
                .map(|(x, vs)| (x.into(), vs.iter().sum::<f64>() / vs.len() as f64))
                .collect();
            (group, points)
        })
        .collect()
}

/// Validation accuracy per epoch: one panel per variant, one line per depth
/// (the mean over seeds).
pub fn validation_curves(path: &Path, history: &[HistoryRow]) -> Result<(), TrainError> {
    let mut variants: Vec<Variant> = history.iter().map(|h| h.variant).collect();
    variants.sort();
    variants.dedup();
    let cols = variants.len().clamp(1, 2) as u32;
    let rows = variants.len().div_ceil(2).max(1) as u32;
    let root = canvas(path, cols, rows);
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let panels = root.split_evenly((rows as usize, cols as usize));
    let (_, max_epoch) = bounds(history.iter().map(|h| h.epoch as f64));
    for (panel, variant) in panels.iter().zip(&variants) {
        let by_depth = seed_means(
            history
                .iter()
                .filter(|h| h.variant == *variant)
                .map(|h| (h.layers, h.epoch as u32, 100.0 * h.val_acc)),
        );
        let series: Vec<Series> = by_depth.into_iter().map(|(l, p)| (format!("{l} layers"), p)).collect();
        let title = format!("{variant}: validation accuracy");
        let axes = Axes {
            title: &title,
            x_label: "epoch",
            y_label: "accuracy (%)",
            x: (0.8, max_epoch.max(1.0) + 0.2),
            y: (0.0, 100.0f64.min(max_y(&series).max(20.0) + 10.0)),
            log_y: false,
            reference: Some((10.0, "chance")),
            error_bars: &[],
        };
        draw_lines(panel, &axes, &series).map_err(|e| plot_error(path, e))?;
    }
    root.present().map_err(|e| plot_error(path, e))
}

/// The signal at initialisation: RMS of each layer's output (log scale), one
/// panel per variant, one line per depth. A plain deep net's activations fall
/// by orders of magnitude per layer; Kaiming and BatchNorm keep them level.
pub fn signal_at_init(path: &Path, signal: &[SignalRow]) -> Result<(), TrainError> {
    let mut variants: Vec<Variant> = signal.iter().map(|s| s.variant).collect();
    variants.sort();
    variants.dedup();
    let cols = variants.len().clamp(1, 2) as u32;
    let rows = variants.len().div_ceil(2).max(1) as u32;
    let root = canvas(path, cols, rows);
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let panels = root.split_evenly((rows as usize, cols as usize));
    // log10 of 0 is undefined: an activation that underflowed to 0 is drawn at the floor.
    const FLOOR: f64 = 1e-30;
    let (min_rms, max_rms) = bounds(signal.iter().map(|s| s.activation_rms.max(FLOOR)));
    let (_, max_layer) = bounds(signal.iter().map(|s| s.layer as f64));
    for (panel, variant) in panels.iter().zip(&variants) {
        let by_depth = seed_means(
            signal
                .iter()
                .filter(|s| s.variant == *variant)
                .map(|s| (s.layers, s.layer as u32, s.activation_rms.max(FLOOR))),
        );
        let series: Vec<Series> = by_depth.into_iter().map(|(l, p)| (format!("{l} layers"), p)).collect();
        let title = format!("{variant}: activation RMS at init");
        let axes = Axes {
            title: &title,
            x_label: "layer",
            y_label: "RMS of layer output",
            x: (0.8, max_layer.max(1.0) + 0.2),
            y: (min_rms / 10.0, max_rms * 10.0),
            log_y: true,
            reference: None,
            error_bars: &[],
        };
        draw_lines(panel, &axes, &series).map_err(|e| plot_error(path, e))?;
    }
    root.present().map_err(|e| plot_error(path, e))
}

/// How the signal and the gradients move during training, for one depth
/// (`None`: the deepest recorded): one row of panels per variant, activation
/// RMS on the left and ‖dL/dW‖ on the right, one line per layer over the
/// epochs (0 = initialisation; the mean over seeds), log scale.
pub fn dynamics(path: &Path, rows: &[DynamicsRow], depth: Option<usize>) -> Result<(), TrainError> {
    let Some(depth) = depth.or_else(|| rows.iter().map(|d| d.layers).max()) else {
        return Ok(());
    };
    let rows: Vec<&DynamicsRow> = rows.iter().filter(|d| d.layers == depth).collect();
    let mut variants: Vec<Variant> = rows.iter().map(|d| d.variant).collect();
    variants.sort();
    variants.dedup();
    let root = canvas(path, 2, variants.len().max(1) as u32);
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let panels = root.split_evenly((variants.len().max(1), 2));
    // log10 of 0 is undefined: a value that underflowed to 0 is drawn at the floor.
    const FLOOR: f64 = 1e-30;
    let (_, max_epoch) = bounds(rows.iter().map(|d| d.epoch as f64));
    let measures: [(&str, &str, fn(&DynamicsRow) -> f64); 2] = [
        ("activation RMS", "RMS of layer output", |d| d.activation_rms),
        ("gradient norm", "||dL/dW||", |d| d.weight_grad_norm),
    ];
    for (i, variant) in variants.iter().enumerate() {
        for (j, (name, y_label, pick)) in measures.iter().enumerate() {
            let values = || {
                rows.iter()
                    .filter(|d| d.variant == *variant)
                    .map(|d| (d.layer, d.epoch as u32, pick(d)))
                    .filter(|(_, _, v)| v.is_finite())
                    .map(|(layer, epoch, v)| (layer, epoch, v.max(FLOOR)))
            };
            let (low, high) = bounds(values().map(|(_, _, v)| v));
            let series: Vec<Series> = seed_means(values())
                .into_iter()
                .map(|(layer, points)| (format!("layer {layer}"), points))
                .collect();
            let title = format!("{variant}, {depth} layers: {name}");
            let axes = Axes {
                title: &title,
                x_label: "epoch (0 = init)",
                y_label,
                x: (-0.2, max_epoch.max(1.0) + 0.2),
                y: (low.max(FLOOR) / 10.0, high.max(FLOOR) * 10.0),
                log_y: true,
                reference: None,
                error_bars: &[],
            };
            draw_lines(&panels[2 * i + j], &axes, &series).map_err(|e| plot_error(path, e))?;
        }
    }
    root.present().map_err(|e| plot_error(path, e))
}
