//! The encoder front shared by the models that read both inputs ([`crate::lstm_regressor`],
//! [`crate::single_autoencoder`]):
//!
//! ```text
//! emb [B, T, D] ─(x − shift)·scale─▶ x' ─LSTM D→H1→…→Hk (masked)─▶ h at last valid step [B, Hk]
//! features [B, F] ─(x − shift)·scale─▶ z [B, F]
//! joined: [h | z] [B, Hk + F]
//! ```
//!
//! Weight names (below the model's own prefix): `emb_norm.{shift,scale}`,
//! `feat_norm.{shift,scale}` (buffers set from the training data), `{lstm_prefix}.{i}.*`.

use crate::feature_autoencoder::Normalizer;
use crate::lstm::LstmStack;
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

/// Both normalisers and the masked LSTM stack over the embeddings.
#[derive(Debug, Clone)]
pub(crate) struct SeqFeatureFront {
    emb_norm: Normalizer,
    feat_norm: Normalizer,
    lstm: LstmStack,
}

/// What [`SeqFeatureFront::forward`] computes from one padded batch.
pub(crate) struct SeqFeatureInput {
    /// Normalised embeddings as rows `[B·T, D]` (row `b·T + t`).
    pub rows: Tensor,
    /// Normalised features `[B, F]`.
    pub z: Tensor,
    /// `[h | z]` `[B, Hk + F]`: the last LSTM layer's state after each sequence's last
    /// valid step, then `z`.
    pub joined: Tensor,
}

/// `x ↦ (x − shift) · scale` with the buffers as constants (set from data, never trained,
/// so no gradient is computed for them).
pub(crate) fn normalize(norm: &Normalizer, x: &Tensor) -> Result<Tensor> {
    crate::lstm::normalize_cols(x, &norm.shift, &norm.scale)
}

impl SeqFeatureFront {
    /// Loads `emb_norm` (`[emb_dim]`), `feat_norm` (`[feat_dim]`) and the LSTM stack
    /// `emb_dim → lstm_dims…` from `vb` (the stack under `lstm_prefix`).
    pub(crate) fn load(
        emb_dim: usize,
        feat_dim: usize,
        lstm_dims: &[usize],
        vb: &VarBuilder,
        lstm_prefix: &str,
    ) -> Result<Self> {
        let mut dims = vec![emb_dim];
        dims.extend(lstm_dims);
        Ok(Self {
            emb_norm: Normalizer::load(emb_dim, vb.pp("emb_norm"))?,
            feat_norm: Normalizer::load(feat_dim, vb.pp("feat_norm"))?,
            lstm: LstmStack::load(&dims, vb.pp(lstm_prefix))?,
        })
    }

    /// Normalises a padded embedding batch `emb: [B, T, D]` (`lengths[b] ∈ 1..=T` valid
    /// steps) and raw features `[B, F]`, and joins the LSTM summary with the features.
    /// Padded steps change nothing.
    pub(crate) fn forward(
        &self,
        emb: &Tensor,
        lengths: &[usize],
        features: &Tensor,
    ) -> Result<SeqFeatureInput> {
        let (n_batch, n_steps, n_in) = emb.dims3()?;
        let rows = normalize(&self.emb_norm, emb)?.reshape((n_batch * n_steps, n_in))?;
        // The masked LSTM keeps each sequence's state after its last valid step.
        let last = self.lstm.forward_rows_last(&rows, lengths, n_steps)?;
        let z = normalize(&self.feat_norm, features)?;
        let joined = Tensor::cat(&[&last.h, &z], 1)?;
        Ok(SeqFeatureInput { rows, z, joined })
    }
}
