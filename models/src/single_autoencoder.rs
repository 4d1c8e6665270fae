//! Alternative model "single autoencoder on both inputs": one autoencoder whose input is
//! the embedding sequence *and* the feature vector, one 20-d code, then the study's
//! popularity regressor on that code.
//!
//! One of the alternatives to "Autoen-chorder"'s two autoencoders
//! (`shared/study/autoen-chorder-blog.txt`, "Alternate Models", "Final Architecture"); the
//! wiring is ours, built from the same parts as [`crate::seq_autoencoder`] and
//! [`crate::feature_autoencoder`]:
//!
//! ```text
//! encoder: emb [B, T, D] ─norm─▶ LSTM D→H1→…→Hk (masked) ─▶ h at last valid step [B, Hk]
//!          features [B, F] ─norm─▶ z [B, F]
//!          [h | z] [B, Hk + F] ─MLP →L1→…→C (ReLU between, linear code)─▶ code [B, C]
//! decoder: code ─MLP C→…→L1→(Hk + F) (ReLU between, linear out)─▶ [ĥ | ẑ]
//!          ĥ repeated over T ─LSTM Hk→Hk→…→H1 (masked)─▶ linear H1→D per step ─▶ x̂' [B, T, D]
//! loss:    masked mean (x̂' − x')² + feature_weight · mean (ẑ − z)²
//! model:   code ─regressor MLP─▶ sigmoid ─▶ [B] in (0, 1)
//! ```
//!
//! Weight names: `ae.emb_norm.*`, `ae.feat_norm.*` (buffers), `ae.enc.lstm.{i}.*`,
//! `ae.enc.fc.{i}.*`, `ae.dec.fc.{i}.*`, `ae.dec.lstm.{i}.*`, `ae.dec.out.*`, `head.{i}.*`.

use crate::lstm::LstmStack;
use crate::mlp::{Activation, Mlp, MlpConfig};
use crate::regressor::{Regressor, RegressorConfig};
use crate::seq_features::{SeqFeatureFront, SeqFeatureInput};
use candle_core::{Result, Tensor};
use candle_nn::{Linear, VarBuilder};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// Sizes of the single autoencoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SingleAutoencoderConfig {
    /// Embedding size per window, `D`.
    pub emb_dim: usize,
    /// Number of low-level features, `F`.
    pub feat_dim: usize,
    /// Hidden sizes of the encoder LSTM layers (at least one), e.g. `[64]`.
    pub lstm_dims: Vec<usize>,
    /// Hidden widths of the linear layers between `[h | z]` and the code, e.g. `[96, 48]`
    /// (the decoder mirrors them).
    pub linear_dims: Vec<usize>,
    /// Code size `C` (as the study's codes: 20).
    pub code_dim: usize,
    /// Weight of the feature term of the reconstruction loss (the sequence term has 1).
    pub feature_weight: f64,
}

impl Default for SingleAutoencoderConfig {
    fn default() -> Self {
        Self {
            emb_dim: 128,
            feat_dim: 207,
            lstm_dims: vec![64],
            linear_dims: vec![96, 48],
            code_dim: 20,
            feature_weight: 1.0,
        }
    }
}

impl SingleAutoencoderConfig {
    /// Size of the last encoder LSTM's hidden state, `Hk`.
    pub fn lstm_out(&self) -> usize {
        *self.lstm_dims.last().unwrap_or(&self.emb_dim)
    }
}

/// The autoencoder over both inputs (see the module doc).
#[derive(Debug, Clone)]
pub struct SingleAutoencoder {
    /// Normalisers and encoder LSTM: `[h | z]`.
    front: SeqFeatureFront,
    enc_fc: Mlp,
    dec_fc: Mlp,
    dec_lstm: LstmStack,
    dec_out: Linear,
    cfg: SingleAutoencoderConfig,
}

impl SingleAutoencoder {
    /// Loads all weights from `vb` (names in the module doc, without the `ae.` prefix).
    pub fn load(cfg: SingleAutoencoderConfig, vb: VarBuilder) -> Result<Self> {
        if cfg.lstm_dims.is_empty() {
            candle_core::bail!("single autoencoder needs at least one LSTM layer");
        }
        let h_last = cfg.lstm_out();
        let mut enc_fc_dims = vec![h_last + cfg.feat_dim];
        enc_fc_dims.extend(&cfg.linear_dims);
        enc_fc_dims.push(cfg.code_dim);
        let mut dec_fc_dims = enc_fc_dims.clone();
        dec_fc_dims.reverse();
        let mlp = |dims: Vec<usize>, vb: VarBuilder| {
            Mlp::load(MlpConfig::relu(dims, Activation::None), vb)
        };
        let mut dec_lstm_dims = vec![h_last];
        dec_lstm_dims.extend(cfg.lstm_dims.iter().rev());
        let h_first = cfg.lstm_dims[0];
        Ok(Self {
            front: SeqFeatureFront::load(
                cfg.emb_dim,
                cfg.feat_dim,
                &cfg.lstm_dims,
                &vb,
                "enc.lstm",
            )?,
            enc_fc: mlp(enc_fc_dims, vb.pp("enc.fc"))?,
            dec_fc: mlp(dec_fc_dims, vb.pp("dec.fc"))?,
            dec_lstm: LstmStack::load(&dec_lstm_dims, vb.pp("dec.lstm"))?,
            dec_out: crate::init::linear(h_first, cfg.emb_dim, vb.pp("dec.out"))?,
            cfg,
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &SingleAutoencoderConfig {
        &self.cfg
    }

    /// Codes `[B, C]` of a padded batch of raw embeddings `emb: [B, T, D]`
    /// (`lengths[b] ∈ 1..=T`) and raw features `[B, F]`. Padded steps change nothing.
    pub fn encode(&self, emb: &Tensor, lengths: &[usize], features: &Tensor) -> Result<Tensor> {
        self.enc_fc
            .forward(&self.front.forward(emb, lengths, features)?.joined)
    }

    /// Reconstruction loss (scalar): masked MSE of the normalised embeddings over valid
    /// steps plus `feature_weight` × MSE of the normalised features.
    pub fn reconstruction_loss(
        &self,
        emb: &Tensor,
        lengths: &[usize],
        features: &Tensor,
    ) -> Result<Tensor> {
        let n_steps = emb.dim(1)?;
        let SeqFeatureInput { rows, z, joined } = self.front.forward(emb, lengths, features)?;
        let code = self.enc_fc.forward(&joined)?;
        let out = self.dec_fc.forward(&code)?; // [B, Hk + F]
        let h_last = self.cfg.lstm_out();
        let h_hat = out.narrow(1, 0, h_last)?;
        let z_hat = out.narrow(1, h_last, self.cfg.feat_dim)?;
        let (y, _) = self
            .dec_lstm
            .forward_rows_repeated(&h_hat, lengths, n_steps)?; // [B·T, H1]
                                                               // The output layer and the masked loss in one op (on the fused path).
        let seq = crate::lstm::linear_masked_mse_rows(&y, &self.dec_out, &rows, lengths, n_steps)?;
        let feat = (z_hat - z)?.sqr()?.mean_all()?;
        seq + feat.affine(self.cfg.feature_weight, 0.0)?
    }
}

/// The single-autoencoder model's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SingleAeModelConfig {
    /// The autoencoder over both inputs.
    pub autoencoder: SingleAutoencoderConfig,
    /// The regressor; its `input_dim` must be `autoencoder.code_dim`.
    pub head: RegressorConfig,
}

impl Default for SingleAeModelConfig {
    /// The default autoencoder (20-d code) and the study's 7-layer regressor on 20 inputs.
    fn default() -> Self {
        let autoencoder = SingleAutoencoderConfig::default();
        let head = RegressorConfig {
            input_dim: autoencoder.code_dim,
            ..Default::default()
        };
        Self { autoencoder, head }
    }
}

impl SingleAeModelConfig {
    /// Sets the input sizes `D`, `F`, and the regressor's input width to the code size.
    pub fn fit_to_data(&mut self, emb_dim: usize, feat_dim: usize) {
        self.autoencoder.emb_dim = emb_dim;
        self.autoencoder.feat_dim = feat_dim;
        self.head.input_dim = self.autoencoder.code_dim;
    }
}

/// Single autoencoder + regressor (see the module doc); names `ae.*`, `head.*`.
#[derive(Debug, Clone)]
pub struct SingleAeModel {
    /// The autoencoder (its encoder gives the code).
    pub ae: SingleAutoencoder,
    /// The regressor over the code.
    pub head: Regressor,
    cfg: SingleAeModelConfig,
}

impl SingleAeModel {
    /// Loads both parts from `vb.pp("ae" | "head")`.
    pub fn load(cfg: SingleAeModelConfig, vb: VarBuilder) -> Result<Self> {
        if cfg.head.input_dim != cfg.autoencoder.code_dim {
            candle_core::bail!(
                "head input_dim {} != code {}",
                cfg.head.input_dim,
                cfg.autoencoder.code_dim
            );
        }
        Ok(Self {
            ae: SingleAutoencoder::load(cfg.autoencoder.clone(), vb.pp("ae"))?,
            head: Regressor::load(&cfg.head, vb.pp("head"))?,
            cfg,
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &SingleAeModelConfig {
        &self.cfg
    }

    /// Popularity `[B]` in (0, 1) of padded embeddings `[B, T, D]` (with lengths) and raw
    /// features `[B, F]`.
    pub fn forward(&self, emb: &Tensor, lengths: &[usize], features: &Tensor) -> Result<Tensor> {
        self.head.forward(&self.ae.encode(emb, lengths, features)?)
    }

    /// The regressor on codes `[B, C]` → `[B]`, dropout from `rng` when given (training).
    pub fn head_forward_t(&self, code: &Tensor, rng: Option<&mut dyn RngCore>) -> Result<Tensor> {
        self.head.forward_t(code, rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::DTYPE;
    use crate::test_util::{
        assert_grads_match, assert_losses_match, f64_twin, flat, init_seeded, max_abs_diff,
    };
    use candle_core::Device;
    use candle_nn::VarMap;

    fn model() -> (VarMap, SingleAeModel) {
        let mut cfg = SingleAeModelConfig {
            autoencoder: SingleAutoencoderConfig {
                lstm_dims: vec![9, 7],
                linear_dims: vec![10],
                code_dim: 3,
                ..Default::default()
            },
            head: RegressorConfig::with_depth(0, 3, 6),
        };
        cfg.fit_to_data(6, 5);
        let vm = VarMap::new();
        let m =
            SingleAeModel::load(cfg, VarBuilder::from_varmap(&vm, DTYPE, &Device::Cpu)).unwrap();
        init_seeded(&vm, 4);
        (vm, m)
    }

    fn scalar(t: Tensor) -> f32 {
        t.to_scalar().unwrap()
    }

    #[test]
    fn shapes_names_and_loss_terms() {
        let (vm, m) = model();
        let shape = |n: &str| vm.data().lock().unwrap()[n].dims().to_vec();
        // Encoder input h (7) + z (5); decoder mirrors to 12, LSTMs 7 → 7 → 9, out 9 → 6.
        assert_eq!(shape("ae.enc.fc.0.weight"), [10, 12]);
        assert_eq!(shape("ae.dec.fc.1.weight"), [12, 10]);
        assert_eq!(shape("ae.dec.lstm.0.weight_ih"), [28, 7]);
        assert_eq!(shape("ae.dec.lstm.1.weight_ih"), [36, 7]);
        assert_eq!(shape("ae.dec.out.weight"), [6, 9]);
        assert_eq!(shape("head.0.weight"), [6, 3]);
        let dev = Device::Cpu;
        let emb = Tensor::randn(0f32, 1.0, (3, 5, 6), &dev).unwrap();
        let f = Tensor::randn(0f32, 1.0, (3, 5), &dev).unwrap();
        assert_eq!(m.ae.encode(&emb, &[5, 2, 4], &f).unwrap().dims(), &[3, 3]);
        let y: Vec<f32> = m.forward(&emb, &[5, 2, 4], &f).unwrap().to_vec1().unwrap();
        assert!(y.iter().all(|v| *v > 0.0 && *v < 1.0));
        // The feature term counts with its weight: loss(w=3) − loss(w=1) = 2 · feature MSE > 0.
        let l1 = scalar(m.ae.reconstruction_loss(&emb, &[5, 2, 4], &f).unwrap());
        let mut ae3 = m.ae.clone();
        ae3.cfg.feature_weight = 3.0;
        let l3 = scalar(ae3.reconstruction_loss(&emb, &[5, 2, 4], &f).unwrap());
        let mut ae0 = m.ae.clone();
        ae0.cfg.feature_weight = 0.0;
        let l0 = scalar(ae0.reconstruction_loss(&emb, &[5, 2, 4], &f).unwrap());
        assert!(
            l1 > l0 && ((l3 - l0) - 3.0 * (l1 - l0)).abs() < 1e-4,
            "{l0} {l1} {l3}"
        );
        let mut bad = m.config().clone();
        bad.head.input_dim = 4;
        assert!(
            SingleAeModel::load(bad, VarBuilder::from_varmap(&VarMap::new(), DTYPE, &dev)).is_err()
        );
    }

    /// Padding a sequence changes neither its code nor the reconstruction loss.
    #[test]
    fn padding_changes_neither_code_nor_loss() {
        let (_vm, m) = model();
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (1, 4, 6), &dev).unwrap();
        let f = Tensor::randn(0f32, 1.0, (1, 5), &dev).unwrap();
        let pad = Tensor::randn(0f32, 5.0, (1, 3, 6), &dev).unwrap();
        let xp = Tensor::cat(&[&x, &pad], 1).unwrap();
        let code = flat(m.ae.encode(&x, &[4], &f).unwrap());
        let code_p = flat(m.ae.encode(&xp, &[4], &f).unwrap());
        let d = max_abs_diff(&code, &code_p);
        assert!(d < 1e-6, "code moved by {d}");
        let l = scalar(m.ae.reconstruction_loss(&x, &[4], &f).unwrap());
        let lp = scalar(m.ae.reconstruction_loss(&xp, &[4], &f).unwrap());
        assert!((l - lp).abs() < 1e-6, "{l} vs {lp}");
        let l_all = scalar(m.ae.reconstruction_loss(&xp, &[7], &f).unwrap());
        assert!(
            (l_all - l).abs() > 1e-3,
            "the padded steps must matter when counted"
        );
    }

    /// The training loss through the fused f32 kernels (LSTM, row bias, masked MSE) against
    /// the same model in f64, which takes the plain tensor path: loss and the gradient of
    /// every trainable variable of the autoencoder.
    #[test]
    fn fused_training_path_matches_f64_tensor_path() {
        use candle_core::DType;
        let dev = Device::Cpu;
        let (vm32, m32) = model();
        let (vm64, m64) = f64_twin(&vm32, |vb| SingleAeModel::load(m32.config().clone(), vb));
        let emb = Tensor::randn(0f32, 1.0, (4, 6, 6), &dev).unwrap();
        let f = Tensor::randn(0f32, 1.0, (4, 5), &dev).unwrap();
        let lengths = [6, 2, 5, 1];
        let l32 = m32.ae.reconstruction_loss(&emb, &lengths, &f).unwrap();
        let l64 = m64
            .ae
            .reconstruction_loss(
                &emb.to_dtype(DType::F64).unwrap(),
                &lengths,
                &f.to_dtype(DType::F64).unwrap(),
            )
            .unwrap();
        assert_losses_match(&l32, &l64);
        let (g32, g64) = (l32.backward().unwrap(), l64.backward().unwrap());
        let checked = assert_grads_match(
            (&vm32, &g32),
            (&vm64, &g64),
            |name| name.starts_with("ae."),
            false,
        );
        // 2 encoder + 2 decoder LSTM layers (4 each), 2 + 2 linear layers (2 each), output.
        assert_eq!(checked, 26);
    }
}
