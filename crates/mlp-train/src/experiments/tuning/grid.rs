//! The grid a tuning run searches (and the list and range syntax of its
//! flags), and its table: one row per trained grid point and seed, with
//! means over seeds and the best point.

use serde::{Deserialize, Serialize};

use crate::stats::mean_std;

/// One grid point of a tuning run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    pub hidden: usize,
    pub lr: f64,
    pub reg: f64,
    pub iters: usize,
}

/// The grid: every combination of the lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuneGrid {
    pub hidden: Vec<usize>,
    pub lr: Vec<f64>,
    pub reg: Vec<f64>,
    pub iters: Vec<usize>,
}

impl TuneGrid {
    pub fn trials(&self) -> Vec<Trial> {
        let mut out = Vec::new();
        for &hidden in &self.hidden {
            for &lr in &self.lr {
                for &reg in &self.reg {
                    for &iters in &self.iters {
                        out.push(Trial { hidden, lr, reg, iters });
                    }
                }
            }
        }
        out
    }
}

/// One row of `two_layer_tuning.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRow {
    pub trial: usize,
    pub hidden: usize,
    pub lr: f64,
    pub reg: f64,
    pub iters: usize,
    pub seed: u64,
    pub final_loss: Option<f64>,
    pub train_acc: Option<f64>,
    pub val_acc: Option<f64>,
    pub diverged: bool,
    pub seconds: f64,
}

/// One row per grid point: accuracies and final loss averaged over the seeds
/// that did not diverge (diverged only when every seed did); `seed` is the
/// first seed's. Input rows must be in plan order.
pub fn trial_means(rows: &[TrialRow]) -> Vec<TrialRow> {
    let mut trials: Vec<usize> = rows.iter().map(|r| r.trial).collect();
    trials.dedup();
    trials
        .into_iter()
        .map(|trial| {
            let group: Vec<&TrialRow> = rows.iter().filter(|r| r.trial == trial).collect();
            let healthy: Vec<&&TrialRow> = group.iter().filter(|r| !r.diverged).collect();
            let mean = |pick: fn(&TrialRow) -> Option<f64>| {
                mean_std(&healthy.iter().filter_map(|r| pick(r)).collect::<Vec<_>>()).map(|m| m.0)
            };
            TrialRow {
                final_loss: mean(|r| r.final_loss),
                train_acc: mean(|r| r.train_acc),
                val_acc: mean(|r| r.val_acc),
                diverged: healthy.is_empty(),
                seconds: group.iter().map(|r| r.seconds).sum(),
                ..group[0].clone()
            }
        })
        .collect()
}

/// The grid point (1-based) with the highest mean validation accuracy, the
/// earlier one on a tie, so the answer depends on neither threads nor shards.
/// A point that diverged with any seed is unstable and never chosen.
pub fn best_trial(rows: &[TrialRow]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for mean in trial_means(rows) {
        let any_diverged = rows.iter().any(|r| r.trial == mean.trial && r.diverged);
        if let Some(val) = mean.val_acc.filter(|_| !any_diverged)
            && best.is_none_or(|(trial, b)| val > b || (val == b && mean.trial < trial))
        {
            best = Some((mean.trial, val));
        }
    }
    best.map(|(trial, _)| trial)
}
