//! Alternative model "LSTM regressor without autoencoder": the embedding sequence through
//! LSTM layers, the last valid step's hidden state concatenated with the standardised
//! feature vector, straight into the study's feed-forward regressor; trained end to end on
//! the regression loss (one stage, no reconstruction).
//!
//! One of the alternatives that "Autoen-chorder" (`shared/study/autoen-chorder-blog.txt`,
//! "Alternate Models" / "Conclusions and Next Steps": training the embedding part "in series
//! with the feed-forward network") set against its two autoencoders; the wiring is ours:
//!
//! ```text
//! emb [B, T, D] ─(x − shift)·scale─▶ LSTM D→H1→…→Hk (masked) ─▶ h at last valid step [B, Hk]
//! features [B, F] ─(x − shift)·scale─▶ z [B, F]
//! [h | z] = [B, Hk + F] ─regressor MLP (ReLU between)─▶ sigmoid ─▶ [B] in (0, 1)
//! ```
//!
//! Weight names: `emb_norm.{shift,scale}`, `feat_norm.{shift,scale}` (buffers set from the
//! training data), `lstm.{i}.*`, `head.{i}.*`.

use crate::regressor::{Regressor, RegressorConfig};
use crate::seq_features::SeqFeatureFront;
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// Sizes of the LSTM regressor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LstmRegressorConfig {
    /// Embedding size per window, `D`.
    pub emb_dim: usize,
    /// Number of low-level features, `F`.
    pub feat_dim: usize,
    /// Hidden sizes of the LSTM layers, e.g. `[64]` (at least one).
    pub lstm_dims: Vec<usize>,
    /// The regressor; its `input_dim` must be `lstm_dims.last() + feat_dim`.
    pub head: RegressorConfig,
}

impl Default for LstmRegressorConfig {
    /// `D = 128`, `F = 207`, LSTM 128→64, the study's 7-layer regressor on 64 + 207 inputs.
    fn default() -> Self {
        let mut c = Self {
            emb_dim: 128,
            feat_dim: 207,
            lstm_dims: vec![64],
            head: RegressorConfig::default(),
        };
        c.fit_to_data(128, 207);
        c
    }
}

impl LstmRegressorConfig {
    /// Sets the input sizes `D`, `F` and the regressor's input width to match.
    pub fn fit_to_data(&mut self, emb_dim: usize, feat_dim: usize) {
        self.emb_dim = emb_dim;
        self.feat_dim = feat_dim;
        self.head.input_dim = self.lstm_out() + feat_dim;
    }

    /// Size of the last LSTM layer's hidden state, `Hk`.
    pub fn lstm_out(&self) -> usize {
        *self.lstm_dims.last().unwrap_or(&self.emb_dim)
    }
}

/// The LSTM regressor (see the module doc).
#[derive(Debug, Clone)]
pub struct LstmRegressor {
    front: SeqFeatureFront,
    /// The feed-forward regressor on `[h | z]`.
    pub head: Regressor,
    cfg: LstmRegressorConfig,
}

impl LstmRegressor {
    /// Loads all weights from `vb` (names in the module doc).
    pub fn load(cfg: LstmRegressorConfig, vb: VarBuilder) -> Result<Self> {
        if cfg.lstm_dims.is_empty() {
            candle_core::bail!("lstm regressor needs at least one LSTM layer");
        }
        let want = cfg.lstm_out() + cfg.feat_dim;
        if cfg.head.input_dim != want {
            candle_core::bail!(
                "lstm regressor: head input_dim {} != LSTM {} + features {}",
                cfg.head.input_dim,
                cfg.lstm_out(),
                cfg.feat_dim
            );
        }
        Ok(Self {
            front: SeqFeatureFront::load(cfg.emb_dim, cfg.feat_dim, &cfg.lstm_dims, &vb, "lstm")?,
            head: Regressor::load(&cfg.head, vb.pp("head"))?,
            cfg,
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &LstmRegressorConfig {
        &self.cfg
    }

    /// The regressor's input `[h | z]`, `[B, Hk + F]`, of a padded embedding batch
    /// `emb: [B, T, D]` (`lengths[b] ∈ 1..=T` valid steps) and raw features `[B, F]`.
    /// Padded steps change nothing.
    pub fn summary(&self, emb: &Tensor, lengths: &[usize], features: &Tensor) -> Result<Tensor> {
        Ok(self.front.forward(emb, lengths, features)?.joined)
    }

    /// Popularity `[B]` in (0, 1) (inference, no dropout).
    pub fn forward(&self, emb: &Tensor, lengths: &[usize], features: &Tensor) -> Result<Tensor> {
        self.forward_t(emb, lengths, features, None)
    }

    /// As [`Self::forward`], with the regressor's dropout drawn from `rng` when given
    /// (training).
    pub fn forward_t(
        &self,
        emb: &Tensor,
        lengths: &[usize],
        features: &Tensor,
        rng: Option<&mut dyn RngCore>,
    ) -> Result<Tensor> {
        self.head
            .forward_t(&self.summary(emb, lengths, features)?, rng)
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

    fn model() -> (VarMap, LstmRegressor) {
        let mut cfg = LstmRegressorConfig {
            lstm_dims: vec![7, 5],
            head: RegressorConfig::with_depth(0, 3, 8),
            ..Default::default()
        };
        cfg.fit_to_data(6, 4);
        let vm = VarMap::new();
        let m =
            LstmRegressor::load(cfg, VarBuilder::from_varmap(&vm, DTYPE, &Device::Cpu)).unwrap();
        init_seeded(&vm, 2);
        (vm, m)
    }

    #[test]
    fn shapes_names_and_size_check() {
        let (vm, m) = model();
        assert_eq!(m.config().head.input_dim, 9);
        let shape = |n: &str| vm.data().lock().unwrap()[n].dims().to_vec();
        assert_eq!(shape("lstm.1.weight_ih"), [20, 7]);
        assert_eq!(shape("head.0.weight"), [8, 9]);
        assert_eq!(shape("feat_norm.scale"), [4]);
        let emb = Tensor::randn(0f32, 1.0, (3, 5, 6), &Device::Cpu).unwrap();
        let f = Tensor::randn(0f32, 1.0, (3, 4), &Device::Cpu).unwrap();
        let y: Vec<f32> = m.forward(&emb, &[5, 1, 3], &f).unwrap().to_vec1().unwrap();
        assert_eq!(y.len(), 3);
        assert!(y.iter().all(|v| *v > 0.0 && *v < 1.0));
        let mut bad = m.config().clone();
        bad.head.input_dim = 8;
        assert!(LstmRegressor::load(
            bad,
            VarBuilder::from_varmap(&VarMap::new(), DTYPE, &Device::Cpu)
        )
        .is_err());
    }

    /// Padding a sequence with arbitrary values after its length changes no output, while
    /// counting those steps as valid does.
    #[test]
    fn padding_changes_nothing() {
        let (_vm, m) = model();
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (1, 4, 6), &dev).unwrap();
        let f = Tensor::randn(0f32, 1.0, (1, 4), &dev).unwrap();
        let pad = Tensor::randn(0f32, 5.0, (1, 3, 6), &dev).unwrap();
        let xp = Tensor::cat(&[&x, &pad], 1).unwrap();
        let a = flat(m.summary(&x, &[4], &f).unwrap());
        let b = flat(m.summary(&xp, &[4], &f).unwrap());
        let c = flat(m.summary(&xp, &[7], &f).unwrap());
        let d = max_abs_diff(&a, &b);
        assert!(d < 1e-6, "padding moved the summary by {d}");
        let d_all = max_abs_diff(&a, &c);
        assert!(d_all > 1e-3, "the padded steps must matter when counted");
        // In a batch with a longer sequence the short one is still unaffected.
        let other = Tensor::randn(0f32, 1.0, (1, 7, 6), &dev).unwrap();
        let batch = Tensor::cat(&[&xp, &other], 0).unwrap();
        let fb = Tensor::cat(&[&f, &f], 0).unwrap();
        let yb: Vec<f32> = m.forward(&batch, &[4, 7], &fb).unwrap().to_vec1().unwrap();
        let y1: Vec<f32> = m.forward(&x, &[4], &f).unwrap().to_vec1().unwrap();
        assert!((yb[0] - y1[0]).abs() < 1e-6, "{} vs {}", yb[0], y1[0]);
    }

    /// A squared-error loss through the fused f32 LSTM against the same model in f64 (the
    /// step-by-step tensor path): loss and the gradient of every trainable variable.
    #[test]
    fn fused_path_gradients_match_f64_tensor_path() {
        use candle_core::DType;
        let dev = Device::Cpu;
        let (vm32, m32) = model();
        let (vm64, m64) = f64_twin(&vm32, |vb| LstmRegressor::load(m32.config().clone(), vb));
        let emb = Tensor::randn(0f32, 1.0, (4, 5, 6), &dev).unwrap();
        let f = Tensor::randn(0f32, 1.0, (4, 4), &dev).unwrap();
        let y = Tensor::new(&[0.1f32, 0.9, 0.4, 0.7], &dev).unwrap();
        let lengths = [5, 1, 3, 4];
        let loss = |m: &LstmRegressor, dt: DType| {
            let p = m
                .forward(
                    &emb.to_dtype(dt).unwrap(),
                    &lengths,
                    &f.to_dtype(dt).unwrap(),
                )
                .unwrap();
            (p - y.to_dtype(dt).unwrap())
                .unwrap()
                .sqr()
                .unwrap()
                .mean_all()
                .unwrap()
        };
        let (l32, l64) = (loss(&m32, DType::F32), loss(&m64, DType::F64));
        assert_losses_match(&l32, &l64);
        let (g32, g64) = (l32.backward().unwrap(), l64.backward().unwrap());
        let checked = assert_grads_match((&vm32, &g32), (&vm64, &g64), |_| true, true);
        // 2 LSTM layers (4 tensors each) and 3 linear layers (2 each).
        assert_eq!(checked, 14);
    }
}
