//! Alternative model "HitMusicNet with the embedding summary appended": HitMusicNet's
//! whole pipeline ([`crate::hitmusicnet`]: min-max scaling, autoencoder, scaled code,
//! regressor) on the feature vector extended with a summary of the embedding sequence, the
//! per-dimension mean and standard deviation over the song's windows.
//!
//! The simplest way to give HitMusicNet the audio embeddings that "Autoen-chorder"
//! (`shared/study/autoen-chorder-blog.txt`, "Alternate Models") feeds through an LSTM; the
//! wiring is ours:
//!
//! ```text
//! emb [B, T, D] ─mean, sd over the valid windows─▶ [B, 2D] = [mean_1…mean_D | sd_1…sd_D]
//! [features [B, F] | summary [B, 2D]] = [B, F + 2D] ─HitMusicNet─▶ [B] in (0, 1)
//! ```
//!
//! Weight names: those of [`crate::hitmusicnet::HitMusicNet`] (no prefix), so a HitMusicNet
//! trained on the extended vectors is this model.

use crate::hitmusicnet::{HitMusicNet, HitMusicNetConfig};
use crate::seq_autoencoder::masked_mean;
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

/// Sizes of HitMusicNet + embedding summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HmnEmbeddingConfig {
    /// Embedding size per window, `D`.
    pub emb_dim: usize,
    /// HitMusicNet; its `input_dim` is `F + 2D`.
    pub hmn: HitMusicNetConfig,
}

/// Per-dimension mean and population sd over each sequence's valid windows:
/// `emb: [B, T, D]`, `lengths[b] ∈ 1..=T` → `[B, 2D]` (means first). Padded steps change
/// nothing.
pub fn embedding_summary(emb: &Tensor, lengths: &[usize]) -> Result<Tensor> {
    let mean = masked_mean(emb, lengths)?;
    let mean_sq = masked_mean(&emb.sqr()?, lengths)?;
    // E[x²] − E[x]², clamped at 0 against rounding.
    let sd = (mean_sq - mean.sqr()?)?.relu()?.sqrt()?;
    Tensor::cat(&[&mean, &sd], 1)
}

/// HitMusicNet + embedding summary (see the module doc).
#[derive(Debug, Clone)]
pub struct HmnEmbedding {
    /// HitMusicNet over the extended vector.
    pub hmn: HitMusicNet,
    emb_dim: usize,
}

impl HmnEmbedding {
    /// Loads HitMusicNet's weights from `vb` (no prefix).
    pub fn load(cfg: HmnEmbeddingConfig, vb: VarBuilder) -> Result<Self> {
        Self::new(HitMusicNet::load(cfg.hmn, vb)?, cfg.emb_dim)
    }

    /// Wraps a HitMusicNet trained on `[features | summary]` vectors of `D = emb_dim`.
    pub fn new(hmn: HitMusicNet, emb_dim: usize) -> Result<Self> {
        if hmn.config().input_dim < 2 * emb_dim {
            candle_core::bail!(
                "HitMusicNet input {} cannot hold a {}-d embedding summary",
                hmn.config().input_dim,
                2 * emb_dim
            );
        }
        Ok(Self { hmn, emb_dim })
    }

    /// Embedding size `D`.
    pub fn emb_dim(&self) -> usize {
        self.emb_dim
    }

    /// The extended input `[B, F + 2D]` of raw features `[B, F]` and padded embeddings
    /// `[B, T, D]` with lengths.
    pub fn inputs(&self, emb: &Tensor, lengths: &[usize], features: &Tensor) -> Result<Tensor> {
        Tensor::cat(&[features, &embedding_summary(emb, lengths)?], 1)
    }

    /// Popularity `[B]` in (0, 1).
    pub fn forward(&self, emb: &Tensor, lengths: &[usize], features: &Tensor) -> Result<Tensor> {
        self.hmn.forward(&self.inputs(emb, lengths, features)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::{init_varmap, InitConfig, DTYPE};
    use candle_core::Device;
    use candle_nn::VarMap;

    /// The summary against mean and sd computed by hand, with padding that must not count.
    #[test]
    fn summary_matches_hand_computation_and_ignores_padding() {
        let dev = Device::Cpu;
        // Sequence 0: 3 valid windows of D = 2, then one padded window of junk.
        let x = Tensor::new(
            &[
                [[1f32, 10.0], [2.0, 10.0], [6.0, 13.0], [100.0, -50.0]],
                [[4.0, -1.0], [9.0, 9.0], [9.0, 9.0], [9.0, 9.0]],
            ],
            &dev,
        )
        .unwrap();
        let s: Vec<Vec<f32>> = embedding_summary(&x, &[3, 1]).unwrap().to_vec2().unwrap();
        // Means 3, 11; population sds sqrt(14/3), sqrt(6/3).
        let want0 = [3.0, 11.0, (14.0f32 / 3.0).sqrt(), 2.0f32.sqrt()];
        for (a, b) in s[0].iter().zip(want0) {
            assert!((a - b).abs() < 1e-5, "{:?} vs {want0:?}", s[0]);
        }
        assert_eq!(s[1], vec![4.0, -1.0, 0.0, 0.0]);
    }

    #[test]
    fn forward_uses_the_extended_vector() {
        let dev = Device::Cpu;
        let cfg = HmnEmbeddingConfig {
            emb_dim: 3,
            hmn: HitMusicNetConfig::for_input(4 + 6),
        };
        let vm = VarMap::new();
        let m = HmnEmbedding::load(cfg, VarBuilder::from_varmap(&vm, DTYPE, &dev)).unwrap();
        init_varmap(&vm, &InitConfig::default()).unwrap();
        let emb = Tensor::randn(0f32, 1.0, (2, 5, 3), &dev).unwrap();
        let f = Tensor::randn(0f32, 1.0, (2, 4), &dev).unwrap();
        assert_eq!(m.inputs(&emb, &[5, 2], &f).unwrap().dims(), &[2, 10]);
        let y: Vec<f32> = m.forward(&emb, &[5, 2], &f).unwrap().to_vec1().unwrap();
        let direct: Vec<f32> = m
            .hmn
            .forward(&m.inputs(&emb, &[5, 2], &f).unwrap())
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(y, direct);
        assert!(HmnEmbedding::new(m.hmn.clone(), 6).is_err());
    }
}
