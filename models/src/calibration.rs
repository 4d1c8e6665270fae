//! [`ConformalCalibration`]: what a popularity bundle stores so that its users can put an
//! interval of stated coverage around every estimate (split conformal prediction).
//!
//! Input: the absolute residuals `|prediction - truth|` (popularity points, 0-100 scale) of
//! the trained model on `n` held-out songs it did not fit. For coverage `c` in (0, 1) the
//! half-width `q` is the `ceil((n + 1) c)`-th smallest residual ([`conformal_half_width`]).
//! For a new song exchangeable with those held-out songs (drawn from the same distribution),
//! `truth` lies in `[estimate - q, estimate + q]` with probability at least `c` (and at most
//! `c + 1 / (n + 1)` without ties), whatever the model. The guarantee is marginal (over
//! songs like the calibration set), not per song, and says nothing about music unlike it.

use serde::{Deserialize, Serialize};

/// Coverages stored by default: 0.5, 0.8, 0.9 and 0.95.
pub const DEFAULT_COVERAGES: [f32; 4] = [0.5, 0.8, 0.9, 0.95];

/// The split-conformal half-width (popularity points) for `coverage` in (0, 1) from
/// held-out absolute residuals (0-100 scale): the `ceil((n + 1) coverage)`-th smallest.
/// `None` when there are too few residuals for that coverage (`ceil((n + 1) c) > n`), the
/// coverage is outside (0, 1), or a residual is not finite. Signs are ignored.
pub fn conformal_half_width(abs_residuals: &[f32], coverage: f32) -> Option<f32> {
    let n = abs_residuals.len();
    if !(coverage > 0.0 && coverage < 1.0) || abs_residuals.iter().any(|r| !r.is_finite()) {
        return None;
    }
    // The tolerance keeps e.g. 10 * 0.8f32 (= 8.0000001 in f64) at rank 8.
    let k = ((n + 1) as f64 * coverage as f64 - 1e-6).ceil() as usize;
    if k == 0 || k > n {
        return None;
    }
    let mut sorted: Vec<f32> = abs_residuals.iter().map(|r| r.abs()).collect();
    sorted.sort_by(f32::total_cmp);
    Some(sorted[k - 1])
}

/// One stored coverage level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CoverageLevel {
    /// Stated coverage in (0, 1), e.g. 0.9.
    pub coverage: f32,
    /// Half-width of the interval, popularity points (0-100 scale).
    pub half_width: f32,
}

/// Split-conformal calibration of a popularity model (`BundleMeta::calibration`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConformalCalibration {
    /// Which held-out songs the residuals come from (data set, split, and whether training
    /// used them for early stopping).
    pub source: String,
    /// Number of held-out songs.
    pub n: usize,
    /// Half-widths at the stored coverages, in increasing coverage (levels that need more
    /// than `n` songs are left out).
    pub levels: Vec<CoverageLevel>,
    /// The `n` absolute residuals themselves (0-100 scale, ascending), so any other coverage
    /// can be computed; may be empty in hand-written metadata.
    #[serde(default)]
    pub abs_residuals: Vec<f32>,
}

impl ConformalCalibration {
    /// Calibration from held-out absolute residuals (0-100 scale) at `coverages` (those
    /// that `n` residuals cannot support are skipped). Errors when there are no residuals,
    /// a residual is not finite, or no coverage is supported.
    pub fn from_residuals(
        abs_residuals: &[f32],
        coverages: &[f32],
        source: &str,
    ) -> Result<Self, String> {
        if abs_residuals.is_empty() {
            return Err("no held-out residuals to calibrate on".into());
        }
        if let Some(r) = abs_residuals.iter().find(|r| !r.is_finite()) {
            return Err(format!("held-out residual {r} is not finite"));
        }
        let mut coverages = coverages.to_vec();
        coverages.sort_by(f32::total_cmp);
        coverages.dedup();
        let levels: Vec<CoverageLevel> = coverages
            .iter()
            .filter_map(|&c| {
                conformal_half_width(abs_residuals, c).map(|half_width| CoverageLevel {
                    coverage: c,
                    half_width,
                })
            })
            .collect();
        if levels.is_empty() {
            return Err(format!(
                "{} held-out songs are too few for coverages {coverages:?}",
                abs_residuals.len()
            ));
        }
        let mut sorted: Vec<f32> = abs_residuals.iter().map(|r| r.abs()).collect();
        sorted.sort_by(f32::total_cmp);
        Ok(Self {
            source: source.into(),
            n: sorted.len(),
            levels,
            abs_residuals: sorted,
        })
    }

    /// Half-width (popularity points) at `coverage`: a stored level (within 1e-6), else
    /// computed from the stored residuals; `None` when neither can give it.
    pub fn half_width(&self, coverage: f32) -> Option<f32> {
        if let Some(l) = self
            .levels
            .iter()
            .find(|l| (l.coverage - coverage).abs() < 1e-6)
        {
            return Some(l.half_width);
        }
        conformal_half_width(&self.abs_residuals, coverage)
    }

    /// The stored coverages, for messages.
    pub fn coverages(&self) -> Vec<f32> {
        self.levels.iter().map(|l| l.coverage).collect()
    }

    /// Checks consistency: `n > 0`, residuals absent or `n` of them, levels in (0, 1) with
    /// finite non-negative half-widths.
    pub fn validate(&self) -> Result<(), String> {
        if self.n == 0 {
            return Err("calibration on 0 songs".into());
        }
        if !self.abs_residuals.is_empty() && self.abs_residuals.len() != self.n {
            return Err(format!(
                "calibration lists {} residuals for n = {}",
                self.abs_residuals.len(),
                self.n
            ));
        }
        for l in &self.levels {
            let ok = l.coverage > 0.0
                && l.coverage < 1.0
                && l.half_width.is_finite()
                && l.half_width >= 0.0;
            if !ok {
                return Err(format!("bad calibration level {l:?}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_ranks() {
        let r: Vec<f32> = (1..=9).rev().map(|i| -(i as f32)).collect();
        // n = 9: c = 0.8 → rank ceil(8.0) = 8; c = 0.5 → ceil(5.0) = 5; 0.95 → 10 > 9.
        assert_eq!(conformal_half_width(&r, 0.8), Some(8.0));
        assert_eq!(conformal_half_width(&r, 0.5), Some(5.0));
        assert_eq!(conformal_half_width(&r, 0.95), None);
        assert_eq!(conformal_half_width(&r, 1.0), None);
        assert_eq!(conformal_half_width(&[1.0, f32::NAN], 0.1), None);
        let c = ConformalCalibration::from_residuals(&r, &DEFAULT_COVERAGES, "t").unwrap();
        assert_eq!(c.n, 9);
        assert_eq!(c.coverages(), vec![0.5, 0.8, 0.9]);
        assert_eq!(c.half_width(0.9), Some(9.0));
        // Not stored: from the residuals (rank ceil(10 * 0.3) = 3).
        assert_eq!(c.half_width(0.3), Some(3.0));
        assert_eq!(c.abs_residuals[0], 1.0);
        c.validate().unwrap();
        assert!(ConformalCalibration::from_residuals(&[], &[0.9], "t").is_err());
        assert!(ConformalCalibration::from_residuals(&[1.0], &[0.9], "t").is_err());
    }

    #[test]
    fn json_round_trip_and_old_json_without_residuals() {
        let c = ConformalCalibration::from_residuals(&[3.0, 1.0, 2.0], &[0.5], "val").unwrap();
        let back: ConformalCalibration =
            serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        let hand: ConformalCalibration = serde_json::from_str(
            r#"{"source":"x","n":5,"levels":[{"coverage":0.9,"half_width":4.5}]}"#,
        )
        .unwrap();
        assert_eq!(hand.half_width(0.9), Some(4.5));
        assert_eq!(hand.half_width(0.8), None);
        hand.validate().unwrap();
    }
}
