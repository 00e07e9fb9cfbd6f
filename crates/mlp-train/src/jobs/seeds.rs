//! Seed lists: every configuration of a job is trained once per seed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
