//! HitMusicNet, the baseline (regression variant "model_1_A" with `compress='auto'`).
//!
//! Mirrors `dmgutierrez/hitmusicnet` @ `eb3c438`, `models/dnn_models.py` (`train_autoencoder`,
//! the regression model builder) and `analysis/popularity_prediction.py`, as summarised in
//! `shared/study/spotgentrack-hitmusicnet-notes.md` §3.2–3.4:
//!
//! ```text
//! x [B, n] ─min-max to [0,1] (input_norm)─▶ AE encoder n→n/2→n/3→n/5 (ReLU, code ReLU)
//!   ─min-max of the code (code_norm)─▶ head k→k→round(k/2)→round(k/3)→1
//!   (ReLU, dropout 0.25 after the first two hidden layers, sigmoid output) ─▶ [B] in (0, 1)
//! AE decoder (training only): code → n/3 → n/2 → n (ReLU, sigmoid output); loss MSE.
//! ```
//!
//! With `n = 228` this is 228-114-76-**45**-76-114-228 and 45-45-22-15-1. HitMusicNet
//! also rounds its scaled inputs to 3 decimals and fits its scalers on all data; the
//! trainer reproduces the scaling (fit on the training split) but not the rounding.
//!
//! Weight names: `input_norm.{shift,scale}`, `ae.enc.{i}.*`, `ae.dec.{i}.*`,
//! `code_norm.{shift,scale}`, `head.{i}.*`.

use crate::bundle::{BundleError, ModelBundle};
use crate::feature_autoencoder::Normalizer;
use crate::mlp::{Activation, Mlp, MlpConfig};
use candle_core::{Result, Tensor, D};
use candle_nn::VarBuilder;
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// `model_kind` of a bundle holding a [`HitMusicNet`].
pub const HITMUSICNET_KIND: &str = "hitmusicnet";

/// Sizes of HitMusicNet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HitMusicNetConfig {
    /// Input features `n` (HitMusicNet: 228).
    pub input_dim: usize,
    /// Autoencoder widths after the input: `[n/2, n/3, code]` (Python `int()` truncation).
    pub ae_dims: Vec<usize>,
    /// Head hidden widths `[k, round(k/2), round(k/3)]`, `k` = code size.
    pub head_dims: Vec<usize>,
    /// Dropout probability after the first two head layers (0.25).
    pub dropout: f32,
}

impl Default for HitMusicNetConfig {
    fn default() -> Self {
        Self::for_input(228)
    }
}

/// Python's `round` (banker's rounding: ties to even).
fn round_half_even(x: f64) -> usize {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && (r as i64) % 2 != 0 {
        (r - 1.0) as usize
    } else {
        r as usize
    }
}

impl HitMusicNetConfig {
    /// The `compress='auto'` sizes for `n` inputs: AE `[n/2, n/3, n/5]`, head
    /// `[k, round(k/2), round(k/3)]` with `k = n/5`.
    pub fn for_input(n: usize) -> Self {
        let k = n / 5;
        Self {
            input_dim: n,
            ae_dims: vec![n / 2, n / 3, k],
            head_dims: vec![
                k,
                round_half_even(k as f64 / 2.0),
                round_half_even(k as f64 / 3.0),
            ],
            dropout: 0.25,
        }
    }

    /// Code size `k`.
    pub fn code_dim(&self) -> usize {
        *self.ae_dims.last().unwrap_or(&self.input_dim)
    }
}

/// HitMusicNet (see the module doc).
#[derive(Debug, Clone)]
pub struct HitMusicNet {
    /// Min-max scaling of the raw input.
    pub input_norm: Normalizer,
    /// AE encoder `n → … → k`, ReLU everywhere (the code too).
    pub enc: Mlp,
    /// AE decoder `k → … → n`, ReLU hidden, sigmoid output.
    pub dec: Mlp,
    /// Min-max scaling of the code.
    pub code_norm: Normalizer,
    /// Regression head, sigmoid output.
    pub head: Mlp,
    cfg: HitMusicNetConfig,
}

impl HitMusicNet {
    /// Loads all parts from `vb` (names in the module doc).
    pub fn load(cfg: HitMusicNetConfig, vb: VarBuilder) -> Result<Self> {
        let mut enc_dims = vec![cfg.input_dim];
        enc_dims.extend(&cfg.ae_dims);
        let mut dec_dims = enc_dims.clone();
        dec_dims.reverse();
        let k = cfg.code_dim();
        let mut head_dims = vec![k];
        head_dims.extend(&cfg.head_dims);
        head_dims.push(1);
        let relu = Activation::Relu;
        Ok(Self {
            input_norm: Normalizer::load(cfg.input_dim, vb.pp("input_norm"))?,
            enc: Mlp::load(
                MlpConfig {
                    dims: enc_dims,
                    hidden: relu,
                    output: relu,
                    dropout: 0.0,
                    dropout_layers: 0,
                },
                vb.pp("ae.enc"),
            )?,
            dec: Mlp::load(
                MlpConfig {
                    dims: dec_dims,
                    hidden: relu,
                    output: Activation::Sigmoid,
                    dropout: 0.0,
                    dropout_layers: 0,
                },
                vb.pp("ae.dec"),
            )?,
            code_norm: Normalizer::load(k, vb.pp("code_norm"))?,
            head: Mlp::load(
                MlpConfig {
                    dims: head_dims,
                    hidden: relu,
                    output: Activation::Sigmoid,
                    dropout: cfg.dropout,
                    dropout_layers: 2,
                },
                vb.pp("head"),
            )?,
            cfg,
        })
    }

    /// Loads a `hitmusicnet` bundle ([`HITMUSICNET_KIND`]).
    pub fn from_bundle(bundle: &ModelBundle) -> std::result::Result<Self, BundleError> {
        bundle.expect_kind(HITMUSICNET_KIND)?;
        let cfg: HitMusicNetConfig = serde_json::from_value(bundle.meta().model_config.clone())
            .map_err(|e| {
                BundleError::BadMetadata(format!(
                    "model_config of a {HITMUSICNET_KIND} bundle: {e}"
                ))
            })?;
        Ok(Self::load(cfg, bundle.var_builder())?)
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &HitMusicNetConfig {
        &self.cfg
    }

    /// Raw `[B, n]` → unscaled code `[B, k]` (what the code scaler is fit on).
    pub fn raw_code(&self, x: &Tensor) -> Result<Tensor> {
        self.enc.forward(&self.input_norm.forward(x)?)
    }

    /// Raw `[B, n]` → min-max-scaled code `[B, k]` (the head's input).
    pub fn code(&self, x: &Tensor) -> Result<Tensor> {
        self.code_norm.forward(&self.raw_code(x)?)
    }

    /// Autoencoder reconstruction MSE of the min-max-scaled input (scalar).
    pub fn reconstruction_loss(&self, x: &Tensor) -> Result<Tensor> {
        let z = self.input_norm.forward(x)?;
        let recon = self.dec.forward(&self.enc.forward(&z)?)?;
        (recon - z)?.sqr()?.mean_all()
    }

    /// Head on scaled codes `[B, k]` → `[B]`, dropout from `rng` when training.
    pub fn head_forward_t(&self, code: &Tensor, rng: Option<&mut dyn RngCore>) -> Result<Tensor> {
        self.head.forward_t(code, rng)?.squeeze(D::Minus1)
    }

    /// Raw `[B, n]` → popularity `[B]` in (0, 1).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.head_forward_t(&self.code(x)?, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::{init_varmap, InitConfig, DTYPE};
    use candle_core::Device;
    use candle_nn::VarMap;

    #[test]
    fn sizes_match_the_saved_keras_models() {
        let c = HitMusicNetConfig::for_input(228);
        assert_eq!(c.ae_dims, [114, 76, 45]);
        assert_eq!(c.head_dims, [45, 22, 15]); // round(22.5) = 22 in Python
        assert_eq!(round_half_even(7.5), 8);
        assert_eq!(round_half_even(2.5), 2);
        let vm = VarMap::new();
        let m = HitMusicNet::load(c, VarBuilder::from_varmap(&vm, DTYPE, &Device::Cpu)).unwrap();
        init_varmap(
            &vm,
            &InitConfig {
                bias: 0.0,
                ..Default::default()
            },
        )
        .unwrap();
        let shape = |n: &str| vm.data().lock().unwrap()[n].dims().to_vec();
        assert_eq!(shape("ae.enc.2.weight"), [45, 76]);
        assert_eq!(shape("ae.dec.2.weight"), [228, 114]);
        assert_eq!(shape("head.3.weight"), [1, 15]);
        let x = Tensor::rand(0f32, 1.0, (3, 228), &Device::Cpu).unwrap();
        let y: Vec<f32> = m.forward(&x).unwrap().to_vec1().unwrap();
        assert_eq!(y.len(), 3);
        assert!(y.iter().all(|v| *v > 0.0 && *v < 1.0));
        let code: Vec<Vec<f32>> = m.raw_code(&x).unwrap().to_vec2().unwrap();
        assert!(code.iter().flatten().all(|v| *v >= 0.0), "ReLU code");
    }
}
