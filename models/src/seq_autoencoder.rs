//! Sequence autoencoder over per-window audio embeddings (the study's "VGGish autoencoder").
//!
//! Mirrors the final architecture of "Autoen-chorder" (`shared/study/autoen-chorder-blog.txt`,
//! "Final Architecture" and "Padding and Packing"): LSTM layers at the start of the encoder,
//! linear layers down to a 20-d code, and a decoder that mirrors it with LSTM layers at its
//! end. The study's code is not public; the concrete wiring here is ours:
//!
//! ```text
//! norm:    x' = (x − shift) · scale per embedding dimension (buffers set by training)
//! encoder: x' [B, T, D] ─LSTM D→H1→…→Hk (masked)─▶ h at each sequence's last valid step [B, Hk]
//!          ─MLP Hk→L1→…→C (ReLU between, linear code)─▶ code [B, C]
//! decoder: code ─MLP C→…→L1→Hk (ReLU)─▶ repeat over T ─LSTM Hk→Hk→…→H1 (masked)─▶
//!          ─linear H1→D per step─▶ x̂' [B, T, D]; loss = masked mean (x̂' − x')²
//! ```
//!
//! Weight names: `norm.{shift,scale}` (buffers), `enc.lstm.{i}.*`, `enc.fc.{i}.*`, `dec.fc.{i}.*`, `dec.lstm.{i}.*`,
//! `dec.out.*`.
//!
//! For streaming (the plugin), [`SeqAutoencoder::step`] feeds one window embedding at a time
//! through the encoder LSTMs and returns the code of the sequence seen so far; after `T`
//! steps it equals [`SeqAutoencoder::encode`] of those `T` windows.

use crate::feature_autoencoder::Normalizer;
use crate::lstm::{step_masks, LstmStack, LstmState};
use crate::mlp::{Activation, Mlp, MlpConfig};
use candle_core::{Result, Tensor};
use candle_nn::{Linear, VarBuilder};
use serde::{Deserialize, Serialize};

/// Sizes of the sequence autoencoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SeqAutoencoderConfig {
    /// Embedding size per window, `D` (VGGish 128; musicnn 200 or 753).
    pub emb_dim: usize,
    /// Hidden sizes of the encoder LSTM layers, e.g. `[64]`.
    pub lstm_dims: Vec<usize>,
    /// Hidden widths of the encoder's linear layers between the LSTM and the code, e.g. `[32]`.
    pub linear_dims: Vec<usize>,
    /// Code size `C` (the study: 20).
    pub code_dim: usize,
}

impl Default for SeqAutoencoderConfig {
    fn default() -> Self {
        Self {
            emb_dim: 128,
            lstm_dims: vec![64],
            linear_dims: vec![32],
            code_dim: 20,
        }
    }
}

impl SeqAutoencoderConfig {
    /// Size of the last encoder LSTM's hidden state.
    pub fn lstm_out(&self) -> usize {
        *self.lstm_dims.last().unwrap_or(&self.emb_dim)
    }
}

/// Streaming encoder state: one [`LstmState`] per encoder LSTM layer, batch `B` (1 in the
/// plugin).
#[derive(Debug, Clone)]
pub struct SeqEncoderState {
    /// Per-layer `(h, c)`, each `[B, H_i]`.
    pub lstm: Vec<LstmState>,
    /// Windows consumed since the last reset.
    pub steps: usize,
}

impl SeqEncoderState {
    /// Back to the start of a track.
    pub fn reset(&mut self) -> Result<()> {
        for s in &mut self.lstm {
            s.reset()?;
        }
        self.steps = 0;
        Ok(())
    }
}

/// The sequence autoencoder (see the module doc).
#[derive(Debug, Clone)]
pub struct SeqAutoencoder {
    norm: Normalizer,
    enc_lstm: LstmStack,
    enc_fc: Mlp,
    dec_fc: Mlp,
    dec_lstm: LstmStack,
    dec_out: Linear,
    cfg: SeqAutoencoderConfig,
}

impl SeqAutoencoder {
    /// Loads all weights from `vb` (names in the module doc).
    pub fn load(cfg: SeqAutoencoderConfig, vb: VarBuilder) -> Result<Self> {
        let h_last = cfg.lstm_out();
        let mut enc_lstm_dims = vec![cfg.emb_dim];
        enc_lstm_dims.extend(&cfg.lstm_dims);
        let enc_lstm = LstmStack::load(&enc_lstm_dims, vb.pp("enc.lstm"))?;
        let norm = Normalizer::load(cfg.emb_dim, vb.pp("norm"))?;

        let mut enc_fc_dims = vec![h_last];
        enc_fc_dims.extend(&cfg.linear_dims);
        enc_fc_dims.push(cfg.code_dim);
        let mut dec_fc_dims = enc_fc_dims.clone();
        dec_fc_dims.reverse();
        let enc_fc = Mlp::load(
            MlpConfig::relu(enc_fc_dims, Activation::None),
            vb.pp("enc.fc"),
        )?;
        let dec_fc = Mlp::load(
            MlpConfig::relu(dec_fc_dims, Activation::Relu),
            vb.pp("dec.fc"),
        )?;
        // Decoder LSTMs: Hk → Hk → H(k-1) → … → H1.
        let mut dec_lstm_dims = vec![h_last];
        dec_lstm_dims.extend(cfg.lstm_dims.iter().rev());
        let dec_lstm = LstmStack::load(&dec_lstm_dims, vb.pp("dec.lstm"))?;
        let h_first = *cfg.lstm_dims.first().unwrap_or(&cfg.emb_dim);
        let dec_out = crate::init::linear(h_first, cfg.emb_dim, vb.pp("dec.out"))?;
        Ok(Self {
            norm,
            enc_lstm,
            enc_fc,
            dec_fc,
            dec_lstm,
            dec_out,
            cfg,
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &SeqAutoencoderConfig {
        &self.cfg
    }

    /// The embedding normaliser (training sets its buffers).
    pub fn normalizer(&self) -> &Normalizer {
        &self.norm
    }

    /// The normaliser applied as a constant: its buffers are set from data, never trained,
    /// so no gradient is computed for them (that would cost two reductions per batch).
    fn normalize(&self, x: &Tensor) -> Result<Tensor> {
        crate::lstm::normalize_cols(x, &self.norm.shift, &self.norm.scale)
    }

    /// Codes of a padded batch of raw embeddings: `x: [B, T, D]`, `lengths[b] ∈ 1..=T` →
    /// `[B, C]`.
    pub fn encode(&self, x: &Tensor, lengths: &[usize]) -> Result<Tensor> {
        self.encode_normalized(&self.normalize(x)?, lengths)
    }

    fn encode_normalized(&self, x: &Tensor, lengths: &[usize]) -> Result<Tensor> {
        let (n_batch, n_steps, n_in) = x.dims3()?;
        let rows = x.reshape((n_batch * n_steps, n_in))?;
        if self.enc_lstm.is_empty() {
            candle_core::bail!("seq autoencoder needs at least one LSTM layer");
        }
        // The masked LSTM keeps each sequence's state after its last valid step.
        let last = self.enc_lstm.forward_rows_last(&rows, lengths, n_steps)?;
        self.enc_fc.forward(&last.h)
    }

    /// The reconstruction as rows `[B·T, D]` (row `b·T + t`; padded rows hold the output
    /// layer's bias, not zero).
    fn decode_rows(&self, code: &Tensor, lengths: &[usize], n_steps: usize) -> Result<Tensor> {
        let h = self.dec_fc.forward(code)?; // [B, Hk], repeated over the T steps
        let (y, _) = self.dec_lstm.forward_rows_repeated(&h, lengths, n_steps)?; // [B·T, H1]
                                                                                 // The output layer on every step: one product, and a bias whose backward sums rows
                                                                                 // directly.
        let out = y.matmul(&self.dec_out.weight().t()?)?;
        match self.dec_out.bias() {
            Some(b) => crate::lstm::add_row_bias(&out, b),
            None => Ok(out),
        }
    }

    /// Reconstruction of the *normalised* embeddings `[B, T, D]` from codes `[B, C]` (zero
    /// at padded steps).
    pub fn decode(&self, code: &Tensor, lengths: &[usize], n_steps: usize) -> Result<Tensor> {
        let (n_batch, _c) = code.dims2()?;
        let out = self.decode_rows(code, lengths, n_steps)?.reshape((
            n_batch,
            n_steps,
            self.cfg.emb_dim,
        ))?;
        let m = step_masks(lengths, n_steps, out.dtype(), out.device())?.unsqueeze(2)?;
        out.broadcast_mul(&m)
    }

    /// Raw `x [B, T, D]` → `(code [B, C], normalised x' [B, T, D], reconstruction of x')`.
    pub fn forward(&self, x: &Tensor, lengths: &[usize]) -> Result<(Tensor, Tensor, Tensor)> {
        let (_b, n_steps, _d) = x.dims3()?;
        let xn = self.normalize(x)?;
        let code = self.encode_normalized(&xn, lengths)?;
        let recon = self.decode(&code, lengths, n_steps)?;
        Ok((code, xn, recon))
    }

    /// Mean squared reconstruction error over valid steps and all `D` features (scalar):
    /// `Σ_b Σ_{t<len_b} Σ_d (x̂ − x)² / (D · Σ_b len_b)`.
    pub fn reconstruction_loss(&self, x: &Tensor, lengths: &[usize]) -> Result<Tensor> {
        let (n_batch, n_steps, n_in) = x.dims3()?;
        let xn = self.normalize(x)?;
        let code = self.encode_normalized(&xn, lengths)?;
        let h = self.dec_fc.forward(&code)?;
        let (y, _) = self.dec_lstm.forward_rows_repeated(&h, lengths, n_steps)?;
        let target = xn.reshape((n_batch * n_steps, n_in))?;
        // The output layer and the loss in one op (on the fused path).
        crate::lstm::linear_masked_mse_rows(&y, &self.dec_out, &target, lengths, n_steps)
    }

    /// A fresh streaming state for `batch` tracks (1 in the plugin).
    pub fn zero_state(&self, batch: usize) -> Result<SeqEncoderState> {
        Ok(SeqEncoderState {
            lstm: self.enc_lstm.zero_state(batch)?,
            steps: 0,
        })
    }

    /// Streaming encode: feeds one window embedding per track, `window: [B, D]`, and returns
    /// the code `[B, C]` of all windows since the last reset (equal to [`Self::encode`] of
    /// that sequence).
    pub fn step(&self, state: &mut SeqEncoderState, window: &Tensor) -> Result<Tensor> {
        let h = self
            .enc_lstm
            .step(&mut state.lstm, &self.normalize(window)?)?;
        state.steps += 1;
        self.enc_fc.forward(&h)
    }
}

/// Mean squared error over the valid steps of padded `[B, T, D]` tensors (scalar).
pub fn masked_mse(pred: &Tensor, target: &Tensor, lengths: &[usize]) -> Result<Tensor> {
    let (n_batch, n_steps, n_feat) = target.dims3()?;
    let rows = (n_batch * n_steps, n_feat);
    crate::lstm::masked_mse_rows(
        &pred.reshape(rows)?,
        &target.reshape(rows)?,
        lengths,
        n_steps,
    )
}

/// `[B, T, D]` → `[B, D]`: mean over each sequence's valid steps (a helper for baselines
/// that ignore time).
pub fn masked_mean(x: &Tensor, lengths: &[usize]) -> Result<Tensor> {
    let (_b, n_steps, _d) = x.dims3()?;
    let m = step_masks(lengths, n_steps, x.dtype(), x.device())?;
    let lens: Vec<f32> = lengths.iter().map(|&l| l.max(1) as f32).collect();
    let lens = Tensor::from_vec(lens, (lengths.len(), 1), x.device())?.to_dtype(x.dtype())?;
    x.broadcast_mul(&m.unsqueeze(2)?)?
        .sum(1)?
        .broadcast_div(&lens)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::DTYPE;
    use crate::test_util::{
        assert_grads_match, assert_losses_match, f64_twin, init_seeded, max_abs,
    };
    use candle_core::Device;
    use candle_nn::VarMap;

    fn model(cfg: SeqAutoencoderConfig) -> (VarMap, SeqAutoencoder) {
        let vm = VarMap::new();
        let m =
            SeqAutoencoder::load(cfg, VarBuilder::from_varmap(&vm, DTYPE, &Device::Cpu)).unwrap();
        init_seeded(&vm, 3);
        (vm, m)
    }

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
        max_abs(&(a - b).unwrap())
    }

    fn cfg() -> SeqAutoencoderConfig {
        SeqAutoencoderConfig {
            emb_dim: 8,
            lstm_dims: vec![12, 10],
            linear_dims: vec![9],
            code_dim: 5,
        }
    }

    #[test]
    fn shapes_and_weight_names() {
        let (vm, m) = model(cfg());
        let x = Tensor::randn(0f32, 1.0, (3, 6, 8), &Device::Cpu).unwrap();
        let (code, _xn, recon) = m.forward(&x, &[6, 2, 4]).unwrap();
        assert_eq!(code.dims(), &[3, 5]);
        assert_eq!(recon.dims(), &[3, 6, 8]);
        let names: Vec<String> = vm.data().lock().unwrap().keys().cloned().collect();
        for n in [
            "enc.lstm.1.weight_hh",
            "enc.fc.1.weight",
            "dec.fc.0.weight",
            "dec.lstm.1.weight_ih",
            "dec.out.bias",
        ] {
            assert!(names.contains(&n.to_string()), "{n} missing from {names:?}");
        }
        // Decoder LSTM mirrors the encoder: 10 → 10 → 12, output 12 → 8.
        let shape = |n: &str| vm.data().lock().unwrap()[n].dims().to_vec();
        assert_eq!(shape("dec.lstm.0.weight_ih"), [40, 10]);
        assert_eq!(shape("dec.lstm.1.weight_ih"), [48, 10]);
        assert_eq!(shape("dec.out.weight"), [8, 12]);
    }

    #[test]
    fn step_matches_batch_encode() {
        let (vm, m) = model(cfg());
        let dev = Device::Cpu;
        // A non-identity normaliser, so streaming must apply it too.
        vm.data().lock().unwrap()["norm.shift"]
            .set(&Tensor::full(0.3f32, 8, &dev).unwrap())
            .unwrap();
        vm.data().lock().unwrap()["norm.scale"]
            .set(&Tensor::full(2.0f32, 8, &dev).unwrap())
            .unwrap();
        let x = Tensor::randn(0f32, 1.0, (2, 7, 8), &dev).unwrap();
        let lengths = [7, 4];
        let batch = m.encode(&x, &lengths).unwrap();
        for (b, &len) in lengths.iter().enumerate() {
            let mut st = m.zero_state(1).unwrap();
            let mut code = None;
            for t in 0..len {
                let w = x
                    .narrow(0, b, 1)
                    .unwrap()
                    .narrow(1, t, 1)
                    .unwrap()
                    .squeeze(1)
                    .unwrap();
                code = Some(m.step(&mut st, &w).unwrap());
            }
            let d = max_abs_diff(&code.unwrap(), &batch.narrow(0, b, 1).unwrap());
            assert!(d < 1e-5, "sequence {b}: step vs batch differ by {d}");
            assert_eq!(st.steps, len);
            // After a reset the stream starts over.
            st.reset().unwrap();
            let w0 = x
                .narrow(0, b, 1)
                .unwrap()
                .narrow(1, 0, 1)
                .unwrap()
                .squeeze(1)
                .unwrap();
            let c1 = m.step(&mut st, &w0).unwrap();
            let e1 = m
                .encode(&x.narrow(0, b, 1).unwrap().narrow(1, 0, 1).unwrap(), &[1])
                .unwrap();
            assert!(max_abs_diff(&c1, &e1) < 1e-5);
        }
    }

    #[test]
    fn padding_changes_neither_code_nor_loss() {
        let (_vm, m) = model(cfg());
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (1, 5, 8), &dev).unwrap();
        let code = m.encode(&x, &[5]).unwrap();
        let loss = m
            .reconstruction_loss(&x, &[5])
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let pad = Tensor::randn(0f32, 5.0, (1, 4, 8), &dev).unwrap();
        let xp = Tensor::cat(&[&x, &pad], 1).unwrap();
        let code_p = m.encode(&xp, &[5]).unwrap();
        let loss_p = m
            .reconstruction_loss(&xp, &[5])
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(max_abs_diff(&code, &code_p) < 1e-6);
        assert!((loss - loss_p).abs() < 1e-6, "{loss} vs {loss_p}");
        let loss_all = m
            .reconstruction_loss(&xp, &[9])
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!((loss_all - loss).abs() > 1e-3);
    }

    #[test]
    fn masked_mse_counts_only_valid_steps() {
        let dev = Device::Cpu;
        let a = Tensor::new(&[[[1f32, 1.0], [5.0, 5.0]], [[2.0, 2.0], [2.0, 2.0]]], &dev).unwrap();
        let b = Tensor::zeros((2, 2, 2), candle_core::DType::F32, &dev).unwrap();
        // valid: seq0 step0 (1,1), seq1 steps 0,1 (2,2,2,2): (1+1+4*4)/(2*3) = 3.
        let v: f32 = masked_mse(&a, &b, &[1, 2]).unwrap().to_scalar().unwrap();
        assert!((v - 3.0).abs() < 1e-6, "{v}");
        let mean = masked_mean(&a, &[1, 2]).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(mean, vec![vec![1.0, 1.0], vec![2.0, 2.0]]);
    }

    /// The whole training loss through the fused f32 kernels (LSTM, row bias, masked MSE)
    /// against the same model in f64, which takes the plain tensor path (step-by-step LSTM,
    /// broadcast bias, mask and sum): loss and the gradient of every trainable variable.
    #[test]
    fn fused_training_path_matches_f64_tensor_path() {
        let dev = Device::Cpu;
        let (vm32, m32) = model(cfg());
        vm32.data().lock().unwrap()["norm.shift"]
            .set(&Tensor::full(0.2f32, 8, &dev).unwrap())
            .unwrap();
        let (vm64, m64) = f64_twin(&vm32, |vb| SeqAutoencoder::load(cfg(), vb));
        let x = Tensor::randn(0f32, 1.0, (4, 6, 8), &dev).unwrap();
        let lengths = [6, 2, 5, 1];
        let l32 = m32.reconstruction_loss(&x, &lengths).unwrap();
        let l64 = m64
            .reconstruction_loss(&x.to_dtype(candle_core::DType::F64).unwrap(), &lengths)
            .unwrap();
        assert_losses_match(&l32, &l64);
        let (g32, g64) = (l32.backward().unwrap(), l64.backward().unwrap());
        let checked = assert_grads_match((&vm32, &g32), (&vm64, &g64), |_| true, false);
        assert!(checked >= 16, "only {checked} variables checked");
    }
}
