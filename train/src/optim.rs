//! Adam / AdamW (and Adadelta, HitMusicNet's optimiser) with a state that can be saved and
//! restored.
//!
//! The update is the one of candle-nn's `AdamW` (`candle-nn/src/optim.rs`) and of PyTorch's
//! `torch.optim.Adam` / `AdamW`; we carry our own copy because candle's keeps its moments
//! private, and a run resumed from a checkpoint must continue with the same moments to end
//! with the same weights as an uninterrupted run.
//!
//! ```text
//! t += 1
//! Adam (L2):  g ← g + wd·θ                AdamW (decoupled):  θ ← θ·(1 − lr·wd)
//! m ← β1·m + (1 − β1)·g      v ← β2·v + (1 − β2)·g²
//! θ ← θ − lr · (m / (1 − β1^t)) / (sqrt(v / (1 − β2^t)) + ε)
//! ```

use candle_core::{backprop::GradStore, Result, Tensor, Var};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Which weight-decay flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Adam with L2 weight decay added to the gradient (PyTorch `Adam(weight_decay=…)`).
    Adam,
    /// Adam with decoupled weight decay (PyTorch `AdamW`, candle-nn `AdamW`).
    AdamW,
}

/// Hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdamParams {
    /// Flavour.
    pub kind: OptimizerKind,
    /// Learning rate.
    pub lr: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Denominator guard.
    pub eps: f64,
    /// Weight decay (0 = none; the study's best).
    pub weight_decay: f64,
}

impl Default for AdamParams {
    fn default() -> Self {
        Self {
            kind: OptimizerKind::Adam,
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// The optimiser over a named set of variables.
pub struct Adam {
    vars: Vec<(String, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    t: usize,
    params: AdamParams,
}

/// Asks the C allocator to keep freed memory in the process (Linux with glibc; elsewhere
/// nothing). Training allocates and frees multi-megabyte tensors at every operation; by
/// default glibc serves each from fresh `mmap`ed pages (or trims the heap top after it is
/// freed), so every batch faults its working set back in page by page, and with two
/// threads each unmapping costs a TLB shoot-down on the other core. With a 256 MiB
/// `mmap` threshold and a 1 GiB trim threshold those buffers are reused instead (the same
/// as `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824`).
/// Part of [`tune_for_training`]; the process keeps up to about the peak of a training
/// step's memory after it ends.
pub fn retain_freed_memory() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: `mallopt` only sets allocator parameters; valid at any time.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        }
    });
}

/// Products below this many multiply-adds (`m·n·k`) run on one thread during training.
pub const SERIAL_GEMM_BELOW: usize = 1 << 24;

/// Process-wide settings for training, applied once by [`Adam::new`] and
/// [`Adadelta::new`]: [`retain_freed_memory`], and `gemm` (candle's matrix products) runs
/// products under [`SERIAL_GEMM_BELOW`] multiply-adds on one thread (its default threshold
/// is 48·48·256 ≈ 590k): a mini-batch product of the feature autoencoder or the regressor
/// (`[200, 207] × [207, 103]` and smaller) costs less than handing it to the thread pool,
/// and the sequence model's large products run in its own kernels, split by rows.
pub fn tune_for_training() {
    retain_freed_memory();
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if gemm::get_threading_threshold() < SERIAL_GEMM_BELOW {
            gemm::set_threading_threshold(SERIAL_GEMM_BELOW);
        }
    });
}

impl Adam {
    /// Zero moments for `vars` (names are used only to save/restore the state). Also calls
    /// [`tune_for_training`].
    pub fn new(vars: Vec<(String, Var)>, params: AdamParams) -> Result<Self> {
        tune_for_training();
        let m = vars
            .iter()
            .map(|(_, v)| v.as_tensor().zeros_like())
            .collect::<Result<Vec<_>>>()?;
        let v = m.clone();
        Ok(Self {
            vars,
            m,
            v,
            t: 0,
            params,
        })
    }

    /// Steps taken so far.
    pub fn step_count(&self) -> usize {
        self.t
    }

    /// Hyper-parameters.
    pub fn params(&self) -> &AdamParams {
        &self.params
    }

    /// One update from `grads` (variables without a gradient are left alone, moments too).
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.t += 1;
        let AdamParams {
            kind,
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
        } = self.params;
        let bc1 = 1.0 - beta1.powi(self.t as i32);
        let bc2 = 1.0 - beta2.powi(self.t as i32);
        for (i, (_, var)) in self.vars.iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let theta = var.as_tensor().detach();
            let mut g = g.detach();
            if kind == OptimizerKind::Adam && weight_decay != 0.0 {
                g = (g + theta.affine(weight_decay, 0.0)?)?;
            }
            let m = ((&self.m[i] * beta1)? + (&g * (1.0 - beta1))?)?;
            let v = ((&self.v[i] * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
            let m_hat = (&m * (1.0 / bc1))?;
            let v_hat = (&v * (1.0 / bc2))?;
            let upd = (m_hat / (v_hat.sqrt()? + eps)?)?;
            let mut new = theta;
            if kind == OptimizerKind::AdamW && weight_decay != 0.0 {
                new = (new * (1.0 - lr * weight_decay))?;
            }
            let new = (new - (upd * lr)?)?;
            var.set(&new)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(())
    }

    /// `loss.backward()` then [`Self::step`].
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        let grads = loss.backward()?;
        self.step(&grads)
    }

    /// Moments as tensors named `{prefix}m.{var}` / `{prefix}v.{var}`; the step count is
    /// returned separately (it goes in the JSON part of a checkpoint).
    pub fn state_tensors(&self, prefix: &str) -> (HashMap<String, Tensor>, usize) {
        let out = slots_to_tensors(&self.vars, prefix, [("m", &self.m), ("v", &self.v)]);
        (out, self.t)
    }

    /// Restores moments saved by [`Self::state_tensors`] and the step count.
    pub fn load_state(
        &mut self,
        tensors: &HashMap<String, Tensor>,
        prefix: &str,
        step: usize,
    ) -> Result<()> {
        load_slots(
            &self.vars,
            tensors,
            prefix,
            [("m", &mut self.m), ("v", &mut self.v)],
        )?;
        self.t = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    /// Minimises (θ − 3)² and checks the first step against the closed form: with bias
    /// correction, step 1 moves every parameter by almost exactly `lr`.
    #[test]
    fn first_step_and_convergence() {
        let dev = Device::Cpu;
        let theta = Var::zeros(2, DType::F64, &dev).unwrap();
        let mut opt = Adam::new(
            vec![("theta".into(), theta.clone())],
            AdamParams {
                lr: 0.1,
                ..Default::default()
            },
        )
        .unwrap();
        let loss = |t: &Var| {
            (t.as_tensor() - 3.0)
                .unwrap()
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
        };
        opt.backward_step(&loss(&theta)).unwrap();
        let v: Vec<f64> = theta.as_tensor().to_vec1().unwrap();
        assert!((v[0] - 0.1).abs() < 1e-6, "{v:?}");
        for _ in 0..500 {
            opt.backward_step(&loss(&theta)).unwrap();
        }
        let v: Vec<f64> = theta.as_tensor().to_vec1().unwrap();
        assert!((v[0] - 3.0).abs() < 1e-2, "{v:?}");
    }

    #[test]
    fn restored_state_continues_identically() {
        let dev = Device::Cpu;
        let run = |split: Option<usize>| -> Vec<f64> {
            let theta = Var::from_vec(vec![1.0f64, -2.0], 2, &dev).unwrap();
            let params = AdamParams {
                kind: OptimizerKind::AdamW,
                lr: 0.05,
                weight_decay: 0.01,
                ..Default::default()
            };
            let mut opt = Adam::new(vec![("theta".into(), theta.clone())], params).unwrap();
            let loss = |t: &Var| {
                (t.as_tensor().sqr().unwrap().sin().unwrap())
                    .sum_all()
                    .unwrap()
            };
            for i in 0..20 {
                if Some(i) == split {
                    let (st, t) = opt.state_tensors("opt.");
                    let copy = Var::from_tensor(&theta.as_tensor().copy().unwrap()).unwrap();
                    opt = Adam::new(vec![("theta".into(), copy.clone())], params).unwrap();
                    opt.load_state(&st, "opt.", t).unwrap();
                    return {
                        for _ in i..20 {
                            opt.backward_step(&loss(&copy)).unwrap();
                        }
                        copy.as_tensor().to_vec1().unwrap()
                    };
                }
                opt.backward_step(&loss(&theta)).unwrap();
            }
            theta.as_tensor().to_vec1().unwrap()
        };
        let full = run(None);
        let resumed = run(Some(7));
        assert_eq!(full, resumed);
        // A fresh optimiser (moments lost) would diverge from it.
        let dev2 = Device::Cpu;
        let theta = Var::from_vec(vec![1.0f64, -2.0], 2, &dev2).unwrap();
        let params = AdamParams {
            kind: OptimizerKind::AdamW,
            lr: 0.05,
            weight_decay: 0.01,
            ..Default::default()
        };
        let mut opt = Adam::new(vec![("theta".into(), theta.clone())], params).unwrap();
        let loss = |t: &Var| {
            (t.as_tensor().sqr().unwrap().sin().unwrap())
                .sum_all()
                .unwrap()
        };
        for i in 0..20 {
            if i == 7 {
                opt = Adam::new(vec![("theta".into(), theta.clone())], params).unwrap();
            }
            opt.backward_step(&loss(&theta)).unwrap();
        }
        assert_ne!(full, theta.as_tensor().to_vec1::<f64>().unwrap());
    }
}

/// Adadelta hyper-parameters; the defaults are Keras 2.2.4's, which HitMusicNet's regressor
/// used (`optimizer='adadelta'`, nothing set: lr 1.0, rho 0.95, epsilon `K.epsilon()` = 1e-7).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdadeltaParams {
    /// Learning rate (a plain multiplier of the step).
    pub lr: f64,
    /// Decay of both running averages.
    pub rho: f64,
    /// Guard inside both square roots.
    pub eps: f64,
}

impl Default for AdadeltaParams {
    fn default() -> Self {
        Self {
            lr: 1.0,
            rho: 0.95,
            eps: 1e-7,
        }
    }
}

/// Adadelta (Zeiler 2012) as in Keras 2.2.4 `keras/optimizers.py` `Adadelta.get_updates`:
///
/// ```text
/// a  ← ρ·a + (1 − ρ)·g²
/// Δ  = g · sqrt(d + ε) / sqrt(a + ε)
/// θ  ← θ − lr·Δ
/// d  ← ρ·d + (1 − ρ)·Δ²
/// ```
///
/// with `a` (running mean of squared gradients) and `d` (of squared updates) per variable,
/// both starting at zero; the state can be saved and restored like [`Adam`]'s.
pub struct Adadelta {
    vars: Vec<(String, Var)>,
    a: Vec<Tensor>,
    d: Vec<Tensor>,
    t: usize,
    params: AdadeltaParams,
}

impl Adadelta {
    /// Zero accumulators for `vars` (names are used only to save/restore the state). Also
    /// calls [`tune_for_training`].
    pub fn new(vars: Vec<(String, Var)>, params: AdadeltaParams) -> Result<Self> {
        tune_for_training();
        let a = vars
            .iter()
            .map(|(_, v)| v.as_tensor().zeros_like())
            .collect::<Result<Vec<_>>>()?;
        let d = a.clone();
        Ok(Self {
            vars,
            a,
            d,
            t: 0,
            params,
        })
    }

    /// Steps taken so far.
    pub fn step_count(&self) -> usize {
        self.t
    }

    /// One update from `grads` (variables without a gradient are left alone).
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.t += 1;
        let AdadeltaParams { lr, rho, eps } = self.params;
        for (i, (_, var)) in self.vars.iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let g = g.detach();
            let a = ((&self.a[i] * rho)? + (g.sqr()? * (1.0 - rho))?)?;
            let upd = ((&g * (&self.d[i] + eps)?.sqrt()?)? / (&a + eps)?.sqrt()?)?;
            let new = (var.as_tensor().detach() - (&upd * lr)?)?;
            var.set(&new)?;
            self.d[i] = ((&self.d[i] * rho)? + (upd.sqr()? * (1.0 - rho))?)?;
            self.a[i] = a;
        }
        Ok(())
    }

    /// `loss.backward()` then [`Self::step`].
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        let grads = loss.backward()?;
        self.step(&grads)
    }

    /// Accumulators as tensors named `{prefix}a.{var}` / `{prefix}d.{var}`, and the step
    /// count.
    pub fn state_tensors(&self, prefix: &str) -> (HashMap<String, Tensor>, usize) {
        let out = slots_to_tensors(&self.vars, prefix, [("a", &self.a), ("d", &self.d)]);
        (out, self.t)
    }

    /// Restores accumulators saved by [`Self::state_tensors`] and the step count.
    pub fn load_state(
        &mut self,
        tensors: &HashMap<String, Tensor>,
        prefix: &str,
        step: usize,
    ) -> Result<()> {
        load_slots(
            &self.vars,
            tensors,
            prefix,
            [("a", &mut self.a), ("d", &mut self.d)],
        )?;
        self.t = step;
        Ok(())
    }
}

/// An optimiser's two per-variable state tensors as a checkpoint map: slot `key` of
/// variable `name` is stored as `{prefix}{key}.{name}` (same shapes as the variables).
fn slots_to_tensors(
    vars: &[(String, Var)],
    prefix: &str,
    slots: [(&str, &[Tensor]); 2],
) -> HashMap<String, Tensor> {
    let mut out = HashMap::new();
    for (key, tensors) in slots {
        for ((name, _), t) in vars.iter().zip(tensors) {
            out.insert(format!("{prefix}{key}.{name}"), t.clone());
        }
    }
    out
}

/// Restores slots written by [`slots_to_tensors`], checking each tensor is present and has
/// its variable's shape, and moving it to the variable's dtype and device.
fn load_slots(
    vars: &[(String, Var)],
    tensors: &HashMap<String, Tensor>,
    prefix: &str,
    slots: [(&str, &mut Vec<Tensor>); 2],
) -> Result<()> {
    for (key, slot) in slots {
        for ((name, var), dst) in vars.iter().zip(slot.iter_mut()) {
            let k = format!("{prefix}{key}.{name}");
            let t = tensors
                .get(&k)
                .ok_or_else(|| candle_core::Error::Msg(format!("checkpoint lacks {k}")))?;
            if t.dims() != var.dims() {
                candle_core::bail!(
                    "checkpoint {k} has shape {:?}, variable {:?}",
                    t.dims(),
                    var.dims()
                );
            }
            *dst = t.to_dtype(var.dtype())?.to_device(var.device())?;
        }
    }
    Ok(())
}

/// The optimiser of one training stage: Adam/AdamW, or Adadelta when the stage's config
/// asks for it (`StageConfig::adadelta`).
pub enum StageOptimizer {
    /// Adam or AdamW.
    Adam(Adam),
    /// Adadelta.
    Adadelta(Adadelta),
}

impl StageOptimizer {
    /// Adadelta with `adadelta` when given, else Adam with `adam`, over `vars`.
    pub fn new(
        vars: Vec<(String, Var)>,
        adam: AdamParams,
        adadelta: Option<AdadeltaParams>,
    ) -> Result<Self> {
        Ok(match adadelta {
            Some(p) => Self::Adadelta(Adadelta::new(vars, p)?),
            None => Self::Adam(Adam::new(vars, adam)?),
        })
    }

    /// Steps taken so far.
    pub fn step_count(&self) -> usize {
        match self {
            Self::Adam(o) => o.step_count(),
            Self::Adadelta(o) => o.step_count(),
        }
    }

    /// `loss.backward()` then one update.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        match self {
            Self::Adam(o) => o.backward_step(loss),
            Self::Adadelta(o) => o.backward_step(loss),
        }
    }

    /// The optimiser's state tensors under `prefix`, and the step count.
    pub fn state_tensors(&self, prefix: &str) -> (HashMap<String, Tensor>, usize) {
        match self {
            Self::Adam(o) => o.state_tensors(prefix),
            Self::Adadelta(o) => o.state_tensors(prefix),
        }
    }

    /// Restores a state saved by [`Self::state_tensors`].
    pub fn load_state(
        &mut self,
        tensors: &HashMap<String, Tensor>,
        prefix: &str,
        step: usize,
    ) -> Result<()> {
        match self {
            Self::Adam(o) => o.load_state(tensors, prefix, step),
            Self::Adadelta(o) => o.load_state(tensors, prefix, step),
        }
    }
}

#[cfg(test)]
mod adadelta_tests {
    use super::*;
    use candle_core::{DType, Device};

    /// Two steps on (θ − 3)² from θ = 5 with Keras' defaults, against values computed by
    /// hand (in f64, with Python): step 1: g = 4, a = 0.8, Δ = 4·sqrt(1e-7)/sqrt(0.8 + 1e-7)
    /// → θ = 4.998585786526015, d = 9.99999875e-8; step 2: θ = 4.99715405052288,
    /// a = 1.5588690292207636, d = 1.974933872586142e-7.
    #[test]
    fn two_steps_match_hand_computation() {
        let theta = Var::from_slice(&[5.0f64], 1, &Device::Cpu).unwrap();
        let mut opt = Adadelta::new(
            vec![("theta".into(), theta.clone())],
            AdadeltaParams::default(),
        )
        .unwrap();
        let expect = [
            (4.998585786526015, 0.8000000000000007, 9.999998750000159e-8),
            (4.99715405052288, 1.5588690292207636, 1.974933872586142e-7),
        ];
        for (th, a, d) in expect {
            let loss = (theta.as_tensor() - 3.0)
                .unwrap()
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap();
            opt.backward_step(&loss).unwrap();
            let got = theta.as_tensor().to_vec1::<f64>().unwrap()[0];
            assert!((got - th).abs() < 1e-12, "theta {got} vs {th}");
            let (state, t) = opt.state_tensors("");
            let ga = state["a.theta"].to_vec1::<f64>().unwrap()[0];
            let gd = state["d.theta"].to_vec1::<f64>().unwrap()[0];
            assert!(
                (ga - a).abs() < 1e-12 && (gd - d).abs() < 1e-18,
                "{ga} {gd}"
            );
            assert!(t >= 1);
        }
        assert_eq!(theta.dtype(), DType::F64);
        // Keeps descending towards 3 over many steps.
        for _ in 0..2000 {
            let loss = (theta.as_tensor() - 3.0)
                .unwrap()
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap();
            opt.backward_step(&loss).unwrap();
        }
        let last = theta.as_tensor().to_vec1::<f64>().unwrap()[0];
        assert!(last < 4.5 && last > 2.0, "{last}");
    }
}
