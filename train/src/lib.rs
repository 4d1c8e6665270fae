//! Training and evaluation of Chorder's popularity models.
//!
//! - [`data`]: the data set (per song: window embeddings `[T, D]`, features `[F]`, target
//!   in \[0, 1\]) and padded batches.
//! - [`loss`]: plain and target-weighted MSE.
//! - [`optim`]: Adam/AdamW with a saveable state.
//! - [`config`]: run configurations (JSON) with the study's defaults.
//! - [`checkpoint`]: atomic per-epoch checkpoints for exact resume.
//! - [`trainer`]: the staged training of the study's model and of HitMusicNet.
//! - [`export`]: trained models as Chorder model bundles.
//! - [`experiment`]: both models on one split, evaluated, bundled and reported.
//! - [`alternatives`]: the three alternative models (single autoencoder, LSTM regressor,
//!   HitMusicNet + embedding summary), trained when the experiment config enables them.
//! - [`metrics`]: MAE, MSE, R² (0–100 scale), random baseline, win rate, error by band.
//! - [`npy`]: a data set as `.npy` files (for the PyTorch reference script).
//! - [`report`]: `report.md` with its PNG charts.
//! - [`synth`]: a synthetic data set with a known answer.

#![warn(missing_docs)]

pub mod alternatives;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod experiment;
pub mod export;
pub mod loss;
pub mod metrics;
pub mod npy;
pub mod optim;
pub mod report;
pub mod synth;
pub mod trainer;
