//! The assignment's toy problem (Q1): a fixed tiny network and inputs with the
//! correct scores and loss, computed by the assignment's reference code.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::DType;
use serde::Deserialize;

use super::net::TwoLayerNet;
use super::params::{Params, tensor_from};

/// The project's copy of `shared/fixtures/two_layer_toy.json`.
const EMBEDDED_TOY: &str = include_str!("../../tests/data/two_layer_toy.json");

#[derive(Debug, thiserror::Error)]
pub enum ToyError {
    #[error("cannot read toy fixture {path}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("toy fixture {path} is not valid")]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("toy fixture {path} is inconsistent: {what}")]
    Shape { path: PathBuf, what: String },
}

/// Toy network (D=4, H=10, C=3) and inputs (N=5); matrices row-major.
#[derive(Debug, Clone, Deserialize)]
pub struct ToyProblem {
    pub input_size: usize,
    pub hidden_size: usize,
    pub num_classes: usize,
    pub num_inputs: usize,
    #[serde(rename = "W1")]
    pub w1: Vec<Vec<f64>>,
    pub b1: Vec<f64>,
    #[serde(rename = "W2")]
    pub w2: Vec<Vec<f64>>,
    pub b2: Vec<f64>,
    #[serde(rename = "X")]
    pub x: Vec<Vec<f64>>,
    pub y: Vec<i64>,
    pub reg: f64,
    pub correct_scores: Vec<Vec<f64>>,
    pub correct_loss: f64,
}

impl ToyProblem {
    /// The fixture compiled into the project.
    pub fn embedded() -> Self {
        Self::parse(EMBEDDED_TOY, Path::new("<embedded two_layer_toy.json>"))
            .expect("the embedded toy fixture is valid (tested)")
    }

    /// Reads a fixture file of the same format.
    pub fn load(path: &Path) -> Result<Self, ToyError> {
        let text = std::fs::read_to_string(path).map_err(|source| ToyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    fn parse(text: &str, path: &Path) -> Result<Self, ToyError> {
        let toy: ToyProblem = serde_json::from_str(text).map_err(|source| ToyError::Parse {
            path: path.to_owned(),
            source,
        })?;
        toy.validate(path)?;
        Ok(toy)
    }

    fn validate(&self, path: &Path) -> Result<(), ToyError> {
        let (d, h, c, n) = (self.input_size, self.hidden_size, self.num_classes, self.num_inputs);
        let checks = [
            ("W1", rows_ok(&self.w1, d, h)),
            ("b1", self.b1.len() == h),
            ("W2", rows_ok(&self.w2, h, c)),
            ("b2", self.b2.len() == c),
            ("X", rows_ok(&self.x, n, d)),
            (
                "y",
                self.y.len() == n && self.y.iter().all(|&y| (0..c as i64).contains(&y)),
            ),
            ("correct_scores", rows_ok(&self.correct_scores, n, c)),
        ];
        match checks.iter().find(|(_, ok)| !ok) {
            Some((field, _)) => Err(ToyError::Shape {
                path: path.to_owned(),
                what: format!(
                    "field {field} does not match input_size={d}, hidden_size={h}, num_classes={c}, num_inputs={n}"
                ),
            }),
            None => Ok(()),
        }
    }

    /// The toy network with the fixture's weights.
    pub fn net(&self, dtype: DType, device: &Device) -> TwoLayerNet {
        TwoLayerNet {
            params: Params::from_host(
                [self.input_size, self.hidden_size, self.num_classes],
                self.w1.concat(),
                self.b1.clone(),
                self.w2.concat(),
                self.b2.clone(),
                dtype,
                device,
            ),
        }
    }

    /// X: [N, D]
    pub fn inputs(&self, dtype: DType, device: &Device) -> Tensor<2> {
        tensor_from(self.x.concat(), [self.num_inputs, self.input_size], dtype, device)
    }

    /// y: [N]
    pub fn labels(&self, device: &Device) -> Tensor<1, Int> {
        Tensor::from_data(TensorData::new(self.y.clone(), [self.num_inputs]), device)
    }
}

fn rows_ok(m: &[Vec<f64>], rows: usize, cols: usize) -> bool {
    m.len() == rows && m.iter().all(|r| r.len() == cols)
}
