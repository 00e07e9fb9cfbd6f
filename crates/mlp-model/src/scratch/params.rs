//! Parameters of the two-layer network, and gradients keyed exactly like them.

use burn::prelude::*;
use burn::tensor::DType;

/// The name of one parameter tensor; gradients use the same keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamName {
    W1,
    B1,
    W2,
    B2,
}

impl ParamName {
    /// Every parameter, in the assignment's order.
    pub const ALL: [ParamName; 4] = [ParamName::W1, ParamName::B1, ParamName::W2, ParamName::B2];

    pub fn as_str(self) -> &'static str {
        match self {
            ParamName::W1 => "W1",
            ParamName::B1 => "b1",
            ParamName::W2 => "W2",
            ParamName::B2 => "b2",
        }
    }
}

impl std::fmt::Display for ParamName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// W1: [D, H], b1: [H], W2: [H, C], b2: [C]. The same struct holds the
/// gradients `dW1 … db2`, so gradients are keyed like the parameters.
#[derive(Debug, Clone)]
pub struct Params {
    pub w1: Tensor<2>,
    pub b1: Tensor<1>,
    pub w2: Tensor<2>,
    pub b2: Tensor<1>,
}

impl Params {
    /// Builds parameters from row-major host values, in the given float dtype.
    ///
    /// w1: D*H values, b1: H, w2: H*C, b2: C.
    pub fn from_host(
        [d, h, c]: [usize; 3],
        w1: Vec<f64>,
        b1: Vec<f64>,
        w2: Vec<f64>,
        b2: Vec<f64>,
        dtype: DType,
        device: &Device,
    ) -> Self {
        Params {
            w1: tensor_from(w1, [d, h], dtype, device),
            b1: tensor_from(b1, [h], dtype, device),
            w2: tensor_from(w2, [h, c], dtype, device),
            b2: tensor_from(b2, [c], dtype, device),
        }
    }

    /// `[D, H, C]`.
    pub fn dims(&self) -> [usize; 3] {
        let [d, h] = self.w1.dims();
        let [_, c] = self.w2.dims();
        [d, h, c]
    }

    /// Number of elements of one parameter.
    pub fn len(&self, name: ParamName) -> usize {
        let [d, h, c] = self.dims();
        match name {
            ParamName::W1 => d * h,
            ParamName::B1 => h,
            ParamName::W2 => h * c,
            ParamName::B2 => c,
        }
    }

    /// The values of one parameter, row-major, as f64 (copied to the host).
    pub fn host_values(&self, name: ParamName) -> Vec<f64> {
        let data = match name {
            ParamName::W1 => self.w1.to_data(),
            ParamName::B1 => self.b1.to_data(),
            ParamName::W2 => self.w2.to_data(),
            ParamName::B2 => self.b2.to_data(),
        };
        data.try_into_vec_as::<f64>()
            .expect("a tensor converted to f64 reads back as f64")
    }

    /// A copy in which element `index` of parameter `name` is moved by `delta`:
    /// the explicit perturbation the finite-difference checker evaluates.
    pub fn perturbed(&self, name: ParamName, index: usize, delta: f64) -> Self {
        let mut values = self.host_values(name);
        values[index] += delta;
        let mut out = self.clone();
        let device = self.w1.device();
        let dtype = self.w1.dtype();
        let [d, h, c] = self.dims();
        match name {
            ParamName::W1 => out.w1 = tensor_from(values, [d, h], dtype, &device),
            ParamName::B1 => out.b1 = tensor_from(values, [h], dtype, &device),
            ParamName::W2 => out.w2 = tensor_from(values, [h, c], dtype, &device),
            ParamName::B2 => out.b2 = tensor_from(values, [c], dtype, &device),
        }
        out
    }
}

/// Row-major host values -> tensor of `shape` and `dtype` on `device`.
pub(crate) fn tensor_from<const D: usize>(
    values: Vec<f64>,
    shape: [usize; D],
    dtype: DType,
    device: &Device,
) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape).convert_dtype(dtype), (device, dtype))
}
