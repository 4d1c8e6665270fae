//! Run configurations (JSON), with the study's defaults.
//!
//! Study defaults ("Autoen-chorder", best of its grid): batch 200, weight decay 0, lr 1e-3
//! (the chosen lr is only in an image; 1e-3 is the first value of its grid), weighted loss
//! with α = β = 2. HitMusicNet defaults follow `spotgentrack-hitmusicnet-notes.md` §3.3–3.4.

use crate::loss::{LossConfig, LossKind};
use crate::optim::{AdadeltaParams, AdamParams, OptimizerKind};
use chorder_models::hitmusicnet::HitMusicNetConfig;
use chorder_models::regressor::PopularityModelConfig;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::path::Path;

/// What early stopping watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    /// The stage's loss on the validation set.
    ValLoss,
    /// Mean absolute error on the validation set (regression stages only; HitMusicNet).
    ValMae,
    /// The epoch's mean training loss (HitMusicNet's autoencoder: no validation data).
    TrainLoss,
}

/// One training stage (an autoencoder or a regressor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StageConfig {
    /// Maximum epochs.
    pub epochs: usize,
    /// Songs per mini-batch.
    pub batch_size: usize,
    /// Optimiser and its hyper-parameters.
    pub optimizer: AdamParams,
    /// Train with Adadelta instead (as HitMusicNet's original regressor: Keras 2.2.4
    /// `'adadelta'`, lr 1.0, rho 0.95); `None` (the default) uses `optimizer`.
    pub adadelta: Option<AdadeltaParams>,
    /// Stop after this many epochs without improvement of `monitor` (`None`: never).
    pub patience: Option<usize>,
    /// What counts as improvement: a decrease by more than this.
    pub min_delta: f64,
    /// What early stopping (and the choice of the best epoch) watches.
    pub monitor: Monitor,
}

impl Default for StageConfig {
    fn default() -> Self {
        Self {
            epochs: 100,
            batch_size: 200,
            optimizer: AdamParams::default(),
            adadelta: None,
            patience: Some(10),
            min_delta: 0.0,
            monitor: Monitor::ValLoss,
        }
    }
}

/// A training run of the study's model (two autoencoders, then the regressor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunConfig {
    /// Seed of everything random (initial weights, shuffling, dropout).
    pub seed: u64,
    /// Network sizes.
    pub model: PopularityModelConfig,
    /// Constant bias of every linear layer at initialisation (study: 0.1).
    pub init_bias: f64,
    /// Stage 1a: the sequence autoencoder (reconstruction loss).
    pub seq_autoencoder: StageConfig,
    /// Stage 1b: the feature autoencoder (reconstruction loss).
    pub feature_autoencoder: StageConfig,
    /// Stage 2: the regressor on frozen codes.
    pub regressor: StageConfig,
    /// The regressor's loss.
    pub loss: LossConfig,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            model: PopularityModelConfig::default(),
            init_bias: 0.1,
            seq_autoencoder: StageConfig::default(),
            feature_autoencoder: StageConfig::default(),
            regressor: StageConfig::default(),
            loss: LossConfig::default(),
        }
    }
}

/// A training run of the HitMusicNet baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HmnRunConfig {
    /// Seed of everything random.
    pub seed: u64,
    /// Network sizes (from the feature count).
    pub model: HitMusicNetConfig,
    /// Bias at initialisation (Keras: 0).
    pub init_bias: f64,
    /// The autoencoder: Adam 1e-3, batch 32, ≤ 50 epochs, patience 2 on the training loss.
    pub autoencoder: StageConfig,
    /// The regressor: batch 256, ≤ 100 epochs, patience 5 on validation MAE, Adadelta with
    /// Keras 2.2.4's defaults (lr 1.0, rho 0.95), as HitMusicNet's model_1_A, the regressor
    /// it ships and its best (test MAE 0.0817 against 0.0859 for the Adam variant
    /// model_1_B; set `"adadelta": null` to train that variant).
    pub regressor: StageConfig,
    /// HitMusicNet trains on plain MSE.
    pub loss: LossConfig,
}

impl Default for HmnRunConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            model: HitMusicNetConfig::default(),
            init_bias: 0.0,
            autoencoder: StageConfig {
                epochs: 50,
                batch_size: 32,
                patience: Some(2),
                monitor: Monitor::TrainLoss,
                ..Default::default()
            },
            regressor: StageConfig {
                epochs: 100,
                batch_size: 256,
                patience: Some(5),
                monitor: Monitor::ValMae,
                optimizer: AdamParams {
                    kind: OptimizerKind::Adam,
                    ..Default::default()
                },
                adadelta: Some(AdadeltaParams::default()),
                ..Default::default()
            },
            loss: LossConfig {
                kind: LossKind::Mse,
                ..Default::default()
            },
        }
    }
}

/// Parses a JSON config laid over `T::default()`: every field missing at any depth keeps
/// the default of the *whole* config (so `{"hitmusicnet": {"autoencoder": {"patience": 5}}}`
/// keeps HitMusicNet's batch 32 and 50 epochs, which plain `#[serde(default)]` would reset
/// to [`StageConfig::default`]).
pub fn from_json_over_defaults<T: Serialize + DeserializeOwned + Default>(
    text: &str,
) -> serde_json::Result<T> {
    fn merge(base: &mut serde_json::Value, over: serde_json::Value) {
        match (base, over) {
            (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
                for (k, v) in o {
                    match b.get_mut(&k) {
                        Some(slot) => merge(slot, v),
                        None => {
                            b.insert(k, v);
                        }
                    }
                }
            }
            (slot, v) => *slot = v,
        }
    }
    let mut base = serde_json::to_value(T::default())?;
    merge(&mut base, serde_json::from_str(text)?);
    serde_json::from_value(base)
}

/// Reads a JSON config file with [`from_json_over_defaults`].
pub fn load_json<T: Serialize + DeserializeOwned + Default>(path: &Path) -> std::io::Result<T> {
    let text = std::fs::read_to_string(path)?;
    from_json_over_defaults(&text).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_partial_json() {
        let c = RunConfig::default();
        assert_eq!(c.regressor.batch_size, 200);
        assert_eq!(c.regressor.optimizer.lr, 1e-3);
        assert_eq!(c.regressor.optimizer.weight_decay, 0.0);
        assert_eq!((c.loss.alpha, c.loss.beta), (2.0, 2.0));
        assert_eq!(c.init_bias, 0.1);
        assert_eq!(
            c.model.seq.code_dim + c.model.features.code_dim,
            c.model.head.input_dim
        );
        let p: RunConfig =
            serde_json::from_str(r#"{"seed": 5, "regressor": {"epochs": 3}}"#).unwrap();
        assert_eq!(p.seed, 5);
        assert_eq!(p.regressor.epochs, 3);
        assert_eq!(p.regressor.batch_size, 200);
        let back: RunConfig = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
        // Nested partial configs keep the enclosing defaults.
        let e: crate::experiment::ExperimentConfig =
            from_json_over_defaults(r#"{"hitmusicnet": {"autoencoder": {"patience": 5}}, "study": {"model": {"seq": {"lstm_dims": [8]}}}}"#).unwrap();
        assert_eq!(e.hitmusicnet.autoencoder.patience, Some(5));
        assert_eq!(
            (
                e.hitmusicnet.autoencoder.batch_size,
                e.hitmusicnet.autoencoder.epochs
            ),
            (32, 50)
        );
        assert_eq!(e.hitmusicnet.autoencoder.monitor, Monitor::TrainLoss);
        assert_eq!(e.study.model.seq.lstm_dims, vec![8]);
        assert_eq!(e.study.model.seq.code_dim, 20);
        assert!(from_json_over_defaults::<RunConfig>(r#"{"seed": "x"}"#).is_err());
        let h = HmnRunConfig::default();
        assert_eq!(
            (h.autoencoder.batch_size, h.regressor.batch_size),
            (32, 256)
        );
        assert_eq!(h.model.code_dim(), 45);
        assert_eq!(h.regressor.adadelta, Some(AdadeltaParams::default()));
        assert_eq!(h.autoencoder.adadelta, None);
        let adam: HmnRunConfig =
            from_json_over_defaults(r#"{"regressor": {"adadelta": null}}"#).unwrap();
        assert_eq!(adam.regressor.adadelta, None);
        assert_eq!(adam.regressor.batch_size, 256);
    }
}
