//! The two-layer network's charts: loss and accuracy curves, and the first
//! layer's weights as images.

use std::path::Path;

use mlp_data::Normalizer;
use mlp_model::scratch::TwoLayerNet;

use super::IterationRow;
use crate::{TrainError, plots};

/// Writes the loss curve and the train/val accuracy curve of an SGD run.
pub fn plot_history(
    loss_path: &Path,
    accuracy_path: &Path,
    history: &[IterationRow],
    title: &str,
) -> Result<(), TrainError> {
    let loss: Vec<(f64, f64)> = history.iter().map(|r| (r.iteration as f64, r.loss)).collect();
    plots::line_chart(
        loss_path,
        &format!("{title}: training loss"),
        "iteration",
        "loss",
        &[("loss".to_owned(), loss)],
    )?;
    let epochs: Vec<&IterationRow> = history.iter().filter(|r| r.epoch.is_some()).collect();
    let pick = |f: fn(&IterationRow) -> Option<f64>| -> Vec<(f64, f64)> {
        epochs
            .iter()
            .filter_map(|r| Some((r.epoch? as f64, 100.0 * f(r)?)))
            .collect()
    };
    plots::line_chart(
        accuracy_path,
        &format!("{title}: accuracy per epoch"),
        "epoch",
        "accuracy (%)",
        &[
            ("train".to_owned(), pick(|r| r.train_acc)),
            ("validation".to_owned(), pick(|r| r.val_acc)),
        ],
    )
}

/// Draws W1 as 32x32 colour tiles, one per hidden unit. W1's rows are in the
/// normaliser's feature order, which `normalizer` maps back to pixels.
pub fn plot_weights(path: &Path, net: &TwoLayerNet, normalizer: &Normalizer) -> Result<(), TrainError> {
    let [d, h, _] = net.params.dims();
    let w1 = net.params.host_values(mlp_model::scratch::ParamName::W1); // [D, H] row-major
    let mut feature_at = vec![0usize; d];
    for j in 0..d {
        let (c, r, col) = normalizer.feature_position(j);
        feature_at[c * 1024 + r * 32 + col] = j;
    }
    plots::weight_tiles(path, h, |unit, c, r, col| {
        w1[feature_at[c * 1024 + r * 32 + col] * h + unit]
    })
}
