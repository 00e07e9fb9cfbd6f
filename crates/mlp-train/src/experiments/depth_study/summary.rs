//! The study at a glance: per depth × variant, the mean and standard
//! deviation over seeds, as CSV rows and as a Markdown table.

use serde::Serialize;

use super::{StudyRow, Variant};
use crate::stats::mean_std;

/// One row of `depth_study_summary.csv`: one depth × variant over all its seeds.
/// Diverged runs are counted, and left out of the means.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryRow {
    pub layers: usize,
    pub widths: String,
    pub variant: Variant,
    pub runs: usize,
    pub diverged: usize,
    pub val_acc_mean: Option<f64>,
    /// Sample standard deviation over seeds (0 for a single seed).
    pub val_acc_std: Option<f64>,
    pub test_acc_mean: Option<f64>,
    pub test_acc_std: Option<f64>,
}

/// Groups runs by depth × variant, in the order they first appear.
pub fn summarize(rows: &[StudyRow]) -> Vec<SummaryRow> {
    let mut groups: Vec<(usize, Variant)> = Vec::new();
    for r in rows {
        if !groups.contains(&(r.layers, r.variant)) {
            groups.push((r.layers, r.variant));
        }
    }
    groups
        .into_iter()
        .map(|(layers, variant)| {
            let group: Vec<&StudyRow> = rows
                .iter()
                .filter(|r| r.layers == layers && r.variant == variant)
                .collect();
            let healthy = || group.iter().filter(|r| !r.diverged);
            let val = mean_std(&healthy().filter_map(|r| r.val_acc).collect::<Vec<_>>());
            let test = mean_std(&healthy().filter_map(|r| r.test_acc).collect::<Vec<_>>());
            SummaryRow {
                layers,
                widths: group[0].widths.clone(),
                variant,
                runs: group.len(),
                diverged: group.iter().filter(|r| r.diverged).count(),
                val_acc_mean: val.map(|v| v.0),
                val_acc_std: val.map(|v| v.1),
                test_acc_mean: test.map(|t| t.0),
                test_acc_std: test.map(|t| t.1),
            }
        })
        .collect()
}

/// The study as a Markdown table: one line per depth, one column per variant,
/// each cell `validation / test` accuracy of the best-on-validation weights,
/// as `mean ± std` over seeds when there are several.
pub fn markdown_summary(rows: &[StudyRow]) -> String {
    let summary = summarize(rows);
    let mut variants: Vec<Variant> = summary.iter().map(|s| s.variant).collect();
    variants.sort();
    variants.dedup();
    let mut depths: Vec<(usize, String)> = summary.iter().map(|s| (s.layers, s.widths.clone())).collect();
    depths.sort();
    depths.dedup();
    let max_runs = summary.iter().map(|s| s.runs).max().unwrap_or(1);

    let mut out = String::from("| Linear layers | hidden widths |");
    for v in &variants {
        out += &format!(" {v} (val / test) |");
    }
    out += "\n|---:|---|";
    out += &"---:|".repeat(variants.len());
    out += "\n";
    for (layers, widths) in &depths {
        out += &format!("| {layers} | {} |", if widths.is_empty() { "—" } else { widths });
        for v in &variants {
            let cell = summary
                .iter()
                .find(|s| s.layers == *layers && s.variant == *v)
                .map(|s| cell(s, max_runs))
                .unwrap_or_default();
            out += &format!(" {cell} |");
        }
        out += "\n";
    }
    if max_runs > 1 {
        out += &format!(
            "\nmean ± sample standard deviation over {max_runs} seeds (fewer where a cell says so); \
             diverged runs are left out of the means.\n"
        );
    }
    out
}

/// One cell; `max_runs` is the most seeds any cell has: a cell with fewer
/// (an unfinished study) says how many it averages.
fn cell(s: &SummaryRow, max_runs: usize) -> String {
    let with_std = max_runs > 1;
    if s.diverged == s.runs {
        return if s.runs == 1 {
            "diverged".to_owned()
        } else {
            format!("all {} diverged", s.runs)
        };
    }
    let stat = |mean: Option<f64>, std: Option<f64>| match (mean, std) {
        (Some(m), Some(sd)) if with_std => format!("{:.1} ± {:.1}%", 100.0 * m, 100.0 * sd),
        (Some(m), _) => format!("{:.1}%", 100.0 * m),
        _ => "-".to_owned(),
    };
    let mut text = format!(
        "{} / {}",
        stat(s.val_acc_mean, s.val_acc_std),
        stat(s.test_acc_mean, s.test_acc_std)
    );
    if s.diverged > 0 {
        text += &format!(" ({} of {} diverged)", s.diverged, s.runs);
    } else if s.runs < max_runs {
        text += &format!(" ({} of {max_runs} seeds)", s.runs);
    }
    text
}

/// An accuracy as a percentage with one decimal; `-` where there is none.
pub(crate) fn percent(x: Option<f64>) -> String {
    x.map_or("-".to_owned(), |x| format!("{:.1}%", 100.0 * x))
}
