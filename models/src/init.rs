//! Seeded, deterministic weight initialisation for freshly created networks.
//!
//! The study ("Autoen-chorder", `shared/study/autoen-chorder-blog.txt`, section "Additional
//! Model Considerations") initialises every linear layer with Xavier-uniform weights and a
//! constant bias of 0.1 to fight vanishing gradients. HitMusicNet (Keras) uses
//! glorot-uniform weights and zero biases (`spotgentrack-hitmusicnet-notes.md` §3.3–3.4).
//!
//! Networks are built through a [`VarBuilder`] backed by a [`VarMap`]; candle fills new
//! variables from its own thread RNG, so after building, [`init_varmap`] overwrites every
//! variable whose name matches a known layout from a ChaCha8 stream seeded by
//! [`InitConfig::seed`]. Variables are visited in sorted name order, and each one gets its own
//! stream derived from the seed and its name, so adding a layer does not change the initial
//! values of the others.
//!
//! Recognised names (last path component):
//! - `weight` of rank 2 `[out, in]` (a linear layer): Xavier-uniform, `U(-a, a)` with
//!   `a = gain * sqrt(6 / (in + out))`;
//! - `bias` of rank 1: the constant [`InitConfig::bias`];
//! - `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh` (an [`crate::lstm::Lstm`]): PyTorch's
//!   default LSTM init `U(-k, k)`, `k = 1 / sqrt(hidden)` (the study re-initialised only its
//!   linear layers);
//! - anything else (normalisation buffers such as `norm.mean`) is left untouched.

use candle_core::{DType, Result, Tensor, Var};
use candle_nn::VarMap;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How to initialise a freshly built network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InitConfig {
    /// Seed of the ChaCha8 streams; the same seed gives bit-identical weights.
    pub seed: u64,
    /// Constant value of every linear bias (the study: 0.1; HitMusicNet/Keras: 0.0).
    pub bias: f64,
    /// Xavier gain (1.0 = Keras `glorot_uniform`, PyTorch `xavier_uniform_` default).
    pub gain: f64,
}

impl Default for InitConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            bias: 0.1,
            gain: 1.0,
        }
    }
}

/// 64-bit FNV-1a of a name, used to derive one independent stream per variable.
fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Values for one variable, or `None` when the name/shape is not one we initialise.
fn init_values(name: &str, dims: &[usize], cfg: &InitConfig) -> Option<Vec<f64>> {
    let leaf = name.rsplit('.').next().unwrap_or(name);
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ fnv1a(name));
    let n: usize = dims.iter().product();
    let uniform = |rng: &mut ChaCha8Rng, a: f64| -> Vec<f64> {
        (0..n).map(|_| rng.random_range(-a..a)).collect()
    };
    match (leaf, dims) {
        ("weight", &[out, inp]) => {
            let a = cfg.gain * (6.0 / (inp + out) as f64).sqrt();
            Some(uniform(&mut rng, a))
        }
        ("bias", &[_]) => Some(vec![cfg.bias; n]),
        ("weight_ih" | "weight_hh", &[four_h, _]) | ("bias_ih" | "bias_hh", &[four_h]) => {
            let k = 1.0 / ((four_h / 4).max(1) as f64).sqrt();
            Some(uniform(&mut rng, k))
        }
        _ => None,
    }
}

/// Overwrites every recognised variable of `varmap` (see the module doc) with seeded values.
/// Returns the names that were initialised, sorted.
pub fn init_varmap(varmap: &VarMap, cfg: &InitConfig) -> Result<Vec<String>> {
    init_varmap_prefix(varmap, "", cfg)
}

/// Overwrites only the variables whose name starts with `prefix` (e.g. `"head."`).
pub fn init_varmap_prefix(varmap: &VarMap, prefix: &str, cfg: &InitConfig) -> Result<Vec<String>> {
    let data = varmap.data().lock().unwrap();
    let mut names: Vec<&String> = data.keys().filter(|n| n.starts_with(prefix)).collect();
    names.sort();
    let mut done = Vec::new();
    for name in names {
        let var: &Var = &data[name];
        if let Some(values) = init_values(name, var.dims(), cfg) {
            let t = Tensor::from_vec(values, var.dims(), var.device())?.to_dtype(var.dtype())?;
            var.set(&t)?;
            done.push(name.clone());
        }
    }
    Ok(done)
}

/// A linear layer `y = x Wᵀ + b` with `W: [out, in]` named `weight` and `b: [out]` named
/// `bias` (PyTorch/candle layout), loaded from `vb`.
pub fn linear(
    in_dim: usize,
    out_dim: usize,
    vb: candle_nn::VarBuilder,
) -> Result<candle_nn::Linear> {
    let w = vb.get((out_dim, in_dim), "weight")?;
    let b = vb.get(out_dim, "bias")?;
    Ok(candle_nn::Linear::new(w, Some(b)))
}

/// Whether an optimiser should update the variable `name`: everything except the
/// normalisation buffers `*.shift` / `*.scale` of [`crate::feature_autoencoder::Normalizer`],
/// which training sets from data statistics.
pub fn is_trainable(name: &str) -> bool {
    !matches!(name.rsplit('.').next(), Some("shift" | "scale"))
}

/// The dtype every Chorder network trains and runs in.
pub const DTYPE: DType = DType::F32;

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::VarBuilder;

    fn build(seed: u64) -> (VarMap, Vec<String>) {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DTYPE, &Device::Cpu);
        linear(30, 10, vb.pp("a")).unwrap();
        linear(10, 1, vb.pp("b")).unwrap();
        let names = init_varmap(
            &vm,
            &InitConfig {
                seed,
                ..Default::default()
            },
        )
        .unwrap();
        (vm, names)
    }

    fn get(vm: &VarMap, name: &str) -> Vec<f32> {
        vm.data().lock().unwrap()[name]
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    #[test]
    fn xavier_bounds_bias_and_determinism() {
        let (a, names) = build(7);
        assert_eq!(names, ["a.bias", "a.weight", "b.bias", "b.weight"]);
        let w = get(&a, "a.weight");
        let bound = (6.0f32 / 40.0).sqrt();
        assert!(w.iter().all(|v| v.abs() <= bound));
        // Spread over the interval, not a constant: the max is close to the bound.
        let max = w.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(max > 0.8 * bound, "max {max} bound {bound}");
        assert!(get(&a, "a.bias").iter().all(|&v| (v - 0.1).abs() < 1e-7));
        let (b, _) = build(7);
        assert_eq!(get(&a, "a.weight"), get(&b, "a.weight"));
        let (c, _) = build(8);
        assert_ne!(get(&a, "a.weight"), get(&c, "a.weight"));
    }
}
