//! Q1 and Q2: the scratch network proven right on the assignment's toy
//! problem, in f64: its scores and loss against the reference numbers, and
//! every gradient against centred differences and Burn's autodiff; with the
//! pass marks and the report `two-layer check` prints and saves.

use std::fmt::Write as _;

use burn::prelude::*;
use burn::tensor::DType;
use mlp_model::scratch::{GRADCHECK_H, GRADCHECK_THRESHOLD, GradCheckRow, ToyProblem, TwoLayerNet, check_gradients};

/// Q1's pass mark for the summed absolute score error (the assignment's).
pub const SCORE_TOLERANCE: f64 = 1e-7;
/// Q1's pass mark for the loss error (the assignment's).
pub const LOSS_TOLERANCE: f64 = 1e-12;

/// The checks of one toy problem and their verdicts.
pub struct ToyCheck {
    pub toy: ToyProblem,
    /// Sum of |scores - correct_scores|.
    pub score_diff: f64,
    pub loss: f64,
    /// |loss - correct_loss|.
    pub loss_diff: f64,
    /// One row per parameter: manual gradients against numeric and autodiff ones.
    pub gradients: Vec<GradCheckRow>,
}

impl ToyCheck {
    /// Runs every check of `toy` on the flex CPU device, in f64 (finite
    /// differences need double precision; flex computes it natively).
    pub fn run(toy: ToyProblem) -> Self {
        let device = Device::flex();
        let net = toy.net(DType::F64, &device);
        let x = toy.inputs(DType::F64, &device);
        let y = toy.labels(&device);
        let scores: Vec<f64> = net
            .scores(x.clone())
            .into_data()
            .try_into_vec_as::<f64>()
            .expect("f64 scores");
        let score_diff: f64 = scores
            .iter()
            .zip(toy.correct_scores.concat())
            .map(|(a, b)| (a - b).abs())
            .sum();
        let loss = TwoLayerNet::loss_only(&net.params, x.clone(), y.clone(), toy.reg).into_scalar::<f64>();
        let loss_diff = (loss - toy.correct_loss).abs();
        let gradients = check_gradients(&net, x, y, toy.reg);
        ToyCheck {
            toy,
            score_diff,
            loss,
            loss_diff,
            gradients,
        }
    }

    pub fn passes(&self) -> bool {
        self.score_diff < SCORE_TOLERANCE
            && self.loss_diff < LOSS_TOLERANCE
            && self.gradients.iter().all(|r| r.passes())
    }

    /// The report: each number beside its pass mark and verdict.
    pub fn report(&self) -> String {
        let toy = &self.toy;
        let verdict = |ok: bool| if ok { "PASS" } else { "FAIL" };
        let mut report = String::new();
        let mut line = |text: String| writeln!(report, "{text}").expect("writing to a String cannot fail");
        line(format!(
            "Two-layer network, toy problem (D={}, H={}, C={}, N={}, reg={}), float64",
            toy.input_size, toy.hidden_size, toy.num_classes, toy.num_inputs, toy.reg
        ));
        line(format!(
            "Q1 scores: sum |scores - correct_scores| = {:.3e} (must be < 1e-7)  {}",
            self.score_diff,
            verdict(self.score_diff < SCORE_TOLERANCE)
        ));
        line(format!(
            "Q1 loss:   {:.14} vs {:.11}: |diff| = {:.3e} (must be < 1e-12)  {}",
            self.loss,
            toy.correct_loss,
            self.loss_diff,
            verdict(self.loss_diff < LOSS_TOLERANCE)
        ));
        line(format!(
            "Q2 gradients: centred differences h = {GRADCHECK_H:e}; pass mark rel. error < {GRADCHECK_THRESHOLD:e}"
        ));
        line(format!(
            "  {:<6} {:>8} {:>22} {:>26}",
            "param", "elements", "rel. error vs numeric", "max |manual - autodiff|"
        ));
        for row in &self.gradients {
            line(format!(
                "  {:<6} {:>8} {:>22.3e} {:>26.3e}  {}",
                row.param,
                row.elements,
                row.numeric_rel_error,
                row.autodiff_max_abs_diff,
                verdict(row.passes())
            ));
        }
        line(
            if self.passes() {
                "All checks passed."
            } else {
                "SOME CHECKS FAILED."
            }
            .to_owned(),
        );
        report
    }
}
