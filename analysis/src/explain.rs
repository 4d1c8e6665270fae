//! Explanation of an estimate by the change of the running estimate.
//!
//! The integrated estimate after window `k` summarises the song up to that window's end
//! `t_k`; its change `integrated_k - integrated_(k-1)` is what the audio between `t_(k-1)`
//! and `t_k` did to the estimate. Consecutive windows that move it the same way form a
//! [`Section`]: a time range that raised or lowered the estimate, by the sum of their
//! changes. The changes telescope: over all sections they add up to the last integrated
//! estimate minus the first (the first window sets the starting point).

use serde::{Deserialize, Serialize};

use crate::offline::TimelinePoint;

/// A time range of the song that moved the running estimate one way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    /// Start, seconds (end of the window before the section).
    pub start: f64,
    /// End, seconds (end of the section's last window).
    pub end: f64,
    /// Change of the integrated estimate over the section, popularity points (0-100 scale);
    /// positive raises, negative lowers.
    pub change: f32,
}

/// Per-window changes of the integrated estimate: `(start, end, change)` for windows 2..n
/// (empty without estimates).
pub fn window_changes(timeline: &[TimelinePoint]) -> Vec<(f64, f64, f32)> {
    timeline
        .windows(2)
        .filter_map(|w| match (w[0].integrated, w[1].integrated) {
            (Some(a), Some(b)) => Some((w[0].t, w[1].t, b - a)),
            _ => None,
        })
        .collect()
}

/// Sections of same-sign change, in time order (windows with zero change split sections).
pub fn sections(timeline: &[TimelinePoint]) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    let mut last_sign = 0i8;
    for (start, end, change) in window_changes(timeline) {
        let sign = if change > 0.0 {
            1
        } else if change < 0.0 {
            -1
        } else {
            0
        };
        match out.last_mut() {
            Some(s) if sign != 0 && sign == last_sign && s.end == start => {
                s.end = end;
                s.change += change;
            }
            _ if sign != 0 => out.push(Section { start, end, change }),
            _ => {}
        }
        last_sign = sign;
    }
    out
}

/// The `k` sections that raised the estimate most and the `k` that lowered it most
/// (each list by size of change, largest first).
pub fn strongest(sections: &[Section], k: usize) -> (Vec<Section>, Vec<Section>) {
    let mut up: Vec<Section> = sections
        .iter()
        .filter(|s| s.change > 0.0)
        .cloned()
        .collect();
    let mut down: Vec<Section> = sections
        .iter()
        .filter(|s| s.change < 0.0)
        .cloned()
        .collect();
    up.sort_by(|a, b| b.change.total_cmp(&a.change));
    down.sort_by(|a, b| a.change.total_cmp(&b.change));
    up.truncate(k);
    down.truncate(k);
    (up, down)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tl(values: &[f32]) -> Vec<TimelinePoint> {
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| TimelinePoint {
                t: 0.96 * (i + 1) as f64,
                momentary: Some(v),
                integrated: Some(v),
            })
            .collect()
    }

    #[test]
    fn sections_on_a_known_timeline() {
        // 50 → 52 → 55 (up 5 over windows 2-3), → 54 → 50 (down 5), flat, → 51 (up 1).
        let s = sections(&tl(&[50.0, 52.0, 55.0, 54.0, 50.0, 50.0, 51.0]));
        let got: Vec<(f64, f64, f32)> = s.iter().map(|s| (s.start, s.end, s.change)).collect();
        let t = |k: usize| 0.96 * k as f64;
        assert_eq!(
            got,
            vec![(t(1), t(3), 5.0), (t(3), t(5), -5.0), (t(6), t(7), 1.0)]
        );
        let total: f32 = s.iter().map(|s| s.change).sum();
        assert_eq!(total, 51.0 - 50.0);
        let (up, down) = strongest(&s, 1);
        assert_eq!((up[0].change, down[0].change), (5.0, -5.0));
        assert!(sections(&tl(&[40.0])).is_empty());
    }
}
