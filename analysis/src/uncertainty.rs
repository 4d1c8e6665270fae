//! [`Calibration`]: split-conformal intervals around popularity estimates.
//!
//! Given the absolute residuals `|prediction - truth|` (0-100 scale) of a model on `n`
//! held-out songs it never trained on, the half-width `q` is the `ceil((n + 1) * c)`-th
//! smallest residual. For a new song exchangeable with those (drawn from the same
//! distribution), `truth` lies in `[estimate - q, estimate + q]` with probability at least
//! `c` (and at most `c + 1 / (n + 1)` without ties): the guarantee of split conformal
//! prediction, with no assumption on the model. Intervals are clipped to 0-100.
//!
//! Popularity bundles carry their held-out residuals
//! ([`chorder_models::calibration::ConformalCalibration`], written by training or
//! `cargo xtask calibrate`); [`Calibration::from_bundle`] reads them.

use chorder_models::bundle::ModelBundle;
use chorder_models::calibration::{conformal_half_width, ConformalCalibration};
use serde::{Deserialize, Serialize};

/// Coverage of the intervals `analyze` reports unless told otherwise.
pub const DEFAULT_COVERAGE: f32 = 0.9;

/// A symmetric interval of stated coverage around every estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Stated coverage, e.g. 0.9.
    pub coverage: f32,
    /// Half-width of the interval, popularity points (0-100 scale).
    pub half_width: f32,
    /// Number of held-out songs the half-width comes from.
    pub n: usize,
}

impl Calibration {
    /// The split-conformal half-width for `coverage` (in (0, 1)) from held-out absolute
    /// residuals (0-100 scale). `None` when there are too few residuals for that coverage
    /// (`ceil((n + 1) * coverage) > n`) or a residual is not finite.
    pub fn from_residuals(abs_residuals: &[f32], coverage: f32) -> Option<Self> {
        conformal_half_width(abs_residuals, coverage).map(|half_width| Self {
            coverage,
            half_width,
            n: abs_residuals.len(),
        })
    }

    /// The calibration stored in a bundle, at `coverage`: a stored level or one computed
    /// from the stored residuals; `None` when the stored data cannot give that coverage.
    pub fn from_stored(stored: &ConformalCalibration, coverage: f32) -> Option<Self> {
        stored.half_width(coverage).map(|half_width| Self {
            coverage,
            half_width,
            n: stored.n,
        })
    }

    /// The calibration of `bundle` at `coverage`: `Ok(None)` when the bundle has none, an
    /// error (naming the coverages it has) when it cannot give `coverage`.
    pub fn from_bundle(bundle: &ModelBundle, coverage: f32) -> Result<Option<Self>, String> {
        let Some(stored) = &bundle.meta().calibration else {
            return Ok(None);
        };
        Self::from_stored(stored, coverage)
            .map(Some)
            .ok_or_else(|| {
                format!(
                "the model's calibration ({} held-out songs, stored coverages {:?}) cannot give \
                 coverage {coverage}",
                stored.n,
                stored.coverages()
            )
            })
    }

    /// `[low, high]` around `estimate` (0-100), clipped to 0-100.
    pub fn interval(&self, estimate: f32) -> [f32; 2] {
        [
            (estimate - self.half_width).max(0.0),
            (estimate + self.half_width).min(100.0),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Uniform in [0, 1) from a 64-bit LCG (deterministic, no dependency).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 40) as f32 / (1u64 << 24) as f32
        }
    }

    #[test]
    fn known_quantile() {
        let r: Vec<f32> = (1..=9).map(|i| i as f32).collect();
        // n = 9, c = 0.8: ceil(10 * 0.8) = 8th smallest.
        let c = Calibration::from_residuals(&r, 0.8).unwrap();
        assert_eq!(c.half_width, 8.0);
        assert_eq!(c.interval(95.0), [87.0, 100.0]);
        // c = 0.95 needs ceil(10 * 0.95) = 10 > 9 residuals.
        assert!(Calibration::from_residuals(&r, 0.95).is_none());
    }

    #[test]
    fn stated_coverage_holds_on_held_out_draws() {
        // A skewed, heteroscedastic "model error": conformal coverage needs no shape.
        let mut rng = Lcg(7);
        let draw = |rng: &mut Lcg| {
            let x = rng.next();
            let truth = 100.0 * x;
            let pred = truth + (rng.next() - 0.3) * 30.0 * (0.2 + x);
            (pred, truth)
        };
        let (trials, n_cal, n_test, c) = (200, 99, 500, 0.9f32);
        let mut covered = 0usize;
        for _ in 0..trials {
            let res: Vec<f32> = (0..n_cal)
                .map(|_| {
                    let (p, t) = draw(&mut rng);
                    (p - t).abs()
                })
                .collect();
            let cal = Calibration::from_residuals(&res, c).unwrap();
            for _ in 0..n_test {
                let (p, t) = draw(&mut rng);
                covered += usize::from((p - t).abs() <= cal.half_width);
            }
        }
        let rate = covered as f32 / (trials * n_test) as f32;
        // Theory: in [0.9, 0.9 + 1/100]; Monte-Carlo s.e. over 200 calibrations ~ 0.002.
        assert!(
            rate >= c - 0.01 && rate <= c + 0.01 + 0.01,
            "coverage {rate}"
        );
    }
}
