//! Shards: which slice of a job's plan one process trains.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::TrainError;

/// The K-th of N disjoint slices of a job's runs (`K/N`, 1-based).
///
/// Run `i` of the full plan (0-based, in plan order) belongs to shard
/// `i % N + 1`: a round-robin deal, so every shard gets a similar mix of
/// cheap and expensive runs, and the assignment depends only on the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 1-based index of this shard.
    pub index: usize,
    /// How many shards the runs are dealt into.
    pub count: usize,
}

impl Shard {
    /// Whether run `position` (0-based, in plan order) belongs to this shard.
    pub fn owns(self, position: usize) -> bool {
        position % self.count == self.index - 1
    }

    /// Checks a shard read from a file, and that a job of `runs` runs (or grid
    /// points) gives every one of the `count` shards something to do.
    pub fn check(self, runs: usize, what: &str) -> Result<(), TrainError> {
        if self.count == 0 || self.index == 0 || self.index > self.count {
            return Err(TrainError::invalid(
                "--shard",
                format!("{self} is not a shard K/N with 1 <= K <= N"),
            ));
        }
        if self.count > runs {
            return Err(TrainError::invalid(
                "--shard",
                format!(
                    "{self}: the job has only {runs} {what}, so some of {} shards would have nothing to do; use at most {runs} shards",
                    self.count
                ),
            ));
        }
        Ok(())
    }

    /// The subdirectory of the job's output directory this shard writes to.
    pub fn dir_name(self) -> String {
        format!("shard-{}-of-{}", self.index, self.count)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = || format!("'{s}' is not a shard; write K/N with 1 <= K <= N (e.g. 2/8)");
        let (k, n) = s.split_once('/').ok_or_else(usage)?;
        let index: usize = k.trim().parse().map_err(|_| usage())?;
        let count: usize = n.trim().parse().map_err(|_| usage())?;
        if count == 0 || index == 0 || index > count {
            return Err(usage());
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_deal_every_run_to_exactly_one_shard() {
        for count in 1..6 {
            for position in 0..23 {
                let owners = (1..=count)
                    .filter(|&index| Shard { index, count }.owns(position))
                    .count();
                assert_eq!(owners, 1, "run {position} of {count} shards");
            }
        }
        assert_eq!("2/8".parse::<Shard>(), Ok(Shard { index: 2, count: 8 }));
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", ""] {
            assert!(bad.parse::<Shard>().unwrap_err().contains("K/N"), "{bad}");
        }
    }
}
