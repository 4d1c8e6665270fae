//! A plain feed-forward stack of linear layers, shared by the autoencoders and regressors.
//!
//! Layer `i` maps `dims[i] → dims[i+1]` and is stored as `{prefix}.{i}.weight [out, in]`,
//! `{prefix}.{i}.bias [out]` (PyTorch `nn.Linear` layout). Hidden layers are followed by the
//! hidden activation and, for the first `dropout_layers` of them, inverted dropout; the last
//! layer by [`Activation`] `output`. Dropout masks come from a caller-supplied RNG so that
//! training stays deterministic given a seed (candle's own dropout draws from the thread RNG).

use candle_core::{Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// Elementwise activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// Identity.
    #[default]
    None,
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + e^-x)`, range (0, 1).
    Sigmoid,
    /// `tanh(x)`, range (-1, 1).
    Tanh,
}

impl Activation {
    /// Applies the activation.
    pub fn apply(self, x: &Tensor) -> Result<Tensor> {
        match self {
            Activation::None => Ok(x.clone()),
            Activation::Relu => x.relu(),
            Activation::Sigmoid => candle_nn::ops::sigmoid(x),
            Activation::Tanh => x.tanh(),
        }
    }
}

/// Shape and activations of an [`Mlp`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Widths `[in, hidden…, out]`; `dims.len() - 1` linear layers.
    pub dims: Vec<usize>,
    /// Activation after every hidden layer.
    pub hidden: Activation,
    /// Activation after the last layer.
    pub output: Activation,
    /// Drop probability of the inverted dropout after hidden layers (0 = none).
    #[serde(default)]
    pub dropout: f32,
    /// How many of the first hidden layers get dropout (HitMusicNet: 2).
    #[serde(default)]
    pub dropout_layers: usize,
}

impl MlpConfig {
    /// Layers `dims[0] → … → dims[last]` with ReLU after every hidden layer, `output` after
    /// the last, and no dropout (the autoencoders' encoders and decoders).
    pub fn relu(dims: Vec<usize>, output: Activation) -> Self {
        Self {
            dims,
            hidden: Activation::Relu,
            output,
            dropout: 0.0,
            dropout_layers: 0,
        }
    }
}

/// Feed-forward stack (see the module doc).
#[derive(Debug, Clone)]
pub struct Mlp {
    layers: Vec<Linear>,
    cfg: MlpConfig,
}

impl Mlp {
    /// Loads layers `0..dims.len()-1` from `vb.pp(i)`.
    pub fn load(cfg: MlpConfig, vb: VarBuilder) -> Result<Self> {
        if cfg.dims.len() < 2 {
            candle_core::bail!("mlp needs at least [in, out], got {:?}", cfg.dims);
        }
        let layers = cfg
            .dims
            .windows(2)
            .enumerate()
            .map(|(i, w)| crate::init::linear(w[0], w[1], vb.pp(i)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { layers, cfg })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &MlpConfig {
        &self.cfg
    }

    /// Inference forward (no dropout): `[B, in]` → `[B, out]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_t(x, None)
    }

    /// Forward with dropout when `rng` is given (training): `[B, in]` → `[B, out]`.
    pub fn forward_t(&self, x: &Tensor, mut rng: Option<&mut dyn RngCore>) -> Result<Tensor> {
        let n = self.layers.len();
        let mut x = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(&x)?;
            if i + 1 == n {
                x = self.cfg.output.apply(&x)?;
            } else {
                x = self.cfg.hidden.apply(&x)?;
                if i < self.cfg.dropout_layers && self.cfg.dropout > 0.0 {
                    if let Some(rng) = rng.as_deref_mut() {
                        x = dropout(&x, self.cfg.dropout, rng)?;
                    }
                }
            }
        }
        Ok(x)
    }
}

/// Inverted dropout: zero each element with probability `p`, scale survivors by `1/(1-p)`.
pub fn dropout(x: &Tensor, p: f32, rng: &mut dyn RngCore) -> Result<Tensor> {
    let n = x.elem_count();
    let scale = 1.0 / (1.0 - p);
    let mask: Vec<f32> = (0..n)
        .map(|_| {
            let u = (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32;
            if u < p {
                0.0
            } else {
                scale
            }
        })
        .collect();
    let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
    x * mask
}
