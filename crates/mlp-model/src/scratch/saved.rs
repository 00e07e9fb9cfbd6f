//! Saving and loading a trained two-layer network in Burn's record format.

use std::path::Path;

use burn::module::{Module, Param};
use burn::prelude::*;
use burn::store::RecordError;
use burn::tensor::DType;

use super::net::TwoLayerNet;
use super::params::Params;

/// The parameters as a Burn module, only to reuse Burn's file format.
#[derive(Module, Debug)]
struct TwoLayerWeights {
    w1: Param<Tensor<2>>,
    b1: Param<Tensor<1>>,
    w2: Param<Tensor<2>>,
    b2: Param<Tensor<1>>,
}

impl TwoLayerNet {
    /// Writes the parameters to `path` (Burn's record format).
    pub fn save_file(&self, path: &Path) -> Result<(), RecordError> {
        let p = self.params.clone();
        TwoLayerWeights {
            w1: Param::from_tensor(p.w1),
            b1: Param::from_tensor(p.b1),
            w2: Param::from_tensor(p.w2),
            b2: Param::from_tensor(p.b2),
        }
        .save_file(path)
    }

    /// Reads a network saved by [`save_file`](Self::save_file) with sizes
    /// `[D, H, C]`; a file of other sizes is an error.
    pub fn load_file(path: &Path, [d, h, c]: [usize; 3], dtype: DType, device: &Device) -> Result<Self, RecordError> {
        let zeros = TwoLayerWeights {
            w1: Param::from_tensor(Tensor::zeros([d, h], (device, dtype))),
            b1: Param::from_tensor(Tensor::zeros([h], (device, dtype))),
            w2: Param::from_tensor(Tensor::zeros([h, c], (device, dtype))),
            b2: Param::from_tensor(Tensor::zeros([c], (device, dtype))),
        };
        let loaded = zeros.try_load_file(path)?;
        Ok(TwoLayerNet {
            params: Params {
                w1: loaded.w1.val(),
                b1: loaded.b1.val(),
                w2: loaded.w2.val(),
                b2: loaded.b2.val(),
            },
        })
    }
}
