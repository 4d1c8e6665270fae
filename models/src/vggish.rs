//! VGGish (Hershey et al. 2017, AudioSet) as ported to PyTorch by torchvggish
//! (`harritaylor/torchvggish`, `vggish.py`), inference only, CPU.
//!
//! Input: log-mel patches `[B, 1, 96, 64]` (NCHW: 96 frames × 64 mel bands of the VGGish front
//! end, `ln(mel + 0.01)`; [`chorder_engine::FrontEndConfig::vggish`]). Output: `[B, 128]`
//! embeddings (after the final ReLU, as torchvggish), and optionally the PCA + 8-bit
//! quantisation postprocessor ([`Postprocessor`]) giving `[B, 128]` values in 0..=255.
//!
//! ```text
//! x [96,64,1] ─conv3×3 64 ─ReLU─ pool2 ─ conv 128 ─ReLU─ pool2 ─ conv 256 ─ReLU─ conv 256
//!   ─ReLU─ pool2 ─ conv 512 ─ReLU─ conv 512 ─ReLU─ pool2 ─▶ [6,4,512] (NHWC flatten, as
//!   torchvggish's transposes) ─ fc 4096 ─ReLU─ fc 4096 ─ReLU─ fc 128 ─ReLU─▶ embedding [128]
//! ```
//!
//! Internally activations are channels-last (`[H, W, C]`); every 3×3 convolution is one matrix
//! product of an im2col matrix `[H·W, 9·C_in]` with the kernel `[9·C_in, C_out]`, fused with
//! bias, ReLU and the 2×2 max-pool. The fully connected layers at batch 1 are matrix-vector
//! products over the `[out, in]` torch weights (memory-bound: 268 MB of f32 weights per
//! patch for full-size VGGish).
//!
//! Bundle tensors keep torchvggish's names and layouts (`features.{i}.weight` `[O,I,3,3]`,
//! `embeddings.{j}.weight` `[out,in]`, biases), plus `pca.eigen_vectors` `[E,E]` and
//! `pca.means` `[E]` when the postprocessor is included. [`import_torchvggish`] reads
//! torchvggish `.pth` files (PyTorch zip format, via `candle_core::pickle`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarBuilder;
use chorder_engine::{FrontEndConfig, LogMelPatch};
use serde::{Deserialize, Serialize};

use crate::bundle::{
    BundleError, BundleMeta, Licence, ModelBundle, NamedTensor, OutputSpec, Provenance,
    SourceTensor, StreamingContract, FORMAT_VERSION,
};
use crate::matmul::sgemm;

/// `model_kind` of VGGish bundles.
pub const MODEL_KIND: &str = "vggish";

/// Lower clip of the postprocessor (torchvggish `QUANTIZE_MIN_VAL`).
pub const QUANTIZE_MIN_VAL: f32 = -2.0;
/// Upper clip of the postprocessor (torchvggish `QUANTIZE_MAX_VAL`).
pub const QUANTIZE_MAX_VAL: f32 = 2.0;

/// Hyper-parameters of a VGGish-family network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VggishConfig {
    /// Frames per patch (input height, 96).
    pub n_frames: usize,
    /// Mel bands (input width, 64).
    pub n_mels: usize,
    /// Output channels of the 3×3 convolutions, grouped into blocks; each block ends with a
    /// 2×2 max-pool (`[[64], [128], [256, 256], [512, 512]]`).
    pub conv_blocks: Vec<Vec<usize>>,
    /// Widths of the hidden fully connected layers (`[4096, 4096]`).
    pub fc: Vec<usize>,
    /// Embedding size, the last fully connected layer (128).
    pub embedding_size: usize,
    /// Whether the bundle carries the PCA + quantisation postprocessor.
    #[serde(default)]
    pub postprocess: bool,
}

impl Default for VggishConfig {
    fn default() -> Self {
        Self::standard()
    }
}

impl VggishConfig {
    /// The published VGGish: convs 64-128-256-256-512-512 in 4 pooled blocks,
    /// fc 4096-4096-128, input 96 × 64, no postprocessor.
    pub fn standard() -> Self {
        Self {
            n_frames: 96,
            n_mels: 64,
            conv_blocks: vec![vec![64], vec![128], vec![256, 256], vec![512, 512]],
            fc: vec![4096, 4096],
            embedding_size: 128,
            postprocess: false,
        }
    }

    /// `(height, width, channels)` after the conv stack (`(6, 4, 512)`).
    pub fn conv_output(&self) -> (usize, usize, usize) {
        let p = self.conv_blocks.len();
        let c = self
            .conv_blocks
            .iter()
            .flatten()
            .last()
            .copied()
            .unwrap_or(1);
        (self.n_frames >> p, self.n_mels >> p, c)
    }

    /// Inputs of the first fully connected layer, `h·w·c` (12288).
    pub fn fc_input(&self) -> usize {
        let (h, w, c) = self.conv_output();
        h * w * c
    }

    /// Indices of the convolutions in torchvggish's `features` Sequential (conv, ReLU,
    /// and a MaxPool after each block): `[0, 3, 6, 8, 11, 13]` for the standard layout.
    pub fn conv_indices(&self) -> Vec<usize> {
        let mut idx = Vec::new();
        let mut i = 0;
        for block in &self.conv_blocks {
            for _ in block {
                idx.push(i);
                i += 2;
            }
            i += 1;
        }
        idx
    }

    /// `(in, out)` of every fully connected layer, in order.
    pub fn fc_shapes(&self) -> Vec<(usize, usize)> {
        let mut dims = vec![self.fc_input()];
        dims.extend(&self.fc);
        dims.push(self.embedding_size);
        dims.windows(2).map(|d| (d[0], d[1])).collect()
    }

    /// Checks that the sizes make a network (pools divide the input, no zero widths).
    pub fn validate(&self) -> Result<(), String> {
        let p = self.conv_blocks.len();
        if p == 0 || self.conv_blocks.iter().any(|b| b.is_empty()) {
            return Err("conv_blocks must hold at least one non-empty block".into());
        }
        if self.conv_blocks.iter().flatten().any(|&c| c == 0)
            || self.fc.contains(&0)
            || self.embedding_size == 0
        {
            return Err("every layer needs at least one channel".into());
        }
        if self.n_frames % (1 << p) != 0 || self.n_mels % (1 << p) != 0 {
            return Err(format!(
                "input {}×{} is not divisible by the {} 2×2 pools",
                self.n_frames, self.n_mels, p
            ));
        }
        Ok(())
    }
}

/// torchvggish's `Postprocessor`: PCA (`eigen_vectors · (x − means)`), clip to [−2, 2],
/// quantise to 8 bits (`round((x + 2) · 255/4)`, ties to even as `torch.round`).
#[derive(Debug, Clone)]
pub struct Postprocessor {
    /// `[E, E]` row-major PCA matrix (rows are output components).
    eigen_vectors: Vec<f32>,
    /// `[E]` means subtracted before the projection.
    means: Vec<f32>,
}

impl Postprocessor {
    /// From a row-major `[E, E]` matrix and `[E]` means.
    pub fn new(eigen_vectors: Vec<f32>, means: Vec<f32>) -> Result<Self, String> {
        let e = means.len();
        if e == 0 || eigen_vectors.len() != e * e {
            return Err(format!(
                "PCA matrix has {} values, expected {e}×{e} for {e} means",
                eigen_vectors.len()
            ));
        }
        Ok(Self {
            eigen_vectors,
            means,
        })
    }

    /// Loads `eigen_vectors` `[E,E]` and `means` `[E]` from `vb`.
    pub fn load(e: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        let m = vb.get((e, e), "eigen_vectors")?.flatten_all()?.to_vec1()?;
        let mu = vb.get(e, "means")?.to_vec1()?;
        Self::new(m, mu).map_err(candle_core::Error::msg)
    }

    /// Embedding size `E`.
    pub fn dim(&self) -> usize {
        self.means.len()
    }

    /// PCA of one embedding `[E]` → `[E]` (before clipping; f32 as torch, summed in f64).
    pub fn pca(&self, embedding: &[f32]) -> Vec<f32> {
        let centred: Vec<f32> = embedding
            .iter()
            .zip(&self.means)
            .map(|(x, m)| x - m)
            .collect();
        self.eigen_vectors
            .chunks_exact(self.dim())
            .map(|row| {
                row.iter()
                    .zip(&centred)
                    .map(|(&a, &b)| f64::from(a) * f64::from(b))
                    .sum::<f64>() as f32
            })
            .collect()
    }

    /// Clip and quantise PCA values to 0..=255 (returned as f32, the torchvggish convention).
    pub fn quantise(pca: &[f32]) -> Vec<f32> {
        let step = 255.0 / (QUANTIZE_MAX_VAL - QUANTIZE_MIN_VAL);
        pca.iter()
            .map(|&v| {
                ((v.clamp(QUANTIZE_MIN_VAL, QUANTIZE_MAX_VAL) - QUANTIZE_MIN_VAL) * step)
                    .round_ties_even()
            })
            .collect()
    }

    /// PCA then quantisation of one embedding `[E]` → `[E]` values in 0..=255.
    pub fn postprocess(&self, embedding: &[f32]) -> Vec<f32> {
        Self::quantise(&self.pca(embedding))
    }
}

/// One 3×3 'same' convolution with bias and ReLU, maybe followed by a 2×2 max-pool.
#[derive(Debug, Clone)]
struct Conv {
    c_in: usize,
    c_out: usize,
    /// `[9·c_in, c_out]`, row `(dy·3 + dx)·c_in + ci`.
    kernel: Vec<f32>,
    bias: Vec<f32>,
    pool: bool,
}

impl Conv {
    fn load(c_in: usize, c_out: usize, pool: bool, vb: VarBuilder) -> candle_core::Result<Self> {
        let w = vb.get((c_out, c_in, 3, 3), "weight")?;
        let bias = vb.get(c_out, "bias")?.to_vec1()?;
        // OIHW → [(dy, dx, ci), o]
        let kernel = w.permute((2, 3, 1, 0))?.flatten_all()?.to_vec1::<f32>()?;
        Ok(Self {
            c_in,
            c_out,
            kernel,
            bias,
            pool,
        })
    }

    /// `x [h, w, c_in]` → `[h, w, c_out]` or `[h/2, w/2, c_out]` with the pool.
    fn forward(&self, x: &[f32], h: usize, w: usize, scratch: &mut Scratch) -> Vec<f32> {
        let (ci, co) = (self.c_in, self.c_out);
        let k = 9 * ci;
        let cols = &mut scratch.cols;
        cols.clear();
        cols.resize(h * w * k, 0.0);
        for y in 0..h {
            for xx in 0..w {
                let row = &mut cols[(y * w + xx) * k..][..k];
                for dy in 0..3 {
                    let sy = y + dy;
                    if sy == 0 || sy > h {
                        continue;
                    }
                    let sy = sy - 1;
                    for dx in 0..3 {
                        let sx = xx + dx;
                        if sx == 0 || sx > w {
                            continue;
                        }
                        let sx = sx - 1;
                        row[(dy * 3 + dx) * ci..][..ci]
                            .copy_from_slice(&x[(sy * w + sx) * ci..][..ci]);
                    }
                }
            }
        }
        let out = &mut scratch.out;
        out.clear();
        out.resize(h * w * co, 0.0);
        sgemm(
            (h * w, k, co),
            cols,
            (k, 1),
            &self.kernel,
            (co, 1),
            out,
            (co, 1),
        );
        for row in out.chunks_exact_mut(co) {
            for (v, b) in row.iter_mut().zip(&self.bias) {
                *v = (*v + b).max(0.0);
            }
        }
        if !self.pool {
            return out.clone();
        }
        let (h2, w2) = (h / 2, w / 2);
        let mut pooled = vec![0.0f32; h2 * w2 * co];
        for y in 0..h2 {
            for xx in 0..w2 {
                let dst = &mut pooled[(y * w2 + xx) * co..][..co];
                let r = |dy: usize, dx: usize| &out[((2 * y + dy) * w + 2 * xx + dx) * co..][..co];
                let (a, b, c, d) = (r(0, 0), r(0, 1), r(1, 0), r(1, 1));
                for i in 0..co {
                    dst[i] = a[i].max(b[i]).max(c[i].max(d[i]));
                }
            }
        }
        pooled
    }
}

/// Reused buffers of the conv stack.
#[derive(Default)]
struct Scratch {
    cols: Vec<f32>,
    out: Vec<f32>,
}

/// A fully connected layer with ReLU; torch layout `[out, in]`.
#[derive(Debug, Clone)]
struct Fc {
    n_in: usize,
    n_out: usize,
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl Fc {
    fn load(n_in: usize, n_out: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            n_in,
            n_out,
            weight: vb.get((n_out, n_in), "weight")?.flatten_all()?.to_vec1()?,
            bias: vb.get(n_out, "bias")?.to_vec1()?,
        })
    }

    /// `x [b, in]` → `ReLU(x·Wᵀ + bias)` `[b, out]`.
    fn forward(&self, x: &[f32], b: usize) -> Vec<f32> {
        let mut out = vec![0.0f32; b * self.n_out];
        if b == 1 {
            gemv(&self.weight, x, &mut out);
        } else {
            // rhs(k = i, n = o) = W[o·in + i]
            sgemm(
                (b, self.n_in, self.n_out),
                x,
                (self.n_in, 1),
                &self.weight,
                (1, self.n_in),
                &mut out,
                (self.n_out, 1),
            );
        }
        for row in out.chunks_exact_mut(self.n_out) {
            for (v, bias) in row.iter_mut().zip(&self.bias) {
                *v = (*v + bias).max(0.0);
            }
        }
        out
    }
}

/// `out[o] = W[o,:] · x` for a row-major `[out, in]` matrix (one pass over `W`, the
/// memory-bound part of VGGish). Uses AVX-512 when the CPU has it.
fn gemv(w: &[f32], x: &[f32], out: &mut [f32]) {
    assert_eq!(w.len(), x.len() * out.len());
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked above).
            unsafe { gemv_avx512(w, x, out) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA (checked above).
            unsafe { gemv_avx2(w, x, out) };
            return;
        }
    }
    gemv_generic(w, x, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn gemv_avx512(w: &[f32], x: &[f32], out: &mut [f32]) {
    gemv_generic(w, x, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gemv_avx2(w: &[f32], x: &[f32], out: &mut [f32]) {
    gemv_generic(w, x, out)
}

/// Plain loops that the compiler vectorises to the enabled SIMD width: four rows at a time
/// (four weight streams in flight, each `x` load used four times), 16 accumulators per row.
#[inline(always)]
fn gemv_generic(w: &[f32], x: &[f32], out: &mut [f32]) {
    const L: usize = 16;
    let n = x.len();
    let main = n - n % L;
    let dot_tail =
        |row: &[f32]| -> f32 { row[main..].iter().zip(&x[main..]).map(|(a, b)| a * b).sum() };
    let mut rows4 = w.chunks_exact(4 * n);
    let mut outs4 = out.chunks_exact_mut(4);
    for (rows, o) in (&mut rows4).zip(&mut outs4) {
        let (r0, rest) = rows.split_at(n);
        let (r1, rest) = rest.split_at(n);
        let (r2, r3) = rest.split_at(n);
        let mut acc = [[0.0f32; L]; 4];
        for c in 0..main / L {
            let xs = &x[c * L..][..L];
            let (a0, a1, a2, a3) = (
                &r0[c * L..][..L],
                &r1[c * L..][..L],
                &r2[c * L..][..L],
                &r3[c * L..][..L],
            );
            for i in 0..L {
                acc[0][i] += a0[i] * xs[i];
                acc[1][i] += a1[i] * xs[i];
                acc[2][i] += a2[i] * xs[i];
                acc[3][i] += a3[i] * xs[i];
            }
        }
        for (k, r) in [r0, r1, r2, r3].into_iter().enumerate() {
            o[k] = acc[k].iter().sum::<f32>() + dot_tail(r);
        }
    }
    for (o, row) in outs4
        .into_remainder()
        .iter_mut()
        .zip(rows4.remainder().chunks_exact(n))
    {
        let mut acc = [0.0f32; L];
        for (a, b) in row[..main].chunks_exact(L).zip(x[..main].chunks_exact(L)) {
            for i in 0..L {
                acc[i] += a[i] * b[i];
            }
        }
        *o = acc.iter().sum::<f32>() + dot_tail(row);
    }
}

/// What one forward pass over one patch yields.
#[derive(Debug, Clone, PartialEq)]
pub struct VggishOutput {
    /// The embedding after the final ReLU, `[embedding_size]` (128).
    pub embedding: Vec<f32>,
    /// The postprocessed embedding, `[embedding_size]` values in 0..=255, when the model has
    /// a postprocessor.
    pub postprocessed: Option<Vec<f32>>,
}

/// The VGGish network (torchvggish `VGG`), optionally with its postprocessor.
#[derive(Debug, Clone)]
pub struct Vggish {
    cfg: VggishConfig,
    convs: Vec<Conv>,
    fcs: Vec<Fc>,
    post: Option<Postprocessor>,
}

impl Vggish {
    /// Builds the network from torchvggish-named tensors (`features.{i}.weight|bias`,
    /// `embeddings.{j}.weight|bias`, and `pca.eigen_vectors|means` when
    /// `cfg.postprocess`).
    pub fn load(cfg: &VggishConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        cfg.validate().map_err(candle_core::Error::msg)?;
        let idx = cfg.conv_indices();
        let mut convs = Vec::new();
        let mut c_in = 1;
        let mut n = 0;
        for block in &cfg.conv_blocks {
            for (j, &c_out) in block.iter().enumerate() {
                let pool = j + 1 == block.len();
                convs.push(Conv::load(
                    c_in,
                    c_out,
                    pool,
                    vb.pp(format!("features.{}", idx[n])),
                )?);
                c_in = c_out;
                n += 1;
            }
        }
        let fcs = cfg
            .fc_shapes()
            .into_iter()
            .enumerate()
            .map(|(j, (i, o))| Fc::load(i, o, vb.pp(format!("embeddings.{}", 2 * j))))
            .collect::<candle_core::Result<_>>()?;
        let post = if cfg.postprocess {
            Some(Postprocessor::load(cfg.embedding_size, vb.pp("pca"))?)
        } else {
            None
        };
        Ok(Self {
            cfg: cfg.clone(),
            convs,
            fcs,
            post,
        })
    }

    /// Loads a VGGish bundle (checks kind, config and front end).
    pub fn from_bundle(bundle: &ModelBundle) -> Result<Self, BundleError> {
        bundle.expect_kind(MODEL_KIND)?;
        let cfg: VggishConfig = serde_json::from_value(bundle.meta().model_config.clone())
            .map_err(|e| BundleError::BadMetadata(format!("vggish config: {e}")))?;
        let fe = &bundle.meta().front_end;
        if fe.n_mels != cfg.n_mels || fe.patch.context_frames != cfg.n_frames {
            return Err(BundleError::Invalid(format!(
                "front end gives {}×{} patches, model expects {}×{}",
                fe.patch.context_frames, fe.n_mels, cfg.n_frames, cfg.n_mels
            )));
        }
        Ok(Self::load(&cfg, bundle.var_builder())?)
    }

    /// The configuration.
    pub fn config(&self) -> &VggishConfig {
        &self.cfg
    }

    /// The postprocessor, when the model has one.
    pub fn postprocessor(&self) -> Option<&Postprocessor> {
        self.post.as_ref()
    }

    /// Raw embeddings of `b` patches given as row-major `[b, n_frames, n_mels]` values:
    /// `[b, embedding_size]`.
    pub fn embed_batch(&self, x: &[f32], b: usize) -> candle_core::Result<Vec<f32>> {
        let (h0, w0) = (self.cfg.n_frames, self.cfg.n_mels);
        if b == 0 || x.len() != b * h0 * w0 {
            candle_core::bail!(
                "vggish wants [B >= 1, {h0}, {w0}] log-mel patches, got {} values for B = {b}",
                x.len()
            );
        }
        let mut feats = Vec::with_capacity(b * self.cfg.fc_input());
        for patch in x.chunks_exact(h0 * w0) {
            feats.extend(self.conv_features(patch)?);
        }
        self.fc_forward(&feats, b)
    }

    /// The conv stack on one row-major `[n_frames, n_mels]` patch: the `[h, w, c]`
    /// channels-last features (`[6, 4, 512]`, torchvggish's NHWC flatten order).
    pub fn conv_features(&self, patch: &[f32]) -> candle_core::Result<Vec<f32>> {
        let (mut h, mut w) = (self.cfg.n_frames, self.cfg.n_mels);
        if patch.len() != h * w {
            candle_core::bail!("vggish wants {h}×{w} log-mel values, got {}", patch.len());
        }
        let mut scratch = Scratch::default();
        let mut a = patch.to_vec();
        for c in &self.convs {
            a = c.forward(&a, h, w, &mut scratch);
            if c.pool {
                (h, w) = (h / 2, w / 2);
            }
        }
        Ok(a)
    }

    /// The fully connected layers on `b` flattened conv feature vectors `[b, fc_input]`:
    /// embeddings `[b, embedding_size]`.
    pub fn fc_forward(&self, feats: &[f32], b: usize) -> candle_core::Result<Vec<f32>> {
        if b == 0 || feats.len() != b * self.cfg.fc_input() {
            candle_core::bail!(
                "vggish fc layers want [B, {}], got {} values for B = {b}",
                self.cfg.fc_input(),
                feats.len()
            );
        }
        let mut a = feats.to_vec();
        for fc in &self.fcs {
            a = fc.forward(&a, b);
        }
        Ok(a)
    }

    /// Runs one patch given as row-major `[n_frames, n_mels]` log-mel values.
    pub fn forward_frames(
        &self,
        logmel: &[f32],
        n_frames: usize,
        n_mels: usize,
    ) -> candle_core::Result<VggishOutput> {
        if n_frames != self.cfg.n_frames || n_mels != self.cfg.n_mels {
            candle_core::bail!(
                "vggish wants [{}, {}] log-mel patches, got [{n_frames}, {n_mels}]",
                self.cfg.n_frames,
                self.cfg.n_mels
            );
        }
        let embedding = self.embed_batch(logmel, 1)?;
        let postprocessed = self.post.as_ref().map(|p| p.postprocess(&embedding));
        Ok(VggishOutput {
            embedding,
            postprocessed,
        })
    }

    /// Runs one engine patch (`[96, 64]`).
    pub fn forward_patch(&self, patch: &LogMelPatch) -> candle_core::Result<VggishOutput> {
        self.forward_frames(&patch.data, patch.n_frames, patch.n_mels)
    }

    /// The postprocessed embeddings of `x` `[B, 1, n_frames, n_mels]`: `[B, E]` in 0..=255.
    /// Fails when the model has no postprocessor.
    pub fn forward_postprocessed(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let Some(post) = &self.post else {
            candle_core::bail!("this VGGish model has no PCA postprocessor");
        };
        let emb = self.forward(x)?;
        let (b, e) = emb.dims2()?;
        let v: Vec<f32> = emb
            .flatten_all()?
            .to_vec1::<f32>()?
            .chunks_exact(e)
            .flat_map(|r| post.postprocess(r))
            .collect();
        Tensor::from_vec(v, (b, e), &Device::Cpu)
    }
}

impl Module for Vggish {
    /// `x [B, 1, n_frames, n_mels]` (f32, CPU) → raw embeddings `[B, embedding_size]`.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, c, h, w) = x.dims4()?;
        if c != 1 || h != self.cfg.n_frames || w != self.cfg.n_mels {
            candle_core::bail!(
                "vggish wants [B, 1, {}, {}], got {:?}",
                self.cfg.n_frames,
                self.cfg.n_mels,
                x.dims()
            );
        }
        let data = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let out = self.embed_batch(&data, b)?;
        Tensor::from_vec(out, (b, self.cfg.embedding_size), &Device::Cpu)
    }
}

/// Output list stored in VGGish bundles: `embedding`, plus `postprocessed` with the PCA.
pub fn output_specs(cfg: &VggishConfig) -> Vec<OutputSpec> {
    let mut v = vec![OutputSpec {
        name: "embedding".into(),
        size: cfg.embedding_size,
        description: "embedding after the final ReLU (torchvggish VGG.forward)".into(),
    }];
    if cfg.postprocess {
        v.push(OutputSpec {
            name: "postprocessed".into(),
            size: cfg.embedding_size,
            description: "PCA, clip to [-2, 2], 8-bit quantisation: values 0..=255 as f32 \
                          (torchvggish Postprocessor)"
                .into(),
        });
    }
    v
}

/// Builds the metadata of a VGGish bundle: the VGGish front end, one 96-frame patch every
/// 96 frames (0.96 s, no extra context, first patch once 96 frames exist), no tags.
pub fn bundle_meta(cfg: &VggishConfig, provenance: Provenance, licence: Licence) -> BundleMeta {
    let mut front_end = FrontEndConfig::vggish();
    front_end.n_mels = cfg.n_mels;
    front_end.patch.context_frames = cfg.n_frames;
    front_end.patch.hop_frames = cfg.n_frames;
    let p = front_end.patch;
    BundleMeta {
        format_version: FORMAT_VERSION,
        model_kind: MODEL_KIND.into(),
        model_config: serde_json::to_value(cfg).expect("config serialises"),
        streaming: StreamingContract::from_patch(&p),
        front_end,
        outputs: output_specs(cfg),
        tags: Vec::new(),
        provenance,
        licence,
        data_sha256: String::new(),
        calibration: None,
        training: None,
    }
}

/// Why torchvggish `.pth` files could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{}: cannot read as a PyTorch checkpoint: {detail}", path.display())]
    Read { path: PathBuf, detail: String },
    #[error(
        "{}: legacy (torch < 1.6) serialisation; re-save it in the zip format first: \
         python -c \"import torch; torch.save(torch.load('IN', weights_only=False), 'OUT')\"",
        path.display()
    )]
    Legacy { path: PathBuf },
    #[error("{}: no `{name}` tensor; not a torchvggish {what} (tensors found: {found})", path.display())]
    Missing {
        path: PathBuf,
        name: String,
        what: &'static str,
        found: String,
    },
    #[error("{}: tensor `{name}` has shape {found:?}, expected {expected}", path.display())]
    Shape {
        path: PathBuf,
        name: String,
        found: Vec<usize>,
        expected: String,
    },
    #[error("{}: not a torchvggish VGG state_dict: {detail}", path.display())]
    Structure { path: PathBuf, detail: String },
}

/// The tensors of one `.pth` file, by name: shape and f32 values.
struct PthFile {
    path: PathBuf,
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl PthFile {
    fn read(path: &Path) -> Result<Self, ImportError> {
        let read_err = |detail: String| ImportError::Read {
            path: path.to_path_buf(),
            detail,
        };
        let head = std::fs::read(path).map_err(|e| read_err(e.to_string()))?;
        // Legacy torch.save: a pickle (PROTO 2) of the magic number 0x1950a86a20f9469cfc6c.
        if head.len() > 12
            && head[0] == 0x80
            && head[1] == 0x02
            && head[2] == 0x8a
            && head[4..10] == [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20]
        {
            return Err(ImportError::Legacy {
                path: path.to_path_buf(),
            });
        }
        let pth = candle_core::pickle::PthTensors::new(path, None)
            .map_err(|e| read_err(e.to_string()))?;
        let mut tensors = BTreeMap::new();
        for name in pth.tensor_infos().keys() {
            let t = pth
                .get(name)
                .map_err(|e| read_err(format!("tensor `{name}`: {e}")))?
                .ok_or_else(|| read_err(format!("tensor `{name}` vanished")))?;
            let shape = t.dims().to_vec();
            let data = t
                .to_dtype(DType::F32)
                .and_then(|t| t.flatten_all())
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(|e| read_err(format!("tensor `{name}`: {e}")))?;
            tensors.insert(name.clone(), (shape, data));
        }
        Ok(Self {
            path: path.to_path_buf(),
            tensors,
        })
    }

    fn found(&self) -> String {
        if self.tensors.is_empty() {
            return "none".into();
        }
        let names: Vec<&str> = self.tensors.keys().take(8).map(String::as_str).collect();
        let more = self.tensors.len().saturating_sub(8);
        if more > 0 {
            format!("{}, ... {more} more", names.join(", "))
        } else {
            names.join(", ")
        }
    }

    fn get(&self, name: &str, what: &'static str) -> Result<&(Vec<usize>, Vec<f32>), ImportError> {
        self.tensors.get(name).ok_or_else(|| ImportError::Missing {
            path: self.path.clone(),
            name: name.into(),
            what,
            found: self.found(),
        })
    }

    fn expect(
        &self,
        name: &str,
        what: &'static str,
        ok: impl Fn(&[usize]) -> bool,
        expected: String,
    ) -> Result<&(Vec<usize>, Vec<f32>), ImportError> {
        let t = self.get(name, what)?;
        if !ok(&t.0) {
            return Err(ImportError::Shape {
                path: self.path.clone(),
                name: name.into(),
                found: t.0.clone(),
                expected,
            });
        }
        Ok(t)
    }
}

/// The result of [`import_torchvggish`]: the config read off the tensor shapes, the bundle
/// tensors, and the source tensors (for provenance).
pub struct Imported {
    /// The network's sizes as found in the file.
    pub config: VggishConfig,
    /// Bundle tensors (torchvggish names and layouts, `pca.*` when a PCA file was given).
    pub tensors: Vec<NamedTensor>,
    /// Every source tensor read, with its original shape (PCA tensors prefixed `pca:`).
    pub sources: Vec<SourceTensor>,
}

impl std::fmt::Debug for Imported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Imported")
            .field("config", &self.config)
            .field("tensors", &self.tensors.len())
            .field("sources", &self.sources)
            .finish()
    }
}

/// Reads a torchvggish model `.pth` (`VGG.state_dict()`: `features.*`, `embeddings.*`; the
/// published `vggish-10086976.pth` or a scaled-down copy) and optionally a PCA `.pth`
/// (`pca_eigen_vectors` `[E,E]`, `pca_means` `[E]` or `[E,1]`), checks every shape and
/// infers the config (input 96 × 64). Files must be in PyTorch's zip format (torch ≥ 1.6).
pub fn import_torchvggish(model: &Path, pca: Option<&Path>) -> Result<Imported, ImportError> {
    let f = PthFile::read(model)?;
    const WHAT: &str = "VGG state_dict";
    let structure = |detail: String| ImportError::Structure {
        path: f.path.clone(),
        detail,
    };
    // Conv layers: features.{i}.weight, in Sequential order.
    let mut conv_idx = BTreeSet::new();
    let mut fc_idx = BTreeSet::new();
    let mut unexpected = Vec::new();
    for name in f.tensors.keys() {
        let parse = |prefix: &str| -> Option<usize> {
            let rest = name.strip_prefix(prefix)?;
            let (i, p) = rest.split_once('.')?;
            (p == "weight" || p == "bias").then_some(())?;
            i.parse().ok()
        };
        if let Some(i) = parse("features.") {
            conv_idx.insert(i);
        } else if let Some(i) = parse("embeddings.") {
            fc_idx.insert(i);
        } else {
            unexpected.push(name.clone());
        }
    }
    if conv_idx.is_empty() {
        f.get("features.0.weight", WHAT)?;
    }
    if fc_idx.is_empty() {
        f.get("embeddings.0.weight", WHAT)?;
    }
    if !unexpected.is_empty() {
        return Err(structure(format!(
            "unexpected tensors {}",
            unexpected.join(", ")
        )));
    }
    let conv_idx: Vec<usize> = conv_idx.into_iter().collect();
    if conv_idx[0] != 0 {
        return Err(structure(format!(
            "first conv is features.{}, expected features.0",
            conv_idx[0]
        )));
    }
    let mut blocks: Vec<Vec<usize>> = vec![Vec::new()];
    let mut c_in = 1;
    let mut sources = Vec::new();
    let mut tensors: Vec<NamedTensor> = Vec::new();
    let mut take = |name: String, t: &(Vec<usize>, Vec<f32>)| {
        sources.push(SourceTensor {
            name: name.clone(),
            shape: t.0.clone(),
        });
        tensors.push((name, t.0.clone(), t.1.clone()));
    };
    for (n, &i) in conv_idx.iter().enumerate() {
        if n > 0 {
            match i - conv_idx[n - 1] {
                2 => {}
                3 => blocks.push(Vec::new()),
                gap => {
                    return Err(structure(format!(
                        "features.{} follows features.{} ({gap} modules apart; VGGish has \
                         conv, ReLU and at most one max-pool between convs)",
                        i,
                        conv_idx[n - 1]
                    )))
                }
            }
        }
        let wname = format!("features.{i}.weight");
        let w = f.expect(
            &wname,
            WHAT,
            |s| s.len() == 4 && s[1] == c_in && s[2] == 3 && s[3] == 3 && s[0] > 0,
            format!("[C_out, {c_in}, 3, 3]"),
        )?;
        let c_out = w.0[0];
        take(wname, w);
        let bname = format!("features.{i}.bias");
        let b = f.expect(&bname, WHAT, |s| s == [c_out], format!("[{c_out}]"))?;
        take(bname, b);
        blocks.last_mut().unwrap().push(c_out);
        c_in = c_out;
    }
    let fc_idx: Vec<usize> = fc_idx.into_iter().collect();
    if fc_idx.iter().enumerate().any(|(j, &i)| i != 2 * j) {
        return Err(structure(format!(
            "fully connected layers are embeddings.{fc_idx:?}, expected embeddings.0, 2, 4, ..."
        )));
    }
    let mut cfg = VggishConfig {
        n_frames: 96,
        n_mels: 64,
        conv_blocks: blocks,
        fc: Vec::new(),
        embedding_size: 1, // set below from the last fc layer
        postprocess: pca.is_some(),
    };
    cfg.validate().map_err(structure)?;
    let mut n_in = cfg.fc_input();
    let (h, w, c) = cfg.conv_output();
    for (j, &i) in fc_idx.iter().enumerate() {
        let wname = format!("embeddings.{i}.weight");
        let expected = if j == 0 {
            format!("[N, {n_in}] ({h}×{w}×{c} conv features)")
        } else {
            format!("[N, {n_in}]")
        };
        let wt = f.expect(
            &wname,
            WHAT,
            |s| s.len() == 2 && s[1] == n_in && s[0] > 0,
            expected,
        )?;
        let n_out = wt.0[0];
        take(wname, wt);
        let bname = format!("embeddings.{i}.bias");
        let b = f.expect(&bname, WHAT, |s| s == [n_out], format!("[{n_out}]"))?;
        take(bname, b);
        cfg.fc.push(n_out);
        n_in = n_out;
    }
    cfg.embedding_size = cfg.fc.pop().expect("at least one fc layer");
    let e = cfg.embedding_size;
    if let Some(pca) = pca {
        let p = PthFile::read(pca)?;
        const PCA: &str = "PCA parameter file (it may hold numpy arrays: re-save them as torch \
                           tensors)";
        let m = p.expect(
            "pca_eigen_vectors",
            PCA,
            |s| s == [e, e],
            format!("[{e}, {e}]"),
        )?;
        sources.push(SourceTensor {
            name: "pca:pca_eigen_vectors".into(),
            shape: m.0.clone(),
        });
        tensors.push(("pca.eigen_vectors".into(), vec![e, e], m.1.clone()));
        let mu = p.expect(
            "pca_means",
            PCA,
            |s| s == [e] || s == [e, 1],
            format!("[{e}] or [{e}, 1]"),
        )?;
        sources.push(SourceTensor {
            name: "pca:pca_means".into(),
            shape: mu.0.clone(),
        });
        tensors.push(("pca.means".into(), vec![e], mu.1.clone()));
    }
    Ok(Imported {
        config: cfg,
        tensors,
        sources,
    })
}

/// Random full-size (or any-size) weights for benchmarks and shape tests: He-normal-ish
/// uniform weights from a fixed seed, torchvggish names, no postprocessor.
pub fn random_tensors(cfg: &VggishConfig, seed: u64) -> Vec<NamedTensor> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut uniform = |n: usize, fan_in: usize| -> Vec<f32> {
        let a = (6.0 / fan_in as f32).sqrt();
        (0..n).map(|_| rng.random_range(-a..a)).collect()
    };
    let mut out = Vec::new();
    let idx = cfg.conv_indices();
    let mut c_in = 1;
    for (n, &c_out) in cfg.conv_blocks.iter().flatten().enumerate() {
        let i = idx[n];
        out.push((
            format!("features.{i}.weight"),
            vec![c_out, c_in, 3, 3],
            uniform(c_out * c_in * 9, c_in * 9),
        ));
        out.push((
            format!("features.{i}.bias"),
            vec![c_out],
            uniform(c_out, 100),
        ));
        c_in = c_out;
    }
    for (j, (i, o)) in cfg.fc_shapes().into_iter().enumerate() {
        out.push((
            format!("embeddings.{}.weight", 2 * j),
            vec![o, i],
            uniform(o * i, i),
        ));
        out.push((
            format!("embeddings.{}.bias", 2 * j),
            vec![o],
            uniform(o, 100),
        ));
    }
    out
}

/// A [`VarBuilder`] over named tensors (e.g. [`random_tensors`]).
pub fn var_builder(tensors: &[NamedTensor]) -> candle_core::Result<VarBuilder<'static>> {
    let map = tensors
        .iter()
        .map(|(n, s, d)| {
            Ok((
                n.clone(),
                Tensor::from_vec(d.clone(), s.as_slice(), &Device::Cpu)?,
            ))
        })
        .collect::<candle_core::Result<std::collections::HashMap<_, _>>>()?;
    Ok(VarBuilder::from_tensors(map, DType::F32, &Device::Cpu))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_sizes() {
        let c = VggishConfig::standard();
        assert_eq!(c.conv_output(), (6, 4, 512));
        assert_eq!(c.fc_input(), 12288);
        assert_eq!(c.conv_indices(), vec![0, 3, 6, 8, 11, 13]);
        assert_eq!(
            c.fc_shapes(),
            vec![(12288, 4096), (4096, 4096), (4096, 128)]
        );
    }

    #[test]
    fn quantise_clips_and_rounds() {
        // (clip(v) + 2)·63.75: -2 → 0, 2 → 255, beyond clips; 0 → 127.5, the only exact
        // tie in range, → 128; -1 → 63.75 → 64; 1 → 191.25 → 191.
        let q = Postprocessor::quantise(&[-3.0, -2.0, 2.0, 9.0, 0.0, -1.0, 1.0]);
        assert_eq!(q, vec![0.0, 0.0, 255.0, 255.0, 128.0, 64.0, 191.0]);
    }

    #[test]
    fn gemv_matches_a_plain_sum() {
        let (o, i) = (5, 131);
        let w: Vec<f32> = (0..o * i)
            .map(|k| ((k * 7919) % 23) as f32 - 11.0)
            .collect();
        let x: Vec<f32> = (0..i).map(|k| ((k * 31) % 7) as f32 * 0.25).collect();
        let mut out = vec![0.0; o];
        gemv(&w, &x, &mut out);
        for r in 0..o {
            let expect: f32 = (0..i).map(|k| w[r * i + k] * x[k]).sum();
            assert!(
                (out[r] - expect).abs() < 1e-3,
                "{r}: {} vs {expect}",
                out[r]
            );
        }
    }

    #[test]
    fn batch_equals_single_patches() {
        // Tiny random VGGish: batched fc (gemm) and single (gemv) paths agree.
        let cfg = VggishConfig {
            conv_blocks: vec![vec![4], vec![8], vec![8, 8], vec![16, 16]],
            fc: vec![32, 24],
            embedding_size: 16,
            ..VggishConfig::standard()
        };
        let net = Vggish::load(&cfg, var_builder(&random_tensors(&cfg, 3)).unwrap()).unwrap();
        let x: Vec<f32> = (0..2 * 96 * 64)
            .map(|k| ((k * 13) % 17) as f32 * 0.1 - 0.8)
            .collect();
        let both = net.embed_batch(&x, 2).unwrap();
        for p in 0..2 {
            let one = net.embed_batch(&x[p * 6144..][..6144], 1).unwrap();
            for (a, b) in one.iter().zip(&both[p * 16..][..16]) {
                assert!((a - b).abs() < 1e-4, "{a} vs {b}");
            }
        }
        assert!(both.iter().any(|&v| v > 0.0));
    }
}
