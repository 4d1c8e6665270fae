//! Per-frame spectral descriptors of librosa 0.6 on the shared magnitude STFT
//! (`S = |X|`, 1025 bins, bin `i` at `i * sr / 2048` Hz), and the time-domain ZCR and RMS.

use super::stft::N_BINS;

/// Bin centre frequencies in Hz (`fft_frequencies(sr, 2048)`).
pub fn bin_frequencies(sr: f64) -> Vec<f64> {
    (0..N_BINS).map(|i| i as f64 * sr / 2048.0).collect()
}

/// Spectral centroid `sum f S / sum S` (Hz) and bandwidth `sqrt(sum S (f - c)^2 / sum S)`
/// (Hz) of one frame; 0 for a silent frame (librosa leaves an all-zero column unnormalised).
pub fn centroid_bandwidth(mag: &[f32], freqs: &[f64]) -> (f64, f64) {
    // One pass, four independent accumulators per sum (lets the compiler pipeline them):
    // sum S, sum f S, sum f^2 S; bandwidth^2 = sum f^2 S / sum S - centroid^2.
    let mut s0 = [0.0f64; 4];
    let mut s1 = [0.0f64; 4];
    let mut s2 = [0.0f64; 4];
    let mut mc = mag.chunks_exact(4);
    let mut fc = freqs.chunks_exact(4);
    for (m4, f4) in (&mut mc).zip(&mut fc) {
        for j in 0..4 {
            let m = m4[j] as f64;
            let mf = m * f4[j];
            s0[j] += m;
            s1[j] += mf;
            s2[j] += mf * f4[j];
        }
    }
    for (&m, &f) in mc.remainder().iter().zip(fc.remainder()) {
        let m = m as f64;
        s0[0] += m;
        s1[0] += m * f;
        s2[0] += m * f * f;
    }
    let total: f64 = s0.iter().sum();
    let norm = if total < f32::MIN_POSITIVE as f64 {
        1.0
    } else {
        total
    };
    let centroid = s1.iter().sum::<f64>() / norm;
    let second = s2.iter().sum::<f64>() / norm;
    // sum S (f - c)^2 / norm = second - 2 c sum(f S)/norm + c^2 sum S / norm.
    let spread = second - 2.0 * centroid * centroid + centroid * centroid * (total / norm);
    (centroid, spread.max(0.0).sqrt())
}

/// Roll-off frequencies (Hz) for several fractions at once: the lowest bin whose float32
/// cumulative magnitude reaches `fraction * total` (librosa `spectral_rolloff`).
/// `fractions` must be ascending; results in the same order.
pub fn rolloffs<const K: usize>(mag: &[f32], freqs: &[f64], fractions: [f64; K]) -> [f64; K] {
    let total: f32 = mag.iter().sum();
    let thresholds = fractions.map(|p| p * total as f64);
    let mut out = [0.0; K];
    let mut next = 0;
    let mut cum = 0.0f32;
    for (i, &m) in mag.iter().enumerate() {
        cum += m;
        while next < K && cum as f64 >= thresholds[next] {
            out[next] = freqs[i];
            next += 1;
        }
        if next == K {
            break;
        }
    }
    // Rounding can leave the final cumulative sum a hair under its own total.
    while next < K {
        out[next] = freqs[N_BINS - 1];
        next += 1;
    }
    out
}

/// Number of spectral-contrast bands (6 octave bands from 200 Hz plus the rest).
pub const N_CONTRAST: usize = 7;

/// Bin ranges of librosa's contrast bands: `(first, last_used_exclusive, count)`; the
/// quantile count uses `count` bins, including the one librosa drops from the top of every
/// band but the last.
#[derive(Debug, Clone)]
pub struct ContrastBands {
    bands: [(usize, usize, usize); N_CONTRAST],
    scratch: Vec<f32>,
}

impl ContrastBands {
    /// Bands for sample rate `sr`; `None` when a band edge reaches Nyquist (librosa
    /// raises for `sr <= 12.8 kHz`).
    pub fn new(sr: f64) -> Option<Self> {
        let freqs = bin_frequencies(sr);
        let mut octa = [0.0f64; N_CONTRAST + 1];
        for (k, o) in octa.iter_mut().enumerate().skip(1) {
            *o = 200.0 * 2f64.powi(k as i32 - 1);
        }
        if octa[..N_CONTRAST].iter().any(|&o| o >= 0.5 * sr) {
            return None;
        }
        let mut bands = [(0, 0, 0); N_CONTRAST];
        for k in 0..N_CONTRAST {
            let (lo, hi) = (octa[k], octa[k + 1]);
            let first = freqs.iter().position(|&f| f >= lo && f <= hi)?;
            let last = freqs.iter().rposition(|&f| f >= lo && f <= hi)?;
            let start = if k > 0 { first - 1 } else { first };
            let end_incl = if k == N_CONTRAST - 1 {
                N_BINS - 1
            } else {
                last
            };
            let count = end_incl + 1 - start;
            let used_end = if k < N_CONTRAST - 1 {
                end_incl
            } else {
                end_incl + 1
            };
            bands[k] = (start, used_end, count);
        }
        Some(Self {
            bands,
            scratch: Vec::with_capacity(64),
        })
    }

    /// Peak and valley magnitudes of one frame: the means of the `max(1, rint(0.02 n))`
    /// largest and smallest magnitudes of each band.
    pub fn peak_valley(&mut self, mag: &[f32]) -> ([f64; N_CONTRAST], [f64; N_CONTRAST]) {
        let mut peak = [0.0; N_CONTRAST];
        let mut valley = [0.0; N_CONTRAST];
        for (k, &(start, end, count)) in self.bands.iter().enumerate() {
            let q = ((0.02 * count as f64).round_ties_even() as usize).max(1);
            let band = &mag[start..end];
            let q = q.min(band.len());
            let (lo, hi) = extremes(band, q, &mut self.scratch);
            valley[k] = lo;
            peak[k] = hi;
        }
        (peak, valley)
    }
}

/// Means of the `q` smallest and the `q` largest values of `v` (`1 <= q <= v.len()`),
/// each as numpy's float32 mean. Keeps two small sorted lists (O(n) for typical spectra).
fn extremes(v: &[f32], q: usize, scratch: &mut Vec<f32>) -> (f64, f64) {
    if q == 1 {
        let (mut lo, mut hi) = (v[0], v[0]);
        for &x in &v[1..] {
            lo = lo.min(x);
            hi = hi.max(x);
        }
        return (lo as f64, hi as f64);
    }
    scratch.clear();
    scratch.extend_from_slice(&v[..q]);
    scratch.sort_unstable_by(|a, b| a.total_cmp(b));
    // scratch[..q]: q smallest ascending; scratch[q..2q]: q largest ascending.
    scratch.extend_from_within(..q);
    // Visit the rest in a scrambled order (a stride coprime with the length): spectra are
    // mostly monotonic within a band, which would make nearly every value an insertion.
    let rest = &v[q..];
    let n = rest.len();
    let stride = [97usize, 89, 83, 79, 73, 71]
        .into_iter()
        .find(|&p| n % p != 0)
        .unwrap_or(1)
        % n.max(1);
    let stride = if stride == 0 { 1 } else { stride };
    let mut idx = 0usize;
    for _ in 0..n {
        let x = rest[idx];
        idx += stride;
        if idx >= n {
            idx -= n;
        }
        if x < scratch[q - 1] {
            let mut i = q - 1;
            while i > 0 && scratch[i - 1] > x {
                scratch[i] = scratch[i - 1];
                i -= 1;
            }
            scratch[i] = x;
        }
        if x > scratch[q] {
            let mut i = q;
            while i + 1 < 2 * q && scratch[i + 1] < x {
                scratch[i] = scratch[i + 1];
                i += 1;
            }
            scratch[i] = x;
        }
    }
    (mean_f32(&scratch[..q]), mean_f32(&scratch[q..2 * q]))
}

fn mean_f32(v: &[f32]) -> f64 {
    // np.mean of float32 values returns float32.
    ((v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64) as f32) as f64
}

/// librosa `power_to_db` without the `top_db` clip: `10 log10(max(1e-10, x))`.
#[inline]
pub fn power_to_db(x: f64) -> f64 {
    10.0 * x.max(1e-10).log10()
}

/// Zero crossings between samples `i` and `i + 1` as librosa counts them: samples with
/// `|x| <= 1e-10` count as +0, and a crossing is a change of sign bit.
#[inline]
pub fn sign_bit(x: f32) -> bool {
    if x.abs() <= 1e-10 {
        false
    } else {
        x.is_sign_negative()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrast_bands_at_44k() {
        let b = ContrastBands::new(44_100.0).unwrap();
        // Band 0: 0..=200 Hz -> bins 0..=9 (9 * 21.53 = 193.8), top bin dropped.
        assert_eq!(b.bands[0], (0, 9, 10));
        // Band 6 runs to Nyquist.
        assert_eq!(b.bands[6].1, N_BINS);
        assert!(ContrastBands::new(8_000.0).is_none());
    }

    #[test]
    fn extremes_match_a_full_sort() {
        let mut seed = 7u32;
        let mut scratch = Vec::new();
        for n in [1usize, 2, 5, 40, 700] {
            let v: Vec<f32> = (0..n)
                .map(|_| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (seed >> 8) as f32 / (1 << 24) as f32
                })
                .collect();
            let mut sorted = v.clone();
            sorted.sort_by(|a, b| a.total_cmp(b));
            for q in [1, 2, 3, n.min(14)] {
                let q = q.min(n);
                let (lo, hi) = extremes(&v, q, &mut scratch);
                assert!((lo - mean_f32(&sorted[..q])).abs() < 1e-6, "n {n} q {q}");
                assert!(
                    (hi - mean_f32(&sorted[n - q..])).abs() < 1e-6,
                    "n {n} q {q}"
                );
            }
        }
    }

    #[test]
    fn rolloff_of_a_single_bin() {
        let freqs = bin_frequencies(44_100.0);
        let mut mag = vec![0.0f32; N_BINS];
        mag[100] = 1.0;
        let [lo, hi] = rolloffs(&mag, &freqs, [0.1, 0.85]);
        assert_eq!(lo, freqs[100]);
        assert_eq!(hi, freqs[100]);
    }

    #[test]
    fn centroid_of_two_equal_bins_is_their_midpoint() {
        let freqs = bin_frequencies(44_100.0);
        let mut mag = vec![0.0f32; N_BINS];
        mag[10] = 2.0;
        mag[30] = 2.0;
        let (c, bw) = centroid_bandwidth(&mag, &freqs);
        assert!((c - freqs[20]).abs() < 1e-9);
        assert!((bw - (freqs[30] - freqs[20])).abs() < 1e-9);
        assert_eq!(centroid_bandwidth(&vec![0.0; N_BINS], &freqs), (0.0, 0.0));
    }
}
