//! An LSTM layer over a whole padded batch as one candle custom op, with a hand-written
//! backward (backpropagation through time).
//!
//! Inputs: `x [B·T, D]` (row `b·T + t`), or `[B, D]` when the input is the same at every
//! step (the decoder's repeated code); `w = [W_ih | W_hh]`, `[4H, D + H]`; `bias [4H]`
//! (`b_ih + b_hh`). Output `h [B·T, H]`: each valid step's hidden state, zero at padded
//! steps (`t ≥ lengths[b]`), where the state is carried unchanged, exactly like PyTorch's
//! packed sequences; or only each sequence's last valid state `[B, H]` (the encoder's
//! summary). The input projection `gx = x W_ihᵀ + bias` is computed inside, step by step
//! on the running rows (once for a repeated input), so neither it nor its gradient becomes
//! a `[B·T, 4H]` tensor in candle's graph; `dx` is computed only when `x` needs a gradient.
//!
//! Forward, per step `t` and valid row: `a = gx_t + h_{t-1} W_hhᵀ`, `i, f, o = σ(a_i, a_f,
//! a_o)`, `g = tanh(a_g)`, `c_t = f c_{t-1} + i g`, `h_t = o tanh(c_t)`. Backward, from
//! `dh_t` (output gradient plus the recurrent one) and `dc_t` (from step `t+1`):
//!
//! ```text
//! dc  = dh·o·(1 − tanh²c_t) + dc_{t+1}'        da_o = dh·tanh(c_t)·o(1 − o)
//! da_i = dc·g·i(1 − i)   da_f = dc·c_{t-1}·f(1 − f)   da_g = dc·i·(1 − g²)
//! dc_t' = dc·f (to step t−1)   dh_{t-1}' = da W_hh   dW_hh = Σ_t daᵀ h_{t-1}   dgx = da
//! dW_ih = Σ_t dgxᵀ x_t   d bias = Σ dgx   dx_t = dgx W_ih
//! ```
//!
//! Rows are processed sorted by length (longest first), so the rows still running at step
//! `t` are a prefix and each step is one `gemm` on that prefix (what packing does). Large
//! batches are split into interleaved groups that run on separate threads (no
//! synchronisation inside the recurrence); gates, cells and states are stored for the
//! backward pass in the op itself.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use std::sync::{Arc, Mutex};

use crate::matmul::sgemm_into;

/// The recurrence splits the batch over threads itself; each product runs on one.
const SERIAL: gemm::Parallelism = gemm::Parallelism::None;

/// Rows per thread below which splitting the batch does not pay.
const MIN_ROWS_PER_THREAD: usize = 24;

/// What the forward pass keeps for the backward pass, per row group (time-major, rows in
/// the group's sorted order).
struct GroupStash {
    /// Original batch rows, longest first.
    rows: Vec<usize>,
    /// Rows still running at each step (a prefix of `rows`), `[T]`.
    active: Vec<usize>,
    /// The group's inputs: `[T, n, D]` (zero where a row is not running), or `[n, D]` when
    /// the input repeats at every step.
    inputs: Vec<f32>,
    /// Gate activations `i, f, g, o`, `[T, n, 4H]`.
    acts: Vec<f32>,
    /// Cell states `c_t`, `[T, n, H]`.
    cells: Vec<f32>,
    /// `tanh(c_t)`, `[T, n, H]`.
    tanh_c: Vec<f32>,
    /// Hidden states `h_t`, `[T, n, H]`.
    hidden: Vec<f32>,
}

/// The custom op (see the module doc). One instance per forward call.
pub(crate) struct LstmSeq {
    lengths: Vec<usize>,
    n_steps: usize,
    hidden: usize,
    /// Row groups run on separate threads.
    n_groups: usize,
    /// Output only each row's hidden state after its last valid step, `[B, H]`.
    last_only: bool,
    stash: Arc<Mutex<Vec<GroupStash>>>,
}

impl LstmSeq {
    /// An op for a batch with these lengths (each `1..=n_steps`) and hidden size.
    /// `groups`: how many threads share the batch (`None`: candle's thread count, as far as
    /// each gets at least [`MIN_ROWS_PER_THREAD`] rows).
    pub(crate) fn new(
        lengths: &[usize],
        n_steps: usize,
        hidden: usize,
        groups: Option<usize>,
        last_only: bool,
    ) -> Self {
        let n_groups = groups
            .unwrap_or_else(|| {
                let threads = candle_core::utils::get_num_threads().max(1);
                (lengths.len() / MIN_ROWS_PER_THREAD).clamp(1, threads)
            })
            .clamp(1, lengths.len().max(1));
        Self {
            lengths: lengths.to_vec(),
            n_steps,
            hidden,
            n_groups,
            last_only,
            stash: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Runs the op: `x [B·T | B, D]`, `w [4H, D + H]` (`[W_ih | W_hh]`), `bias [4H]` → `h`:
    /// `[B·T, H]`, or `[B, H]` (each row's last valid step) when `last_only`; and the cell
    /// state after each row's last valid step, `[B·H]` row-major.
    pub(crate) fn apply(
        lengths: &[usize],
        n_steps: usize,
        x: &Tensor,
        w: &Tensor,
        bias: &Tensor,
        groups: Option<usize>,
        last_only: bool,
    ) -> Result<(Tensor, Vec<f32>)> {
        let hidden = bias.dim(0)? / 4;
        let op = Self::new(lengths, n_steps, hidden, groups, last_only);
        let stash = op.stash.clone();
        let out = x.apply_op3(w, bias, op)?;
        let mut cells = vec![0f32; lengths.len() * hidden];
        for g in stash.lock().unwrap().iter() {
            let n = g.rows.len();
            for (r, &b) in g.rows.iter().enumerate() {
                let t = lengths[b] - 1;
                let src = &g.cells[(t * n + r) * hidden..(t * n + r + 1) * hidden];
                cells[b * hidden..(b + 1) * hidden].copy_from_slice(src);
            }
        }
        Ok((out, cells))
    }

    /// Row groups: rows sorted longest first, dealt round-robin to `n_groups` groups.
    fn groups(&self, n_groups: usize) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..self.lengths.len()).collect();
        // Stable: equal lengths keep batch order, so the result is deterministic.
        order.sort_by_key(|&b| std::cmp::Reverse(self.lengths[b]));
        let mut groups = vec![Vec::new(); n_groups];
        for (i, b) in order.into_iter().enumerate() {
            groups[i % n_groups].push(b);
        }
        groups
    }
}

/// `e^x` for `f32`, branch-free so that loops over it vectorise: Cody–Waite reduction
/// `x = n ln2 + r` (round to nearest through the 1.5·2²³ trick) and the Cephes `expf`
/// polynomial on `|r| ≤ ln2/2`; relative error about 2e-7. Input clamped to ±87.
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 · 2^23
    let x = x.clamp(-87.0, 87.0);
    let t = x * std::f32::consts::LOG2_E + MAGIC;
    let n = t.to_bits().wrapping_sub(MAGIC.to_bits()) as i32; // round(x / ln2)
    let fx = t - MAGIC;
    let r = x - fx * 0.693_359_4 - fx * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    y * f32::from_bits(((n + 127) as u32) << 23)
}

/// Logistic sigmoid `1 / (1 + e^-x)`.
#[inline(always)]
pub(crate) fn sigmoid_f32(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

/// `tanh x = 1 − 2 / (1 + e^{2x})` (absolute error ≈ 1e-7).
#[inline(always)]
pub(crate) fn tanh_f32(x: f32) -> f32 {
    1.0 - 2.0 / (1.0 + exp_f32(2.0 * x))
}

/// Forward cell of one row: pre-activations `a = [a_i | a_f | a_g | a_o]` (each `H`) become
/// the activations in place; writes `c`, `tanh c` and `h` from the previous cell `cp`.
/// One row per call: with every slice a separate argument (so known not to alias), the loop
/// vectorises without run-time overlap checks.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn row_fwd_body(
    ai: &mut [f32],
    af: &mut [f32],
    ag: &mut [f32],
    ao: &mut [f32],
    cp: &[f32],
    c: &mut [f32],
    tc: &mut [f32],
    hs: &mut [f32],
) {
    let h = c.len();
    let (ai, af, ag, ao) = (&mut ai[..h], &mut af[..h], &mut ag[..h], &mut ao[..h]);
    let (cp, tc, hs) = (&cp[..h], &mut tc[..h], &mut hs[..h]);
    for j in 0..h {
        let i = sigmoid_f32(ai[j]);
        let f = sigmoid_f32(af[j]);
        let g = tanh_f32(ag[j]);
        let o = sigmoid_f32(ao[j]);
        let cn = f * cp[j] + i * g;
        let t = tanh_f32(cn);
        ai[j] = i;
        af[j] = f;
        ag[j] = g;
        ao[j] = o;
        c[j] = cn;
        tc[j] = t;
        hs[j] = o * t;
    }
}

/// Backward cell of one row: from the hidden-state gradient `dh` and the carried cell
/// gradient `dc` (updated in place to the gradient for `c_{t-1}`), writes the pre-activation
/// gradients `d = [d_i | d_f | d_g | d_o]`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn row_bwd_body(
    ai: &[f32],
    af: &[f32],
    ag: &[f32],
    ao: &[f32],
    tc: &[f32],
    cp: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    di: &mut [f32],
    df: &mut [f32],
    dg: &mut [f32],
    d_o: &mut [f32],
) {
    let h = dc.len();
    let (ai, af, ag, ao) = (&ai[..h], &af[..h], &ag[..h], &ao[..h]);
    let (tc, cp, dh) = (&tc[..h], &cp[..h], &dh[..h]);
    let (di, df, dg, d_o) = (&mut di[..h], &mut df[..h], &mut dg[..h], &mut d_o[..h]);
    for j in 0..h {
        let (i, f, g, o, t) = (ai[j], af[j], ag[j], ao[j], tc[j]);
        let dhj = dh[j];
        let dcj = dhj * o * (1.0 - t * t) + dc[j];
        di[j] = dcj * g * i * (1.0 - i);
        df[j] = dcj * cp[j] * f * (1.0 - f);
        dg[j] = dcj * i * (1.0 - g * g);
        d_o[j] = dhj * t * o * (1.0 - o);
        dc[j] = dcj * f;
    }
}

/// Instantiates the row kernels with a set of enabled CPU features (the loops vectorise to
/// that width).
macro_rules! row_kernels {
    ($fwd:ident, $bwd:ident, $features:literal) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $fwd(
            ai: &mut [f32],
            af: &mut [f32],
            ag: &mut [f32],
            ao: &mut [f32],
            cp: &[f32],
            c: &mut [f32],
            tc: &mut [f32],
            hs: &mut [f32],
        ) {
            row_fwd_body(ai, af, ag, ao, cp, c, tc, hs)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $bwd(
            ai: &[f32],
            af: &[f32],
            ag: &[f32],
            ao: &[f32],
            tc: &[f32],
            cp: &[f32],
            dh: &[f32],
            dc: &mut [f32],
            di: &mut [f32],
            df: &mut [f32],
            dg: &mut [f32],
            d_o: &mut [f32],
        ) {
            row_bwd_body(ai, af, ag, ao, tc, cp, dh, dc, di, df, dg, d_o)
        }
    };
}

row_kernels!(row_fwd_avx2, row_bwd_avx2, "avx2,fma");
row_kernels!(row_fwd_avx512, row_bwd_avx512, "avx512f,avx2,fma");

/// The widest vector instructions the row kernels can use here.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
enum Simd {
    Scalar,
    Avx2,
    Avx512,
}

/// Detected once.
fn simd() -> Simd {
    #[cfg(target_arch = "x86_64")]
    {
        static SIMD: std::sync::OnceLock<Simd> = std::sync::OnceLock::new();
        *SIMD.get_or_init(|| {
            let avx2 =
                std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
            if avx2 && std::is_x86_feature_detected!("avx512f") {
                Simd::Avx512
            } else if avx2 {
                Simd::Avx2
            } else {
                Simd::Scalar
            }
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Simd::Scalar
    }
}

/// Forward cell for the rows of `c` (row-major, `h` wide): `a [rows, 4H]` pre-activations
/// become activations in place; writes `c`, `tanh c`, `h` from the previous cells `c_prev`.
fn cell_fwd(
    h: usize,
    a: &mut [f32],
    c_prev: &[f32],
    c: &mut [f32],
    tc: &mut [f32],
    hs: &mut [f32],
) {
    let simd = simd();
    let rows = a
        .chunks_exact_mut(4 * h)
        .zip(c_prev.chunks_exact(h))
        .zip(c.chunks_exact_mut(h))
        .zip(tc.chunks_exact_mut(h))
        .zip(hs.chunks_exact_mut(h));
    for ((((a, cp), c), tc), hs) in rows {
        let (ai, rest) = a.split_at_mut(h);
        let (af, rest) = rest.split_at_mut(h);
        let (ag, ao) = rest.split_at_mut(h);
        match simd {
            // SAFETY (both): the CPU supports the enabled features (checked by `simd`).
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 => unsafe { row_fwd_avx512(ai, af, ag, ao, cp, c, tc, hs) },
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => unsafe { row_fwd_avx2(ai, af, ag, ao, cp, c, tc, hs) },
            _ => row_fwd_body(ai, af, ag, ao, cp, c, tc, hs),
        }
    }
}

/// Backward cell for the rows of `dh` (see [`row_bwd_body`]).
fn cell_bwd(
    h: usize,
    acts: &[f32],
    tc: &[f32],
    c_prev: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    da: &mut [f32],
) {
    let simd = simd();
    let rows = acts
        .chunks_exact(4 * h)
        .zip(tc.chunks_exact(h))
        .zip(c_prev.chunks_exact(h))
        .zip(dh.chunks_exact(h))
        .zip(dc.chunks_exact_mut(h))
        .zip(da.chunks_exact_mut(4 * h));
    for (((((a, tc), cp), dh), dc), da) in rows {
        let (ai, rest) = a.split_at(h);
        let (af, rest) = rest.split_at(h);
        let (ag, ao) = rest.split_at(h);
        let (di, rest) = da.split_at_mut(h);
        let (df, rest) = rest.split_at_mut(h);
        let (dg, d_o) = rest.split_at_mut(h);
        match simd {
            // SAFETY (both): the CPU supports the enabled features (checked by `simd`).
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 => unsafe {
                row_bwd_avx512(ai, af, ag, ao, tc, cp, dh, dc, di, df, dg, d_o)
            },
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => unsafe { row_bwd_avx2(ai, af, ag, ao, tc, cp, dh, dc, di, df, dg, d_o) },
            _ => row_bwd_body(ai, af, ag, ao, tc, cp, dh, dc, di, df, dg, d_o),
        }
    }
}

/// A contiguous `f32` view of a CPU storage with its layout, or an error.
fn as_f32<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("lstm kernel: {what} must be f32");
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => candle_core::bail!("lstm kernel: {what} must be contiguous"),
    }
}

/// Calls `f` with the `f32` data of `t` in row-major order, without copying when `t` is
/// contiguous (a copy otherwise).
fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        candle_core::Storage::Cpu(s) => Ok(f(as_f32(s, layout, "tensor")?)),
        _ => candle_core::bail!("lstm kernel: CPU tensors only"),
    }
}

/// Recycled scratch buffers. The kernel's buffers are megabytes each and are needed at every
/// batch; fresh allocations of that size are fresh pages from the OS each time (page faults
/// and zeroing cost as much as the arithmetic). Bounded to [`POOL_BYTES`].
static POOL: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());
const POOL_BYTES: usize = 256 << 20;

/// A buffer of `len` values: zeros when `zeroed`, else arbitrary (stale but initialised)
/// values that the caller overwrites before reading.
fn take(len: usize, zeroed: bool) -> Vec<f32> {
    let recycled = {
        let mut pool = POOL.lock().unwrap();
        let best = pool
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= len)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i);
        best.map(|i| pool.swap_remove(i))
    };
    match recycled {
        Some(mut v) => {
            if zeroed {
                v.clear();
                v.resize(len, 0.0);
            } else if v.len() >= len {
                v.truncate(len);
            } else {
                v.resize(len, 0.0);
            }
            v
        }
        None => vec![0.0; len],
    }
}

/// Returns a buffer to the pool (dropped if the pool is full).
fn give(v: Vec<f32>) {
    let mut pool = POOL.lock().unwrap();
    let held: usize = pool.iter().map(|v| v.capacity() * 4).sum();
    if held + v.capacity() * 4 <= POOL_BYTES {
        pool.push(v);
    }
}

impl Drop for GroupStash {
    fn drop(&mut self) {
        for v in [
            &mut self.inputs,
            &mut self.acts,
            &mut self.cells,
            &mut self.tanh_c,
            &mut self.hidden,
        ] {
            give(std::mem::take(v));
        }
    }
}

/// The shapes of one call: input width `D`, hidden size `H`, and whether the input is one
/// row per sequence repeated at every step.
#[derive(Clone, Copy)]
struct Dims {
    d: usize,
    h: usize,
    repeat: bool,
}

impl LstmSeq {
    /// Forward of one row group; returns its stash. `x` is `[B·T | B, D]`, `w` is
    /// `[4H, D + H]` (`[W_ih | W_hh]`, row-major), `bias` `[4H]`.
    fn forward_group(
        &self,
        rows: Vec<usize>,
        x: &[f32],
        dims: Dims,
        w: &[f32],
        bias: &[f32],
    ) -> GroupStash {
        let Dims { d, h, repeat } = dims;
        let t_n = self.n_steps;
        let (n, wd) = (rows.len(), d + h);
        let active: Vec<usize> = (0..t_n)
            .map(|t| rows.iter().take_while(|&&b| self.lengths[b] > t).count())
            .collect();
        // The group's inputs, gathered (time-major) so that each step's rows are contiguous
        // for the product, and kept for the weight gradient.
        let x_steps = if repeat { 1 } else { t_n };
        let mut inputs = take(x_steps * n * d, false);
        for t in 0..x_steps {
            let m = if repeat { n } else { active[t] };
            for (r, &b) in rows[..m].iter().enumerate() {
                let src = &x[(b * x_steps + t) * d..(b * x_steps + t + 1) * d];
                inputs[(t * n + r) * d..(t * n + r + 1) * d].copy_from_slice(src);
            }
            inputs[(t * n + m) * d..(t + 1) * n * d].fill(0.0);
        }
        // Only the rows running at a step are written and read, except `hidden` and
        // `inputs`, which the backward's dW products read whole (times zero gradients): their
        // other rows are zeroed.
        let mut acts = take(t_n * n * 4 * h, false);
        let mut cells = take(t_n * n * h, false);
        let mut tanh_c = take(t_n * n * h, false);
        let mut hidden = take(t_n * n * h, false);
        for (t, &m) in active.iter().enumerate() {
            hidden[(t * n + m) * h..(t + 1) * n * h].fill(0.0);
        }
        let zeros = take(n * h, true);
        // `x W_ihᵀ + bias` of the group's rows, once when the input repeats.
        let fill = |a: &mut [f32], xs: &[f32], m: usize| {
            for row in a.chunks_exact_mut(4 * h) {
                row.copy_from_slice(bias);
            }
            sgemm_into(
                (m, d, 4 * h),
                a,
                (4 * h, 1),
                true,
                xs,
                (d, 1),
                w,
                (1, wd),
                SERIAL,
            );
        };
        let repeated = repeat.then(|| {
            let mut g = take(n * 4 * h, false);
            fill(&mut g, &inputs, n);
            g
        });
        if !repeat {
            // All steps in one product (rows that are not running get the bias only, and are
            // never read): larger products run closer to the machine's peak.
            fill(&mut acts, &inputs, t_n * n);
        }
        for t in 0..t_n {
            let m = active[t];
            if m == 0 {
                break;
            }
            let (prev_h, cur_h) = hidden.split_at_mut(t * n * h);
            let a = &mut acts[t * n * 4 * h..(t * n + m) * 4 * h];
            if let Some(g) = &repeated {
                a.copy_from_slice(&g[..m * 4 * h]);
            }
            if t > 0 {
                // a += h_{t-1} · W_hhᵀ  (W_hh is columns D.. of w).
                let hp = &prev_h[(t - 1) * n * h..];
                sgemm_into(
                    (m, h, 4 * h),
                    a,
                    (4 * h, 1),
                    true,
                    hp,
                    (h, 1),
                    &w[d..],
                    (1, wd),
                    SERIAL,
                );
            }
            let (prev_c, cur_c) = cells.split_at_mut(t * n * h);
            let c_prev = if t > 0 {
                &prev_c[(t - 1) * n * h..(t - 1) * n * h + m * h]
            } else {
                &zeros[..m * h]
            };
            cell_fwd(
                h,
                a,
                c_prev,
                &mut cur_c[..m * h],
                &mut tanh_c[t * n * h..(t * n + m) * h],
                &mut cur_h[..m * h],
            );
        }
        give(zeros);
        if let Some(g) = repeated {
            give(g);
        }
        GroupStash {
            rows,
            active,
            inputs,
            acts,
            cells,
            tanh_c,
            hidden,
        }
    }

    /// Backward of one row group: `dy` is the output gradient (`[B·T, H]`, or `[B, H]` when
    /// `last_only`; whole batch); writes this group's rows of `dx` (`[B·T | B, D]`,
    /// zero-initialised) when given, and returns its `dw [4H, D + H]` and `d bias [4H]`.
    fn backward_group(
        &self,
        g: &GroupStash,
        dy: &[f32],
        dims: Dims,
        w: &[f32],
        dx: Option<&mut RowsMut>,
    ) -> (Vec<f32>, Vec<f32>) {
        let Dims { d, h, repeat } = dims;
        let t_n = self.n_steps;
        let (n, wd) = (g.rows.len(), d + h);
        // Running rows are written at every step; the others must read as zero.
        let mut da = take(t_n * n * 4 * h, false);
        for (t, &m) in g.active.iter().enumerate() {
            da[(t * n + m) * 4 * h..(t + 1) * n * 4 * h].fill(0.0);
        }
        let mut dh = take(n * h, true);
        let mut dc = take(n * h, true);
        let zeros = take(n * h, true);
        for t in (0..t_n).rev() {
            let m = g.active[t];
            if m == 0 {
                continue;
            }
            // dh += dy_t: at every running step, or only at each row's last one.
            let (first, src_row): (usize, &dyn Fn(usize) -> usize) = if self.last_only {
                (g.active.get(t + 1).copied().unwrap_or(0), &|b| b)
            } else {
                (0, &|b| b * t_n + t)
            };
            for (r, &b) in g.rows[..m].iter().enumerate().skip(first) {
                let i = src_row(b);
                let src = &dy[i * h..(i + 1) * h];
                for (d, s) in dh[r * h..(r + 1) * h].iter_mut().zip(src) {
                    *d += s;
                }
            }
            let c_prev = if t > 0 {
                &g.cells[(t - 1) * n * h..(t - 1) * n * h + m * h]
            } else {
                &zeros[..m * h]
            };
            let da_t = &mut da[t * n * 4 * h..(t * n + m) * 4 * h];
            cell_bwd(
                h,
                &g.acts[t * n * 4 * h..(t * n + m) * 4 * h],
                &g.tanh_c[t * n * h..(t * n + m) * h],
                c_prev,
                &dh[..m * h],
                &mut dc[..m * h],
                da_t,
            );
            if t > 0 {
                // dh_{t-1} = da_t · W_hh for running rows (others carry theirs).
                sgemm_into(
                    (m, 4 * h, h),
                    &mut dh[..m * h],
                    (h, 1),
                    false,
                    da_t,
                    (4 * h, 1),
                    &w[d..],
                    (wd, 1),
                    SERIAL,
                );
            }
        }
        let mut dw = vec![0f32; 4 * h * wd];
        // dW_hh = Σ_{t≥1} da_tᵀ h_{t-1}: one product over all (step, row) pairs; rows that
        // were not running have da = 0.
        if t_n > 1 {
            let k = (t_n - 1) * n;
            sgemm_into(
                (4 * h, k, h),
                &mut dw[d..],
                (wd, 1),
                false,
                &da[n * 4 * h..],
                (1, 4 * h),
                &g.hidden,
                (h, 1),
                SERIAL,
            );
        }
        // The gradient of the projected input: per (step, row), or summed over the steps
        // when the input repeats.
        let summed = repeat.then(|| {
            let mut s = take(n * 4 * h, true);
            for t in 0..t_n {
                let m = g.active[t];
                let src = &da[t * n * 4 * h..(t * n + m) * 4 * h];
                for (d, v) in s[..m * 4 * h].iter_mut().zip(src) {
                    *d += v;
                }
            }
            s
        });
        let dgx: &[f32] = summed.as_deref().unwrap_or(&da);
        let rows_k = dgx.len() / (4 * h);
        // dW_ih = dgxᵀ x (rows that were not running have dgx = 0 and x = 0).
        sgemm_into(
            (4 * h, rows_k, d),
            &mut dw,
            (wd, 1),
            false,
            dgx,
            (1, 4 * h),
            &g.inputs,
            (d, 1),
            SERIAL,
        );
        let mut db = vec![0f32; 4 * h];
        for row in dgx.chunks_exact(4 * h) {
            for (acc, v) in db.iter_mut().zip(row) {
                *acc += v;
            }
        }
        // dx = dgx W_ih, scattered to the group's rows.
        if let Some(dx) = dx {
            let mut tmp = take(rows_k * d, false);
            sgemm_into(
                (rows_k, 4 * h, d),
                &mut tmp,
                (d, 1),
                false,
                dgx,
                (4 * h, 1),
                w,
                (wd, 1),
                SERIAL,
            );
            let x_steps = if repeat { 1 } else { t_n };
            for t in 0..x_steps {
                let m = if repeat { n } else { g.active[t] };
                for (r, &b) in g.rows[..m].iter().enumerate() {
                    dx.row(b, t)
                        .copy_from_slice(&tmp[(t * n + r) * d..(t * n + r + 1) * d]);
                }
            }
            give(tmp);
        }
        if let Some(s) = summed {
            give(s);
        }
        for v in [da, dh, dc, zeros] {
            give(v);
        }
        (dw, db)
    }
}

/// Mutable access to `[B, steps, D]` rows from several threads, each touching only its
/// own batch rows (or row ranges).
struct RowsMut {
    ptr: *mut f32,
    steps: usize,
    width: usize,
    len: usize,
}

// SAFETY: row groups (and row ranges) are disjoint, so no two threads write the same
// element; the buffer outlives the scoped threads.
unsafe impl Send for RowsMut {}
unsafe impl Sync for RowsMut {}

impl RowsMut {
    /// Rows `start..end` (of a one-step view) as one slice.
    fn span(&mut self, start: usize, end: usize) -> &mut [f32] {
        assert!(start <= end && end * self.width <= self.len);
        // SAFETY: in bounds (asserted); callers' ranges are disjoint (see the `Send` impl).
        unsafe {
            std::slice::from_raw_parts_mut(
                self.ptr.add(start * self.width),
                (end - start) * self.width,
            )
        }
    }

    #[allow(clippy::mut_from_ref)]
    fn row(&mut self, b: usize, t: usize) -> &mut [f32] {
        let start = (b * self.steps + t) * self.width;
        assert!(start + self.width <= self.len);
        // SAFETY: in bounds (asserted); disjoint per group (see the `Send` impl).
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), self.width) }
    }
}

impl CustomOp3 for LstmSeq {
    fn name(&self) -> &'static str {
        "lstm-seq"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x_rows, d) = l1.shape().dims2()?;
        let (h, t_n, b_n) = (self.hidden, self.n_steps, self.lengths.len());
        if l2.shape().dims2()? != (4 * h, d + h) || l3.shape().dims1()? != 4 * h {
            candle_core::bail!(
                "lstm kernel: x {:?}, w {:?}, bias {:?} do not fit H = {h}",
                l1.shape(),
                l2.shape(),
                l3.shape(),
            );
        }
        let repeat = if x_rows == b_n * t_n {
            false
        } else if x_rows == b_n {
            true
        } else {
            candle_core::bail!("lstm kernel: x has {x_rows} rows, expected {b_n}×{t_n} or {b_n}");
        };
        if self.lengths.iter().any(|&l| l == 0 || l > t_n) {
            candle_core::bail!("lstm kernel: lengths must lie in 1..={t_n}");
        }
        let dims = Dims { d, h, repeat };
        let x = as_f32(s1, l1, "x")?;
        let w = as_f32(s2, l2, "w")?;
        let bias = as_f32(s3, l3, "bias")?;
        let groups = self.groups(self.n_groups);
        let stashes: Vec<GroupStash> = if groups.len() == 1 {
            groups
                .into_iter()
                .map(|rows| self.forward_group(rows, x, dims, w, bias))
                .collect()
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = groups
                    .into_iter()
                    .map(|rows| s.spawn(move || self.forward_group(rows, x, dims, w, bias)))
                    .collect();
                handles.into_iter().map(|j| j.join().unwrap()).collect()
            })
        };
        let out_rows = if self.last_only { b_n } else { b_n * t_n };
        let mut out = vec![0f32; out_rows * h];
        for g in &stashes {
            let n = g.rows.len();
            for t in 0..t_n {
                for (r, &b) in g.rows[..g.active[t]].iter().enumerate() {
                    let o = if self.last_only {
                        if t + 1 != self.lengths[b] {
                            continue;
                        }
                        b
                    } else {
                        b * t_n + t
                    };
                    out[o * h..(o + 1) * h]
                        .copy_from_slice(&g.hidden[(t * n + r) * h..(t * n + r + 1) * h]);
                }
            }
        }
        *self.stash.lock().unwrap() = stashes;
        Ok((CpuStorage::F32(out), Shape::from((out_rows, h))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _bias: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let h = self.hidden;
        let (x_rows, d) = x.dims2()?;
        let dims = Dims {
            d,
            h,
            repeat: x_rows != self.lengths.len() * self.n_steps,
        };
        let stash = self.stash.lock().unwrap();
        if stash.is_empty() {
            candle_core::bail!("lstm kernel: backward without a forward");
        }
        // The input's gradient only when something upstream needs it.
        let mut dx = x.track_op().then(|| vec![0f32; x_rows * d]);
        let rows = dx.as_mut().map(|v| RowsMut {
            ptr: v.as_mut_ptr(),
            steps: if dims.repeat { 1 } else { self.n_steps },
            width: d,
            len: v.len(),
        });
        let partials: Vec<(Vec<f32>, Vec<f32>)> = with_f32(grad_res, |dy| {
            with_f32(w, |w| {
                if stash.len() == 1 {
                    let mut rows = rows;
                    vec![self.backward_group(&stash[0], dy, dims, w, rows.as_mut())]
                } else {
                    let rows = &rows;
                    std::thread::scope(|s| {
                        let handles: Vec<_> = stash
                            .iter()
                            .map(|g| {
                                s.spawn(move || {
                                    let mut rows = rows.as_ref().map(|r| RowsMut { ..*r });
                                    self.backward_group(g, dy, dims, w, rows.as_mut())
                                })
                            })
                            .collect();
                        handles.into_iter().map(|j| j.join().unwrap()).collect()
                    })
                }
            })
        })??;
        // Partial sums in group order: deterministic.
        let mut dw = vec![0f32; 4 * h * (d + h)];
        let mut db = vec![0f32; 4 * h];
        for (pw, pb) in &partials {
            for (acc, s) in dw.iter_mut().zip(pw) {
                *acc += s;
            }
            for (acc, s) in db.iter_mut().zip(pb) {
                *acc += s;
            }
        }
        let dev = x.device();
        Ok((
            dx.map(|v| Tensor::from_vec(v, (x_rows, d), dev))
                .transpose()?,
            Some(Tensor::from_vec(dw, (4 * h, d + h), dev)?),
            Some(Tensor::from_vec(db, 4 * h, dev)?),
        ))
    }
}

/// `x [N, C] + b [C]` on every row, with a backward that sums the gradient over rows
/// directly (candle's broadcast backward reduces over the leading axis element by element,
/// which dominated the cost of the linear layers applied to every step). `f32`, CPU.
struct RowBias;

impl CustomOp2 for RowBias {
    fn name(&self) -> &'static str {
        "row-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, c) = l1.shape().dims2()?;
        if l2.shape().dims1()? != c {
            candle_core::bail!("row bias: x {:?}, bias {:?}", l1.shape(), l2.shape());
        }
        let x = as_f32(s1, l1, "x")?;
        let b = as_f32(s2, l2, "bias")?;
        let mut out = Vec::with_capacity(n * c);
        for row in x.chunks_exact(c) {
            out.extend(row.iter().zip(b).map(|(x, b)| x + b));
        }
        Ok((CpuStorage::F32(out), Shape::from((n, c))))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let c = b.dim(0)?;
        let mut db = vec![0f32; c];
        with_f32(grad, |g| {
            for row in g.chunks_exact(c) {
                for (d, v) in db.iter_mut().zip(row) {
                    *d += v;
                }
            }
        })?;
        Ok((
            Some(grad.clone()),
            Some(Tensor::from_vec(db, c, b.device())?),
        ))
    }
}

/// `x [N, C] + bias [C]` per row (see [`RowBias`]); other dtypes and devices broadcast.
pub(crate) fn add_row_bias(x: &Tensor, bias: &Tensor) -> Result<Tensor> {
    if x.dtype() == candle_core::DType::F32 && x.device().is_cpu() && x.rank() == 2 {
        x.contiguous()?.apply_op2(&bias.contiguous()?, RowBias)
    } else {
        x.broadcast_add(bias)
    }
}

/// Mean squared error over the valid rows of `[B·T, D]` tensors (row `b·T + t` is valid
/// when `t < lengths[b]`): `Σ (p − x)² / (D · Σ lengths)`, a scalar. One pass forward and one
/// backward instead of a mask, a product, a difference, a square and a sum, each on the whole
/// batch. `f32`, CPU.
struct MaskedMse {
    lengths: Vec<usize>,
    n_steps: usize,
}

impl MaskedMse {
    fn valid_rows(&self) -> impl Iterator<Item = usize> + '_ {
        self.lengths
            .iter()
            .enumerate()
            .flat_map(move |(b, &l)| (b * self.n_steps)..(b * self.n_steps + l))
    }

    fn count(&self, d: usize) -> f64 {
        (self.lengths.iter().sum::<usize>() * d).max(1) as f64
    }
}

impl CustomOp2 for MaskedMse {
    fn name(&self) -> &'static str {
        "masked-mse"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, d) = l1.shape().dims2()?;
        if l2.shape().dims2()? != (n, d) || n != self.lengths.len() * self.n_steps {
            candle_core::bail!("masked mse: pred {:?}, target {:?}", l1.shape(), l2.shape());
        }
        let (p, x) = (as_f32(s1, l1, "pred")?, as_f32(s2, l2, "target")?);
        let mut total = 0f64;
        for r in self.valid_rows() {
            let row: f32 = p[r * d..(r + 1) * d]
                .iter()
                .zip(&x[r * d..(r + 1) * d])
                .map(|(p, x)| (p - x) * (p - x))
                .sum();
            total += row as f64;
        }
        let v = (total / self.count(d)) as f32;
        Ok((CpuStorage::F32(vec![v]), Shape::from(())))
    }

    fn bwd(
        &self,
        pred: &Tensor,
        target: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (n, d) = pred.dims2()?;
        let g = grad.to_dtype(candle_core::DType::F32)?.to_scalar::<f32>()?;
        let scale = (2.0 * g as f64 / self.count(d)) as f32;
        let mut dp = vec![0f32; n * d];
        with_f32(pred, |p| {
            with_f32(target, |x| {
                for r in self.valid_rows() {
                    let span = r * d..(r + 1) * d;
                    let rows = dp[span.clone()]
                        .iter_mut()
                        .zip(&p[span.clone()])
                        .zip(&x[span]);
                    for ((o, p), x) in rows {
                        *o = scale * (p - x);
                    }
                }
            })
        })??;
        let dev = pred.device();
        let dx = if target.track_op() {
            Some(Tensor::from_vec(
                dp.iter().map(|v| -v).collect::<Vec<_>>(),
                (n, d),
                dev,
            )?)
        } else {
            None
        };
        Ok((Some(Tensor::from_vec(dp, (n, d), dev)?), dx))
    }
}

/// Masked mean squared error of `[B·T, D]` predictions and targets (see [`MaskedMse`]);
/// other dtypes and devices use tensor ops.
pub(crate) fn masked_mse_rows(
    pred: &Tensor,
    target: &Tensor,
    lengths: &[usize],
    n_steps: usize,
) -> Result<Tensor> {
    if pred.dtype() == candle_core::DType::F32 && pred.device().is_cpu() {
        let op = MaskedMse {
            lengths: lengths.to_vec(),
            n_steps,
        };
        return pred.contiguous()?.apply_op2(&target.contiguous()?, op);
    }
    let (_, d) = pred.dims2()?;
    let m = crate::lstm::step_masks(lengths, n_steps, pred.dtype(), pred.device())?
        .reshape((lengths.len() * n_steps, 1))?;
    let n: usize = lengths.iter().sum::<usize>() * d;
    (pred - target)?
        .broadcast_mul(&m)?
        .sqr()?
        .sum_all()?
        .affine(1.0 / n.max(1) as f64, 0.0)
}

/// A linear layer on every row followed by the masked mean squared error:
/// `Σ_valid ‖y_r Wᵀ + b − x_r‖² / (D · Σ lengths)` for `y [B·T, K]`, `W [D, K]`, `b [D]`
/// and the target `x [B·T, D]` (a constant, held by the op). The `[B·T, D]` output of the
/// layer and its gradient stay inside the op instead of becoming tensors in candle's graph.
/// `f32`, CPU.
struct LinearMaskedMse {
    lengths: Vec<usize>,
    n_steps: usize,
    target: Tensor,
    /// Residuals `y Wᵀ + b − x` at valid rows, zero elsewhere, `[B·T, D]`.
    resid: Mutex<Vec<f32>>,
    /// Threads sharing the batch (`None`: see [`Self::parts`]).
    parts: Option<usize>,
}

impl LinearMaskedMse {
    fn count(&self, d: usize) -> f64 {
        (self.lengths.iter().sum::<usize>() * d).max(1) as f64
    }

    /// The batch split into contiguous runs of whole sequences, one per thread (candle's
    /// thread count, each with at least [`MIN_ROWS_PER_THREAD`] sequences): row ranges.
    fn parts(&self) -> Vec<std::ops::Range<usize>> {
        let b_n = self.lengths.len();
        let g = self
            .parts
            .unwrap_or_else(|| {
                let threads = candle_core::utils::get_num_threads().max(1);
                (b_n / MIN_ROWS_PER_THREAD).clamp(1, threads)
            })
            .clamp(1, b_n.max(1));
        (0..g)
            .map(|i| (i * b_n / g) * self.n_steps..((i + 1) * b_n / g) * self.n_steps)
            .collect()
    }

    /// Runs `f(rows, part index)` for every part, on scoped threads when there are several;
    /// results in part order.
    fn run<R: Send>(
        parts: &[std::ops::Range<usize>],
        f: impl Fn(std::ops::Range<usize>, usize) -> R + Sync,
    ) -> Vec<R> {
        if parts.len() == 1 {
            return vec![f(parts[0].clone(), 0)];
        }
        let f = &f;
        std::thread::scope(|s| {
            let handles: Vec<_> = parts
                .iter()
                .enumerate()
                .map(|(i, r)| s.spawn(move || f(r.clone(), i)))
                .collect();
            handles.into_iter().map(|j| j.join().unwrap()).collect()
        })
    }
}

impl Drop for LinearMaskedMse {
    fn drop(&mut self) {
        give(std::mem::take(self.resid.get_mut().unwrap()));
    }
}

impl CustomOp3 for LinearMaskedMse {
    fn name(&self) -> &'static str {
        "linear-masked-mse"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, k) = l1.shape().dims2()?;
        let (d, k2) = l2.shape().dims2()?;
        if k2 != k
            || l3.shape().dims1()? != d
            || self.target.dims2()? != (n, d)
            || n != self.lengths.len() * self.n_steps
        {
            candle_core::bail!(
                "linear masked mse: y {:?}, w {:?}, b {:?}, target {:?}",
                l1.shape(),
                l2.shape(),
                l3.shape(),
                self.target.shape()
            );
        }
        let (y, w, b) = (
            as_f32(s1, l1, "y")?,
            as_f32(s2, l2, "w")?,
            as_f32(s3, l3, "b")?,
        );
        let t_n = self.n_steps;
        let mut out = take(n * d, false);
        let parts = self.parts();
        let sums = with_f32(&self.target, |x| {
            let rows = RowsMut {
                ptr: out.as_mut_ptr(),
                steps: 1,
                width: d,
                len: out.len(),
            };
            let rows = &rows;
            Self::run(&parts, |range, _| {
                let mut rows = RowsMut { ..*rows };
                // Parts are disjoint row ranges.
                let o = rows.span(range.start, range.end);
                for row in o.chunks_exact_mut(d) {
                    row.copy_from_slice(b);
                }
                sgemm_into(
                    (range.len(), k, d),
                    o,
                    (d, 1),
                    true,
                    &y[range.start * k..range.end * k],
                    (k, 1),
                    w,
                    (1, k),
                    SERIAL,
                );
                // Residuals at valid rows (zero elsewhere) and their squared sum.
                let mut total = 0f64;
                for (i, seq) in o.chunks_exact_mut(t_n * d).enumerate() {
                    let len = self.lengths[range.start / t_n + i];
                    let (valid, pad) = seq.split_at_mut(len * d);
                    let start = (range.start + i * t_n) * d;
                    let mut sum = 0f32;
                    for (o, x) in valid.iter_mut().zip(&x[start..start + len * d]) {
                        *o -= x;
                        sum += *o * *o;
                    }
                    total += sum as f64;
                    pad.fill(0.0);
                }
                total
            })
        })?;
        let v = (sums.iter().sum::<f64>() / self.count(d)) as f32;
        let old = std::mem::replace(&mut *self.resid.lock().unwrap(), out);
        give(old);
        Ok((CpuStorage::F32(vec![v]), Shape::from(())))
    }

    fn bwd(
        &self,
        y: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (n, k) = y.dims2()?;
        let d = w.dim(0)?;
        let g = grad.to_dtype(candle_core::DType::F32)?.to_scalar::<f32>()?;
        let scale = (2.0 * g as f64 / self.count(d)) as f32;
        let resid = self.resid.lock().unwrap();
        if resid.len() != n * d {
            candle_core::bail!("linear masked mse: backward without a forward");
        }
        let want_dy = y.track_op();
        let mut dy = if want_dy { vec![0f32; n * k] } else { vec![] };
        let dy_rows = RowsMut {
            ptr: dy.as_mut_ptr(),
            steps: 1,
            width: k,
            len: dy.len(),
        };
        let parts = self.parts();
        let partials = with_f32(y, |yv| {
            with_f32(w, |wv| {
                let dy_rows = &dy_rows;
                Self::run(&parts, |range, _| {
                    let rn = range.len();
                    // d out = scale · residual (zero at padded rows).
                    let mut dout = take(rn * d, false);
                    for (o, r) in dout.iter_mut().zip(&resid[range.start * d..range.end * d]) {
                        *o = scale * r;
                    }
                    let mut db = vec![0f32; d];
                    for row in dout.chunks_exact(d) {
                        for (acc, v) in db.iter_mut().zip(row) {
                            *acc += v;
                        }
                    }
                    // dW = d outᵀ y
                    let mut dw = vec![0f32; d * k];
                    sgemm_into(
                        (d, rn, k),
                        &mut dw,
                        (k, 1),
                        false,
                        &dout,
                        (1, d),
                        &yv[range.start * k..range.end * k],
                        (k, 1),
                        SERIAL,
                    );
                    if want_dy {
                        // dy = d out W, into this part's rows.
                        let mut rows = RowsMut { ..*dy_rows };
                        sgemm_into(
                            (rn, d, k),
                            rows.span(range.start, range.end),
                            (k, 1),
                            false,
                            &dout,
                            (d, 1),
                            wv,
                            (k, 1),
                            SERIAL,
                        );
                    }
                    give(dout);
                    (dw, db)
                })
            })
        })??;
        drop(resid);
        // Partial sums in part order: deterministic.
        let mut dw = vec![0f32; d * k];
        let mut db = vec![0f32; d];
        for (pw, pb) in &partials {
            for (acc, s) in dw.iter_mut().zip(pw) {
                *acc += s;
            }
            for (acc, s) in db.iter_mut().zip(pb) {
                *acc += s;
            }
        }
        let dev = y.device();
        Ok((
            want_dy
                .then(|| Tensor::from_vec(dy, (n, k), dev))
                .transpose()?,
            Some(Tensor::from_vec(dw, (d, k), dev)?),
            Some(Tensor::from_vec(db, d, dev)?),
        ))
    }
}

/// Masked mean squared error of a linear layer's output on rows `y [B·T, K]` against the
/// target rows `[B·T, D]` (see [`LinearMaskedMse`]); a scalar. Other dtypes and devices, a
/// layer without bias or a target that needs a gradient use tensor ops.
pub(crate) fn linear_masked_mse_rows(
    y: &Tensor,
    layer: &candle_nn::Linear,
    target: &Tensor,
    lengths: &[usize],
    n_steps: usize,
) -> Result<Tensor> {
    let w = layer.weight();
    match layer.bias() {
        Some(b)
            if y.dtype() == candle_core::DType::F32
                && w.dtype() == candle_core::DType::F32
                && y.device().is_cpu()
                && !target.track_op() =>
        {
            let op = LinearMaskedMse {
                lengths: lengths.to_vec(),
                n_steps,
                target: target.contiguous()?,
                resid: Mutex::new(Vec::new()),
                parts: None,
            };
            y.contiguous()?
                .apply_op3(&w.contiguous()?, &b.contiguous()?, op)
        }
        _ => {
            let out = y.matmul(&w.t()?)?;
            let out = match layer.bias() {
                Some(b) => add_row_bias(&out, b)?,
                None => out,
            };
            masked_mse_rows(&out, target, lengths, n_steps)
        }
    }
}

/// `(x − shift) · scale` per column of `x [.., C]` (`shift`, `scale`: `[C]`), as a constant:
/// one pass for an `f32` CPU tensor that needs no gradient (the normalised embeddings are
/// data), broadcast tensor ops otherwise.
pub(crate) fn normalize_cols(x: &Tensor, shift: &Tensor, scale: &Tensor) -> Result<Tensor> {
    let c = shift.dim(0)?;
    let fast = x.dtype() == candle_core::DType::F32
        && x.device().is_cpu()
        && !x.track_op()
        && x.dims().last() == Some(&c);
    if !fast {
        return x
            .broadcast_sub(&shift.detach())?
            .broadcast_mul(&scale.detach());
    }
    let shift: Vec<f32> = shift.to_vec1()?;
    let scale: Vec<f32> = scale.to_vec1()?;
    let out = with_f32(x, |v| {
        let mut out = Vec::with_capacity(v.len());
        for row in v.chunks_exact(c) {
            out.extend(
                row.iter()
                    .zip(&shift)
                    .zip(&scale)
                    .map(|((x, m), s)| (x - m) * s),
            );
        }
        out
    })?;
    Tensor::from_vec(out, x.shape(), x.device())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_sigmoid_tanh_match_std() {
        let mut worst = (0f32, 0f32, 0f32);
        let mut x = -30.0f32;
        while x < 30.0 {
            let e = exp_f32(x);
            let rel = ((e - x.exp()) / x.exp()).abs();
            worst.0 = worst.0.max(rel);
            worst.1 = worst
                .1
                .max((sigmoid_f32(x) - 1.0 / (1.0 + (-x).exp())).abs());
            worst.2 = worst.2.max((tanh_f32(x) - x.tanh()).abs());
            x += 0.001_37;
        }
        assert!(worst.0 < 5e-7, "exp relative error {}", worst.0);
        assert!(worst.1 < 2e-7, "sigmoid error {}", worst.1);
        assert!(worst.2 < 3e-7, "tanh error {}", worst.2);
        // Saturation without NaN or infinity.
        assert_eq!(sigmoid_f32(1e4), 1.0);
        assert!(sigmoid_f32(-1e4) < 1e-30);
        assert_eq!(tanh_f32(1e4), 1.0);
        assert_eq!(tanh_f32(-1e4), -1.0);
    }

    /// The fused output layer + masked loss (one and three threads) against plain tensor
    /// ops: loss and the gradients of `y`, `W` and `b`, with padded rows.
    #[test]
    fn linear_masked_mse_matches_tensor_ops() {
        let dev = candle_core::Device::Cpu;
        let (lengths, t_n, k, d) = ([4usize, 1, 3, 4, 2], 4, 6, 5);
        let n = lengths.len() * t_n;
        let var = |shape: (usize, usize)| {
            candle_core::Var::from_tensor(&Tensor::randn(0f32, 1.0, shape, &dev).unwrap()).unwrap()
        };
        let (y, w) = (var((n, k)), var((d, k)));
        let b = candle_core::Var::from_tensor(&Tensor::randn(0f32, 1.0, d, &dev).unwrap()).unwrap();
        let x = Tensor::randn(0f32, 1.0, (n, d), &dev).unwrap();
        let mask = crate::lstm::step_masks(&lengths, t_n, candle_core::DType::F32, &dev)
            .unwrap()
            .reshape((n, 1))
            .unwrap();
        let count = (lengths.iter().sum::<usize>() * d) as f64;
        let reference = y
            .as_tensor()
            .matmul(&w.as_tensor().t().unwrap())
            .unwrap()
            .broadcast_add(b.as_tensor())
            .unwrap()
            .sub(&x)
            .unwrap()
            .broadcast_mul(&mask)
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .affine(1.0 / count, 0.0)
            .unwrap();
        let rg = reference.backward().unwrap();
        for parts in [1, 3] {
            let op = LinearMaskedMse {
                lengths: lengths.to_vec(),
                n_steps: t_n,
                target: x.clone(),
                resid: Mutex::new(Vec::new()),
                parts: Some(parts),
            };
            let loss = y
                .as_tensor()
                .apply_op3(w.as_tensor(), b.as_tensor(), op)
                .unwrap();
            let (a, c): (f32, f32) = (loss.to_scalar().unwrap(), reference.to_scalar().unwrap());
            assert!(
                (a - c).abs() < 1e-5 * c.abs().max(1.0),
                "loss {a} vs {c}, {parts} parts"
            );
            let g = loss.backward().unwrap();
            for (name, v) in [("y", &y), ("w", &w)] {
                let diff = crate::test_util::max_abs(
                    &(g.get(v.as_tensor()).unwrap() - rg.get(v.as_tensor()).unwrap()).unwrap(),
                );
                assert!(diff < 1e-5, "d/d{name} differs by {diff}, {parts} parts");
            }
            let (gb, rb): (Vec<f32>, Vec<f32>) = (
                g.get(b.as_tensor()).unwrap().to_vec1().unwrap(),
                rg.get(b.as_tensor()).unwrap().to_vec1().unwrap(),
            );
            for (p, q) in gb.iter().zip(&rb) {
                assert!((p - q).abs() < 1e-5, "d/db {gb:?} vs {rb:?}, {parts} parts");
            }
        }
    }

    #[test]
    fn row_bias_matches_broadcast_add_and_its_gradient() {
        let dev = candle_core::Device::Cpu;
        let x = candle_core::Var::from_tensor(&Tensor::randn(0f32, 1.0, (9, 5), &dev).unwrap())
            .unwrap();
        let b = candle_core::Var::from_tensor(&Tensor::randn(0f32, 1.0, 5, &dev).unwrap()).unwrap();
        let w = Tensor::randn(0f32, 1.0, (9, 5), &dev).unwrap();
        let fast = add_row_bias(x.as_tensor(), b.as_tensor()).unwrap();
        let slow = x.as_tensor().broadcast_add(b.as_tensor()).unwrap();
        let diff = |a: &Tensor, c: &Tensor| crate::test_util::max_abs(&(a - c).unwrap());
        assert!(diff(&fast, &slow) < 1e-6);
        let gf = (&fast * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let gs = (&slow * &w).unwrap().sum_all().unwrap().backward().unwrap();
        for v in [&x, &b] {
            let (a, c) = (
                gf.get(v.as_tensor()).unwrap(),
                gs.get(v.as_tensor()).unwrap(),
            );
            assert!(diff(a, c) < 1e-5);
        }
        // The bias gradient is the column sum of the output gradient.
        let col0: f32 = w
            .narrow(1, 0, 1)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        let db: Vec<f32> = gf.get(b.as_tensor()).unwrap().to_vec1().unwrap();
        assert!((db[0] - col0).abs() < 1e-5);
    }
}
