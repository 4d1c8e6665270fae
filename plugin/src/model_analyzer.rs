//! [`ModelAnalyzer`]: the models behind the meter. Per patch (every 0.96 s): musicnn gives
//! the embedding and the 50 MSD tag probabilities; the stateful popularity tracker steps once
//! (never re-reading past audio) and gives the momentary (this window alone) and integrated
//! (the play so far) estimates, 0-100. The same code path as `cargo xtask analyze`.
//!
//! The low-level features come from the same input through
//! `chorder_analysis::live::LiveFeatureTrack` (bounded memory: 15 s segments combined),
//! applied at the same window boundaries as `analyze` applies them; until the first
//! segment is complete the estimate uses the training average of each feature.

use std::path::Path;
use std::sync::Arc;

use chorder_analysis::live::LiveFeatureTrack;
use chorder_analysis::uncertainty::{Calibration, DEFAULT_COVERAGE};
use chorder_analysis::{Embedder, PopularityHead, PopularityTracker};
use chorder_engine::LogMelPatch;
use chorder_models::builtin;
use chorder_models::bundle::ModelBundle;

use crate::analyzer::{mean_log_mel, Analyzer, WindowEstimate};
use crate::meter::{TagProb, MAX_TAGS};

/// Embedding network + popularity tracker. Weights are shared by every instance in the
/// process (`Embedder::shared`, `PopularityHead::shared`).
pub struct ModelAnalyzer {
    embedder: Arc<Embedder>,
    tracker: PopularityTracker,
    /// Running low-level features of the input (made at the first audio block, remade
    /// when the rate changes; `None` at rates the features do not support).
    live: Option<LiveFeatureTrack>,
    name: String,
    demo: bool,
    /// From the bundle's calibration at [`DEFAULT_COVERAGE`].
    half_width: Option<f32>,
}

impl ModelAnalyzer {
    /// The built-in MSD musicnn with the built-in demo popularity head.
    pub fn builtin() -> Result<Self, String> {
        let head = builtin::demo_popularity_bundle().map_err(|e| e.to_string())?;
        Self::new(head, "demo model (generated corpus)".into(), true)
    }

    /// A popularity bundle from a file, with the built-in musicnn.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let head = ModelBundle::load_file(path).map_err(|e| e.to_string())?;
        let name = path
            .file_stem()
            .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
        let demo = head.meta().provenance.source.contains("demo");
        Self::new(head, name, demo)
    }

    /// The embedding network (the process-wide instance for the built-in musicnn).
    pub fn embedder(&self) -> &Arc<Embedder> {
        &self.embedder
    }

    /// The popularity head (the process-wide instance for its bundle).
    pub fn head(&self) -> &Arc<PopularityHead> {
        self.tracker.head()
    }

    fn new(head: Arc<ModelBundle>, name: String, demo: bool) -> Result<Self, String> {
        let embedder = Embedder::shared(builtin::musicnn_bundle().map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        if head.meta().front_end != *embedder.front_end() {
            return Err("trained on another front end than the built-in musicnn".into());
        }
        // A bundle whose calibration cannot give 90 % shows no interval rather than failing.
        let half_width = Calibration::from_bundle(&head, DEFAULT_COVERAGE)
            .ok()
            .flatten()
            .map(|c| c.half_width);
        let head = PopularityHead::shared(head).map_err(|e| e.to_string())?;
        Ok(Self {
            half_width,
            tracker: PopularityTracker::new(head)?,
            live: None,
            embedder,
            name,
            demo,
        })
    }
}

impl Analyzer for ModelAnalyzer {
    fn name(&self) -> &str {
        &self.name
    }

    fn has_model(&self) -> bool {
        true
    }

    fn is_demo(&self) -> bool {
        self.demo
    }

    fn tag_names(&self) -> &[String] {
        self.embedder.tag_names()
    }

    fn interval_half_width(&self) -> Option<f32> {
        self.half_width
    }

    fn on_patch(&mut self, patch: &LogMelPatch) -> Option<WindowEstimate> {
        let window = self.embedder.embed(patch).ok()?;
        let fe = self.embedder.front_end();
        // The same expression as `SongAnalyzer` (bit-identical window times).
        let seconds_per_frame = fe.hop_length as f64 / fe.sample_rate as f64;
        let end_seconds = patch.end_frame as f64 * seconds_per_frame;
        let estimate = match self.live.as_mut() {
            Some(live) => live.step(&mut self.tracker, end_seconds, &window.embedding),
            None => self.tracker.step(&window.embedding),
        }
        .ok()?;
        let mut order: Vec<usize> = (0..window.tags.len()).collect();
        order.sort_by(|&a, &b| window.tags[b].total_cmp(&window.tags[a]));
        let mut tags = [TagProb::default(); MAX_TAGS];
        let n_tags = order.len().min(MAX_TAGS);
        for (slot, &i) in tags.iter_mut().zip(&order) {
            *slot = TagProb {
                index: i as u16,
                prob: window.tags[i],
            };
        }
        Some(WindowEstimate {
            popularity: Some(estimate.momentary),
            integrated: Some(estimate.integrated),
            level: mean_log_mel(patch),
            tags,
            n_tags,
        })
    }

    fn on_audio(&mut self, sample_rate: u32, block: &[f32]) {
        if self
            .live
            .as_ref()
            .is_none_or(|l| l.sample_rate() != sample_rate)
        {
            self.live = LiveFeatureTrack::new(sample_rate).ok();
        }
        if let Some(live) = self.live.as_mut() {
            live.push(block);
        }
    }

    fn reset(&mut self) {
        let _ = self.tracker.reset();
        if let Some(live) = self.live.as_mut() {
            live.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_analyzers_share_one_embedder_and_one_head() {
        let analyzers: Vec<ModelAnalyzer> =
            (0..16).map(|_| ModelAnalyzer::builtin().unwrap()).collect();
        let (e, h) = (analyzers[0].embedder(), analyzers[0].head());
        for a in &analyzers[1..] {
            assert!(Arc::ptr_eq(a.embedder(), e));
            assert!(Arc::ptr_eq(a.head(), h));
        }
        // The process-wide caches hold weak references: the analyzers are the only owners.
        assert_eq!(Arc::strong_count(e), 16);
        assert_eq!(Arc::strong_count(h), 16);
        drop(analyzers);
        // Freed with the last user, rebuilt on demand.
        let again = ModelAnalyzer::builtin().unwrap();
        assert_eq!(Arc::strong_count(again.embedder()), 1);
    }
}
