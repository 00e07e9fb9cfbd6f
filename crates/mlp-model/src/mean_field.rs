//! The mean-field theory of signal propagation in a deep, wide MLP at
//! initialisation (Poole et al. 2016; Schoenholz et al. 2017, "Deep
//! Information Propagation"), for any activation φ, weight scale σ_w (the
//! trainability map's gain: weights ~ N(0, σ_w² / fan_in)) and bias scale
//! σ_b (biases ~ N(0, σ_b²)).
//!
//! With z, z₁, z₂ independent standard normals:
//! - the variance of a unit's pre-activation follows the q map
//!   `q ← σ_w² E[φ(√q z)²] + σ_b²`, to its fixed point q*;
//! - χ₁ = σ_w² E[φ′(√q* z)²] is the slope of the correlation map at c = 1:
//!   below 1 two inputs' representations converge with depth (ordered
//!   phase, gradients vanish), above 1 they decorrelate (chaotic phase,
//!   gradients explode); χ₁ = 1 is the critical line;
//! - the correlation of two inputs follows the c map
//!   `c ← (σ_w² E[φ(u₁) φ(u₂)] + σ_b²) / q*`, with u₁ = √q* z₁ and
//!   u₂ = √q* (c z₁ + √(1 − c²) z₂), to its fixed point c*;
//! - correlations approach c* as exp(−l / ξ_c), with ξ_c = −1 / ln χ_c and
//!   χ_c = σ_w² E[φ′(u₁) φ′(u₂)] at c*, the c map's slope there (χ_c = χ₁
//!   in the ordered phase, where c* = 1). ξ_c diverges at the critical
//!   line; the paper finds networks train up to about 6 ξ_c layers.
//!
//! Expectations are Gauss–Hermite sums (64 nodes per dimension). ReLU
//! without biases is scale-free: its q map is q ← (σ_w² / 2) q, so q* is 0
//! (ordered), ∞ (chaotic) or any value (critical, where 1 is reported); its
//! c map does not depend on q, has c* = 1 at every gain and slope exactly 1
//! there, so ξ_c is infinite: its correlations decay polynomially, and what
//! limits depth is the signal's scale, which changes by χ₁ per layer
//! (ξ_q = 1 / |ln χ₁| layers per factor e; see [`Propagation::xi_q`]).

use serde::{Deserialize, Serialize};

use crate::activation::Activation;

/// Gauss–Hermite nodes per dimension.
const NODES: usize = 64;
/// Iterations of the q and c maps at most; they converge geometrically
/// away from the critical line, where they stop at this many.
const MAX_ITERATIONS: usize = 100_000;
/// Iterations of the c map at most (each a 64 × 64-node sum).
const C_ITERATIONS: usize = 20_000;
/// Where a q map that has not settled is taken to have gone (0 or ∞), and
/// the range the maps are evaluated within.
const Q_FLOOR: f64 = 1e-12;
const Q_CEILING: f64 = 1e12;

/// A network's place in the mean-field phase diagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// χ₁ < 1: inputs' representations converge; gradients vanish.
    Ordered,
    /// χ₁ = 1 (within 1e-9).
    Critical,
    /// χ₁ > 1: representations decorrelate; gradients explode.
    Chaotic,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Ordered => "ordered",
            Phase::Critical => "critical",
            Phase::Chaotic => "chaotic",
        }
    }
}

/// A network's activation, weight scale σ_w and bias scale σ_b.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanField {
    pub activation: Activation,
    /// σ_w: weights ~ N(0, σ_w² / fan_in) (the map's gain).
    pub weight_std: f64,
    /// σ_b: biases ~ N(0, σ_b²).
    pub bias_std: f64,
}

/// What the theory says of one [`MeanField`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Propagation {
    /// The q map's fixed point (0 or ∞ where the map runs away).
    pub q_star: f64,
    pub chi1: f64,
    /// The c map's fixed point.
    pub c_star: f64,
    /// The c map's slope at c*.
    pub chi_c: f64,
    /// Layers over which correlations approach c* by a factor e (∞ at and,
    /// for scale-free ReLU without biases, beyond the critical line).
    pub xi_c: f64,
    /// Layers over which the signal's scale changes by a factor e where it
    /// has no fixed point (scale-free ReLU without biases): 1 / |ln χ₁|.
    /// `None` where q has a fixed point to converge to.
    pub xi_q: Option<f64>,
    pub phase: Phase,
}

impl Propagation {
    /// The depth scale that bounds training in this theory: ξ_c where it is
    /// finite, else the signal's ξ_q (scale-free ReLU), else ∞.
    pub fn depth_scale(&self) -> f64 {
        if self.xi_c.is_finite() {
            self.xi_c
        } else {
            self.xi_q.unwrap_or(f64::INFINITY)
        }
    }
}

impl MeanField {
    pub fn new(activation: Activation, weight_std: f64, bias_std: f64) -> Self {
        MeanField {
            activation,
            weight_std,
            bias_std,
        }
    }

    /// The q map: the next layer's pre-activation variance after `q`.
    fn q_map(&self, q: f64, rule: &Quadrature) -> f64 {
        let sw2 = self.weight_std.powi(2);
        let phi = self.activation;
        sw2 * rule.expect(|z| phi.value(q.sqrt() * z).powi(2)) + self.bias_std.powi(2)
    }

    /// q*: the q map iterated from 1 until it settles; 0 or ∞ where it runs away.
    fn q_star(&self, rule: &Quadrature) -> f64 {
        let mut q = 1.0;
        for _ in 0..MAX_ITERATIONS {
            let next = self.q_map(q, rule);
            if (next - q).abs() <= 1e-13 * q.max(1e-300) {
                return next;
            }
            q = next;
            if q < Q_FLOOR {
                return 0.0;
            }
            if q > Q_CEILING {
                return f64::INFINITY;
            }
        }
        // Not settled: a run-away map moving too slowly to leave the range
        // (near the critical line), or one at a fixed point it reaches slowly.
        match self.q_map(q, rule) {
            next if self.activation.is_scale_free() && self.bias_std == 0.0 && next < q => 0.0,
            next if self.activation.is_scale_free() && self.bias_std == 0.0 && next > q => f64::INFINITY,
            next => next,
        }
    }

    /// The c map at correlation `c`, the layer before at variance `q`: the
    /// next correlation, normalised by the next layer's variance.
    fn c_map(&self, c: f64, q: f64, rule: &Quadrature) -> f64 {
        let (sw2, sb2, phi) = (self.weight_std.powi(2), self.bias_std.powi(2), self.activation);
        let s = (1.0 - c * c).max(0.0).sqrt();
        let cross = rule.expect2(|z1, z2| phi.value(q.sqrt() * z1) * phi.value(q.sqrt() * (c * z1 + s * z2)));
        (sw2 * cross + sb2) / self.q_map(q, rule)
    }

    /// The c map's slope at `c` (Price's theorem: σ_w² q E[φ′(u₁) φ′(u₂)],
    /// normalised like the map).
    fn c_slope(&self, c: f64, q: f64, rule: &Quadrature) -> f64 {
        let (sw2, phi) = (self.weight_std.powi(2), self.activation);
        let s = (1.0 - c * c).max(0.0).sqrt();
        let cross = rule.expect2(|z1, z2| phi.derivative(q.sqrt() * z1) * phi.derivative(q.sqrt() * (c * z1 + s * z2)));
        sw2 * q * cross / self.q_map(q, rule)
    }

    /// χ₁ at the variance `q`.
    fn chi1_at(&self, q: f64, rule: &Quadrature) -> f64 {
        let phi = self.activation;
        self.weight_std.powi(2) * rule.expect(|z| phi.derivative(q.sqrt() * z).powi(2))
    }

    /// χ₁ alone (no correlation map): what the critical line needs.
    pub fn chi1(&self) -> f64 {
        let rule = Quadrature::gauss_hermite(NODES);
        self.chi1_at(self.q_star(&rule).clamp(Q_FLOOR, Q_CEILING), &rule)
    }

    /// q*, χ₁, c*, χ_c, ξ_c and the phase. In the ordered phase c* = 1 is
    /// the stable fixed point and χ_c = χ₁ there (the c map's slope at 1);
    /// in the critical and chaotic phases the c map is iterated from c = 0
    /// to its fixed point. Scale-free ReLU without biases has c* = 1 and
    /// slope exactly 1 at every gain (see the module's doc).
    pub fn propagation(&self) -> Propagation {
        let rule = Quadrature::gauss_hermite(NODES);
        let q_star = self.q_star(&rule);
        // Where q* is 0 or ∞ the maps are evaluated at the edge of the
        // range: their limits there (for ReLU, the same at any q).
        let q = q_star.clamp(Q_FLOOR, Q_CEILING);
        let chi1 = self.chi1_at(q, &rule);
        let phase = if (chi1 - 1.0).abs() <= 1e-9 {
            Phase::Critical
        } else if chi1 < 1.0 {
            Phase::Ordered
        } else {
            Phase::Chaotic
        };
        let scale_free = self.activation.is_scale_free() && self.bias_std == 0.0;
        let (c_star, chi_c) = if scale_free {
            (1.0, 1.0)
        } else if phase == Phase::Ordered {
            (1.0, chi1)
        } else {
            let mut c = 0.0;
            for _ in 0..C_ITERATIONS {
                let next = self.c_map(c, q, &rule).min(1.0);
                let settled = (next - c).abs() <= 1e-12;
                c = next;
                if settled {
                    break;
                }
            }
            (c, self.c_slope(c, q, &rule))
        };
        let xi_c = if chi_c < 1.0 - 1e-12 {
            -1.0 / chi_c.ln()
        } else {
            f64::INFINITY
        };
        let xi_q = scale_free.then(|| match phase {
            Phase::Critical => f64::INFINITY,
            _ => 1.0 / chi1.ln().abs(),
        });
        Propagation {
            q_star,
            chi1,
            c_star,
            chi_c,
            xi_c,
            xi_q,
            phase,
        }
    }

    /// The weight scale σ_w at which χ₁ = 1 for `activation` and
    /// `bias_std`: the critical line, by bisection over [0.1, 10].
    pub fn critical_weight_std(activation: Activation, bias_std: f64) -> f64 {
        let chi1 = |sw: f64| MeanField::new(activation, sw, bias_std).chi1();
        let (mut low, mut high) = (0.1, 10.0);
        for _ in 0..60 {
            let mid = 0.5 * (low + high);
            if chi1(mid) < 1.0 {
                low = mid;
            } else {
                high = mid;
            }
        }
        0.5 * (low + high)
    }
}

/// Gauss–Hermite quadrature for expectations over standard normals:
/// E[f(z)] ≈ Σ wᵢ f(xᵢ), nodes and weights scaled from the rule for the
/// weight e^(−x²).
struct Quadrature {
    nodes: Vec<f64>,
    weights: Vec<f64>,
}

impl Quadrature {
    /// The `n`-node rule (n even: no node at 0, where ReLU′ jumps, so its
    /// symmetric integrals come out exact). The nodes are the roots of the
    /// n-th Hermite polynomial, bracketed by sign changes on a fine grid and
    /// refined by bisection; each weight is 2 / p′ₙ(x)² of the orthonormal
    /// polynomial.
    fn gauss_hermite(n: usize) -> Self {
        // Every root lies within √(2n + 1).
        let bound = (2.0 * n as f64 + 1.0).sqrt() + 0.5;
        let steps = 200 * n;
        let grid = |i: usize| -bound + 2.0 * bound * i as f64 / steps as f64;
        let mut roots = Vec::with_capacity(n);
        let (mut x0, mut p0) = (grid(0), hermite(n, grid(0)).0);
        for i in 1..=steps {
            let (x1, p1) = (grid(i), hermite(n, grid(i)).0);
            if p0.signum() != p1.signum() {
                let (mut a, mut b, pa) = (x0, x1, p0);
                for _ in 0..100 {
                    let mid = 0.5 * (a + b);
                    if hermite(n, mid).0.signum() == pa.signum() {
                        a = mid;
                    } else {
                        b = mid;
                    }
                }
                roots.push(0.5 * (a + b));
            }
            (x0, p0) = (x1, p1);
        }
        assert_eq!(roots.len(), n, "every root of H_{n} bracketed");
        let sqrt_pi = std::f64::consts::PI.sqrt();
        let weights = roots.iter().map(|&x| 2.0 / hermite(n, x).1.powi(2) / sqrt_pi).collect();
        let nodes = roots.iter().map(|&x| x * std::f64::consts::SQRT_2).collect();
        Quadrature { nodes, weights }
    }

    /// E[f(z)], z ~ N(0, 1).
    fn expect(&self, f: impl Fn(f64) -> f64) -> f64 {
        self.nodes.iter().zip(&self.weights).map(|(&z, &w)| w * f(z)).sum()
    }

    /// E[f(z₁, z₂)], z₁ and z₂ independent standard normals.
    fn expect2(&self, f: impl Fn(f64, f64) -> f64) -> f64 {
        self.nodes
            .iter()
            .zip(&self.weights)
            .map(|(&z1, &w1)| w1 * self.expect(|z2| f(z1, z2)))
            .sum()
    }
}

/// The orthonormal Hermite polynomial pₙ(x) (for the weight e^(−x²)) and
/// its derivative p′ₙ(x) = √(2n) pₙ₋₁(x), by the three-term recurrence.
fn hermite(n: usize, x: f64) -> (f64, f64) {
    let (mut previous, mut current) = (0.0, std::f64::consts::PI.powf(-0.25));
    for j in 0..n {
        let next = x * (2.0 / (j + 1) as f64).sqrt() * current - (j as f64 / (j + 1) as f64).sqrt() * previous;
        (previous, current) = (current, next);
    }
    (current, (2.0 * n as f64).sqrt() * previous)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quadrature_gives_the_moments_of_a_normal() {
        let rule = Quadrature::gauss_hermite(NODES);
        assert!((rule.expect(|_| 1.0) - 1.0).abs() < 1e-12);
        assert!(rule.expect(|z| z).abs() < 1e-12);
        assert!((rule.expect(|z| z * z) - 1.0).abs() < 1e-12);
        assert!((rule.expect(|z| z.powi(4)) - 3.0).abs() < 1e-10);
        // E[cos z] = e^(-1/2).
        assert!((rule.expect(f64::cos) - (-0.5f64).exp()).abs() < 1e-12);
        // ReLU's kink at 0 sits between two nodes: E[max(0, z)²] = 1/2 exactly.
        assert!((rule.expect(|z| z.max(0.0).powi(2)) - 0.5).abs() < 1e-12);
        assert!((rule.expect2(|a, b| a * a * b * b) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn relu_without_biases_is_critical_at_root_two() {
        for gain in [0.5, 1.0, 1.3, 2.0, 2.8] {
            let p = MeanField::new(Activation::Relu, gain, 0.0).propagation();
            assert!((p.chi1 - gain * gain / 2.0).abs() < 1e-12, "{gain}: {p:?}");
            // The arc-cosine kernel: c* = 1, slope 1, no correlation depth.
            assert!((p.c_star - 1.0).abs() < 1e-6 && p.xi_c.is_infinite(), "{gain}: {p:?}");
            let xi_q = 1.0 / (gain * gain / 2.0f64).ln().abs();
            assert!((p.xi_q.unwrap() - xi_q).abs() < 1e-9, "{gain}: {p:?}");
        }
        assert_eq!(MeanField::new(Activation::Relu, 1.0, 0.0).propagation().q_star, 0.0);
        assert_eq!(
            MeanField::new(Activation::Relu, 2.0, 0.0).propagation().q_star,
            f64::INFINITY
        );
        let critical = MeanField::critical_weight_std(Activation::Relu, 0.0);
        assert!((critical - std::f64::consts::SQRT_2).abs() < 1e-9, "{critical}");
    }

    #[test]
    fn tanh_is_critical_at_one_without_biases_and_near_root_1_76_with_them() {
        // Without biases q* = 0 below σ_w = 1, where χ₁ = σ_w² φ′(0)² = σ_w².
        let critical = MeanField::critical_weight_std(Activation::Tanh, 0.0);
        assert!((critical - 1.0).abs() < 1e-3, "{critical}");
        let ordered = MeanField::new(Activation::Tanh, 0.8, 0.0).propagation();
        assert!(
            ordered.q_star < 1e-9 && (ordered.chi1 - 0.64).abs() < 1e-6,
            "{ordered:?}"
        );
        assert!((ordered.xi_c - (-1.0 / 0.64f64.ln())).abs() < 1e-3, "{ordered:?}");

        // Schoenholz et al.: σ_b² = 0.05 puts the critical line at σ_w² ≈ 1.76.
        let bias_std = 0.05f64.sqrt();
        let critical = MeanField::critical_weight_std(Activation::Tanh, bias_std);
        assert!((critical.powi(2) - 1.76).abs() < 0.02, "σ_w² = {}", critical.powi(2));
        assert!((1.30..=1.35).contains(&critical), "{critical}");

        let ordered = MeanField::new(Activation::Tanh, 1.1, bias_std).propagation();
        assert_eq!(ordered.phase, Phase::Ordered);
        assert!((ordered.c_star - 1.0).abs() < 1e-9 && (ordered.chi_c - ordered.chi1).abs() < 1e-6);
        let chaotic = MeanField::new(Activation::Tanh, 2.0, bias_std).propagation();
        assert_eq!(chaotic.phase, Phase::Chaotic);
        assert!(
            chaotic.c_star < 0.99 && chaotic.chi_c < 1.0 && chaotic.xi_c.is_finite(),
            "{chaotic:?}"
        );
        // The correlation depth peaks at the critical line.
        let near = MeanField::new(Activation::Tanh, critical * 1.01, bias_std).propagation();
        assert!(near.xi_c > 10.0 * ordered.xi_c.max(chaotic.xi_c), "{near:?}");
        assert!(ordered.xi_q.is_none() && chaotic.depth_scale() == chaotic.xi_c);
    }
}
