//! Whether a job starts afresh or continues from its recorded runs, and how
//! a recorded configuration is compared with the one asked for now.

use std::path::Path;

use serde::Serialize;

use crate::TrainError;

/// What a job does with results already in its output directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Stop with an error rather than replace finished work (the default).
    Refuse,
    /// Keep the finished runs and train only the rest (`--resume`); the
    /// job's arguments must match the recorded ones.
    Resume,
    /// Start again and replace them (`--overwrite`).
    Overwrite,
}

/// Whether a job continues from its directory's recorded runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    Fresh,
    Continue,
}

/// The rules every job applies to the `recorded` runs already in `dir`
/// (after `Existing::Overwrite` has removed them): refuse to replace them
/// without `--resume`; resume only when the recorded configuration
/// (`config`) exists and `differences` (recorded vs now) is empty.
pub(crate) fn decide_start(
    existing: Existing,
    dir: &Path,
    config: &Path,
    recorded: usize,
    differences: impl FnOnce() -> Result<String, TrainError>,
) -> Result<Start, TrainError> {
    match existing {
        Existing::Overwrite => Ok(Start::Fresh),
        Existing::Refuse if recorded > 0 => Err(TrainError::ExistingResults {
            dir: dir.to_owned(),
            runs: recorded,
        }),
        Existing::Refuse => Ok(Start::Fresh),
        Existing::Resume if !config.exists() && recorded > 0 => Err(TrainError::Unresumable {
            dir: dir.to_owned(),
            runs: recorded,
        }),
        Existing::Resume if !config.exists() => Ok(Start::Fresh),
        Existing::Resume => {
            let differences = differences()?;
            if differences.is_empty() {
                Ok(Start::Continue)
            } else {
                Err(TrainError::ResumeMismatch {
                    dir: dir.to_owned(),
                    config: config.to_owned(),
                    differences,
                })
            }
        }
    }
}

/// The settings that differ between a recorded job configuration and a new
/// one, as `name: recorded X, now Y` joined by `; ` (empty when they agree).
/// Nested fields are named with dots (`recipe.epochs`); the `device`
/// description is ignored, since a job may continue on another machine and
/// every row records its own device.
pub fn settings_differences<C: Serialize>(recorded: &C, now: &C) -> String {
    let (old, new) = (settings(recorded), settings(now));
    let mut differences = Vec::new();
    for (name, value) in &new {
        let before = old.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        if before != Some(value.as_str()) {
            differences.push(format!("{name}: recorded {}, now {value}", before.unwrap_or("nothing")));
        }
    }
    for (name, value) in &old {
        if !new.iter().any(|(n, _)| n == name) {
            differences.push(format!("{name}: recorded {value}, now nothing"));
        }
    }
    differences.join("; ")
}

fn settings<C: Serialize>(config: &C) -> Vec<(String, String)> {
    // Through text and back, as the recorded side was: both then parse the
    // same digits, so no float differs by a rounding of the parser.
    let text = serde_json::to_string(config).expect("job configurations serialise");
    let mut value: serde_json::Value = serde_json::from_str(&text).expect("serialised JSON parses");
    // Where and how the runs computed (device, step engine) may change between
    // a job's parts; what they compute may not.
    if let Some(map) = value.as_object_mut() {
        map.remove("device");
        map.remove("engine");
    }
    let mut pairs = Vec::new();
    flatten_json("", &value, &mut pairs);
    pairs
}

fn flatten_json(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten_json(&name, value, out);
            }
        }
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_differences_name_nested_fields_and_ignore_device_and_engine() {
        let a = serde_json::json!({"recipe": {"lr": 0.1, "epochs": 10}, "device": "cpu", "engine": "auto"});
        let b = serde_json::json!({"recipe": {"lr": 0.1, "epochs": 5}, "device": "gpu", "engine": "autodiff"});
        assert_eq!(settings_differences(&a, &b), "recipe.epochs: recorded 10, now 5");
        assert_eq!(settings_differences(&a, &a), "");
        // A float that needs all 17 digits survives the trip through the file.
        let x = serde_json::json!({"lr": 0.1 + 0.2});
        let from_file: serde_json::Value = serde_json::from_str(&x.to_string()).unwrap();
        assert_eq!(settings_differences(&from_file, &x), "");
    }
}
