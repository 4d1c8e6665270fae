//! One song, offline: the record `cargo xtask analyze` reports for it (schema
//! [`SCHEMA`]): duration, window count, overall estimate, the per-window timeline and the top
//! tags. The timeline comes from [`PopularityTracker::step`], the stateful computation the
//! plugin's worker runs, so for the same audio both give the same numbers.

use std::sync::Arc;

use chorder_engine::features::FeatureConfig;
use chorder_engine::AudioReader;
use serde::{Deserialize, Serialize};

use crate::embedder::Embedder;
use crate::explain::{sections, Section};
use crate::live::LiveFeatureTrack;
use crate::popularity::{PopularityHead, PopularityTracker};
use crate::song::{SongAnalyzer, Window};
use crate::uncertainty::Calibration;

/// Version of the JSON records; bumped on any incompatible change (a renamed or removed
/// field, a changed unit). New optional fields keep the version.
pub const SCHEMA: &str = "chorder.analysis/1";

/// One point of a song's timeline.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TimelinePoint {
    /// End of the window, seconds from the start of the song.
    pub t: f64,
    /// Estimate from this window alone, 0-100 (absent without a popularity model).
    pub momentary: Option<f32>,
    /// Estimate from the song so far, 0-100 (absent without a popularity model).
    pub integrated: Option<f32>,
}

/// The result for one song.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SongResult {
    /// The song's name as given (path, or `demo:...` for the built-in clip).
    pub file: String,
    /// Lower-case hex sha256 of the file's bytes (absent for in-memory clips).
    #[serde(default)]
    pub sha256: Option<String>,
    /// Duration, seconds.
    pub seconds: f64,
    /// Number of 0.96 s windows.
    pub windows: usize,
    /// Overall estimate 0-100 (whole song, its full features); absent without a model.
    pub estimate: Option<f32>,
    /// Split-conformal interval `[low, high]` (0-100, clipped) around `estimate` at the
    /// stated `coverage` ([`crate::uncertainty`]); absent when the model carries no
    /// calibration. Set by [`SongResult::set_interval`].
    #[serde(default)]
    pub interval: Option<[f32; 2]>,
    /// Stated coverage of `interval` (e.g. 0.9: about 9 in 10 songs like the model's
    /// held-out songs have their true popularity inside); absent with `interval`.
    #[serde(default)]
    pub coverage: Option<f32>,
    /// Percentile (0-100) of `estimate` within a reference catalog (`--reference`); set by
    /// the caller, absent otherwise.
    #[serde(default)]
    pub percentile: Option<f32>,
    /// Top tags of the embedding model: (name, mean probability over the windows).
    pub top_tags: Vec<(String, f32)>,
    /// One point per window, in time order.
    pub timeline: Vec<TimelinePoint>,
    /// Time ranges that raised or lowered the integrated estimate ([`crate::explain`]),
    /// in time order; empty without a popularity model.
    #[serde(default)]
    pub explanation: Vec<Section>,
    /// Decoder and input warnings (e.g. NaN samples replaced).
    pub warnings: Vec<String>,
}

impl SongResult {
    /// Sets `interval` and `coverage` from `calibration` around `estimate` (both cleared
    /// when either is absent).
    pub fn set_interval(&mut self, calibration: Option<&Calibration>) {
        let c = calibration.filter(|_| self.estimate.is_some());
        self.interval = c.zip(self.estimate).map(|(c, e)| c.interval(e));
        self.coverage = c.map(|c| c.coverage);
    }
}

/// Streams the song of `reader` through [`SongAnalyzer`] and, with a `head`, a fresh
/// [`PopularityTracker`] (one step per window, as the plugin does); at the end the tracker
/// gets the song's low-level features and gives the overall estimate. `name` becomes
/// [`SongResult::file`]; `top_tags` tags are kept. Errors are messages naming the song.
pub fn analyze_song(
    reader: &mut AudioReader,
    name: &str,
    embedder: &Arc<Embedder>,
    head: Option<&Arc<PopularityHead>>,
    top_tags: usize,
) -> Result<SongResult, String> {
    let mut song = SongAnalyzer::new(
        reader.path(),
        embedder.clone(),
        reader.sample_rate(),
        FeatureConfig::default(),
    )
    .map_err(|e| e.to_string())?;
    let mut tracker = head
        .map(|h| PopularityTracker::new(h.clone()))
        .transpose()?;
    // The running low-level features, exactly as the plugin's worker applies them.
    let mut live = LiveFeatureTrack::new(reader.sample_rate()).map_err(|e| e.to_string())?;
    let mut timeline = Vec::new();
    let mut block = Vec::new();
    let on_windows = |windows: Vec<Window>,
                      tracker: &mut Option<PopularityTracker>,
                      live: &mut LiveFeatureTrack,
                      timeline: &mut Vec<TimelinePoint>|
     -> Result<(), String> {
        for w in windows {
            let (momentary, integrated) = match tracker.as_mut() {
                Some(t) => {
                    let e = live.step(t, w.end_seconds, &w.output.embedding)?;
                    (Some(e.momentary), Some(e.integrated))
                }
                None => (None, None),
            };
            timeline.push(TimelinePoint {
                t: w.end_seconds,
                momentary,
                integrated,
            });
        }
        Ok(())
    };
    loop {
        block.clear();
        if !reader.next_block(&mut block).map_err(|e| e.to_string())? {
            break;
        }
        live.push(&block);
        let windows = song.push(&block).map_err(|e| e.to_string())?;
        on_windows(windows, &mut tracker, &mut live, &mut timeline)?;
    }
    let (last, summary) = song.finish().map_err(|e| e.to_string())?;
    on_windows(last, &mut tracker, &mut live, &mut timeline)?;
    let estimate = match tracker.as_mut() {
        Some(t) => {
            t.set_features(&summary.features.values)?;
            t.current()?
        }
        None => None,
    };
    let mut order: Vec<usize> = (0..summary.mean_tags.len()).collect();
    order.sort_by(|&a, &b| summary.mean_tags[b].total_cmp(&summary.mean_tags[a]));
    let names = embedder.tag_names();
    let mut warnings = reader.report().warnings();
    if summary.non_finite_replaced > 0 {
        warnings.push(format!(
            "{} NaN/Inf samples replaced by 0",
            summary.non_finite_replaced
        ));
    }
    Ok(SongResult {
        file: name.to_string(),
        sha256: None,
        seconds: summary.seconds,
        windows: summary.n_windows,
        estimate,
        interval: None,
        coverage: None,
        percentile: None,
        top_tags: order
            .iter()
            .take(top_tags)
            .map(|&i| {
                (
                    names.get(i).cloned().unwrap_or_else(|| format!("tag{i}")),
                    summary.mean_tags[i],
                )
            })
            .collect(),
        explanation: sections(&timeline),
        timeline,
        warnings,
    })
}
