//! Proofs that the hand-written gradients are right (assignment Q2).
//!
//! Two independent references: centred finite differences of the loss, and
//! Burn's autodiff applied to the same loss.

use burn::prelude::*;

use super::net::{LossOutput, TwoLayerNet};
use super::params::{ParamName, Params};

/// Step of the centred difference, as in the assignment.
pub const GRADCHECK_H: f64 = 1e-5;
/// The assignment's pass mark: in f64 every parameter's relative error must be
/// below 1e-8 (reports got ~1e-9 for the weights, ~1e-11 for b2).
pub const GRADCHECK_THRESHOLD: f64 = 1e-8;

/// `max_i |a_i - b_i| / max(1e-8, |a_i| + |b_i|)`, the assignment's `rel_error`.
pub fn rel_error(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "rel_error compares equal-length slices");
    a.iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs() / (a.abs() + b.abs()).max(1e-8))
        .fold(0.0, f64::max)
}

/// `(f(p + h e_i) - f(p - h e_i)) / 2h` for every element `i` of parameter `name`.
pub fn numerical_gradient(loss: impl Fn(&Params) -> f64, params: &Params, name: ParamName, h: f64) -> Vec<f64> {
    (0..params.len(name))
        .map(|i| {
            let plus = loss(&params.perturbed(name, i, h));
            let minus = loss(&params.perturbed(name, i, -h));
            (plus - minus) / (2.0 * h)
        })
        .collect()
}

/// One line of the check: a parameter and how far its manual gradient is from
/// the finite-difference and the autodiff gradients.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GradCheckRow {
    pub param: &'static str,
    pub elements: usize,
    /// rel_error(manual, centred difference)
    pub numeric_rel_error: f64,
    /// max |manual - autodiff|
    pub autodiff_max_abs_diff: f64,
}

impl GradCheckRow {
    pub fn passes(&self) -> bool {
        self.numeric_rel_error < GRADCHECK_THRESHOLD
    }
}

/// Checks every element of every parameter of `net` on (x, labels, reg).
/// Run it with f64 tensors: in f32 the centred difference itself is only good
/// to ~1e-3, so the threshold is meaningless there.
///
/// x: [N, D]; labels: [N]
pub fn check_gradients(net: &TwoLayerNet, x: Tensor<2>, labels: Tensor<1, Int>, reg: f64) -> Vec<GradCheckRow> {
    let LossOutput::Loss { grads, .. } = net.loss(x.clone(), Some(labels.clone()), reg) else {
        unreachable!("labels were given");
    };
    let autodiff = autodiff_gradients(&net.params, x.clone(), labels.clone(), reg);
    let loss = |p: &Params| TwoLayerNet::loss_only(p, x.clone(), labels.clone(), reg).into_scalar::<f64>();
    ParamName::ALL
        .iter()
        .map(|&name| {
            let manual = grads.host_values(name);
            let numeric = numerical_gradient(&loss, &net.params, name, GRADCHECK_H);
            let reference = autodiff.host_values(name);
            GradCheckRow {
                param: name.as_str(),
                elements: manual.len(),
                numeric_rel_error: rel_error(&manual, &numeric),
                autodiff_max_abs_diff: max_abs_diff(&manual, &reference),
            }
        })
        .collect()
}

/// Gradients of [`TwoLayerNet::loss_only`] computed by Burn's autodiff, keyed
/// like the parameters (on the parameters' own, non-autodiff device).
///
/// x: [N, D]; labels: [N]
pub fn autodiff_gradients(params: &Params, x: Tensor<2>, labels: Tensor<1, Int>, reg: f64) -> Params {
    let track = |t: &Tensor<2>| t.clone().autodiff().require_grad();
    let track_1 = |t: &Tensor<1>| t.clone().autodiff().require_grad();
    let tracked = Params {
        w1: track(&params.w1),
        b1: track_1(&params.b1),
        w2: track(&params.w2),
        b2: track_1(&params.b2),
    };
    let loss = TwoLayerNet::loss_only(&tracked, x.autodiff(), labels.autodiff(), reg);
    let grads = loss.backward();
    let grad_of = |t: &Tensor<2>| t.grad(&grads).expect("a tracked parameter has a gradient");
    let grad_of_1 = |t: &Tensor<1>| t.grad(&grads).expect("a tracked parameter has a gradient");
    Params {
        w1: grad_of(&tracked.w1),
        b1: grad_of_1(&tracked.b1),
        w2: grad_of(&tracked.w2),
        b2: grad_of_1(&tracked.b2),
    }
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max)
}
