//! Constant-Q magnitudes as librosa 0.6 `cqt` computes them for `chroma_cqt` (84 bins from
//! C1 = 32.70 Hz, 12 bins per octave, hop 512, Hann kernels, L1 norm, `scale=True`), with
//! one FFT of the whole song instead of librosa's octave-by-octave resampling.
//!
//! # What librosa does
//! librosa estimates the tuning, resamples the song to half its rate (kaiser_fast) when the
//! top octave allows it, then per octave (top first) takes an STFT with a rectangular
//! window (`n_fft = 256` at 22.05 kHz for 44.1 kHz input), multiplies it by the FFT of 12
//! complex Hann-windowed kernels (sparsified: the smallest coefficients holding 1 % of each
//! kernel's L1 mass are dropped), and halves the rate for the next octave. Magnitudes are
//! divided by the square root of each kernel's length.
//!
//! # What this module does
//! Bin `k` is the correlation of the song with librosa's kernel for that bin: a periodic
//! Hann window of librosa's integer length at librosa's octave rate (same duration, same
//! half-sample offset), modulated at the tuned centre frequency, with librosa's gain
//! (`ilen * sqrt(2)^(octave + resamplings) / sqrt(length)`). It is evaluated in the
//! frequency domain: one real FFT of the reflect-padded song (`N = 512 M` points), and per
//! bin the product of that spectrum with the kernel's exact discrete-time transform over
//! `|f - f_k| <= 3.5 / T_k` (librosa's sparsification keeps the same ±3.5-bin support),
//! folded modulo `M` so that one inverse FFT of `M` points yields the bin's values at every
//! hop. Cost: one FFT of the song plus ~0.42 f_k / (sr / N) multiply-adds and two inverse
//! FFTs of `M` points per bin, against librosa's 7 resamplings and 7 STFTs.
//!
//! Differences left, measured against librosa 0.6.3 `cqt` on the rock fixture (862
//! frames): the per-bin gains agree (median ratio 1.0000 +- 2e-4 in every octave) and
//! interior frames' chroma differs by a median 5e-4; the error of the song means (chroma
//! within 1.2e-3, tonnetz within 5e-4 on both fixtures, `engine/tests/features_librosa.rs`)
//! comes about half from the **last ~5 frames** (chroma off by 0.04-0.11 there) and the
//! first few (~2e-3). Cause: librosa resamples each octave with resampy, which treats
//! samples beyond the ends as zeros (the last ~16 samples of every octave signal taper,
//! compounding over 7 octaves), and only then reflect-pads; this module reflect-pads the
//! full-rate song once. Reproducing that needs the octave-by-octave pipeline itself at the
//! edges. Smaller differences: no resampling filter (resampy kaiser_fast is flat to 1e-5
//! below 0.3 of its input Nyquist, and every kernel's pass band lies below 0.19 of it) and
//! a sharp spectral cut instead of librosa's sparsified coefficient set (widening the cut
//! from 3.5 to 8 kernel bins changes the error little).
//!
//! Speed (one thread, 30 s at 44.1 kHz, `cargo bench -p chorder-engine --bench features`):
//! about 30 ms, of which about a third is the whole-song FFT.

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
