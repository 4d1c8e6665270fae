//! A single LSTM layer with an explicit, steppable state and a masked sequence forward.
//!
//! Mirrors PyTorch's `torch.nn.LSTM` (one layer, `batch_first=True`), gate order `i, f, g, o`,
//! parameter names `weight_ih [4H, D]`, `weight_hh [4H, H]`, `bias_ih [4H]`, `bias_hh [4H]`
//! (pytorch/pytorch `torch/nn/modules/rnn.py`, class `LSTM`, docstring equations):
//!
//! ```text
//! i = σ(W_ii x + b_ii + W_hi h + b_hi)    f = σ(W_if x + b_if + W_hf h + b_hf)
//! g = tanh(W_ig x + b_ig + W_hg h + b_hg) o = σ(W_io x + b_io + W_ho h + b_ho)
//! c' = f ⊙ c + i ⊙ g                      h' = o ⊙ tanh(c')
//! ```
//!
//! Variable-length batches: [`Lstm::forward`] takes per-sequence lengths; at a padded step
//! the state is carried through unchanged and the output is zero, which is what
//! `pack_padded_sequence` → LSTM → `pad_packed_sequence` gives in PyTorch.
//!
//! Speed: for `f32` on the CPU the sequence forward runs the whole layer (the input
//! projection of all steps and the recurrence) as one fused custom op with a hand-written
//! backward ([`fused`]); other dtypes and devices take the step-by-step tensor path
//! ([`Lstm::forward_reference`]), which the tests compare it with.

mod fused;

pub(crate) use fused::{add_row_bias, linear_masked_mse_rows, masked_mse_rows, normalize_cols};

use candle_core::{DType, Device, Result, Tensor, D};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

/// Sizes of one LSTM layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LstmConfig {
    /// Features per input step, `D`.
    pub input_dim: usize,
    /// Hidden/cell size, `H`.
    pub hidden_dim: usize,
}

/// Recurrent state of one LSTM layer for a batch: `h`, `c` both `[B, H]`.
#[derive(Debug, Clone)]
pub struct LstmState {
    /// Hidden state (also the layer's last output), `[B, H]`.
    pub h: Tensor,
    /// Cell state, `[B, H]`.
    pub c: Tensor,
}

impl LstmState {
    /// All-zero state for `batch` sequences (PyTorch's default initial state).
    pub fn zeros(batch: usize, hidden: usize, dtype: DType, device: &Device) -> Result<Self> {
        let z = Tensor::zeros((batch, hidden), dtype, device)?;
        Ok(Self { h: z.clone(), c: z })
    }

    /// Back to all zeros (start of a new track), keeping batch size, dtype and device.
    pub fn reset(&mut self) -> Result<()> {
        self.h = self.h.zeros_like()?;
        self.c = self.c.zeros_like()?;
        Ok(())
    }
}

/// One LSTM layer (see the module doc for the equations and the reference).
#[derive(Debug, Clone)]
pub struct Lstm {
    /// `[4H, D]`.
    weight_ih: Tensor,
    /// `[4H, H]`.
    weight_hh: Tensor,
    /// `[4H]` each; summed at every forward (not at load: the sum would not follow
    /// in-place optimiser updates of the variables).
    bias_ih: Tensor,
    bias_hh: Tensor,
    cfg: LstmConfig,
}

impl Lstm {
    /// Loads `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh` from `vb`.
    pub fn load(cfg: LstmConfig, vb: VarBuilder) -> Result<Self> {
        let LstmConfig {
            input_dim,
            hidden_dim,
        } = cfg;
        let weight_ih = vb.get((4 * hidden_dim, input_dim), "weight_ih")?;
        let weight_hh = vb.get((4 * hidden_dim, hidden_dim), "weight_hh")?;
        let bias_ih = vb.get(4 * hidden_dim, "bias_ih")?;
        let bias_hh = vb.get(4 * hidden_dim, "bias_hh")?;
        Ok(Self {
            weight_ih,
            weight_hh,
            bias_ih,
            bias_hh,
            cfg,
        })
    }

    /// The layer's sizes.
    pub fn config(&self) -> LstmConfig {
        self.cfg
    }

    /// A zero state for `batch` sequences in this layer's dtype/device.
    pub fn zero_state(&self, batch: usize) -> Result<LstmState> {
        LstmState::zeros(
            batch,
            self.cfg.hidden_dim,
            self.weight_hh.dtype(),
            self.weight_hh.device(),
        )
    }

    /// Input projection `x W_ihᵀ + b` for all steps at once: `[B, T, D]` → `[B, T, 4H]`.
    fn project_inputs(&self, x: &Tensor) -> Result<Tensor> {
        let (n_batch, n_steps, n_in) = x.dims3()?;
        x.reshape((n_batch * n_steps, n_in))?
            .matmul(&self.weight_ih.t()?)?
            .broadcast_add(&(&self.bias_ih + &self.bias_hh)?)?
            .reshape((n_batch, n_steps, 4 * self.cfg.hidden_dim))
    }

    /// The recurrent part of one step, given the projected input `gx: [B, 4H]`.
    /// Returns the candidate `(h', c')`.
    fn cell(&self, gx: &Tensor, state: &LstmState, w_hh_t: &Tensor) -> Result<(Tensor, Tensor)> {
        let hidden = self.cfg.hidden_dim;
        let gates = (gx + state.h.matmul(w_hh_t)?)?;
        // One sigmoid over all four gates (the g slice is unused) instead of three calls.
        let sig = candle_nn::ops::sigmoid(&gates)?;
        let i = sig.narrow(D::Minus1, 0, hidden)?;
        let f = sig.narrow(D::Minus1, hidden, hidden)?;
        let g = gates.narrow(D::Minus1, 2 * hidden, hidden)?.tanh()?;
        let o = sig.narrow(D::Minus1, 3 * hidden, hidden)?;
        let c = ((f * &state.c)? + (i * g)?)?;
        let h = (o * c.tanh()?)?;
        Ok((h, c))
    }

    /// One time step for a batch: `x: [B, D]` → output `h: [B, H]`, updating `state`.
    /// Stepping a sequence one window at a time gives the same outputs as [`Lstm::forward`].
    pub fn step(&self, state: &mut LstmState, x: &Tensor) -> Result<Tensor> {
        let (n_batch, n_in) = x.dims2()?;
        let gx = self
            .project_inputs(&x.reshape((n_batch, 1, n_in))?)?
            .squeeze(1)?;
        let (h, c) = self.cell(&gx, state, &self.weight_hh.t()?)?;
        state.h = h.clone();
        state.c = c;
        Ok(h)
    }

    /// Sequence forward over a padded batch `x: [B, T, D]` starting from the zero state.
    ///
    /// `lengths[b]` (≤ T) is the number of valid leading steps of sequence `b`. Returns the
    /// outputs `[B, T, H]` (zero at padded steps) and the final state, which for each sequence
    /// is its state after its last valid step (its `h` is that step's output; gradients flow
    /// through `h`, not through the returned `c`, on the fused path).
    pub fn forward(&self, x: &Tensor, lengths: &[usize]) -> Result<(Tensor, LstmState)> {
        let (n_batch, n_steps, n_in) = x.dims3()?;
        check_lengths(lengths, n_batch, n_steps)?;
        if !self.fused_ok(x) {
            return self.forward_reference(x, lengths);
        }
        let (y, state) =
            self.forward_rows(&x.reshape((n_batch * n_steps, n_in))?, lengths, n_steps)?;
        Ok((y.reshape((n_batch, n_steps, self.cfg.hidden_dim))?, state))
    }

    /// As [`Self::forward`] for an input that is the same at every step: `x: [B, D]`
    /// repeated over `n_steps` (the decoder's code). Projects it once instead of `T` times.
    pub fn forward_repeated(
        &self,
        x: &Tensor,
        lengths: &[usize],
        n_steps: usize,
    ) -> Result<(Tensor, LstmState)> {
        let (n_batch, _) = x.dims2()?;
        let (y, state) = self.forward_rows_repeated(x, lengths, n_steps)?;
        Ok((y.reshape((n_batch, n_steps, self.cfg.hidden_dim))?, state))
    }

    /// [`Self::forward`] on rows: `x: [B·T, D]` (row `b·T + t`) → `[B·T, H]` and the final
    /// state. Saves the reshapes (and their backward passes) inside training graphs.
    pub fn forward_rows(
        &self,
        x: &Tensor,
        lengths: &[usize],
        n_steps: usize,
    ) -> Result<(Tensor, LstmState)> {
        let (rows, n_in) = x.dims2()?;
        let n_batch = lengths.len();
        if rows != n_batch * n_steps {
            candle_core::bail!("lstm: {rows} rows for {n_batch} sequences × {n_steps} steps");
        }
        check_lengths(lengths, n_batch, n_steps)?;
        if !self.fused_ok(x) {
            let (y, s) = self.forward_reference(&x.reshape((n_batch, n_steps, n_in))?, lengths)?;
            return Ok((y.reshape((rows, self.cfg.hidden_dim))?, s));
        }
        self.forward_fused(x, lengths, n_steps, None, false)
    }

    /// [`Self::forward_rows`] when only the final state is wanted: its `h` `[B, H]` is
    /// differentiable (the fused path then never builds the `[B·T, H]` outputs).
    pub fn forward_rows_last(
        &self,
        x: &Tensor,
        lengths: &[usize],
        n_steps: usize,
    ) -> Result<LstmState> {
        if !self.fused_ok(x) {
            return Ok(self.forward_rows(x, lengths, n_steps)?.1);
        }
        let (rows, _) = x.dims2()?;
        if rows != lengths.len() * n_steps {
            candle_core::bail!(
                "lstm: {rows} rows for {} sequences × {n_steps} steps",
                lengths.len()
            );
        }
        check_lengths(lengths, lengths.len(), n_steps)?;
        Ok(self.forward_fused(x, lengths, n_steps, None, true)?.1)
    }

    /// [`Self::forward_repeated`] on rows: `x: [B, D]` → `[B·T, H]` and the final state.
    pub fn forward_rows_repeated(
        &self,
        x: &Tensor,
        lengths: &[usize],
        n_steps: usize,
    ) -> Result<(Tensor, LstmState)> {
        let (n_batch, n_in) = x.dims2()?;
        check_lengths(lengths, n_batch, n_steps)?;
        if !self.fused_ok(x) {
            let rep = x
                .reshape((n_batch, 1, n_in))?
                .broadcast_as((n_batch, n_steps, n_in))?
                .contiguous()?;
            let (y, s) = self.forward_reference(&rep, lengths)?;
            return Ok((y.reshape((n_batch * n_steps, self.cfg.hidden_dim))?, s));
        }
        self.forward_fused(x, lengths, n_steps, None, false)
    }

    fn fused_ok(&self, x: &Tensor) -> bool {
        x.dtype() == DType::F32
            && self.weight_hh.dtype() == DType::F32
            && x.device().is_cpu()
            && self.cfg.hidden_dim > 0
    }

    /// The fused op on inputs `x: [B·T | B, D]`, the batch split over `groups` threads
    /// (`None`: automatic). Returns `[B·T, H]`, or with `last_only` the final `h` `[B, H]`
    /// (then also the state's `h`).
    fn forward_fused(
        &self,
        x: &Tensor,
        lengths: &[usize],
        n_steps: usize,
        groups: Option<usize>,
        last_only: bool,
    ) -> Result<(Tensor, LstmState)> {
        let (n_batch, hidden) = (lengths.len(), self.cfg.hidden_dim);
        let bias = (&self.bias_ih + &self.bias_hh)?;
        let w = Tensor::cat(&[&self.weight_ih, &self.weight_hh], 1)?;
        let (out, cells) = fused::LstmSeq::apply(
            lengths,
            n_steps,
            &x.contiguous()?,
            &w,
            &bias,
            groups,
            last_only,
        )?;
        let c = Tensor::from_vec(cells, (n_batch, hidden), out.device())?;
        if last_only {
            return Ok((out.clone(), LstmState { h: out, c }));
        }
        // Final h: each sequence's output at its last valid step (differentiable gather).
        let last: Vec<u32> = lengths
            .iter()
            .enumerate()
            .map(|(b, &l)| (b * n_steps + l - 1) as u32)
            .collect();
        let last = Tensor::from_vec(last, n_batch, out.device())?;
        let h = out.index_select(&last, 0)?;
        Ok((out, LstmState { h, c }))
    }

    /// The step-by-step tensor implementation of [`Self::forward`] (any dtype and device;
    /// autograd through candle's ops). Reference for the fused kernel.
    pub fn forward_reference(&self, x: &Tensor, lengths: &[usize]) -> Result<(Tensor, LstmState)> {
        let (n_batch, n_steps, _n_in) = x.dims3()?;
        check_lengths(lengths, n_batch, n_steps)?;
        let mut state = self.zero_state(n_batch)?;
        let gx_all = self.project_inputs(x)?;
        // Steps before the shortest sequence ends need no masking.
        let min_len = lengths.iter().copied().min().unwrap_or(n_steps);
        let masks = if min_len == n_steps {
            None
        } else {
            Some(step_masks(lengths, n_steps, x.dtype(), x.device())?)
        };
        let w_hh_t = self.weight_hh.t()?;
        let mut outs = Vec::with_capacity(n_steps);
        for t in 0..n_steps {
            let gx = gx_all.narrow(1, t, 1)?.squeeze(1)?;
            let (h, c) = self.cell(&gx, &state, &w_hh_t)?;
            match masks.as_ref().filter(|_| t >= min_len) {
                None => {
                    outs.push(h.clone());
                    state = LstmState { h, c };
                }
                Some(masks) => {
                    // m = 1 for valid steps, 0 for padding: blend so padding keeps the state.
                    let m = masks.narrow(1, t, 1)?; // [B, 1]
                    let keep = m.affine(-1.0, 1.0)?;
                    let h_out = h.broadcast_mul(&m)?;
                    let h_next = (&h_out + state.h.broadcast_mul(&keep)?)?;
                    let c_next = (c.broadcast_mul(&m)? + state.c.broadcast_mul(&keep)?)?;
                    outs.push(h_out);
                    state = LstmState {
                        h: h_next,
                        c: c_next,
                    };
                }
            }
        }
        Ok((Tensor::stack(&outs, 1)?, state))
    }
}

/// Errors unless `lengths` has one entry per sequence, each in `1..=n_steps`.
fn check_lengths(lengths: &[usize], n_batch: usize, n_steps: usize) -> Result<()> {
    if lengths.len() != n_batch || lengths.iter().any(|&l| l == 0 || l > n_steps) {
        candle_core::bail!("lstm: lengths {lengths:?} do not fit a batch of {n_batch}×{n_steps}");
    }
    Ok(())
}

/// `[B, T]` tensor with 1 where `t < lengths[b]`, else 0.
pub fn step_masks(
    lengths: &[usize],
    n_steps: usize,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let v: Vec<f32> = lengths
        .iter()
        .flat_map(|&l| (0..n_steps).map(move |t| if t < l { 1.0 } else { 0.0 }))
        .collect();
    Tensor::from_vec(v, (lengths.len(), n_steps), device)?.to_dtype(dtype)
}

/// A stack of LSTM layers (`dims[0] → dims[1] → …`), each fed the previous one's outputs.
#[derive(Debug, Clone)]
pub struct LstmStack {
    layers: Vec<Lstm>,
}

impl LstmStack {
    /// Loads layers `0..dims.len()-1` from `vb.pp(i)`; `dims = [D, H1, H2, …]`.
    pub fn load(dims: &[usize], vb: VarBuilder) -> Result<Self> {
        let layers = dims
            .windows(2)
            .enumerate()
            .map(|(i, w)| {
                Lstm::load(
                    LstmConfig {
                        input_dim: w[0],
                        hidden_dim: w[1],
                    },
                    vb.pp(i),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { layers })
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether the stack has no layer (then it passes inputs through).
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// One zero state per layer for `batch` sequences.
    pub fn zero_state(&self, batch: usize) -> Result<Vec<LstmState>> {
        self.layers.iter().map(|l| l.zero_state(batch)).collect()
    }

    /// Masked sequence forward `[B, T, D]` → `([B, T, H_last], final states per layer)`.
    pub fn forward(&self, x: &Tensor, lengths: &[usize]) -> Result<(Tensor, Vec<LstmState>)> {
        let mut x = x.clone();
        let mut states = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let (y, s) = layer.forward(&x, lengths)?;
            x = y;
            states.push(s);
        }
        Ok((x, states))
    }

    /// [`Self::forward`] on rows: `[B·T, D]` → `([B·T, H_last], final states per layer)`.
    pub fn forward_rows(
        &self,
        x: &Tensor,
        lengths: &[usize],
        n_steps: usize,
    ) -> Result<(Tensor, Vec<LstmState>)> {
        let mut x = x.clone();
        let mut states = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let (y, s) = layer.forward_rows(&x, lengths, n_steps)?;
            x = y;
            states.push(s);
        }
        Ok((x, states))
    }

    /// The last layer's final state for rows `[B·T, D]` (its `h` `[B, H_last]` is
    /// differentiable): what an encoder needs, without the last layer's per-step outputs.
    pub fn forward_rows_last(
        &self,
        x: &Tensor,
        lengths: &[usize],
        n_steps: usize,
    ) -> Result<LstmState> {
        let Some((last, first)) = self.layers.split_last() else {
            candle_core::bail!("lstm stack: no layers");
        };
        let mut x = x.clone();
        for layer in first {
            x = layer.forward_rows(&x, lengths, n_steps)?.0;
        }
        last.forward_rows_last(&x, lengths, n_steps)
    }

    /// For an input `[B, D]` repeated over `n_steps` steps: `[B·T, H_last]` and the final
    /// states per layer.
    pub fn forward_rows_repeated(
        &self,
        x: &Tensor,
        lengths: &[usize],
        n_steps: usize,
    ) -> Result<(Tensor, Vec<LstmState>)> {
        let Some((first, rest)) = self.layers.split_first() else {
            let (b, d) = x.dims2()?;
            let rep = x.unsqueeze(1)?.broadcast_as((b, n_steps, d))?;
            return Ok((rep.contiguous()?.reshape((b * n_steps, d))?, vec![]));
        };
        let (mut y, s) = first.forward_rows_repeated(x, lengths, n_steps)?;
        let mut states = vec![s];
        for layer in rest {
            let (next, s) = layer.forward_rows(&y, lengths, n_steps)?;
            y = next;
            states.push(s);
        }
        Ok((y, states))
    }

    /// One step through all layers: `[B, D]` → `[B, H_last]`; `states` has one per layer.
    pub fn step(&self, states: &mut [LstmState], x: &Tensor) -> Result<Tensor> {
        let mut x = x.clone();
        for (layer, state) in self.layers.iter().zip(states.iter_mut()) {
            x = layer.step(state, &x)?;
        }
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::{init_varmap, InitConfig};
    use candle_nn::VarMap;

    fn layer(d: usize, h: usize, seed: u64) -> Lstm {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let l = Lstm::load(
            LstmConfig {
                input_dim: d,
                hidden_dim: h,
            },
            vb,
        )
        .unwrap();
        // Variables are updated in place, so the loaded layer sees the seeded values.
        init_varmap(
            &vm,
            &InitConfig {
                seed,
                ..Default::default()
            },
        )
        .unwrap();
        l
    }

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
        crate::test_util::max_abs(&(a - b).unwrap()) as f32
    }

    #[test]
    fn matches_hand_computed_single_step() {
        // D = H = 1 with known weights: check the gate equations directly.
        let dev = Device::Cpu;
        let mut ts = std::collections::HashMap::new();
        ts.insert(
            "weight_ih".to_string(),
            Tensor::new(&[[0.5f32], [-0.3], [0.8], [0.1]], &dev).unwrap(),
        );
        ts.insert(
            "weight_hh".to_string(),
            Tensor::new(&[[0.2f32], [0.4], [-0.6], [0.7]], &dev).unwrap(),
        );
        ts.insert(
            "bias_ih".to_string(),
            Tensor::new(&[0.1f32, 0.0, 0.0, -0.1], &dev).unwrap(),
        );
        ts.insert(
            "bias_hh".to_string(),
            Tensor::new(&[0.0f32, 0.2, 0.1, 0.0], &dev).unwrap(),
        );
        let vb = VarBuilder::from_tensors(ts, DType::F32, &dev);
        let l = Lstm::load(
            LstmConfig {
                input_dim: 1,
                hidden_dim: 1,
            },
            vb,
        )
        .unwrap();
        let x = Tensor::new(&[[[1.0f32], [2.0]]], &dev).unwrap();
        let (y, _) = l.forward(&x, &[2]).unwrap();
        let y: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
        let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
        let (mut h, mut c) = (0.0f64, 0.0f64);
        for (t, &xv) in [1.0f64, 2.0].iter().enumerate() {
            let i = sig(0.5 * xv + 0.2 * h + 0.1);
            let f = sig(-0.3 * xv + 0.4 * h + 0.2);
            let g = (0.8 * xv - 0.6 * h + 0.1).tanh();
            let o = sig(0.1 * xv + 0.7 * h - 0.1);
            c = f * c + i * g;
            h = o * c.tanh();
            assert!((y[t] as f64 - h).abs() < 1e-6, "step {t}: {} vs {h}", y[t]);
        }
    }

    #[test]
    fn padding_changes_nothing() {
        let dev = Device::Cpu;
        let l = layer(3, 5, 1);
        let seq = Tensor::randn(0f32, 1.0, (1, 4, 3), &dev).unwrap();
        let (alone, s_alone) = l.forward(&seq, &[4]).unwrap();
        // Same sequence padded with garbage to T = 7, batched next to a longer one.
        let garbage = Tensor::randn(0f32, 10.0, (1, 3, 3), &dev).unwrap();
        let padded = Tensor::cat(&[&seq, &garbage], 1).unwrap();
        let other = Tensor::randn(0f32, 1.0, (1, 7, 3), &dev).unwrap();
        let batch = Tensor::cat(&[&other, &padded], 0).unwrap();
        let (out, s) = l.forward(&batch, &[7, 4]).unwrap();
        let out_b = out.narrow(0, 1, 1).unwrap();
        assert!(max_abs_diff(&out_b.narrow(1, 0, 4).unwrap(), &alone) < 1e-6);
        let tail: f32 = out_b
            .narrow(1, 4, 3)
            .unwrap()
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        assert_eq!(tail, 0.0);
        assert!(max_abs_diff(&s.h.narrow(0, 1, 1).unwrap(), &s_alone.h) < 1e-6);
        assert!(max_abs_diff(&s.c.narrow(0, 1, 1).unwrap(), &s_alone.c) < 1e-6);
        // And the garbage does matter when it is declared valid (the test can fail).
        let (out_full, _) = l.forward(&batch, &[7, 7]).unwrap();
        assert!(
            max_abs_diff(
                &out_full.narrow(0, 1, 1).unwrap().narrow(1, 4, 3).unwrap(),
                &out_b.narrow(1, 4, 3).unwrap()
            ) > 1e-3
        );
    }

    #[test]
    fn step_equals_sequence_forward_and_reset_restarts() {
        let dev = Device::Cpu;
        let l = layer(4, 6, 2);
        let x = Tensor::randn(0f32, 1.0, (2, 5, 4), &dev).unwrap();
        let (y, last) = l.forward(&x, &[5, 5]).unwrap();
        let mut st = l.zero_state(2).unwrap();
        for t in 0..5 {
            let h = l
                .step(&mut st, &x.narrow(1, t, 1).unwrap().squeeze(1).unwrap())
                .unwrap();
            assert!(max_abs_diff(&h, &y.narrow(1, t, 1).unwrap().squeeze(1).unwrap()) < 1e-5);
        }
        assert!(max_abs_diff(&st.c, &last.c) < 1e-5);
        st.reset().unwrap();
        let h0 = l
            .step(&mut st, &x.narrow(1, 0, 1).unwrap().squeeze(1).unwrap())
            .unwrap();
        assert!(max_abs_diff(&h0, &y.narrow(1, 0, 1).unwrap().squeeze(1).unwrap()) < 1e-6);
    }

    fn layer_vm(d: usize, h: usize, seed: u64) -> (VarMap, Lstm) {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let l = Lstm::load(
            LstmConfig {
                input_dim: d,
                hidden_dim: h,
            },
            vb,
        )
        .unwrap();
        init_varmap(
            &vm,
            &InitConfig {
                seed,
                ..Default::default()
            },
        )
        .unwrap();
        (vm, l)
    }

    /// A scalar loss that weights every output and the final `h` differently.
    fn probe_loss(out: &Tensor, last_h: &Tensor) -> Tensor {
        let dev = out.device();
        let n = out.elem_count();
        let w: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 13) as f32 / 13.0 - 0.4)
            .collect();
        let w = Tensor::from_vec(w, out.shape(), dev).unwrap();
        let wh: Vec<f32> = (0..last_h.elem_count())
            .map(|i| ((i * 104729) % 11) as f32 / 11.0 - 0.5)
            .collect();
        let wh = Tensor::from_vec(wh, last_h.shape(), dev).unwrap();
        ((out * w).unwrap().sum_all().unwrap() + (last_h * wh).unwrap().sum_all().unwrap()).unwrap()
    }

    fn grads_of(vm: &VarMap, x: &candle_core::Var, loss: &Tensor) -> Vec<(String, Tensor)> {
        let g = loss.backward().unwrap();
        let mut out = vec![("x".to_string(), g.get(x.as_tensor()).unwrap().clone())];
        let data = vm.data().lock().unwrap();
        for n in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"] {
            out.push((n.into(), g.get(data[n].as_tensor()).unwrap().clone()));
        }
        out
    }

    fn rel_diff(a: &Tensor, b: &Tensor) -> f32 {
        let scale: f32 = b
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar()
            .unwrap();
        max_abs_diff(a, b) / scale.max(1e-6)
    }

    /// The fused kernel (1 and 3 thread groups) against candle's autograd through the
    /// step-by-step reference: outputs, final states and every gradient, with padding.
    #[test]
    fn fused_forward_and_backward_match_reference_autograd() {
        let dev = Device::Cpu;
        let (vm, l) = layer_vm(5, 6, 11);
        let lengths = [7, 3, 7, 1, 5, 6, 2];
        let x = candle_core::Var::from_tensor(&Tensor::randn(0f32, 1.0, (7, 7, 5), &dev).unwrap())
            .unwrap();
        let (ro, rs) = l.forward_reference(x.as_tensor(), &lengths).unwrap();
        let rg = grads_of(&vm, &x, &probe_loss(&ro, &rs.h));
        let rows = x.as_tensor().reshape((7 * 7, 5)).unwrap();
        for groups in [1, 3] {
            let (fo, fs) = l
                .forward_fused(&rows, &lengths, 7, Some(groups), false)
                .unwrap();
            let fo = fo.reshape((7, 7, 6)).unwrap();
            assert!(max_abs_diff(&fo, &ro) < 1e-6, "outputs, {groups} groups");
            assert!(max_abs_diff(&fs.h, &rs.h) < 1e-6);
            assert!(max_abs_diff(&fs.c, &rs.c) < 1e-6);
            let fg = grads_of(&vm, &x, &probe_loss(&fo, &fs.h));
            for ((name, a), (_, b)) in fg.iter().zip(&rg) {
                let d = rel_diff(a, b);
                assert!(
                    d < 1e-5,
                    "d/d{name} differs by {d} (relative), {groups} groups"
                );
            }
        }
        // Only the final state (the encoder's use): the same `h`, `c` and gradients of a
        // loss on `h` alone.
        let rg_last = grads_of(&vm, &x, &probe_loss(&rs.h, &rs.h));
        for groups in [1, 3] {
            let (fh, fs) = l
                .forward_fused(&rows, &lengths, 7, Some(groups), true)
                .unwrap();
            assert!(max_abs_diff(&fh, &rs.h) < 1e-6);
            assert!(max_abs_diff(&fs.c, &rs.c) < 1e-6);
            let fg = grads_of(&vm, &x, &probe_loss(&fh, &fs.h));
            for ((name, a), (_, b)) in fg.iter().zip(&rg_last) {
                let d = rel_diff(a, b);
                assert!(
                    d < 1e-5,
                    "last only: d/d{name} differs by {d} (relative), {groups} groups"
                );
            }
        }
        // The public entry point takes the fused path and agrees too.
        let (po, _) = l.forward(x.as_tensor(), &lengths).unwrap();
        assert!(max_abs_diff(&po, &ro) < 1e-6);
    }

    #[test]
    fn repeated_input_matches_materialised_repeat() {
        let dev = Device::Cpu;
        let (vm, l) = layer_vm(4, 5, 12);
        let lengths = [6, 2, 4];
        let x = candle_core::Var::from_tensor(&Tensor::randn(0f32, 1.0, (3, 4), &dev).unwrap())
            .unwrap();
        let rep = x
            .as_tensor()
            .unsqueeze(1)
            .unwrap()
            .broadcast_as((3, 6, 4))
            .unwrap()
            .contiguous()
            .unwrap();
        let (ro, rs) = l.forward_reference(&rep, &lengths).unwrap();
        let rg = grads_of(&vm, &x, &probe_loss(&ro, &rs.h));
        let (fo, fs) = l.forward_repeated(x.as_tensor(), &lengths, 6).unwrap();
        assert!(max_abs_diff(&fo, &ro) < 1e-6);
        let fg = grads_of(&vm, &x, &probe_loss(&fo, &fs.h));
        for ((name, a), (_, b)) in fg.iter().zip(&rg) {
            let d = rel_diff(a, b);
            assert!(d < 1e-5, "d/d{name} differs by {d} (relative)");
        }
    }

    /// The hand-written backward against central finite differences of the fused forward
    /// itself (f32, so a loose tolerance), for entries of `W_hh` and `W_ih`.
    #[test]
    fn fused_gradient_matches_finite_differences() {
        let dev = Device::Cpu;
        let (vm, l) = layer_vm(3, 4, 13);
        let lengths = [5, 2, 4];
        let x = candle_core::Var::from_tensor(&Tensor::randn(0f32, 1.0, (3, 5, 3), &dev).unwrap())
            .unwrap();
        let loss = |l: &Lstm| {
            let (o, s) = l.forward(x.as_tensor(), &lengths).unwrap();
            probe_loss(&o, &s.h)
        };
        let g = grads_of(&vm, &x, &loss(&l));
        let eps = 1e-2f32;
        for (gi, name) in [(2usize, "weight_hh"), (1, "weight_ih")] {
            let var = vm.data().lock().unwrap()[name].clone();
            let base: Vec<f32> = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
            let analytic: Vec<f32> = g[gi].1.flatten_all().unwrap().to_vec1().unwrap();
            for k in [0, 5, base.len() / 2, base.len() - 1] {
                let eval = |delta: f32| {
                    let mut v = base.clone();
                    v[k] += delta;
                    var.set(&Tensor::from_vec(v, var.dims(), &dev).unwrap())
                        .unwrap();
                    loss(&l).to_scalar::<f32>().unwrap()
                };
                let fd = (eval(eps) - eval(-eps)) / (2.0 * eps);
                eval(0.0);
                assert!(
                    (fd - analytic[k]).abs() < 2e-3 * (1.0 + analytic[k].abs()),
                    "{name}[{k}]: finite difference {fd}, backward {}",
                    analytic[k]
                );
            }
        }
    }
}
