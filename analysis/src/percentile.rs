//! [`Reference`]: where an estimate lies within an earlier catalog's estimates (`--reference`).
//!
//! The percentile is the mid-rank one: `100 * (below + equal / 2) / n`, where `below` and
//! `equal` count the catalog's estimates strictly below and equal to the value. A value
//! above the whole catalog is at 100, below it at 0, the catalog's median near 50.

use std::path::Path;

use crate::catalog::read_results;

/// The sorted estimates (0-100) of a reference catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    sorted: Vec<f32>,
}

impl Reference {
    /// A reference from estimates (non-finite values are dropped). `None` when none is left.
    pub fn new(estimates: impl IntoIterator<Item = f32>) -> Option<Self> {
        let mut sorted: Vec<f32> = estimates.into_iter().filter(|x| x.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f32::total_cmp);
        Some(Self { sorted })
    }

    /// The estimates of an earlier catalog run: a folder holding `results.jsonl`, or a
    /// `results.jsonl` file itself.
    pub fn load(path: &Path) -> Result<Self, String> {
        let dir = if path.is_dir() {
            path
        } else {
            path.parent().unwrap_or(Path::new("."))
        };
        let (results, _) = read_results(dir).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::new(results.values().filter_map(|r| r.estimate))
            .ok_or_else(|| format!("{}: no estimates in the reference results", path.display()))
    }

    /// Number of songs in the reference.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Always false (a reference holds at least one estimate).
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// Mid-rank percentile (0-100) of `x` within the reference.
    pub fn percentile(&self, x: f32) -> f32 {
        let below = self.sorted.partition_point(|&v| v < x);
        let not_above = self.sorted.partition_point(|&v| v <= x);
        let equal = not_above - below;
        100.0 * (below as f32 + 0.5 * equal as f32) / self.sorted.len() as f32
    }

    /// The reference's estimates, ascending.
    pub fn sorted(&self) -> &[f32] {
        &self.sorted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mid_rank_percentiles_on_known_values() {
        let r = Reference::new([40.0, 10.0, 30.0, 20.0, f32::NAN]).unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!(r.percentile(5.0), 0.0);
        assert_eq!(r.percentile(50.0), 100.0);
        assert_eq!(r.percentile(25.0), 50.0);
        // Equal to one of four: half of it counts.
        assert_eq!(r.percentile(30.0), 62.5);
        assert!(Reference::new([f32::NAN]).is_none());
    }
}
