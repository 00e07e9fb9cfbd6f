//! The list and range syntax that experiments' flags share: depths
//! (`--layers 2..6`), whole-number grids (`--hidden 50..300:50`) and float
//! grids (`--lr 1e-4..1e-2:x10`, `--gains 0.5..2:0.25`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An inclusive range of depths counted in Linear layers, written `A..B` or `A`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRange {
    pub first: usize,
    pub last: usize,
}

impl LayerRange {
    pub fn depths(self) -> impl Iterator<Item = usize> {
        self.first..=self.last
    }
}

impl fmt::Display for LayerRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.first, self.last)
    }
}

impl FromStr for LayerRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parse = |part: &str| {
            part.trim()
                .parse::<usize>()
                .map_err(|_| format!("'{s}' is not a range of layer counts; write A..B (e.g. 2..6) or a single number"))
        };
        let (first, last) = match s.split_once("..") {
            Some((a, b)) => (parse(a)?, parse(b.strip_prefix('=').unwrap_or(b))?),
            None => {
                let n = parse(s)?;
                (n, n)
            }
        };
        if first == 0 {
            return Err(format!(
                "'{s}' starts at 0 layers; the smallest network has 1 Linear layer"
            ));
        }
        if first > last {
            return Err(format!(
                "'{s}' is empty: {first} is larger than {last}; write {last}..{first}"
            ));
        }
        Ok(LayerRange { first, last })
    }
}

/// The depths of a map: one range (`2..20`) or a comma-separated list of
/// ranges and single depths (`2..10,15,20,30,50,100`), each a [`LayerRange`].
/// Saved as the one range's object (as before lists existed) or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Depths(pub Vec<LayerRange>);

impl Depths {
    /// Every depth named, once each, shallowest first.
    pub fn depths(&self) -> Vec<usize> {
        let mut depths: Vec<usize> = self.0.iter().flat_map(|range| range.depths()).collect();
        depths.sort_unstable();
        depths.dedup();
        depths
    }
}

impl From<LayerRange> for Depths {
    fn from(range: LayerRange) -> Self {
        Depths(vec![range])
    }
}

impl fmt::Display for Depths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self
            .0
            .iter()
            .map(|r| match r.first == r.last {
                true => r.first.to_string(),
                false => r.to_string(),
            })
            .collect();
        f.write_str(&items.join(","))
    }
}

impl Serialize for Depths {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => one.serialize(serializer),
            many => many.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Depths {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            One(LayerRange),
            Many(Vec<LayerRange>),
        }
        Ok(match Form::deserialize(deserializer)? {
            Form::One(range) => Depths(vec![range]),
            Form::Many(ranges) => Depths(ranges),
        })
    }
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
    fn depths_are_ranges_and_single_depths_saved_as_before_lists() {
        let one: Depths = LayerRange { first: 2, last: 20 }.into();
        assert_eq!(serde_json::to_string(&one).unwrap(), r#"{"first":2,"last":20}"#);
        assert_eq!(serde_json::from_str::<Depths>(r#"{"first":2,"last":20}"#).unwrap(), one);
        let ranges: Vec<LayerRange> = ["2..4", "10", "3", "100"].iter().map(|s| s.parse().unwrap()).collect();
        let many = Depths(ranges);
        assert_eq!(many.depths(), [2, 3, 4, 10, 100]);
        assert_eq!(many.to_string(), "2..4,10,3,100");
        let json = serde_json::to_string(&many).unwrap();
        assert_eq!(serde_json::from_str::<Depths>(&json).unwrap(), many);
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
