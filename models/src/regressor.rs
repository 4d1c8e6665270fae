//! The study's popularity regressor and the full model it completes.
//!
//! Mirrors "Autoen-chorder" (`shared/study/autoen-chorder-blog.txt`, "Final Architecture",
//! "Finding the Best Model"): the two 20-d codes are concatenated (the blog says "added
//! together … 40 total features", i.e. a concatenation) and passed through a feed-forward
//! network; the study tried 7, 9 and 12 linear layers. Output: **sigmoid**, so predictions lie
//! in (0, 1) on the popularity/100 scale.
//!
//! ```text
//! [seq code (20) | feature code (20)] = [B, 40] ─MLP (ReLU between)─▶ sigmoid ─▶ [B] in (0, 1)
//! ```
//!
//! [`PopularityModel`] bundles the sequence autoencoder (`seq_ae.*`), the feature
//! autoencoder (`feat_ae.*`) and this head (`head.*`) under one [`VarBuilder`]: the
//! plugin streams windows through [`PopularityModel::step`] and calls
//! [`PopularityModel::predict_from_codes`].

use crate::bundle::{BundleError, ModelBundle};
use crate::feature_autoencoder::{FeatureAutoencoder, FeatureAutoencoderConfig};
use crate::mlp::{Activation, Mlp, MlpConfig};
use crate::seq_autoencoder::{SeqAutoencoder, SeqAutoencoderConfig, SeqEncoderState};
use candle_core::{Result, Tensor, D};
use candle_nn::VarBuilder;
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// Shape of the regression head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegressorConfig {
    /// Input width (the two codes concatenated: 40).
    pub input_dim: usize,
    /// Hidden widths; `hidden_dims.len() + 1` linear layers in all (study: 7, 9 or 12).
    pub hidden_dims: Vec<usize>,
    /// Dropout after every hidden layer during training (0 = none).
    #[serde(default)]
    pub dropout: f32,
}

impl Default for RegressorConfig {
    /// Seven linear layers: 40 → 64 → 64 → 48 → 32 → 24 → 12 → 1.
    fn default() -> Self {
        Self {
            input_dim: 40,
            hidden_dims: vec![64, 64, 48, 32, 24, 12],
            dropout: 0.0,
        }
    }
}

impl RegressorConfig {
    /// A head with `n_linear` linear layers tapering linearly from `width` down to ~8.
    pub fn with_depth(input_dim: usize, n_linear: usize, width: usize) -> Self {
        let n_hidden = n_linear.saturating_sub(1);
        let hidden_dims = (0..n_hidden)
            .map(|i| {
                let frac = if n_hidden > 1 {
                    i as f64 / (n_hidden - 1) as f64
                } else {
                    0.0
                };
                (width as f64 + frac * (8.0 - width as f64))
                    .round()
                    .max(1.0) as usize
            })
            .collect();
        Self {
            input_dim,
            hidden_dims,
            dropout: 0.0,
        }
    }
}

/// The regression head (see the module doc).
#[derive(Debug, Clone)]
pub struct Regressor {
    mlp: Mlp,
}

impl Regressor {
    /// Loads linear layers `0..=hidden_dims.len()` from `vb.pp(i)`.
    pub fn load(cfg: &RegressorConfig, vb: VarBuilder) -> Result<Self> {
        let mut dims = vec![cfg.input_dim];
        dims.extend(&cfg.hidden_dims);
        dims.push(1);
        let n_hidden = cfg.hidden_dims.len();
        let mlp = Mlp::load(
            MlpConfig {
                dims,
                hidden: Activation::Relu,
                output: Activation::Sigmoid,
                dropout: cfg.dropout,
                dropout_layers: n_hidden,
            },
            vb,
        )?;
        Ok(Self { mlp })
    }

    /// Codes `[B, input_dim]` → popularity `[B]` in (0, 1) (inference, no dropout).
    pub fn forward(&self, codes: &Tensor) -> Result<Tensor> {
        self.mlp.forward(codes)?.squeeze(D::Minus1)
    }

    /// As [`Self::forward`], with dropout drawn from `rng` when given (training).
    pub fn forward_t(&self, codes: &Tensor, rng: Option<&mut dyn RngCore>) -> Result<Tensor> {
        self.mlp.forward_t(codes, rng)?.squeeze(D::Minus1)
    }
}

/// `model_kind` of a bundle holding a [`PopularityModel`].
pub const POPULARITY_KIND: &str = "chorder_popularity";

/// The full study model's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct PopularityModelConfig {
    /// Sequence autoencoder over window embeddings.
    pub seq: SeqAutoencoderConfig,
    /// Feature autoencoder over the low-level feature vector.
    pub features: FeatureAutoencoderConfig,
    /// Regression head; its `input_dim` must be `seq.code_dim + features.code_dim`.
    pub head: RegressorConfig,
}

/// Sequence AE + feature AE + head (see the module doc); names `seq_ae.*`, `feat_ae.*`,
/// `head.*`.
#[derive(Debug, Clone)]
pub struct PopularityModel {
    /// Sequence autoencoder (its encoder gives the 20-d sequence code).
    pub seq_ae: SeqAutoencoder,
    /// Feature autoencoder (its encoder gives the 20-d feature code).
    pub feat_ae: FeatureAutoencoder,
    /// Regression head over the concatenated codes.
    pub head: Regressor,
    cfg: PopularityModelConfig,
}

impl PopularityModel {
    /// Loads the three parts from `vb.pp("seq_ae" | "feat_ae" | "head")`.
    pub fn load(cfg: PopularityModelConfig, vb: VarBuilder) -> Result<Self> {
        let want = cfg.seq.code_dim + cfg.features.code_dim;
        if cfg.head.input_dim != want {
            candle_core::bail!(
                "head input_dim {} != seq code {} + feature code {}",
                cfg.head.input_dim,
                cfg.seq.code_dim,
                cfg.features.code_dim
            );
        }
        Ok(Self {
            seq_ae: SeqAutoencoder::load(cfg.seq.clone(), vb.pp("seq_ae"))?,
            feat_ae: FeatureAutoencoder::load(cfg.features.clone(), vb.pp("feat_ae"))?,
            head: Regressor::load(&cfg.head, vb.pp("head"))?,
            cfg,
        })
    }

    /// Loads a `chorder_popularity` bundle ([`POPULARITY_KIND`]): the config comes from the
    /// bundle's `model_config`, the weights from its tensors.
    pub fn from_bundle(bundle: &ModelBundle) -> std::result::Result<Self, BundleError> {
        bundle.expect_kind(POPULARITY_KIND)?;
        let cfg: PopularityModelConfig = serde_json::from_value(bundle.meta().model_config.clone())
            .map_err(|e| {
                BundleError::BadMetadata(format!("model_config of a {POPULARITY_KIND} bundle: {e}"))
            })?;
        Ok(Self::load(cfg, bundle.var_builder())?)
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &PopularityModelConfig {
        &self.cfg
    }

    /// Concatenated codes `[B, 40]` of a padded embedding batch `[B, T, D]` (with lengths)
    /// and raw features `[B, F]`.
    pub fn codes(&self, emb: &Tensor, lengths: &[usize], features: &Tensor) -> Result<Tensor> {
        let s = self.seq_ae.encode(emb, lengths)?;
        let f = self.feat_ae.encode(features)?;
        Tensor::cat(&[&s, &f], 1)
    }

    /// Popularity `[B]` in (0, 1).
    pub fn forward(&self, emb: &Tensor, lengths: &[usize], features: &Tensor) -> Result<Tensor> {
        self.head.forward(&self.codes(emb, lengths, features)?)
    }

    /// Fresh streaming state for one track.
    pub fn zero_state(&self) -> Result<SeqEncoderState> {
        self.seq_ae.zero_state(1)
    }

    /// Streaming: one window embedding `[1, D]` → sequence code `[1, C]` so far.
    pub fn step(&self, state: &mut SeqEncoderState, window: &Tensor) -> Result<Tensor> {
        self.seq_ae.step(state, window)
    }

    /// Popularity `[B]` from a sequence code `[B, C_s]` and raw features `[B, F]`.
    pub fn predict_from_codes(&self, seq_code: &Tensor, features: &Tensor) -> Result<Tensor> {
        let f = self.feat_ae.encode(features)?;
        self.head.forward(&Tensor::cat(&[seq_code, &f], 1)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::{init_varmap, InitConfig, DTYPE};
    use candle_core::Device;
    use candle_nn::VarMap;

    #[test]
    fn depth_and_range() {
        let cfg = RegressorConfig::with_depth(40, 9, 64);
        assert_eq!(cfg.hidden_dims.len(), 8);
        assert_eq!(cfg.hidden_dims[0], 64);
        assert_eq!(*cfg.hidden_dims.last().unwrap(), 8);
        assert_eq!(RegressorConfig::default().hidden_dims.len() + 1, 7);
        let vm = VarMap::new();
        let r = Regressor::load(&cfg, VarBuilder::from_varmap(&vm, DTYPE, &Device::Cpu)).unwrap();
        init_varmap(&vm, &InitConfig::default()).unwrap();
        let n_weights = vm
            .data()
            .lock()
            .unwrap()
            .keys()
            .filter(|k| k.ends_with("weight"))
            .count();
        assert_eq!(n_weights, 9);
        let x = Tensor::randn(0f32, 100.0, (16, 40), &Device::Cpu).unwrap();
        let y: Vec<f32> = r.forward(&x).unwrap().to_vec1().unwrap();
        assert_eq!(y.len(), 16);
        assert!(y.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn full_model_streaming_equals_batch() {
        let cfg = PopularityModelConfig {
            seq: SeqAutoencoderConfig {
                emb_dim: 6,
                lstm_dims: vec![8],
                linear_dims: vec![],
                code_dim: 4,
            },
            features: FeatureAutoencoderConfig {
                input_dim: 5,
                hidden_dims: vec![7],
                code_dim: 4,
                ..Default::default()
            },
            head: RegressorConfig {
                input_dim: 8,
                hidden_dims: vec![6],
                dropout: 0.0,
            },
        };
        let vm = VarMap::new();
        let m =
            PopularityModel::load(cfg, VarBuilder::from_varmap(&vm, DTYPE, &Device::Cpu)).unwrap();
        init_varmap(&vm, &InitConfig::default()).unwrap();
        let emb = Tensor::randn(0f32, 1.0, (1, 5, 6), &Device::Cpu).unwrap();
        let feats = Tensor::randn(0f32, 1.0, (1, 5), &Device::Cpu).unwrap();
        let batch: f32 = m
            .forward(&emb, &[5], &feats)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_scalar()
            .unwrap();
        let mut st = m.zero_state().unwrap();
        let mut code = None;
        for t in 0..5 {
            code = Some(
                m.step(&mut st, &emb.narrow(1, t, 1).unwrap().squeeze(1).unwrap())
                    .unwrap(),
            );
        }
        let streamed: f32 = m
            .predict_from_codes(&code.unwrap(), &feats)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!((batch - streamed).abs() < 1e-5, "{batch} vs {streamed}");
        let bad = PopularityModelConfig::default();
        let mut bad2 = bad.clone();
        bad2.head.input_dim = 41;
        assert!(PopularityModel::load(
            bad2,
            VarBuilder::from_varmap(&VarMap::new(), DTYPE, &Device::Cpu)
        )
        .is_err());
    }
}
