//! musicnn (Pons & Serra 2019, `musicnn==0.1.0` `models.py` `build_musicnn`), inference only,
//! CPU, batch-normalisation folded at import.
//!
//! Input: one log-mel patch `[T, 96]` (frames × mel bands, the musicnn front end's
//! `log10(10000·mel + 1)` values), any `T >= 1` (native length 187 = 3 s; streaming uses the
//! last ≤ 187 frames every 60 frames). Output per patch ([`MusicnnOutput`]):
//! `penultimate` [200], `max_pool` [753], `mean_pool` [753], `tags` [50] (sigmoid).
//!
//! ```text
//! x [T,96] ─input BN─▶ xn ─┬─ pad t 3/3 ─ conv 7×38 ─ReLU─BN─ max_f ─▶ [T,204] ┐
//!                          ├─ pad t 3/3 ─ conv 7×67 ─ReLU─BN─ max_f ─▶ [T,204] │ front end
//!                          └─ 'same' conv 128/64/32×1 ─ReLU─BN─ max_f ─▶ 3×[T,51] ┘ [T,561]
//! mid-end: c1 = BN(ReLU(conv 7×561)), r2 = BN(ReLU(conv 7×64 (c1))) + c1, r3 likewise + r2
//! [fe, c1, r2, r3] [T,753] ─ max_t, mean_t ─ interleave ─▶ [1506] ─BN─ dense ─ReLU─BN─▶
//! penultimate [200] ─ dense ─ sigmoid ─▶ tags [50]
//! ```
//!
//! Every convolution has a single input channel (mid-end convs span all channels in their
//! "width"), so each is one matrix product of an im2col patch matrix with a `[kh·kw, C]`
//! kernel; BN after ReLU followed by a max over frequency is applied after the max (a
//! per-channel affine map commutes with max, switching to min for a negative scale).

use candle_core::{Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder};
use chorder_engine::{FrontEndConfig, LogMelPatch};
use serde::{Deserialize, Serialize};

use crate::bundle::{
    BundleError, BundleMeta, Licence, ModelBundle, NamedTensor, OutputSpec, Provenance,
    SourceTensor, StreamingContract, FORMAT_VERSION,
};
use crate::matmul::sgemm;
use crate::tf_checkpoint::{CheckpointError, TfTensor};

/// `model_kind` of musicnn bundles.
pub const MODEL_KIND: &str = "musicnn";

/// TF1 `tf.layers.batch_normalization` default epsilon.
pub const BN_EPSILON: f64 = 1e-3;

/// The 50 MSD tags, in output order (`configuration.py` `MSD_LABELS`).
pub const MSD_TAGS: [&str; 50] = [
    "rock",
    "pop",
    "alternative",
    "indie",
    "electronic",
    "female vocalists",
    "dance",
    "00s",
    "alternative rock",
    "jazz",
    "beautiful",
    "metal",
    "chillout",
    "male vocalists",
    "classic rock",
    "soul",
    "indie rock",
    "Mellow",
    "electronica",
    "80s",
    "folk",
    "90s",
    "chill",
    "instrumental",
    "punk",
    "oldies",
    "blues",
    "hard rock",
    "ambient",
    "acoustic",
    "experimental",
    "female vocalist",
    "guitar",
    "Hip-Hop",
    "70s",
    "party",
    "country",
    "easy listening",
    "sexy",
    "catchy",
    "funk",
    "electro",
    "heavy metal",
    "Progressive rock",
    "60s",
    "rnb",
    "indie pop",
    "sad",
    "House",
    "happy",
];

/// The 50 MagnaTagATune tags, in output order (`configuration.py` `MTT_LABELS`).
pub const MTT_TAGS: [&str; 50] = [
    "guitar",
    "classical",
    "slow",
    "techno",
    "strings",
    "drums",
    "electronic",
    "rock",
    "fast",
    "piano",
    "ambient",
    "beat",
    "violin",
    "vocal",
    "synth",
    "female",
    "indian",
    "opera",
    "male",
    "singing",
    "vocals",
    "no vocals",
    "harpsichord",
    "loud",
    "quiet",
    "flute",
    "woman",
    "male vocal",
    "no vocal",
    "pop",
    "soft",
    "sitar",
    "solo",
    "man",
    "classic",
    "choir",
    "voice",
    "new age",
    "dance",
    "male voice",
    "female vocal",
    "beats",
    "harp",
    "cello",
    "no voice",
    "weird",
    "country",
    "metal",
    "female voice",
    "choral",
];

/// Hyper-parameters (`build_musicnn` with `num_filt_frontend=1.6`, `num_filt_midend=64`,
/// `num_units_backend=200`, `yInput=96`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MusicnnConfig {
    /// Mel bands of the input (96).
    pub n_mels: usize,
    /// Time extent of the timbral and mid-end kernels (7; padded 3/3 in time).
    pub time_kernel: usize,
    /// Frequency widths of the timbral kernels (`int(0.4·96)=38`, `int(0.7·96)=67`).
    pub timbral_widths: Vec<usize>,
    /// Filters per timbral conv (`int(1.6·128)=204`).
    pub timbral_filters: usize,
    /// Time lengths of the temporal kernels (128, 64, 32; TF 'same' padding).
    pub temporal_lengths: Vec<usize>,
    /// Filters per temporal conv (`int(1.6·32)=51`).
    pub temporal_filters: usize,
    /// Filters per mid-end conv (64).
    pub midend_filters: usize,
    /// Units of the penultimate dense layer (200).
    pub backend_units: usize,
    /// Tags (50).
    pub n_tags: usize,
}

impl MusicnnConfig {
    /// The shipped MSD/MTT musicnn models.
    pub fn standard() -> Self {
        Self {
            n_mels: 96,
            time_kernel: 7,
            timbral_widths: vec![38, 67],
            timbral_filters: 204,
            temporal_lengths: vec![128, 64, 32],
            temporal_filters: 51,
            midend_filters: 64,
            backend_units: 200,
            n_tags: 50,
        }
    }

    /// Front-end channels, `Σ timbral + Σ temporal filters` (561).
    pub fn frontend_channels(&self) -> usize {
        self.timbral_widths.len() * self.timbral_filters
            + self.temporal_lengths.len() * self.temporal_filters
    }

    /// Channels entering the global pooling: front end + 3 mid-end outputs (753).
    pub fn pooled_channels(&self) -> usize {
        self.frontend_channels() + 3 * self.midend_filters
    }
}

/// What one forward pass over one patch yields.
#[derive(Debug, Clone, PartialEq)]
pub struct MusicnnOutput {
    /// `BN(ReLU(dense(BN(pool))))`, `[backend_units]` (200): the embedding.
    pub penultimate: Vec<f32>,
    /// Max over time of the `[T,753]` front+mid-end features, `[753]`.
    pub max_pool: Vec<f32>,
    /// Mean over time of the same, `[753]`.
    pub mean_pool: Vec<f32>,
    /// Tag probabilities (sigmoid of the logits), `[n_tags]` (50).
    pub tags: Vec<f32>,
}

/// A folded batch normalisation `y = scale·x + shift` per channel.
/// Mirrors `tf.compat.v1.layers.batch_normalization` at inference.
#[derive(Debug, Clone)]
struct Affine {
    scale: Vec<f32>,
    shift: Vec<f32>,
}

impl Affine {
    fn load(c: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            scale: vb.get(c, "scale")?.to_vec1()?,
            shift: vb.get(c, "shift")?.to_vec1()?,
        })
    }

    /// `scale·relu(z + bias) + shift` for channel `c`.
    #[inline]
    fn relu_bn(&self, c: usize, z: f32, bias: f32) -> f32 {
        self.scale[c] * (z + bias).max(0.0) + self.shift[c]
    }
}

/// Largest value of a slice (`-inf` when empty), or the smallest when `!largest`; written
/// as eight independent lanes of plain comparisons so that it compiles to vector max/min.
#[inline]
fn extreme(v: &[f32], largest: bool) -> f32 {
    #[inline(always)]
    fn run<const MAX: bool>(v: &[f32]) -> f32 {
        let pick = |a: f32, b: f32| {
            if (MAX && b > a) || (!MAX && b < a) {
                b
            } else {
                a
            }
        };
        let init = if MAX {
            f32::NEG_INFINITY
        } else {
            f32::INFINITY
        };
        let mut acc = [init; 8];
        let mut chunks = v.chunks_exact(8);
        for c in &mut chunks {
            for i in 0..8 {
                acc[i] = pick(acc[i], c[i]);
            }
        }
        chunks
            .remainder()
            .iter()
            .chain(&acc)
            .fold(init, |a, &b| pick(a, b))
    }
    if largest {
        run::<true>(v)
    } else {
        run::<false>(v)
    }
}

/// `acc[i] = max(acc[i], v[i])`, or min when `!largest` (vectorisable form).
#[inline]
fn accumulate_extreme(acc: &mut [f32], v: &[f32], largest: bool) {
    if largest {
        for (a, &x) in acc.iter_mut().zip(v) {
            *a = if x > *a { x } else { *a };
        }
    } else {
        for (a, &x) in acc.iter_mut().zip(v) {
            *a = if x < *a { x } else { *a };
        }
    }
}

/// Frames per tile of the timbral convs: the patch matrix and the product of one tile stay
/// in L2 (16·59·266·4 B ≈ 1 MB at most).
const TIMBRAL_TILE: usize = 8;

/// Timbral conv `[kh × kw]` on the time-padded input, ReLU, BN, max over frequency.
/// Mirrors `models.py` `timbral_block` (padding "valid" after the explicit 3/3 time pad).
#[derive(Debug, Clone)]
struct TimbralBlock {
    /// `[C, kh·kw]` row-major, column `dt·kw + df` (TF HWIO with in=1, reshaped and
    /// transposed so that gemm reads it in place).
    kernel: Vec<f32>,
    bias: Vec<f32>,
    bn: Affine,
    kh: usize,
    kw: usize,
    filters: usize,
}

impl TimbralBlock {
    fn load(kh: usize, kw: usize, filters: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            kernel: vb
                .get((kh * kw, filters), "kernel")?
                .t()?
                .contiguous()?
                .flatten_all()?
                .to_vec1()?,
            bias: vb.get(filters, "bias")?.to_vec1()?,
            bn: Affine::load(filters, vb.pp("bn"))?,
            kh,
            kw,
            filters,
        })
    }

    /// `xpad`: `[(T + kh - 1), n_mels]` zero-padded in time → `out [T, n_out]` columns
    /// `col .. col + C`.
    fn forward(
        &self,
        xpad: &[f32],
        n_frames: usize,
        n_mels: usize,
        out: &mut [f32],
        n_out: usize,
        col: usize,
    ) {
        let (kh, kw, c) = (self.kh, self.kw, self.filters);
        let f_out = n_mels - kw + 1;
        let k = kh * kw;
        // Column-major patch matrix of one tile, rows padded to a multiple of 16 (unused rows
        // hold stale finite values): cols[j·mp + (tt·f_out + f)] = xpad[(t0+tt+dt)·n_mels + f + df]
        // for j = dt·kw + df, so gemm packs it by block copies.
        let mp_max = (TIMBRAL_TILE * f_out).next_multiple_of(16);
        let mut cols = vec![0.0f32; mp_max * k];
        // Column-major product: z[ch·mp + row], so each (frame, channel) pools a contiguous run.
        let mut z = vec![0.0f32; mp_max * c];
        for t0 in (0..n_frames).step_by(TIMBRAL_TILE) {
            let nt = TIMBRAL_TILE.min(n_frames - t0);
            let m = nt * f_out;
            let mp = m.next_multiple_of(16);
            for dt in 0..kh {
                for df in 0..kw {
                    let dst = &mut cols[(dt * kw + df) * mp..][..m];
                    for (tt, run) in dst.chunks_exact_mut(f_out).enumerate() {
                        run.copy_from_slice(&xpad[(t0 + tt + dt) * n_mels + df..][..f_out]);
                    }
                }
            }
            sgemm(
                (mp, k, c),
                &cols,
                (1, mp),
                &self.kernel,
                (1, k),
                &mut z,
                (1, mp),
            );
            for ch in 0..c {
                // BN after ReLU commutes with the max for a positive scale, with the min for
                // a negative one; only the extreme that is needed is computed.
                let largest = self.bn.scale[ch] >= 0.0;
                for tt in 0..nt {
                    let ext = extreme(&z[ch * mp + tt * f_out..][..f_out], largest);
                    out[(t0 + tt) * n_out + col + ch] = self.bn.relu_bn(ch, ext, self.bias[ch]);
                }
            }
        }
    }
}

/// Temporal conv `[k × 1]` with TF 'same' padding (`(k-1)/2` frames before, `k/2` after),
/// ReLU, BN, max over frequency. Mirrors `models.py` `tempo_block`.
#[derive(Debug, Clone)]
struct TempoBlock {
    /// `[C, k]` row-major, column `dt` (TF HWIO `[k,1,1,C]` reshaped and transposed).
    kernel: Vec<f32>,
    bias: Vec<f32>,
    bn: Affine,
    k: usize,
    filters: usize,
}

impl TempoBlock {
    fn load(k: usize, filters: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            kernel: vb
                .get((k, filters), "kernel")?
                .t()?
                .contiguous()?
                .flatten_all()?
                .to_vec1()?,
            bias: vb.get(filters, "bias")?.to_vec1()?,
            bn: Affine::load(filters, vb.pp("bn"))?,
            k,
            filters,
        })
    }

    /// `xn`: `[T, n_mels]` (unpadded) → `out [T, n_out]` columns `col .. col + C`.
    fn forward(
        &self,
        xn: &[f32],
        n_frames: usize,
        n_mels: usize,
        out: &mut [f32],
        n_out: usize,
        col: usize,
    ) {
        let (k, c) = (self.k, self.filters);
        let before = (k - 1) / 2;
        // Frequency-major padded copy: row f holds the band's frames with zero padding; the
        // patch matrix of band f is the Hankel view xt[f·len + t + dt] (row and column
        // stride 1), so no im2col copy is made.
        let len = n_frames + k - 1;
        let mut xt = vec![0.0f32; n_mels * len];
        for t in 0..n_frames {
            for f in 0..n_mels {
                xt[f * len + before + t] = xn[t * n_mels + f];
            }
        }
        // Column-major per band: z[ch·T + t].
        let mut z = vec![0.0f32; n_frames * c];
        // Running max (min for channels with a negative BN scale) over bands, [ch·T + t].
        let largest: Vec<bool> = self.bn.scale.iter().map(|&s| s >= 0.0).collect();
        let mut ext = vec![0.0f32; n_frames * c];
        for (ch, run) in ext.chunks_exact_mut(n_frames).enumerate() {
            run.fill(if largest[ch] {
                f32::NEG_INFINITY
            } else {
                f32::INFINITY
            });
        }
        for f in 0..n_mels {
            sgemm(
                (n_frames, k, c),
                &xt[f * len..(f + 1) * len],
                (1, 1),
                &self.kernel,
                (1, k),
                &mut z,
                (1, n_frames),
            );
            for (ch, (acc, zc)) in ext
                .chunks_exact_mut(n_frames)
                .zip(z.chunks_exact(n_frames))
                .enumerate()
            {
                accumulate_extreme(acc, zc, largest[ch]);
            }
        }
        for ch in 0..c {
            for t in 0..n_frames {
                out[t * n_out + col + ch] =
                    self.bn.relu_bn(ch, ext[ch * n_frames + t], self.bias[ch]);
            }
        }
    }
}

/// Mid-end conv `[7 × C_in]` (valid, after a 3/3 time pad), ReLU, BN.
/// Mirrors `models.py` `midend` conv1/conv2/conv3.
#[derive(Debug, Clone)]
struct MidendConv {
    /// `[kh·C_in, C]` row-major, row `dt·C_in + ch` (TF HWIO `[kh,C_in,1,C]` reshaped).
    kernel: Vec<f32>,
    bias: Vec<f32>,
    bn: Affine,
    kh: usize,
    c_in: usize,
    filters: usize,
}

impl MidendConv {
    fn load(kh: usize, c_in: usize, filters: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            kernel: vb
                .get((kh * c_in, filters), "kernel")?
                .flatten_all()?
                .to_vec1()?,
            bias: vb.get(filters, "bias")?.to_vec1()?,
            bn: Affine::load(filters, vb.pp("bn"))?,
            kh,
            c_in,
            filters,
        })
    }

    /// `x`: `[T, C_in]` → `[T, C]`.
    fn forward(&self, x: &[f32], n_frames: usize) -> Vec<f32> {
        let (kh, c_in, c) = (self.kh, self.c_in, self.filters);
        let pad = (kh - 1) / 2;
        let mut xpad = vec![0.0f32; (n_frames + kh - 1) * c_in];
        xpad[pad * c_in..(pad + n_frames) * c_in].copy_from_slice(x);
        // Row t of the patch matrix is the contiguous window xpad[t·C_in .. (t + kh)·C_in]
        // (a strided view with row stride C_in, no im2col copy).
        let mut z = vec![0.0f32; n_frames * c];
        // Transposed product z^T [C, T] = kernel^T [C, kh·C_in] · patches^T [kh·C_in, T]: both
        // operands then have unit row stride (no gather), and z^T column-major is z row-major.
        sgemm(
            (c, kh * c_in, n_frames),
            &self.kernel,
            (1, c),
            &xpad,
            (1, c_in),
            &mut z,
            (1, c),
        );
        for row in z.chunks_exact_mut(c) {
            for (ch, v) in row.iter_mut().enumerate() {
                *v = self.bn.relu_bn(ch, *v, self.bias[ch]);
            }
        }
        z
    }
}

/// Global pooling → dense (back-end BN folded in) → ReLU → BN → dense → sigmoid.
/// Mirrors `models.py` `backend` (`globalpool_dense`).
#[derive(Debug, Clone)]
struct Backend {
    /// `[units, 2·channels]` with the `[1506]` BN folded in (candle `Linear`, `[out, in]`).
    dense: Linear,
    bn: Affine,
    logits: Linear,
}

impl Backend {
    fn load(cfg: &MusicnnConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let (n_in, units) = (2 * cfg.pooled_channels(), cfg.backend_units);
        Ok(Self {
            dense: candle_nn::linear(n_in, units, vb.pp("dense"))?,
            bn: Affine::load(units, vb.pp("bn"))?,
            logits: candle_nn::linear(units, cfg.n_tags, vb.pp("logits"))?,
        })
    }

    /// `features`: `[T, channels]` → output struct.
    fn forward(
        &self,
        features: &[f32],
        n_frames: usize,
        n_ch: usize,
    ) -> candle_core::Result<MusicnnOutput> {
        let mut max_pool = vec![f32::NEG_INFINITY; n_ch];
        let mut sum = vec![0.0f64; n_ch];
        for t in 0..n_frames {
            let row = &features[t * n_ch..][..n_ch];
            for c in 0..n_ch {
                max_pool[c] = max_pool[c].max(row[c]);
                sum[c] += f64::from(row[c]);
            }
        }
        let mean_pool: Vec<f32> = sum.iter().map(|s| (s / n_frames as f64) as f32).collect();
        // tf.concat([max, mean], 2) on [B, C, 1] then flatten: [max0, mean0, max1, mean1, …].
        let flat: Vec<f32> = max_pool
            .iter()
            .zip(&mean_pool)
            .flat_map(|(&m, &a)| [m, a])
            .collect();
        let flat = Tensor::from_vec(flat, (1, 2 * n_ch), &Device::Cpu)?;
        let hidden = self.dense.forward(&flat)?.flatten_all()?.to_vec1::<f32>()?;
        let penultimate: Vec<f32> = hidden
            .iter()
            .enumerate()
            .map(|(c, &z)| self.bn.relu_bn(c, z, 0.0))
            .collect();
        let p = Tensor::from_vec(penultimate.clone(), (1, penultimate.len()), &Device::Cpu)?;
        let tags = candle_nn::ops::sigmoid(&self.logits.forward(&p)?)?
            .flatten_all()?
            .to_vec1()?;
        Ok(MusicnnOutput {
            penultimate,
            max_pool,
            mean_pool,
            tags,
        })
    }
}

/// The musicnn network. Mirrors `models.py` `build_musicnn`.
#[derive(Debug, Clone)]
pub struct Musicnn {
    cfg: MusicnnConfig,
    /// Input BN over the single channel (scalar affine).
    input_bn: Affine,
    timbral: Vec<TimbralBlock>,
    temporal: Vec<TempoBlock>,
    midend: Vec<MidendConv>,
    backend: Backend,
}

impl Musicnn {
    /// Builds the network from bundle tensors named as [`convert_tf_checkpoint`] writes them.
    pub fn load(cfg: &MusicnnConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let kh = cfg.time_kernel;
        let timbral = cfg
            .timbral_widths
            .iter()
            .enumerate()
            .map(|(i, &kw)| {
                TimbralBlock::load(kh, kw, cfg.timbral_filters, vb.pp(format!("timbral.{i}")))
            })
            .collect::<candle_core::Result<_>>()?;
        let temporal = cfg
            .temporal_lengths
            .iter()
            .enumerate()
            .map(|(i, &k)| {
                TempoBlock::load(k, cfg.temporal_filters, vb.pp(format!("temporal.{i}")))
            })
            .collect::<candle_core::Result<_>>()?;
        let m = cfg.midend_filters;
        let midend = vec![
            MidendConv::load(kh, cfg.frontend_channels(), m, vb.pp("midend.0"))?,
            MidendConv::load(kh, m, m, vb.pp("midend.1"))?,
            MidendConv::load(kh, m, m, vb.pp("midend.2"))?,
        ];
        Ok(Self {
            cfg: cfg.clone(),
            input_bn: Affine::load(1, vb.pp("input_bn"))?,
            timbral,
            temporal,
            midend,
            backend: Backend::load(cfg, vb.pp("backend"))?,
        })
    }

    /// Loads a musicnn bundle (checks kind and config).
    pub fn from_bundle(bundle: &ModelBundle) -> Result<Self, BundleError> {
        bundle.expect_kind(MODEL_KIND)?;
        let cfg: MusicnnConfig = serde_json::from_value(bundle.meta().model_config.clone())
            .map_err(|e| BundleError::BadMetadata(format!("musicnn config: {e}")))?;
        if bundle.meta().front_end.n_mels != cfg.n_mels {
            return Err(BundleError::Invalid(format!(
                "front end has {} mel bands, model expects {}",
                bundle.meta().front_end.n_mels,
                cfg.n_mels
            )));
        }
        Ok(Self::load(&cfg, bundle.var_builder())?)
    }

    /// The configuration.
    pub fn config(&self) -> &MusicnnConfig {
        &self.cfg
    }

    /// Runs one patch given as a `[T, n_mels]` tensor.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<MusicnnOutput> {
        let (n_frames, n_mels) = x.dims2()?;
        let data = x.flatten_all()?.to_vec1::<f32>()?;
        self.forward_frames(&data, n_frames, n_mels)
    }

    /// Runs one engine patch (`[n_frames, n_mels]`).
    pub fn forward_patch(&self, patch: &LogMelPatch) -> candle_core::Result<MusicnnOutput> {
        self.forward_frames(&patch.data, patch.n_frames, patch.n_mels)
    }

    /// Runs one patch given as row-major `[n_frames, n_mels]` log-mel values.
    pub fn forward_frames(
        &self,
        logmel: &[f32],
        n_frames: usize,
        n_mels: usize,
    ) -> candle_core::Result<MusicnnOutput> {
        if n_frames == 0 || n_mels != self.cfg.n_mels || logmel.len() != n_frames * n_mels {
            candle_core::bail!(
                "musicnn wants [T >= 1, {}] log-mel frames, got {} values as [{n_frames}, {n_mels}]",
                self.cfg.n_mels,
                logmel.len()
            );
        }
        let kh = self.cfg.time_kernel;
        let pad = (kh - 1) / 2;
        let (s0, b0) = (self.input_bn.scale[0], self.input_bn.shift[0]);
        let xn: Vec<f32> = logmel.iter().map(|&v| s0 * v + b0).collect();
        let mut xpad = vec![0.0f32; (n_frames + kh - 1) * n_mels];
        xpad[pad * n_mels..(pad + n_frames) * n_mels].copy_from_slice(&xn);

        // Front end: [T, 561] = [f74 | f77 | s128 | s64 | s32], written into the first 561
        // columns of the [T, 753] feature matrix.
        let n_fe = self.cfg.frontend_channels();
        let m = self.cfg.midend_filters;
        let n_ch = self.cfg.pooled_channels();
        let mut features = vec![0.0f32; n_frames * n_ch];
        let mut col = 0;
        for b in &self.timbral {
            b.forward(&xpad, n_frames, n_mels, &mut features, n_ch, col);
            col += b.filters;
        }
        for b in &self.temporal {
            b.forward(&xn, n_frames, n_mels, &mut features, n_ch, col);
            col += b.filters;
        }
        let fe: Vec<f32> = (0..n_frames)
            .flat_map(|t| features[t * n_ch..][..n_fe].iter().copied())
            .collect();

        // Mid-end: c1, r2 = conv2(c1) + c1, r3 = conv3(r2) + r2.
        let c1 = self.midend[0].forward(&fe, n_frames);
        let mut r2 = self.midend[1].forward(&c1, n_frames);
        r2.iter_mut().zip(&c1).for_each(|(a, b)| *a += b);
        let mut r3 = self.midend[2].forward(&r2, n_frames);
        r3.iter_mut().zip(&r2).for_each(|(a, b)| *a += b);
        for (i, part) in [&c1, &r2, &r3].into_iter().enumerate() {
            let col = n_fe + i * m;
            for t in 0..n_frames {
                features[t * n_ch + col..][..m].copy_from_slice(&part[t * m..][..m]);
            }
        }
        self.backend.forward(&features, n_frames, n_ch)
    }
}

/// Output list stored in musicnn bundles.
pub fn output_specs(cfg: &MusicnnConfig) -> Vec<OutputSpec> {
    vec![
        OutputSpec {
            name: "penultimate".into(),
            size: cfg.backend_units,
            description: "embedding: BN(ReLU(dense(BN(pooled)))), model output `penultimate`"
                .into(),
        },
        OutputSpec {
            name: "max_pool".into(),
            size: cfg.pooled_channels(),
            description: "max over time of the [T,753] front+mid-end features".into(),
        },
        OutputSpec {
            name: "mean_pool".into(),
            size: cfg.pooled_channels(),
            description: "mean over time of the [T,753] front+mid-end features".into(),
        },
        OutputSpec {
            name: "tags".into(),
            size: cfg.n_tags,
            description: "tag probabilities, sigmoid of the logits".into(),
        },
    ]
}

/// Builds the metadata of a musicnn bundle (`data_sha256` is filled in by the writer).
pub fn bundle_meta(
    cfg: &MusicnnConfig,
    tags: &[&str],
    provenance: Provenance,
    licence: Licence,
) -> BundleMeta {
    let front_end = FrontEndConfig::musicnn();
    let p = front_end.patch;
    BundleMeta {
        format_version: FORMAT_VERSION,
        model_kind: MODEL_KIND.into(),
        model_config: serde_json::to_value(cfg).expect("config serialises"),
        streaming: StreamingContract::from_patch(&p),
        front_end,
        outputs: output_specs(cfg),
        tags: tags.iter().map(|s| s.to_string()).collect(),
        provenance,
        licence,
        data_sha256: String::new(),
        calibration: None,
        training: None,
    }
}

/// Folds a TF batch normalisation (`gamma`, `beta`, `moving_mean`, `moving_variance`,
/// eps 1e-3) into `(scale, shift)`: `y = scale·x + shift`, computed in f64.
fn fold_bn(
    get: &dyn Fn(&str) -> Result<TfTensor, CheckpointError>,
    prefix: &str,
) -> Result<(Vec<f32>, Vec<f32>), CheckpointError> {
    let g = get(&format!("{prefix}/gamma"))?.data;
    let b = get(&format!("{prefix}/beta"))?.data;
    let m = get(&format!("{prefix}/moving_mean"))?.data;
    let v = get(&format!("{prefix}/moving_variance"))?.data;
    let mut scale = Vec::with_capacity(g.len());
    let mut shift = Vec::with_capacity(g.len());
    for i in 0..g.len() {
        let s = f64::from(g[i]) / (f64::from(v[i]) + BN_EPSILON).sqrt();
        scale.push(s as f32);
        shift.push((f64::from(b[i]) - f64::from(m[i]) * s) as f32);
    }
    Ok((scale, shift))
}

/// Converts the TF variables of a musicnn checkpoint (`get(name)`) into bundle tensors:
/// BN folded to scale/shift, conv kernels HWIO `[kh,kw,1,C]` → `[kh·kw, C]`, the back-end
/// BN(1506) folded into the first dense layer, dense kernels `[in,out]` → `[out,in]`.
/// Returns the tensors and the list of source tensors read.
pub fn convert_tf_checkpoint(
    cfg: &MusicnnConfig,
    get: &dyn Fn(&str) -> Result<TfTensor, CheckpointError>,
) -> Result<(Vec<NamedTensor>, Vec<SourceTensor>), CheckpointError> {
    let read = std::cell::RefCell::new(Vec::<SourceTensor>::new());
    let get = |name: &str| -> Result<TfTensor, CheckpointError> {
        let t = get(name)?;
        let mut r = read.borrow_mut();
        if !r.iter().any(|s| s.name == name) {
            r.push(SourceTensor {
                name: name.into(),
                shape: t.shape.clone(),
            });
        }
        Ok(t)
    };
    let expect = |name: &str, t: &TfTensor, shape: &[usize]| -> Result<(), CheckpointError> {
        if t.shape != shape {
            return Err(CheckpointError::Entry {
                name: name.into(),
                detail: format!("shape {:?}, musicnn expects {shape:?}", t.shape),
            });
        }
        Ok(())
    };
    let mut out: Vec<NamedTensor> = Vec::new();
    let push_bn =
        |out: &mut Vec<NamedTensor>, dst: &str, src: &str| -> Result<(), CheckpointError> {
            let (s, t) = fold_bn(&get, src)?;
            out.push((format!("{dst}.scale"), vec![s.len()], s));
            out.push((format!("{dst}.shift"), vec![t.len()], t));
            Ok(())
        };
    push_bn(&mut out, "input_bn", "batch_normalization")?;
    let tf_conv = |i: usize| {
        if i == 0 {
            "conv2d".to_string()
        } else {
            format!("conv2d_{i}")
        }
    };
    let kh = cfg.time_kernel;
    let mut layer = 0;
    let mut conv = |out: &mut Vec<NamedTensor>,
                    dst: &str,
                    h: usize,
                    w: usize,
                    c: usize|
     -> Result<(), CheckpointError> {
        let src = tf_conv(layer);
        let k = get(&format!("{src}/kernel"))?;
        expect(&src, &k, &[h, w, 1, c])?;
        let b = get(&format!("{src}/bias"))?;
        expect(&src, &b, &[c])?;
        out.push((format!("{dst}.kernel"), vec![h * w, c], k.data));
        out.push((format!("{dst}.bias"), vec![c], b.data));
        layer += 1;
        push_bn(
            out,
            &format!("{dst}.bn"),
            &format!("batch_normalization_{layer}"),
        )
    };
    for (i, &w) in cfg.timbral_widths.iter().enumerate() {
        conv(
            &mut out,
            &format!("timbral.{i}"),
            kh,
            w,
            cfg.timbral_filters,
        )?;
    }
    for (i, &k) in cfg.temporal_lengths.iter().enumerate() {
        conv(
            &mut out,
            &format!("temporal.{i}"),
            k,
            1,
            cfg.temporal_filters,
        )?;
    }
    let m = cfg.midend_filters;
    conv(&mut out, "midend.0", kh, cfg.frontend_channels(), m)?;
    conv(&mut out, "midend.1", kh, m, m)?;
    conv(&mut out, "midend.2", kh, m, m)?;

    // Back-end: dense(BN9(x)) = (W·diag(s)) x + (W·t + b).
    let n_in = 2 * cfg.pooled_channels();
    let units = cfg.backend_units;
    let bn_pool = format!(
        "batch_normalization_{}",
        cfg.timbral_widths.len() + cfg.temporal_lengths.len() + 4
    );
    let (s, t) = fold_bn(&get, &bn_pool)?;
    let w = get("dense/kernel")?;
    expect("dense/kernel", &w, &[n_in, units])?;
    let b = get("dense/bias")?.data;
    let mut wt = vec![0.0f32; units * n_in];
    let mut bias = vec![0.0f32; units];
    for o in 0..units {
        let mut acc = f64::from(b[o]);
        for i in 0..n_in {
            let wi = w.data[i * units + o];
            wt[o * n_in + i] = (f64::from(wi) * f64::from(s[i])) as f32;
            acc += f64::from(wi) * f64::from(t[i]);
        }
        bias[o] = acc as f32;
    }
    out.push(("backend.dense.weight".into(), vec![units, n_in], wt));
    out.push(("backend.dense.bias".into(), vec![units], bias));
    let bn_dense = format!(
        "batch_normalization_{}",
        cfg.timbral_widths.len() + cfg.temporal_lengths.len() + 5
    );
    push_bn(&mut out, "backend.bn", &bn_dense)?;
    let w = get("dense_1/kernel")?;
    expect("dense_1/kernel", &w, &[units, cfg.n_tags])?;
    let mut wt = vec![0.0f32; cfg.n_tags * units];
    for i in 0..units {
        for o in 0..cfg.n_tags {
            wt[o * units + i] = w.data[i * cfg.n_tags + o];
        }
    }
    out.push(("backend.logits.weight".into(), vec![cfg.n_tags, units], wt));
    out.push((
        "backend.logits.bias".into(),
        vec![cfg.n_tags],
        get("dense_1/bias")?.data,
    ));
    let mut read = read.into_inner();
    read.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((out, read))
}
