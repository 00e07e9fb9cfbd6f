//! What a long job runs, and which part of it this process runs: seed lists,
//! shards of a sweep, and the stop signal of Ctrl-C.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// Seeds to repeat every configuration with: `0,1,2`, or an inclusive range
/// `0..4` (like `--layers`), or a mix (`0..2,10`). Order is kept, duplicates refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedList(pub Vec<u64>);

impl SeedList {
    pub fn single(seed: u64) -> Self {
        SeedList(vec![seed])
    }
}

impl fmt::Display for SeedList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u64::to_string).collect();
        f.write_str(&parts.join(","))
    }
}

impl FromStr for SeedList {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = |part: &str| format!("'{part}' is not a seed; write seeds as 0,1,2 or an inclusive range 0..4");
        let mut seeds = Vec::new();
        for part in s.split(',').map(str::trim) {
            let number = |text: &str| text.trim().parse::<u64>().map_err(|_| usage(part));
            match part.split_once("..") {
                Some((a, b)) => {
                    let (first, last) = (number(a)?, number(b.strip_prefix('=').unwrap_or(b))?);
                    if first > last {
                        return Err(format!("'{part}' is empty: {first} is larger than {last}"));
                    }
                    if last - first >= 10_000 {
                        return Err(format!("'{part}' names {} seeds; at most 10000", last - first + 1));
                    }
                    seeds.extend(first..=last);
                }
                None => seeds.push(number(part)?),
            }
        }
        let mut sorted = seeds.clone();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("seed {} is named twice in '{s}'", w[0]));
        }
        Ok(SeedList(seeds))
    }
}

/// Set by Ctrl-C (or anything else that wants a long job to end early); the
/// training loops check it between steps and stop with
/// [`TrainError::Interrupted`](crate::TrainError::Interrupted), after saving
/// every finished run.
#[derive(Debug, Clone, Default)]
pub struct StopSignal(Arc<AtomicBool>);

impl StopSignal {
    /// A signal nothing has raised yet.
    pub fn new() -> Self {
        Self::default()
    }

    pub fn raise(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Mean and sample standard deviation (n - 1 in the denominator; 0 for one value).
pub fn mean_std(values: &[f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() == 1 {
        return Some((mean, 0.0));
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Some((mean, var.sqrt()))
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

    #[test]
    fn seed_lists_and_ranges() {
        assert_eq!("0,1,2".parse::<SeedList>().unwrap().0, vec![0, 1, 2]);
        assert_eq!("0..4".parse::<SeedList>().unwrap().0, vec![0, 1, 2, 3, 4]);
        assert_eq!("7, 0..1".parse::<SeedList>().unwrap().0, vec![7, 0, 1]);
        assert!("1,1".parse::<SeedList>().unwrap_err().contains("twice"));
        assert!("3..1".parse::<SeedList>().unwrap_err().contains("empty"));
        assert!("x".parse::<SeedList>().unwrap_err().contains("'x'"));
        assert!("-1".parse::<SeedList>().is_err());
    }

    #[test]
    fn sample_standard_deviation() {
        assert_eq!(mean_std(&[]), None);
        assert_eq!(mean_std(&[0.4]), Some((0.4, 0.0)));
        let (mean, std) = mean_std(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert!((mean - 5.0).abs() < 1e-12);
        assert!((std - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
    }
}
