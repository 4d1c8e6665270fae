//! [`PopularityTracker`]: the study's model run statefully, one window at a time, never
//! re-reading the past. The plugin's worker and `analyze` both use it, so they agree.
//!
//! Per window (one embedding every 0.96 s):
//! - **integrated**: the sequence encoder steps its LSTM state with the new embedding (the
//!   code then summarises the whole play so far) and the head maps that code plus the
//!   feature code to popularity;
//! - **momentary**: the same head on the code of this window alone (one step from a fresh
//!   state), i.e. what the last ~3 s of audio suggest.
//!
//! The low-level features need the whole song (their CQT uses the song's tuning); until
//! [`PopularityTracker::set_features`] provides them, the feature code is computed from the
//! training mean of each feature (the normaliser's shift), i.e. "an average song".
//! Estimates are on Spotify's 0-100 scale.

use std::sync::Arc;

use candle_core::{Device, Tensor};
use chorder_models::bundle::{hex, BundleError, ModelBundle};
use chorder_models::regressor::PopularityModel;
use chorder_models::seq_autoencoder::SeqEncoderState;

use crate::shared::{shared_by_hash, SharedCache};

/// A popularity model bundle, loaded once per process.
pub struct PopularityHead {
    bundle: Arc<ModelBundle>,
    model: PopularityModel,
    mean_features: Tensor,
    id: String,
}

impl PopularityHead {
    /// The process-wide head for `bundle` (same content → same `Arc`).
    pub fn shared(bundle: Arc<ModelBundle>) -> Result<Arc<Self>, BundleError> {
        static CACHE: SharedCache<PopularityHead> = SharedCache::new();
        let key = bundle.content_sha256();
        shared_by_hash(&CACHE, key, || {
            let model = PopularityModel::from_bundle(&bundle)?;
            let mean_features = model
                .feat_ae
                .normalizer()
                .shift
                .unsqueeze(0)
                .map_err(|e| BundleError::Invalid(e.to_string()))?;
            let id = format!("{}-{}", bundle.meta().model_kind, &hex(&key)[..16]);
            Ok(Self {
                bundle,
                model,
                mean_features,
                id,
            })
        })
    }

    /// Model kind and the first 16 hex digits of the bundle's sha256.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The bundle (metadata: provenance, whether it is a demo model, metrics).
    pub fn bundle(&self) -> &Arc<ModelBundle> {
        &self.bundle
    }

    /// The network.
    pub fn model(&self) -> &PopularityModel {
        &self.model
    }

    /// Number of low-level features the model expects.
    pub fn feature_dim(&self) -> usize {
        self.model.feat_ae.config().input_dim
    }
}

/// Popularity after one window, 0-100.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// From this window alone.
    pub momentary: f32,
    /// From every window so far.
    pub integrated: f32,
}

/// The stateful estimate for one song.
pub struct PopularityTracker {
    head: Arc<PopularityHead>,
    state: SeqEncoderState,
    features: Option<Tensor>,
    /// Sequence code after the last window (the state's summary of the song so far).
    last_code: Option<Tensor>,
    windows: u64,
}

fn err(e: candle_core::Error) -> String {
    e.to_string()
}

impl PopularityTracker {
    /// A fresh tracker (zero LSTM state, average-song features).
    pub fn new(head: Arc<PopularityHead>) -> Result<Self, String> {
        let state = head.model.zero_state().map_err(err)?;
        Ok(Self {
            head,
            state,
            features: None,
            last_code: None,
            windows: 0,
        })
    }

    /// The head in use.
    pub fn head(&self) -> &Arc<PopularityHead> {
        &self.head
    }

    /// Windows seen since the last reset.
    pub fn windows(&self) -> u64 {
        self.windows
    }

    /// Uses these raw low-level features (the 207 SpotGenTrack columns) from now on.
    pub fn set_features(&mut self, features: &[f32]) -> Result<(), String> {
        let want = self.head.feature_dim();
        if features.len() != want {
            return Err(format!(
                "model expects {want} features, got {}",
                features.len()
            ));
        }
        self.features = Some(Tensor::from_slice(features, (1, want), &Device::Cpu).map_err(err)?);
        Ok(())
    }

    /// Steps the sequence encoder with one window embedding and returns both estimates.
    pub fn step(&mut self, embedding: &[f32]) -> Result<Estimate, String> {
        let model = &self.head.model;
        let window =
            Tensor::from_slice(embedding, (1, embedding.len()), &Device::Cpu).map_err(err)?;
        let integrated_code = model.step(&mut self.state, &window).map_err(err)?;
        let mut fresh = model.zero_state().map_err(err)?;
        let momentary_code = model.step(&mut fresh, &window).map_err(err)?;
        self.windows += 1;
        let estimate = Estimate {
            momentary: self.predict(&momentary_code)?,
            integrated: self.predict(&integrated_code)?,
        };
        self.last_code = Some(integrated_code);
        Ok(estimate)
    }

    /// The integrated estimate for the current state without a new window (e.g. after new
    /// features arrive at the end of a song). `None` before the first window.
    pub fn current(&self) -> Result<Option<f32>, String> {
        match &self.last_code {
            Some(code) => self.predict(code).map(Some),
            None => Ok(None),
        }
    }

    fn predict(&self, code: &Tensor) -> Result<f32, String> {
        let features = self.features.as_ref().unwrap_or(&self.head.mean_features);
        let y = self
            .head
            .model
            .predict_from_codes(code, features)
            .map_err(err)?
            .flatten_all()
            .map_err(err)?
            .to_vec1::<f32>()
            .map_err(err)?;
        Ok(100.0 * y[0])
    }

    /// Back to the start of a song (state and features cleared).
    pub fn reset(&mut self) -> Result<(), String> {
        self.state = self.head.model.zero_state().map_err(err)?;
        self.features = None;
        self.last_code = None;
        self.windows = 0;
        Ok(())
    }
}
