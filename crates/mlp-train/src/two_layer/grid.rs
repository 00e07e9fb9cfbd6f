//! The grid a tuning run searches (and the list and range syntax of its
//! flags), and its table: one row per trained grid point and seed, with
//! means over seeds and the best point.

use std::str::FromStr;

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

/// One item of an integer grid flag (`--hidden`, `--iters`): a whole
/// number, or an inclusive range with a step, `50..300:50` (step 1 when
/// left out). The flags take comma-separated lists of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountRange(pub Vec<usize>);

impl FromStr for CountRange {
    type Err = String;
    fn from_str(item: &str) -> Result<Self, Self::Err> {
        let bad = || format!("'{item}' is not a whole number or a range A..B:STEP");
        match item.split_once("..") {
            Some((a, rest)) => {
                let (b, step) = rest.split_once(':').unwrap_or((rest, "1"));
                let (a, b, step): (usize, usize, usize) = (
                    a.parse().map_err(|_| bad())?,
                    b.parse().map_err(|_| bad())?,
                    step.parse().map_err(|_| bad())?,
                );
                if step == 0 || a > b {
                    return Err(bad());
                }
                Ok(CountRange((a..=b).step_by(step).collect()))
            }
            None => Ok(CountRange(vec![item.trim().parse().map_err(|_| bad())?])),
        }
    }
}

/// Most values one range may give: a grid is a product of such lists.
const MAX_RANGE_VALUES: usize = 1000;

/// One item of a float grid flag (`--lr`, `--reg`): a number, or an
/// inclusive range multiplied at each step, `1e-4..1e-2:x10`, or with an
/// added step, `0.1..0.5:0.2`. Range values are rounded to 10 significant
/// digits, so 0.1 + 0.2 reads 0.3 in the tables.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatRange(pub Vec<f64>);

impl FromStr for FloatRange {
    type Err = String;
    fn from_str(item: &str) -> Result<Self, Self::Err> {
        let item = item.trim();
        let bad = |why: &str| format!("'{item}' {why} (a number, A..B:xF multiplying by F, or A..B:S adding S)");
        let number = |text: &str| -> Result<f64, String> {
            match text.trim().parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ => Err(bad("is not a number or a range")),
            }
        };
        let Some((a, rest)) = item.split_once("..") else {
            return Ok(FloatRange(vec![number(item)?]));
        };
        let Some((b, step)) = rest.split_once(':') else {
            return Err(bad("has no step"));
        };
        let (a, b) = (number(a)?, number(b)?);
        if a > b {
            return Err(bad("runs backwards"));
        }
        let round = |v: f64| format!("{v:.9e}").parse::<f64>().expect("a formatted float parses");
        let end = b + 1e-9 * b.abs().max(f64::MIN_POSITIVE);
        let values: Vec<f64> = match step.trim().strip_prefix('x') {
            Some(factor) => {
                let factor = number(factor)?;
                if factor <= 1.0 || a <= 0.0 {
                    return Err(bad("needs a factor above 1 and a start above 0"));
                }
                std::iter::successors(Some(a), |v| Some(v * factor))
                    .take_while(|&v| v <= end)
                    .take(MAX_RANGE_VALUES + 1)
                    .map(round)
                    .collect()
            }
            None => {
                let step = number(step)?;
                if step <= 0.0 {
                    return Err(bad("needs a step above 0"));
                }
                (0..)
                    .map(|k| a + k as f64 * step)
                    .take_while(|&v| v <= end)
                    .take(MAX_RANGE_VALUES + 1)
                    .map(round)
                    .collect()
            }
        };
        if values.len() > MAX_RANGE_VALUES {
            return Err(bad(&format!("gives more than {MAX_RANGE_VALUES} values")));
        }
        Ok(FloatRange(values))
    }
}

/// The values of a comma-separated grid flag, in order.
pub fn grid_values<T: Copy, R: AsRef<[T]>>(items: &[R]) -> Vec<T> {
    items.iter().flat_map(|item| item.as_ref().iter().copied()).collect()
}

impl AsRef<[usize]> for CountRange {
    fn as_ref(&self) -> &[usize] {
        &self.0
    }
}

impl AsRef<[f64]> for FloatRange {
    fn as_ref(&self) -> &[f64] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(items: &[&str]) -> Result<Vec<usize>, String> {
        let ranges: Vec<CountRange> = items.iter().map(|s| s.parse()).collect::<Result<_, _>>()?;
        Ok(grid_values(&ranges))
    }

    fn floats(items: &[&str]) -> Result<Vec<f64>, String> {
        let ranges: Vec<FloatRange> = items.iter().map(|s| s.parse()).collect::<Result<_, _>>()?;
        Ok(grid_values(&ranges))
    }

    #[test]
    fn integer_lists_and_ranges() {
        assert_eq!(counts(&["50..300:50"]).unwrap(), [50, 100, 150, 200, 250, 300]);
        assert_eq!(counts(&["7", "10..12", "40..45:10"]).unwrap(), [7, 10, 11, 12, 40]);
        for bad in ["300..50:50", "50..300:0", "-5", "abc", "1..x"] {
            let err = counts(&[bad]).unwrap_err();
            assert!(err.starts_with(&format!("'{bad}'")), "{err}");
        }
    }

    #[test]
    fn float_lists_and_ranges() {
        assert_eq!(floats(&["5e-4", "1e-3"]).unwrap(), [5e-4, 1e-3]);
        assert_eq!(floats(&["1e-4..1e-2:x10"]).unwrap(), [1e-4, 1e-3, 1e-2]);
        assert_eq!(floats(&["1e-4..5e-4:x2"]).unwrap(), [1e-4, 2e-4, 4e-4]);
        // Rounded: 0.1 + 2 × 0.1 is 0.30000000000000004 in floats.
        assert_eq!(floats(&["0.1..0.5:0.1"]).unwrap(), [0.1, 0.2, 0.3, 0.4, 0.5]);
        assert_eq!(floats(&["0..0.5:0.25", "1"]).unwrap(), [0.0, 0.25, 0.5, 1.0]);
        for bad in [
            "1e-2..1e-4:x10",
            "0..1:x10",
            "1e-4..1e-2:x1",
            "0.1..0.5:0",
            "0.1..0.5",
            "abc",
            "nan",
            "1e-9..1:1e-9",
        ] {
            let err = floats(&[bad]).unwrap_err();
            assert!(err.starts_with(&format!("'{bad}'")), "{err}");
        }
    }
}
