//! `merge`: shards in, one job out, summarised like a single run of its
//! experiment.

use mlp_train::experiments::{MergeOutcome, Merged, merge as merge_shards};
use mlp_train::jobs::Job;

use super::{depth_study, invocation, trainability, two_layer};
use crate::cli::MergeArgs;

pub fn run(args: MergeArgs) -> anyhow::Result<()> {
    let MergeOutcome { shards, out, merged } = merge_shards(&args.dirs, args.out.as_deref(), &invocation())?;
    match merged {
        Merged::DepthStudy(config, results) => {
            out!(
                "merged {shards} shards: {} of {} runs",
                results.runs.len(),
                config.plan().len()
            );
            depth_study::print_results(&out, &results)
        }
        Merged::Trainability(config, rows) => {
            out!(
                "merged {shards} shards: {} of {} runs",
                rows.0.len(),
                config.plan().len()
            );
            trainability::print_results(&out, &rows)
        }
        Merged::Tuning(config, rows, best) => {
            out!(
                "merged {shards} shards: {} of {} trials",
                rows.len(),
                config.plan().len()
            );
            two_layer::print_merged_tuning(&out, &config, best)
        }
    }
}
