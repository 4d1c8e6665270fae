//! Constant-Q magnitudes as librosa 0.6 `cqt` computes them for `chroma_cqt` (84 bins from
//! C1 = 32.70 Hz, 12 bins per octave, hop 512, Hann kernels, L1 norm, `scale=True`, tuning
//! from [`super::tuning`]). Two implementations:
//!
//! - [`cqt_magnitudes_multirate`] (what the extractor uses): librosa's own pipeline. The
//!   song is decimated with resampy's kaiser_fast filter ([`super::decimate`]; by 2 at
//!   44.1/48 kHz), then per octave, top first, a rectangular-window STFT (`n_fft` 256 at
//!   22.05 kHz, reflect-centred, hop 256 >> octave) is multiplied by the FFTs of 12
//!   complex Hann kernels sparsified like `util.sparsify_rows(quantile=0.01)`, and the
//!   signal is decimated by 2 for the next octave (gains `sqrt(2)` per octave on signal
//!   and kernels, then `1 / sqrt(length)`). Against librosa 0.6.3 on the rock fixture:
//!   every CQT value within 1.3e-4 relative (float32 rounding), chroma means within 1e-7.
//!   Cost for 30 s at 44.1 kHz: one 63-tap decimation of the song plus 6 of ever shorter
//!   signals, and 7 x 2585 real FFTs of 256 points with ~12 x 13 complex multiply-adds
//!   each.
//! - [`cqt_magnitudes`] with a [`CqtPlan`]: the same kernels (lengths, offsets, gains,
//!   tuning) evaluated with one FFT of the reflect-padded whole song, each bin's exact
//!   kernel transform applied over `|f - f_k| <= 3.5 / T_k` and folded modulo `M` so one
//!   inverse FFT of `M` points gives the bin at every hop. It does not reproduce librosa's
//!   edge handling (resampy zero-extends every octave's signal before its reflect padding,
//!   which changes the first and last few frames: chroma off by up to 0.1 in the last 5
//!   frames) nor the sparsified kernels' leakage; song-mean chroma differs by up to
//!   1.2e-3, tonnetz by 5e-4 (interior frames ~5e-4). Kept as a fallback and for
//!   comparison; it is not faster in practice.

use std::f64::consts::PI;

use realfft::num_complex::Complex;
use realfft::RealFftPlanner;

thread_local! {
    static PLANNER: std::cell::RefCell<RealFftPlanner<f32>> =
        std::cell::RefCell::new(RealFftPlanner::new());
}

use super::stft::reflect_index;

/// Hop between CQT frames in native samples (librosa `chroma_cqt(hop_length=512)`).
pub const CQT_HOP: usize = 512;
/// Bins per octave.
pub const BINS_PER_OCTAVE: usize = 12;
/// Octaves analysed.
pub const N_OCTAVES: usize = 7;
/// Total CQT bins, `12 * 7`.
pub const N_CQT_BINS: usize = BINS_PER_OCTAVE * N_OCTAVES;
/// Half-width of each kernel's spectral support, in bins of its window (`1 / T_k`).
const SUPPORT_BINS: f64 = 3.5;
/// resampy `kaiser_fast` pass-band fraction (librosa `audio.BW_FASTEST`).
const BW_FASTEST: f64 = 0.85;
/// librosa `filters.window_bandwidth('hann')`.
const HANN_BANDWIDTH: f64 = 1.500_183_105_468_75;

/// Frequency of C1 in Hz (librosa `note_to_hz('C1')`, MIDI 24).
pub fn c1_hz() -> f64 {
    440.0 * 2f64.powf((24.0 - 69.0) / 12.0)
}

/// One CQT bin as librosa builds it.
#[derive(Debug, Clone, PartialEq)]
pub struct CqtBin {
    /// Tuned centre frequency, Hz.
    pub freq: f64,
    /// Sample rate of the octave stage that computes this bin in librosa, Hz.
    pub stage_rate: f64,
    /// Kernel length in stage samples (librosa's integer `len(arange(-ilen//2, ilen//2))`).
    pub len_int: usize,
    /// Centre of the analysis window relative to the frame centre, native samples.
    pub offset: f64,
    /// Gain from a normalised correlation (unit sine -> 1/2) to librosa's `|C|`.
    pub gain: f64,
}

/// The CQT layout for one sample rate, tuning and signal length.
#[derive(Debug, Clone, PartialEq)]
pub struct CqtPlan {
    /// Native sample rate, Hz.
    pub sr: f64,
    /// Tuning in fractions of a bin.
    pub tuning: f64,
    /// The 84 bins, lowest first.
    pub bins: Vec<CqtBin>,
    /// Frames librosa returns (the shortest octave's frame count).
    pub n_frames: usize,
}

fn num_two_factors(mut x: usize) -> usize {
    if x == 0 {
        return 0;
    }
    let mut n = 0;
    while x % 2 == 0 {
        n += 1;
        x /= 2;
    }
    n
}

/// librosa `constant_q` lengths and kernels for 12 bins from `fmin` at `rate`:
/// `(float length, integer length, window-peak position in stage samples)` per bin.
fn basis_lengths(rate: f64, fmin: f64, tuning: f64) -> Vec<(f64, usize, f64)> {
    let q = 1.0 / (2f64.powf(1.0 / BINS_PER_OCTAVE as f64) - 1.0);
    let corr = 2f64.powf(tuning / BINS_PER_OCTAVE as f64);
    (0..BINS_PER_OCTAVE)
        .map(|p| {
            let f = fmin * corr * 2f64.powf(p as f64 / BINS_PER_OCTAVE as f64);
            let ilen = q * rate / f;
            let start = (-ilen / 2.0).floor();
            let stop = (ilen / 2.0).floor();
            let len_int = (stop - start) as usize;
            // Window peak of a periodic Hann of len_int samples starting at `start`.
            let peak = start + len_int as f64 / 2.0;
            (ilen, len_int, peak)
        })
        .collect()
}

impl CqtPlan {
    /// Lays out librosa's octave stages for a `len`-sample signal at `sr` Hz with the given
    /// `tuning` (fractions of a bin). Fails (returns `None`) where librosa raises: the top
    /// bin's pass band beyond Nyquist.
    pub fn new(sr: f64, tuning: f64, len: usize) -> Option<Self> {
        let bpo = BINS_PER_OCTAVE as f64;
        let q = 1.0 / (2f64.powf(1.0 / bpo) - 1.0);
        let fmin = c1_hz();
        let top_freqs: Vec<f64> = (0..BINS_PER_OCTAVE)
            .map(|p| fmin * 2f64.powf((N_CQT_BINS - BINS_PER_OCTAVE + p) as f64 / bpo))
            .collect();
        let mut fmin_t = top_freqs[0];
        let fmax_t = top_freqs[BINS_PER_OCTAVE - 1];
        let filter_cutoff = fmax_t * (1.0 + 0.5 * HANN_BANDWIDTH / q);
        let nyquist = sr / 2.0;
        let kaiser_fast = filter_cutoff < BW_FASTEST * nyquist;

        let mut rate = sr;
        let mut hop = CQT_HOP;
        let mut n = len;
        let mut sig_gain = 1.0f64;
        if kaiser_fast {
            let c1 = ((BW_FASTEST * nyquist / filter_cutoff).log2().ceil() as i64 - 1 - 1).max(0);
            let c2 = (num_two_factors(hop) as i64 - N_OCTAVES as i64 + 1).max(0);
            let count = c1.min(c2) as u32;
            if count > 0 {
                let factor = 1usize << count;
                hop /= factor;
                n = n.div_ceil(factor);
                rate = sr / factor as f64;
                sig_gain *= (factor as f64).sqrt();
            }
        }
        // Check that the CQT fits below Nyquist (constant_q_lengths raises otherwise).
        let corr = 2f64.powf(tuning / bpo);
        let f_top = fmin * corr * 2f64.powf((N_CQT_BINS - 1) as f64 / bpo);
        if f_top * (1.0 + 0.5 * HANN_BANDWIDTH / q) > rate / 2.0 {
            return None;
        }
        let scale_rate = rate;
        // (octave from the top, stage rate, basis, basis gain, signal gain, frames)
        let mut stages: Vec<(usize, f64, Vec<(f64, usize, f64)>, f64, f64, usize)> = Vec::new();
        let mut octaves_left = N_OCTAVES;
        if !kaiser_fast {
            let basis = basis_lengths(rate, fmin_t, tuning);
            stages.push((0, rate, basis, 1.0, sig_gain, 1 + n / hop));
            fmin_t /= 2.0;
            octaves_left -= 1;
        }
        let basis = basis_lengths(rate, fmin_t, tuning);
        let (mut r, mut h, mut m, mut bg) = (rate, hop, n, 1.0f64);
        for i in 0..octaves_left {
            if i > 0 {
                m = m.div_ceil(2);
                r /= 2.0;
                h /= 2;
                sig_gain *= 2f64.sqrt();
                bg *= 2f64.sqrt();
            }
            if h == 0 {
                return None;
            }
            stages.push((
                N_OCTAVES - octaves_left + i,
                r,
                basis.clone(),
                bg,
                sig_gain,
                1 + m / h,
            ));
        }
        let n_frames = stages.iter().map(|s| s.5).min().unwrap_or(0);
        let mut bins = vec![
            CqtBin {
                freq: 0.0,
                stage_rate: 0.0,
                len_int: 0,
                offset: 0.0,
                gain: 0.0,
            };
            N_CQT_BINS
        ];
        for (oct_from_top, stage_rate, basis, bgain, sgain, _) in &stages {
            let octave = N_OCTAVES - 1 - oct_from_top;
            for (p, &(ilen, len_int, peak)) in basis.iter().enumerate() {
                let k = octave * BINS_PER_OCTAVE + p;
                let freq = fmin * corr * 2f64.powf(k as f64 / bpo);
                let scale_len = q * scale_rate / freq;
                bins[k] = CqtBin {
                    freq,
                    stage_rate: *stage_rate,
                    len_int,
                    // librosa's response is a convolution: the kernel is applied time
                    // reversed, so its window peak sits at -peak stage samples.
                    offset: -peak * sr / stage_rate,
                    gain: ilen * bgain * sgain / scale_len.sqrt(),
                };
            }
        }
        Some(Self {
            sr,
            tuning,
            bins,
            n_frames,
        })
    }
}

/// Smallest `m >= min` whose prime factors are 2, 3, 5 and 7 only, and even.
fn smooth_size(min: usize) -> usize {
    let mut m = min.max(2);
    loop {
        if m % 2 == 0 {
            let mut x = m;
            for p in [2, 3, 5, 7] {
                while x % p == 0 {
                    x /= p;
                }
            }
            if x == 1 {
                return m;
            }
        }
        m += 1;
    }
}

/// `|C|` for every bin and frame: `values[k * n_frames + t]`, bins lowest first (C1 up).
#[derive(Debug, Clone, PartialEq)]
pub struct CqtMagnitudes {
    /// Frames (librosa's count for this length).
    pub n_frames: usize,
    /// Bin-major magnitudes, `N_CQT_BINS * n_frames` values.
    pub values: Vec<f32>,
}

impl CqtMagnitudes {
    /// Magnitudes of frame `t` for bin `k`.
    pub fn get(&self, k: usize, t: usize) -> f32 {
        self.values[k * self.n_frames + t]
    }
}

/// Exact DTFT of a periodic Hann window of `l` samples taken about its peak, normalised to
/// 1 at 0, at `alpha` radians per sample; `sa`/`ca` are sin/cos of `(l+1) alpha / 2`,
/// `sb`/`cb` sin/cos of `alpha / 2`, `(sc, cc)` sin/cos of `pi / l`.
#[inline]
fn hann_dtft(sa: f64, ca: f64, sb: f64, cb: f64, sc: f64, cc: f64, l: f64) -> f64 {
    #[inline]
    fn ratio(num: f64, den: f64, lim: f64) -> f64 {
        if den.abs() < 1e-9 {
            lim
        } else {
            num / den
        }
    }
    let lim = l + 1.0;
    let e0 = ratio(sa, sb, lim);
    // E(alpha -+ 2 pi / l) = -sin(A -+ c) / sin(B -+ c)
    let em = -ratio(sa * cc - ca * sc, sb * cc - cb * sc, -lim);
    let ep = -ratio(sa * cc + ca * sc, sb * cc + cb * sc, -lim);
    (0.5 * e0 + 0.25 * em + 0.25 * ep) / (l / 2.0)
}

/// Computes the CQT magnitudes of `signal` (mono, native rate) with `plan`.
pub fn cqt_magnitudes(signal: &[f32], plan: &CqtPlan) -> CqtMagnitudes {
    let len = signal.len();
    let sr = plan.sr;
    // Reflect padding must cover the longest kernel's half length plus its ringing.
    let max_half = plan
        .bins
        .iter()
        .map(|b| b.len_int as f64 * sr / b.stage_rate / 2.0 + b.offset.abs())
        .fold(0.0, f64::max);
    let pad_frames = ((max_half + CQT_HOP as f64) / CQT_HOP as f64).ceil() as usize;
    let pad = pad_frames * CQT_HOP;
    let m = smooth_size((len + 3 * pad).div_ceil(CQT_HOP));
    let n = m * CQT_HOP;

    // Plans (and their twiddle tables, ~N sin/cos) are cached per thread: songs of similar
    // length share the FFT size, so a batch plans once.
    let (fft, ifft) = PLANNER.with(|p| {
        let mut p = p.borrow_mut();
        (p.plan_fft_forward(n), p.plan_fft_inverse(m))
    });
    let mut input = fft.make_input_vec();
    for (i, v) in input.iter_mut().enumerate().take(len + 2 * pad) {
        *v = signal[reflect_index(i as isize - pad as isize, len)];
    }
    let mut spec = fft.make_output_vec();
    fft.process(&mut input, &mut spec).expect("sizes from plan");
    drop(input);

    let mut zbuf = vec![Complex::<f32>::new(0.0, 0.0); m];
    let mut a_spec = ifft.make_input_vec();
    let mut b_spec = ifft.make_input_vec();
    let mut a_out = ifft.make_output_vec();
    let mut b_out = ifft.make_output_vec();
    let mut scratch = ifft.make_scratch_vec();

    let n_frames = plan.n_frames;
    let mut values = vec![0.0f32; N_CQT_BINS * n_frames];
    let n_f = n as f64;
    for (k, bin) in plan.bins.iter().enumerate() {
        zbuf.fill(Complex::new(0.0, 0.0));
        let q = sr / bin.stage_rate; // native samples per stage sample
        let l = bin.len_int as f64;
        // Spectral support in Hz: |f - freq| <= SUPPORT_BINS / T, T = l / stage_rate.
        let half_hz = SUPPORT_BINS * bin.stage_rate / l;
        let nu_lo = (((bin.freq - half_hz) * n_f / sr).ceil().max(0.0)) as usize;
        let nu_hi = (((bin.freq + half_hz) * n_f / sr).floor() as usize).min(n / 2);
        if nu_lo <= nu_hi {
            // alpha(nu) = q (omega - 2 pi nu / N), stage radians per sample.
            let omega = 2.0 * PI * bin.freq / sr;
            let alpha0 = q * (omega - 2.0 * PI * nu_lo as f64 / n_f);
            let dalpha = -q * 2.0 * PI / n_f;
            let (sc, cc) = (PI / l).sin_cos();
            // Rotating phasors for A = (l+1) alpha / 2, B = alpha / 2, and the time shift
            // exp(i 2 pi nu offset / N).
            let mut a = Complex::new(
                ((l + 1.0) * alpha0 / 2.0).cos(),
                ((l + 1.0) * alpha0 / 2.0).sin(),
            );
            let da = Complex::new(
                ((l + 1.0) * dalpha / 2.0).cos(),
                ((l + 1.0) * dalpha / 2.0).sin(),
            );
            let mut b = Complex::new((alpha0 / 2.0).cos(), (alpha0 / 2.0).sin());
            let db = Complex::new((dalpha / 2.0).cos(), (dalpha / 2.0).sin());
            let ph0 = 2.0 * PI * nu_lo as f64 * bin.offset / n_f;
            let mut ph = Complex::new(ph0.cos(), ph0.sin());
            let dph_a = 2.0 * PI * bin.offset / n_f;
            let dph = Complex::new(dph_a.cos(), dph_a.sin());
            let mut slot = nu_lo % m;
            let inv_half_l = 2.0 / l;
            for nu in nu_lo..=nu_hi {
                let (sa, ca, sb, cb) = (a.im, a.re, b.im, b.re);
                let sam = sa * cc - ca * sc;
                let sap = sa * cc + ca * sc;
                let sbm = sb * cc - cb * sc;
                let sbp = sb * cc + cb * sc;
                let den = sb * sbm * sbp;
                // One division on the common denominator; the slow path handles the
                // removable singularities at alpha = 0, +-2 pi / l.
                let w = if sb.abs() > 1e-6 && sbm.abs() > 1e-6 && sbp.abs() > 1e-6 {
                    (0.5 * sa * sbm * sbp - 0.25 * sam * sb * sbp - 0.25 * sap * sb * sbm) / den
                        * inv_half_l
                } else {
                    hann_dtft(sa, ca, sb, cb, sc, cc, l)
                };
                let h = ph * w;
                let x = spec[nu];
                let prod = Complex::new(
                    (x.re as f64 * h.re - x.im as f64 * h.im) as f32,
                    (x.re as f64 * h.im + x.im as f64 * h.re) as f32,
                );
                zbuf[slot] += prod;
                slot += 1;
                if slot == m {
                    slot = 0;
                }
                a *= da;
                b *= db;
                ph *= dph;
            }
        }
        // Complex inverse DFT of zbuf via two real inverse transforms of its Hermitian
        // parts: z = a + i b with A_j = (Z_j + conj Z_-j) / 2, B_j = (Z_j - conj Z_-j) / 2i.
        for j in 0..=m / 2 {
            let zj = zbuf[j];
            let zc = zbuf[(m - j) % m].conj();
            a_spec[j] = (zj + zc) * 0.5;
            let d = (zj - zc) * 0.5;
            b_spec[j] = Complex::new(d.im, -d.re);
        }
        a_spec[0].im = 0.0;
        b_spec[0].im = 0.0;
        a_spec[m / 2].im = 0.0;
        b_spec[m / 2].im = 0.0;
        ifft.process_with_scratch(&mut a_spec, &mut a_out, &mut scratch)
            .expect("sizes from plan");
        ifft.process_with_scratch(&mut b_spec, &mut b_out, &mut scratch)
            .expect("sizes from plan");
        let g = (bin.gain / n_f) as f32;
        let row = &mut values[k * n_frames..(k + 1) * n_frames];
        for (t, out) in row.iter_mut().enumerate() {
            let j = pad_frames + t;
            *out = (a_out[j] * a_out[j] + b_out[j] * b_out[j]).sqrt() * g;
        }
    }
    CqtMagnitudes { n_frames, values }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_matches_librosa_layout_at_44k() {
        let plan = CqtPlan::new(44_100.0, 0.0, 441_000).unwrap();
        // kaiser_fast early downsampling by 2: the top octave runs at 22.05 kHz, the
        // lowest at 22.05 kHz / 64; the C7 kernel is 177 samples long there.
        assert_eq!(plan.bins[83].stage_rate, 22_050.0);
        assert_eq!(plan.bins[0].stage_rate, 22_050.0 / 64.0);
        assert_eq!(plan.bins[72].len_int, 177);
        assert_eq!(plan.bins[0].len_int, 177);
        assert_eq!(plan.n_frames, 862);
        assert!((plan.bins[45].freq - 440.0).abs() < 1e-9, "A4 is bin 45");
    }

    #[test]
    fn hann_dtft_is_one_at_zero_and_zero_at_window_bins() {
        let l = 177.0f64;
        let (sc, cc) = (PI / l).sin_cos();
        let eval = |alpha: f64| {
            let (sa, ca) = ((l + 1.0) * alpha / 2.0).sin_cos();
            let (sb, cb) = (alpha / 2.0).sin_cos();
            hann_dtft(sa, ca, sb, cb, sc, cc, l)
        };
        assert!((eval(0.0) - 1.0).abs() < 1e-12);
        // Direct DTFT about the peak, at a few angles.
        for alpha in [0.003, 0.02, 2.0 * PI / l, 0.1] {
            let direct: f64 = (0..=177)
                .map(|mm| {
                    let w = 0.5 - 0.5 * (2.0 * PI * mm as f64 / l).cos();
                    w * (alpha * (mm as f64 - l / 2.0)).cos()
                })
                .sum::<f64>()
                / (l / 2.0);
            assert!(
                (eval(alpha) - direct).abs() < 1e-9,
                "{alpha}: {} vs {direct}",
                eval(alpha)
            );
        }
    }

    #[test]
    fn sine_lands_in_its_bin_with_half_amplitude_response() {
        let sr = 44_100.0;
        let f = 440.0;
        let sig: Vec<f32> = (0..sr as usize * 3)
            .map(|n| (2.0 * PI * f * n as f64 / sr).sin() as f32)
            .collect();
        let plan = CqtPlan::new(sr, 0.0, sig.len()).unwrap();
        let c = cqt_magnitudes(&sig, &plan);
        let t = c.n_frames / 2;
        let argmax = (0..N_CQT_BINS)
            .max_by(|&a, &b| c.get(a, t).total_cmp(&c.get(b, t)))
            .unwrap();
        assert_eq!(argmax, 45);
        let expect = 0.5 * plan.bins[45].gain as f32;
        assert!(
            (c.get(45, t) / expect - 1.0).abs() < 1e-3,
            "{} vs {expect}",
            c.get(45, t)
        );
    }
}

/// librosa 0.6 `cqt(y, sr, hop_length=512, n_bins=84, tuning=tuning)` magnitudes computed
/// the way librosa computes them: early kaiser_fast decimation ([`super::decimate`]), then
/// per octave (top first) a rectangular-window STFT (`n_fft` = librosa's, reflect-centred)
/// times the 12 sparsified kernel spectra, decimating by 2 between octaves. Returns `None`
/// where librosa would not take the kaiser_fast path (native rates below ~9.7 kHz, which
/// [`super::FeatureStream`] refuses anyway) or raises.
pub fn cqt_magnitudes_multirate(signal: &[f32], sr: f64, tuning: f64) -> Option<CqtMagnitudes> {
    use super::decimate::decimate;
    let bpo = BINS_PER_OCTAVE as f64;
    let q = 1.0 / (2f64.powf(1.0 / bpo) - 1.0);
    let fmin = c1_hz();
    let fmin_t = fmin * 2f64.powf((N_CQT_BINS - BINS_PER_OCTAVE) as f64 / bpo);
    let fmax_t = fmin * 2f64.powf((N_CQT_BINS - 1) as f64 / bpo);
    let filter_cutoff = fmax_t * (1.0 + 0.5 * HANN_BANDWIDTH / q);
    let nyquist = sr / 2.0;
    if !(filter_cutoff < BW_FASTEST * nyquist) || signal.len() < 2 {
        return None;
    }
    let c1 = ((BW_FASTEST * nyquist / filter_cutoff).log2().ceil() as i64 - 1 - 1).max(0);
    let c2 = (num_two_factors(CQT_HOP) as i64 - N_OCTAVES as i64 + 1).max(0);
    let factor = 1usize << c1.min(c2);
    let mut y = if factor > 1 {
        decimate(signal, factor)
    } else {
        signal.to_vec()
    };
    let rate = sr / factor as f64;
    let mut hop = CQT_HOP / factor;
    let corr = 2f64.powf(tuning / bpo);
    if fmin * corr * 2f64.powf((N_CQT_BINS - 1) as f64 / bpo) * (1.0 + 0.5 * HANN_BANDWIDTH / q)
        > rate / 2.0
    {
        return None;
    }

    // The 12 kernels of the top octave at `rate` (librosa constant_q + __cqt_filter_fft).
    let lengths = basis_lengths(rate, fmin_t, tuning);
    let max_len = lengths.iter().map(|l| l.0).fold(0.0, f64::max);
    let n_fft = 2f64.powf(max_len.log2().ceil()) as usize;
    let n_half = n_fft / 2 + 1;
    let mut kernels: Vec<Vec<(usize, Complex<f64>)>> = Vec::with_capacity(BINS_PER_OCTAVE);
    for &(ilen, len_int, peak) in &lengths {
        let freq = q * rate / ilen;
        let start = peak - len_int as f64 / 2.0;
        let sig: Vec<Complex<f64>> = (0..len_int)
            .map(|m| {
                let w = 0.5 - 0.5 * (2.0 * PI * m as f64 / len_int as f64).cos();
                let ph = 2.0 * PI * freq * (start + m as f64) / rate;
                Complex::new(w * ph.cos(), w * ph.sin())
            })
            .collect();
        let l1: f64 = sig.iter().map(|c| c.norm()).sum();
        let lpad = (n_fft - len_int) / 2;
        let scale = ilen / n_fft as f64 / l1;
        let spec: Vec<Complex<f64>> = (0..n_half)
            .map(|f| {
                let mut acc = Complex::new(0.0, 0.0);
                for (m, s) in sig.iter().enumerate() {
                    let j = (m + lpad) as f64;
                    let ang = -2.0 * PI * j * f as f64 / n_fft as f64;
                    acc += s * Complex::new(ang.cos(), ang.sin());
                }
                acc * scale
            })
            .collect();
        // util.sparsify_rows(quantile=0.01).
        let mags: Vec<f64> = spec.iter().map(|c| c.norm()).collect();
        let norm: f64 = mags.iter().sum();
        let mut sorted = mags.clone();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let mut cum = 0.0;
        let mut idx = 0;
        for (i, &m) in sorted.iter().enumerate() {
            cum += m / norm;
            if cum >= 0.01 {
                idx = i;
                break;
            }
        }
        let thr = sorted[idx];
        kernels.push(
            spec.iter()
                .enumerate()
                .filter(|&(f, _)| mags[f] >= thr)
                .map(|(f, &c)| (f, c))
                .collect(),
        );
    }

    let fft = PLANNER.with(|p| p.borrow_mut().plan_fft_forward(n_fft));
    let mut frame = fft.make_input_vec();
    let mut spec = fft.make_output_vec();
    let mut scratch = fft.make_scratch_vec();
    let mut octaves: Vec<Vec<f32>> = Vec::with_capacity(N_OCTAVES); // top first, [p][t]
    let mut frames_per_octave = Vec::with_capacity(N_OCTAVES);
    let mut basis_gain = 1.0f64;
    for o in 0..N_OCTAVES {
        if o > 0 {
            y = decimate(&y, 2);
            basis_gain *= 2f64.sqrt();
            hop /= 2;
        }
        if hop == 0 || y.len() < 2 {
            return None;
        }
        let nf = 1 + y.len() / hop;
        let mut out = vec![0.0f32; BINS_PER_OCTAVE * nf];
        for t in 0..nf {
            let s0 = (t * hop) as isize - (n_fft / 2) as isize;
            if s0 >= 0 && s0 as usize + n_fft <= y.len() {
                frame.copy_from_slice(&y[s0 as usize..s0 as usize + n_fft]);
            } else {
                for (j, v) in frame.iter_mut().enumerate() {
                    *v = y[reflect_index(s0 + j as isize, y.len())];
                }
            }
            fft.process_with_scratch(&mut frame, &mut spec, &mut scratch)
                .expect("sizes from plan");
            for (p, kern) in kernels.iter().enumerate() {
                let mut acc = Complex::new(0.0f64, 0.0);
                for &(f, b) in kern {
                    let d = spec[f];
                    acc += b * Complex::new(d.re as f64, d.im as f64);
                }
                out[p * nf + t] = (acc.norm() * basis_gain) as f32;
            }
        }
        octaves.push(out);
        frames_per_octave.push(nf);
    }
    let n_frames = *frames_per_octave.iter().min()?;
    let mut values = vec![0.0f32; N_CQT_BINS * n_frames];
    for (o, (out, &nf)) in octaves.iter().zip(&frames_per_octave).enumerate() {
        let octave = N_OCTAVES - 1 - o;
        for p in 0..BINS_PER_OCTAVE {
            let k = octave * BINS_PER_OCTAVE + p;
            let f_k = fmin * corr * 2f64.powf(k as f64 / bpo);
            let s = (1.0 / (q * rate / f_k).sqrt()) as f32;
            for t in 0..n_frames {
                values[k * n_frames + t] = out[p * nf + t] * s;
            }
        }
    }
    Some(CqtMagnitudes { n_frames, values })
}
