//! The data contract between the analysis worker and the editor.
//!
//! [`MeterState`] is everything the GUI shows, in one fixed-size struct: no heap data, so a
//! copy never allocates and the whole struct can travel through a lock-free triple buffer
//! (the worker writes it in place and publishes; the editor reads the latest complete copy).
//! Values are stored in their natural units; the editor decides how to draw them and never
//! writes back.

use serde::{Deserialize, Serialize};

/// Most tags a [`MeterState`] (and a [`crate::analyzer::WindowEstimate`]) carries.
pub const MAX_TAGS: usize = 8;
/// Most windows the history ring keeps (one per patch hop: 0.96 s for musicnn, so about
/// 8 minutes).
pub const MAX_HISTORY: usize = 512;
/// Most UTF-8 bytes of a [`ShortName`].
pub const MAX_NAME_BYTES: usize = 64;

/// A string of at most [`MAX_NAME_BYTES`] bytes stored inline (truncated at a character
/// boundary), so that it can live in a `Copy` struct.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ShortName {
    bytes: [u8; MAX_NAME_BYTES],
    len: u8,
}

impl ShortName {
    /// `s`, truncated to the last whole character that fits in [`MAX_NAME_BYTES`] bytes.
    pub fn new(s: &str) -> Self {
        let mut end = s.len().min(MAX_NAME_BYTES);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0u8; MAX_NAME_BYTES];
        bytes[..end].copy_from_slice(&s.as_bytes()[..end]);
        Self {
            bytes,
            len: end as u8,
        }
    }

    /// The stored text.
    pub fn as_str(&self) -> &str {
        // Built from a &str cut at a char boundary, so always valid UTF-8.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

impl Default for ShortName {
    fn default() -> Self {
        Self::new("")
    }
}

impl std::fmt::Debug for ShortName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

/// One tag of a tagging model's output.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TagProb {
    /// Index into the analyzer's tag vocabulary ([`crate::analyzer::Analyzer::tag_names`]).
    pub index: u16,
    /// Probability, 0..=1.
    pub prob: f32,
}

/// One analysed window (one log-mel patch) in the history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    /// The window's popularity estimate, 0..=100, or `None` when no model was loaded.
    pub popularity: Option<f32>,
    /// The window's mean log-mel value (front-end log units, e.g. `log10(10000 mel + 1)`
    /// for musicnn); a loudness-like level, not a popularity.
    pub level: Option<f32>,
}

/// The last [`MAX_HISTORY`] windows, oldest first, stored as a fixed-size ring.
#[derive(Clone, Copy, PartialEq)]
pub struct HistoryRing {
    points: [HistoryPoint; MAX_HISTORY],
    /// Index of the oldest point.
    start: usize,
    /// Valid points, `<= MAX_HISTORY`.
    len: usize,
}

impl Default for HistoryRing {
    fn default() -> Self {
        Self {
            points: [HistoryPoint::default(); MAX_HISTORY],
            start: 0,
            len: 0,
        }
    }
}

impl std::fmt::Debug for HistoryRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl HistoryRing {
    /// Appends a point, dropping the oldest one when full.
    pub fn push(&mut self, p: HistoryPoint) {
        if self.len < MAX_HISTORY {
            self.points[(self.start + self.len) % MAX_HISTORY] = p;
            self.len += 1;
        } else {
            self.points[self.start] = p;
            self.start = (self.start + 1) % MAX_HISTORY;
        }
    }

    /// Number of valid points.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no point has been pushed since the last clear.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets every point.
    pub fn clear(&mut self) {
        self.start = 0;
        self.len = 0;
    }

    /// The points, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = HistoryPoint> + '_ {
        (0..self.len).map(move |i| self.points[(self.start + i) % MAX_HISTORY])
    }
}

/// Everything the editor shows, published by the analysis worker after every window (and
/// at least every [`crate::worker::PUBLISH_INTERVAL`] so that counters stay live).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeterState {
    /// Smoothed popularity, 0..=100 (exponential smoothing over windows with the
    /// `smoothing` parameter as time constant); `None` without a model or before the first
    /// window.
    pub momentary: Option<f32>,
    /// Mean of every window's popularity since the last reset, 0..=100; `None` without a
    /// model or before the first window.
    pub integrated: Option<f32>,
    /// Smoothed mean log-mel level of the recent windows (front-end log units, see
    /// [`HistoryPoint::level`]); `None` before the first window.
    pub level: Option<f32>,
    /// Windows (log-mel patches) analysed since the last reset.
    pub windows: u64,
    /// Seconds of input audio (at the host rate) fed to the front end since the last reset.
    pub seconds_analysed: f64,
    /// Input samples dropped because the ring to the worker was full, since the last reset.
    pub ring_overflows: u64,
    /// Input samples that were NaN or infinite and were replaced by 0, since the last reset.
    pub non_finite_replaced: u64,
    /// Host sample rate the front end runs from, Hz (0 before activation).
    pub sample_rate: f32,
    /// What produces the estimates (a model name, or text saying there is none).
    pub model_name: ShortName,
    /// Whether the analyzer has a popularity model at all.
    pub has_model: bool,
    /// Whether that model is a demo (not trained on real popularity data).
    pub is_demo: bool,
    /// Half-width, points, of the model's 90 % interval around the integrated estimate
    /// (see [`crate::analyzer::Analyzer::interval_half_width`]); `None` without calibration.
    pub interval_half_width: Option<f32>,
    /// Whether the `freeze` parameter holds the meter (audio is drained but not analysed).
    pub frozen: bool,
    /// The latest window's top tags, most probable first; `n_tags` are valid.
    pub top_tags: [TagProb; MAX_TAGS],
    /// Valid entries of `top_tags`.
    pub n_tags: usize,
    /// Recent windows, oldest first.
    pub history: HistoryRing,
}

impl Default for MeterState {
    fn default() -> Self {
        Self {
            momentary: None,
            integrated: None,
            level: None,
            windows: 0,
            seconds_analysed: 0.0,
            ring_overflows: 0,
            non_finite_replaced: 0,
            sample_rate: 0.0,
            model_name: ShortName::new("no model loaded"),
            has_model: false,
            is_demo: false,
            interval_half_width: None,
            frozen: false,
            top_tags: [TagProb::default(); MAX_TAGS],
            n_tags: 0,
            history: HistoryRing::default(),
        }
    }
}

impl MeterState {
    /// The 90 % interval `[low, high]` (0..=100, clipped) around the integrated estimate;
    /// `None` without an estimate or without a calibrated model.
    pub fn interval(&self) -> Option<[f32; 2]> {
        let (v, h) = (self.integrated?, self.interval_half_width?);
        Some([(v - h).max(0.0), (v + h).min(100.0)])
    }

    /// The valid top tags.
    pub fn tags(&self) -> &[TagProb] {
        &self.top_tags[..self.n_tags.min(MAX_TAGS)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_name_truncates_at_char_boundary() {
        let long = "é".repeat(40); // 80 bytes
        let n = ShortName::new(&long);
        assert_eq!(n.as_str().len(), 64);
        assert!(long.starts_with(n.as_str()));
        assert_eq!(ShortName::new("musicnn").as_str(), "musicnn");
    }

    #[test]
    fn interval_needs_estimate_and_calibration_and_is_clipped() {
        let mut m = MeterState::default();
        assert_eq!(m.interval(), None);
        m.integrated = Some(90.0);
        assert_eq!(m.interval(), None, "no calibration");
        m.interval_half_width = Some(27.5);
        assert_eq!(m.interval(), Some([62.5, 100.0]));
        m.integrated = Some(10.0);
        assert_eq!(m.interval(), Some([0.0, 37.5]));
        m.integrated = None;
        assert_eq!(m.interval(), None, "no estimate yet");
    }

    #[test]
    fn history_ring_keeps_last_points_in_order() {
        let mut h = HistoryRing::default();
        for i in 0..MAX_HISTORY + 10 {
            h.push(HistoryPoint {
                popularity: Some(i as f32),
                level: None,
            });
        }
        assert_eq!(h.len(), MAX_HISTORY);
        let v: Vec<f32> = h.iter().map(|p| p.popularity.unwrap()).collect();
        assert_eq!(v[0], 10.0);
        assert_eq!(*v.last().unwrap(), (MAX_HISTORY + 9) as f32);
        assert!(v.windows(2).all(|w| w[1] == w[0] + 1.0));
        h.clear();
        assert!(h.is_empty());
    }
}
