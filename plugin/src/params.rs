//! Host-visible parameters and the state saved with the DAW project.

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use nice_plug::prelude::*;
use serde::{Deserialize, Serialize};

use crate::meter::{HistoryPoint, MAX_HISTORY};
use crate::worker::Shared;

/// Default smoothing time constant of the momentary estimate, seconds.
pub const DEFAULT_SMOOTHING_S: f32 = 3.0;

/// The analysis results saved with the project (so the history survives a DAW reload).
///
/// This is also how a host reads the estimate back: nice-plug 0.4 has no output (read-only,
/// plugin-written) parameters in either format (its only read-only parameters are hidden
/// ones, and a plugin may not change a parameter's value behind the host's back), so the
/// estimate is not a VST3 output parameter nor a CLAP parameter. It is in the plugin state
/// instead (CLAP `state` extension, VST3 `IComponent::getState`): nice-plug's JSON state
/// object `{version, params, fields}` holds this struct, as a JSON string, in
/// `fields.history` (the CLAP stream is the JSON's byte length as a little-endian `u64`,
/// then the JSON). The worker rewrites it after
/// every chunk it takes from the ring, so `samples_received` tells a host when the analysis
/// has caught up with the audio it sent (analysis complete).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PersistedAnalysis {
    /// Recent windows, oldest first, at most [`MAX_HISTORY`].
    pub history: Vec<HistoryPoint>,
    /// Sum of every window's popularity (0..=100 each) since the last reset.
    pub integrated_sum: f64,
    /// Windows that had a popularity estimate since the last reset.
    pub integrated_count: u64,
    /// Windows analysed since the last reset.
    pub windows: u64,
    /// Seconds of audio analysed since the last reset.
    pub seconds_analysed: f64,
    /// The momentary estimate the meter shows (smoothed with the `smoothing` parameter),
    /// 0..=100; `None` without a model or before the first window.
    pub momentary: Option<f32>,
    /// The integrated estimate the meter shows (the stateful model's estimate for the whole
    /// play so far), 0..=100; `None` without a model or before the first window.
    pub integrated: Option<f32>,
    /// The model's 90 % split-conformal interval `[low, high]` around `integrated` (0..=100);
    /// `None` when the model's bundle carries no calibration or before the first window.
    pub interval: Option<[f32; 2]>,
    /// Mono samples (at the host rate) the worker has taken from the ring since the last
    /// reset, analysed or (while frozen) skipped. Equal to what the host sent minus
    /// `ring_overflows` once the worker has caught up.
    pub samples_received: u64,
    /// Input samples dropped because the ring to the worker was full, since the last reset.
    pub ring_overflows: u64,
    /// Name of the model that produced the estimates (as the meter shows it).
    pub model_name: String,
}

impl PersistedAnalysis {
    /// Keeps only the newest [`MAX_HISTORY`] points (a hand-edited state may hold more).
    pub fn truncated(mut self) -> Self {
        if self.history.len() > MAX_HISTORY {
            self.history.drain(..self.history.len() - MAX_HISTORY);
        }
        self
    }
}

/// The plugin's parameters and persisted fields.
#[derive(Params)]
pub struct ChorderParams {
    /// Time constant of the momentary estimate's exponential smoothing over windows,
    /// seconds (0 = the latest window alone).
    #[id = "smoothing"]
    pub smoothing: FloatParam,
    /// Hold the meter: incoming audio is drained but not analysed.
    #[id = "freeze"]
    pub freeze: BoolParam,
    /// Reset trigger: switching it on clears the analysis (estimates, counters, history).
    #[id = "reset"]
    pub reset: BoolParam,
    /// Path of the model bundle to load (empty: none).
    #[persist = "model-path"]
    pub model_path: Arc<RwLock<String>>,
    /// History and integrated estimate, kept current by the worker.
    #[persist = "history"]
    pub history: Arc<RwLock<PersistedAnalysis>>,
}

impl ChorderParams {
    /// Parameters whose reset trigger signals `shared`'s worker.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            smoothing: FloatParam::new(
                "Smoothing",
                DEFAULT_SMOOTHING_S,
                FloatRange::Skewed {
                    min: 0.0,
                    max: 60.0,
                    factor: FloatRange::skew_factor(-1.5),
                },
            )
            .with_unit(" s")
            .with_step_size(0.1),
            freeze: BoolParam::new("Freeze", false),
            reset: BoolParam::new("Reset", false).with_callback(Arc::new(move |on| {
                if on {
                    shared.user_resets.fetch_add(1, Ordering::AcqRel);
                }
            })),
            model_path: Arc::new(RwLock::new(String::new())),
            history: Arc::new(RwLock::new(PersistedAnalysis::default())),
        }
    }
}
