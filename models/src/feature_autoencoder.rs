//! Autoencoder for the low-level feature vector (the study's "SpotGenTrack autoencoder"),
//! plus the [`Normalizer`] that standardises its input.
//!
//! Mirrors "Autoen-chorder" (`shared/study/autoen-chorder-blog.txt`, "Final Architecture"):
//! an MLP from the `F` low-level features (207 in SpotGenTrack) down to a 20-d code and back.
//!
//! ```text
//! raw features [B, F] ─norm: (x − shift) · scale, clamped to ±clamp_z─▶ z [B, F]
//!   ─MLP F→H1→…→C (ReLU between, linear code)─▶ code [B, C]
//!   ─MLP C→…→H1→F (ReLU between, linear output)─▶ ẑ [B, F]; loss = mean (ẑ − z)²
//! ```
//!
//! Weight names: `norm.shift`, `norm.scale` (buffers, not trained: see
//! [`crate::init::is_trainable`]), `enc.{i}.*`, `dec.{i}.*`.

use crate::mlp::{Activation, Mlp, MlpConfig};
use candle_core::{Result, Tensor};
use candle_nn::{Init, VarBuilder};
use serde::{Deserialize, Serialize};

/// Per-feature affine normalisation `x' = (x − shift) · scale`, stored with the model so that
/// the plugin applies exactly the training-time scaling.
///
/// Standardisation: `shift = mean`, `scale = 1/sd`; min-max to \[0, 1\] (HitMusicNet):
/// `shift = min`, `scale = 1/(max − min)`. Constant features get `scale = 1`.
///
/// An optional clamp bounds the normalised values to `[-clamp, clamp]`, so a feature far
/// outside the training range (e.g. a spectral band the training audio never reached, whose
/// tiny training sd turns an ordinary value into z = 400) cannot swamp the network.
#[derive(Debug, Clone)]
pub struct Normalizer {
    /// `[F]`.
    pub shift: Tensor,
    /// `[F]`.
    pub scale: Tensor,
    /// Bound of the normalised values (`None`: unbounded).
    pub clamp: Option<f32>,
}

impl Normalizer {
    /// Loads `shift` and `scale` (`[dim]` each) from `vb`; a fresh [`candle_nn::VarMap`]
    /// creates the identity (0, 1), which training then overwrites with data statistics.
    pub fn load(dim: usize, vb: VarBuilder) -> Result<Self> {
        let shift = vb.get_with_hints(dim, "shift", Init::Const(0.0))?;
        let scale = vb.get_with_hints(dim, "scale", Init::Const(1.0))?;
        Ok(Self {
            shift,
            scale,
            clamp: None,
        })
    }

    /// The same normaliser with its output bounded to `[-clamp, clamp]` (`None`: unbounded).
    pub fn with_clamp(self, clamp: Option<f32>) -> Self {
        Self { clamp, ..self }
    }

    /// `[B, F]` → `[B, F]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let z = x.broadcast_sub(&self.shift)?.broadcast_mul(&self.scale)?;
        match self.clamp {
            Some(k) => z.clamp(-k, k),
            None => Ok(z),
        }
    }

    /// `(shift, scale)` that standardise `rows` (each of length `F`) to mean 0, sd 1
    /// (population sd).
    pub fn standardize_params(rows: &[&[f32]]) -> (Vec<f32>, Vec<f32>) {
        let f = rows.first().map_or(0, |r| r.len());
        let n = rows.len().max(1) as f64;
        let mut mean = vec![0f64; f];
        for r in rows {
            for (m, &v) in mean.iter_mut().zip(r.iter()) {
                *m += v as f64 / n;
            }
        }
        let mut var = vec![0f64; f];
        for r in rows {
            for ((s, &v), m) in var.iter_mut().zip(r.iter()).zip(&mean) {
                *s += (v as f64 - m).powi(2) / n;
            }
        }
        let scale = var
            .iter()
            .map(|&v| {
                if v > 1e-24 {
                    (1.0 / v.sqrt()) as f32
                } else {
                    1.0
                }
            })
            .collect();
        (mean.into_iter().map(|m| m as f32).collect(), scale)
    }

    /// `(shift, scale)` that min-max scale `rows` to \[0, 1\] per feature.
    pub fn minmax_params(rows: &[&[f32]]) -> (Vec<f32>, Vec<f32>) {
        let f = rows.first().map_or(0, |r| r.len());
        let mut lo = vec![f32::INFINITY; f];
        let mut hi = vec![f32::NEG_INFINITY; f];
        for r in rows {
            for i in 0..f {
                lo[i] = lo[i].min(r[i]);
                hi[i] = hi[i].max(r[i]);
            }
        }
        let scale = lo
            .iter()
            .zip(&hi)
            .map(|(l, h)| if h - l > 0.0 { 1.0 / (h - l) } else { 1.0 })
            .collect();
        (lo, scale)
    }
}

/// Sizes of the feature autoencoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeatureAutoencoderConfig {
    /// Number of low-level features `F` (SpotGenTrack: 207).
    pub input_dim: usize,
    /// Hidden widths of the encoder, e.g. `[64, 32]` (the decoder mirrors them).
    pub hidden_dims: Vec<usize>,
    /// Code size `C` (the study: 20).
    pub code_dim: usize,
    /// Bound of the standardised features, in training sds (default 5; `null`: unbounded).
    /// Training data almost never reaches it; it keeps songs unlike the training set (a
    /// model trained on the generated corpus meeting real music) from saturating the head.
    /// Bundles written before this field existed get the default.
    pub clamp_z: Option<f32>,
}

impl Default for FeatureAutoencoderConfig {
    fn default() -> Self {
        Self {
            input_dim: 207,
            hidden_dims: vec![103, 51],
            code_dim: 20,
            clamp_z: Some(5.0),
        }
    }
}

/// The feature autoencoder (see the module doc).
#[derive(Debug, Clone)]
pub struct FeatureAutoencoder {
    norm: Normalizer,
    enc: Mlp,
    dec: Mlp,
    cfg: FeatureAutoencoderConfig,
}

impl FeatureAutoencoder {
    /// Loads `norm.*`, `enc.*`, `dec.*` from `vb`.
    pub fn load(cfg: FeatureAutoencoderConfig, vb: VarBuilder) -> Result<Self> {
        let mut dims = vec![cfg.input_dim];
        dims.extend(&cfg.hidden_dims);
        dims.push(cfg.code_dim);
        let mut rdims = dims.clone();
        rdims.reverse();
        let norm = Normalizer::load(cfg.input_dim, vb.pp("norm"))?.with_clamp(cfg.clamp_z);
        let enc = Mlp::load(MlpConfig::relu(dims, Activation::None), vb.pp("enc"))?;
        let dec = Mlp::load(MlpConfig::relu(rdims, Activation::None), vb.pp("dec"))?;
        Ok(Self {
            norm,
            enc,
            dec,
            cfg,
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &FeatureAutoencoderConfig {
        &self.cfg
    }

    /// The input normaliser (training sets its buffers).
    pub fn normalizer(&self) -> &Normalizer {
        &self.norm
    }

    /// Raw features `[B, F]` → code `[B, C]`.
    pub fn encode(&self, x: &Tensor) -> Result<Tensor> {
        self.enc.forward(&self.norm.forward(x)?)
    }

    /// Raw features `[B, F]` → `(code [B, C], normalised input [B, F], reconstruction [B, F])`.
    pub fn forward(&self, x: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
        let z = self.norm.forward(x)?;
        let code = self.enc.forward(&z)?;
        let recon = self.dec.forward(&code)?;
        Ok((code, z, recon))
    }

    /// Mean squared reconstruction error of the normalised features (scalar).
    pub fn reconstruction_loss(&self, x: &Tensor) -> Result<Tensor> {
        let (_code, z, recon) = self.forward(x)?;
        (recon - z)?.sqr()?.mean_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::{init_varmap, InitConfig, DTYPE};
    use crate::test_util::flat;
    use candle_core::Device;
    use candle_nn::VarMap;

    #[test]
    fn normalizer_params() {
        let rows: Vec<Vec<f32>> = vec![vec![1.0, 5.0], vec![3.0, 5.0]];
        let r: Vec<&[f32]> = rows.iter().map(|r| r.as_slice()).collect();
        let (m, s) = Normalizer::standardize_params(&r);
        assert_eq!(m, vec![2.0, 5.0]);
        assert_eq!(s, vec![1.0, 1.0]); // sd 1; constant column keeps scale 1
        let (lo, sc) = Normalizer::minmax_params(&r);
        assert_eq!(lo, vec![1.0, 5.0]);
        assert_eq!(sc, vec![0.5, 1.0]);
    }

    #[test]
    fn shapes_buffers_and_loss() {
        let vm = VarMap::new();
        let cfg = FeatureAutoencoderConfig {
            input_dim: 10,
            hidden_dims: vec![8],
            code_dim: 3,
            clamp_z: None,
        };
        let m = FeatureAutoencoder::load(cfg, VarBuilder::from_varmap(&vm, DTYPE, &Device::Cpu))
            .unwrap();
        let names = init_varmap(&vm, &InitConfig::default()).unwrap();
        assert!(
            !names.iter().any(|n| n.starts_with("norm.")),
            "buffers must not be re-initialised"
        );
        let x = Tensor::randn(0f32, 1.0, (4, 10), &Device::Cpu).unwrap();
        let (code, z, recon) = m.forward(&x).unwrap();
        assert_eq!(code.dims(), &[4, 3]);
        assert_eq!(recon.dims(), &[4, 10]);
        // Identity normaliser at creation.
        let d: f32 = (z - &x)
            .unwrap()
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        assert_eq!(d, 0.0);
        let l: f32 = m.reconstruction_loss(&x).unwrap().to_scalar().unwrap();
        assert!(l.is_finite() && l > 0.0);
        // Setting the shift moves the normalised input.
        vm.data().lock().unwrap()["norm.shift"]
            .set(&Tensor::ones(10, DTYPE, &Device::Cpu).unwrap())
            .unwrap();
        let z2 = m.normalizer().forward(&x).unwrap();
        let d2: f32 = (&x - z2).unwrap().mean_all().unwrap().to_scalar().unwrap();
        assert!((d2 - 1.0).abs() < 1e-6);
    }

    #[test]
    fn clamp_bounds_standardised_values_and_defaults_for_old_configs() {
        let dev = Device::Cpu;
        let norm = Normalizer {
            shift: Tensor::new(&[1f32, 0.0, 0.0], &dev).unwrap(),
            scale: Tensor::new(&[100f32, 1.0, 2.0], &dev).unwrap(),
            clamp: None,
        };
        let x = Tensor::new(&[[5f32, -0.5, -7.0]], &dev).unwrap();
        let free = flat(norm.forward(&x).unwrap());
        assert_eq!(free, vec![400.0, -0.5, -14.0]);
        let bounded = flat(norm.with_clamp(Some(5.0)).forward(&x).unwrap());
        assert_eq!(bounded, vec![5.0, -0.5, -5.0]);
        // A config saved before `clamp_z` existed gets the default bound; `null` removes it.
        let old: FeatureAutoencoderConfig =
            serde_json::from_str(r#"{"input_dim": 3, "hidden_dims": [2], "code_dim": 1}"#).unwrap();
        assert_eq!(old.clamp_z, Some(5.0));
        let free: FeatureAutoencoderConfig =
            serde_json::from_str(r#"{"input_dim": 3, "clamp_z": null}"#).unwrap();
        assert_eq!(free.clamp_z, None);
    }
}
