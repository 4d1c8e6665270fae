//! Chorder's networks and model bundles.
//!
//! - [`tf_checkpoint`]: reads TensorFlow tensor bundles (for importing pretrained weights).
//! - [`calibration`]: split-conformal calibration a popularity bundle carries (intervals).
//! - [`bundle`]: the one model-bundle format (safetensors + `chorder` metadata) and its
//!   content-addressed in-process cache.
//! - [`musicnn`]: the musicnn embedding/tagging network (candle, CPU).
//! - [`vggish`]: VGGish (torchvggish layout) with its PCA postprocessor, and its `.pth` importer.
//! - [`builtin`]: the bundles compiled into the binary.

pub mod tf_checkpoint;

// Popularity networks (issue 6): layers, autoencoders, regressors, baseline, and the
// alternatives (single_autoencoder, lstm_regressor, hmn_embedding).
pub mod builtin;
pub mod bundle;
pub mod calibration;
pub mod feature_autoencoder;
pub mod hitmusicnet;
pub mod hmn_embedding;
pub mod init;
pub mod lstm;
pub mod lstm_regressor;
mod matmul;
pub use matmul::{gemm_threads, set_thread_gemm_threads};
pub mod mlp;
pub mod musicnn;
pub mod regressor;
pub mod seq_autoencoder;
mod seq_features;
pub mod single_autoencoder;
#[cfg(test)]
mod test_util;
pub mod vggish;
