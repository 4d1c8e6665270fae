//! What the worker does with each log-mel patch.
//!
//! Input: one [`LogMelPatch`] at a time from `chorder_engine::FrontEndStream` (musicnn
//! preset: `[n_frames <= 187][96]` log-mel values, a new patch every 60 frames = 0.96 s).
//! Output: an optional [`WindowEstimate`] for that window.
//!
//! [`crate::model_analyzer::ModelAnalyzer`] runs the models (musicnn embedding and tags, the
//! stateful popularity tracker of `chorder-analysis`, the same code as `cargo xtask analyze`);
//! [`LevelAnalyzer`] reports only the patch's mean log-mel level when no model could load.

use chorder_engine::LogMelPatch;

use crate::meter::{TagProb, MAX_TAGS};

/// The result of analysing one window (one patch).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WindowEstimate {
    /// Popularity estimate for this window, 0..=100; `None` when the analyzer has no model.
    pub popularity: Option<f32>,
    /// Estimate for the whole play so far, 0..=100, when the analyzer tracks one itself (the
    /// stateful model does); `None` lets the worker average the window estimates.
    pub integrated: Option<f32>,
    /// Mean log-mel value of the patch (front-end log units); see [`mean_log_mel`].
    pub level: Option<f32>,
    /// Most probable tags, most probable first; `n_tags` entries are valid.
    pub tags: [TagProb; MAX_TAGS],
    /// Valid entries of `tags`.
    pub n_tags: usize,
}

/// Turns log-mel patches into window estimates. Runs on the analysis worker thread (never
/// on the audio thread), so it may allocate and take its time, within real time on average:
/// one patch per 0.96 s of audio for musicnn.
pub trait Analyzer: Send {
    /// Short name shown in the GUI: the model's name, or text saying there is none.
    fn name(&self) -> &str;

    /// Whether [`WindowEstimate::popularity`] can ever be `Some`.
    fn has_model(&self) -> bool;

    /// Whether the model is a demo (not trained on real popularity data); the GUI shows a
    /// badge.
    fn is_demo(&self) -> bool {
        false
    }

    /// Half-width, popularity points, of the model's interval of
    /// [`chorder_analysis::uncertainty::DEFAULT_COVERAGE`] (90 %) around an estimate: the
    /// split-conformal calibration stored in its bundle (`None`: the bundle has none).
    fn interval_half_width(&self) -> Option<f32> {
        None
    }

    /// Tag vocabulary: [`TagProb::index`] indexes into it. Empty without a tagging model.
    fn tag_names(&self) -> &[String] {
        &[]
    }

    /// Analyses one patch. `None` means no estimate for this window (e.g. the model needs
    /// more context first).
    fn on_patch(&mut self, patch: &LogMelPatch) -> Option<WindowEstimate>;

    /// Sees the mono input at `sample_rate` Hz, each block before the front end turns it
    /// into patches (the model analyzer computes its running low-level features here).
    fn on_audio(&mut self, _sample_rate: u32, _block: &[f32]) {}

    /// Forgets any state carried from patch to patch (the stream restarted).
    fn reset(&mut self) {}
}

/// Mean of all log-mel values of a patch (front-end log units; `log10(10000 mel + 1)` for
/// musicnn). `None` for an empty patch.
pub fn mean_log_mel(patch: &LogMelPatch) -> Option<f32> {
    if patch.data.is_empty() {
        return None;
    }
    let sum: f64 = patch.data.iter().map(|&v| v as f64).sum();
    Some((sum / patch.data.len() as f64) as f32)
}

/// The analyzer used when no model is loaded: no popularity, no tags, only the patch's mean
/// log-mel level. Its name says so, so the GUI never shows a made-up estimate.
#[derive(Debug, Clone)]
pub struct LevelAnalyzer {
    name: String,
}

impl LevelAnalyzer {
    /// A level-only analyzer whose GUI name is `name` (e.g. "no model loaded").
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }
}

impl Default for LevelAnalyzer {
    fn default() -> Self {
        Self::new("no model loaded")
    }
}

impl Analyzer for LevelAnalyzer {
    fn name(&self) -> &str {
        &self.name
    }

    fn has_model(&self) -> bool {
        false
    }

    fn on_patch(&mut self, patch: &LogMelPatch) -> Option<WindowEstimate> {
        Some(WindowEstimate {
            level: mean_log_mel(patch),
            ..WindowEstimate::default()
        })
    }
}

/// The analyzer for a model path (the persisted `model_path` state). Called on the worker
/// thread when it starts and when the GUI asks for a reload.
///
/// An empty path gives the built-in models (MSD musicnn + the demo popularity head, marked
/// as a demo); a path loads that popularity bundle with the built-in musicnn. A model that
/// cannot be loaded gives a [`LevelAnalyzer`] whose name says why, never a made-up estimate.
pub fn make_analyzer(model_path: &str) -> Box<dyn Analyzer> {
    let path = model_path.trim();
    let loaded = if path.is_empty() {
        crate::model_analyzer::ModelAnalyzer::builtin()
    } else {
        crate::model_analyzer::ModelAnalyzer::from_file(std::path::Path::new(path))
    };
    match loaded {
        Ok(a) => Box::new(a),
        Err(e) => {
            let file = std::path::Path::new(path)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.to_owned());
            Box::new(LevelAnalyzer::new(format!("model not loaded: {file}: {e}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(data: Vec<f32>) -> LogMelPatch {
        LogMelPatch {
            index: 0,
            end_frame: 2,
            n_frames: 2,
            n_mels: data.len() / 2,
            data,
        }
    }

    #[test]
    fn level_analyzer_reports_mean_and_no_popularity() {
        let mut a = LevelAnalyzer::default();
        let e = a.on_patch(&patch(vec![1.0, 2.0, 3.0, 6.0])).unwrap();
        assert_eq!(e.level, Some(3.0));
        assert_eq!(e.popularity, None);
        assert_eq!(e.n_tags, 0);
        assert!(!a.has_model());
        assert_eq!(mean_log_mel(&patch(vec![])), None);
    }

    #[test]
    fn make_analyzer_loads_the_builtin_demo_and_is_honest_about_failures() {
        let builtin = make_analyzer("");
        assert!(builtin.has_model());
        assert!(builtin.is_demo(), "{}", builtin.name());
        assert_eq!(builtin.tag_names().len(), 50);
        let a = make_analyzer("/models/hit.safetensors");
        assert!(!a.has_model());
        assert!(a.name().contains("hit.safetensors"), "{}", a.name());
        assert!(a.name().contains("not loaded"));
    }
}
