//! Tuning estimation exactly as librosa 0.6 `estimate_tuning` does it inside `chroma_cqt`.
//!
//! From the magnitude STFT (the one shared STFT: n_fft 2048, hop 512 at the native rate),
//! `piptrack` keeps, in every frame, the local maxima of `|X|` between 150 Hz and 4 kHz that
//! exceed 10 % of that frame's largest magnitude, refines each by parabolic interpolation
//! (frequency in Hz, magnitude), and `pitch_tuning` then takes the candidates whose magnitude
//! is at least the median of all candidates, folds `12 log2(f / 27.5 Hz)` into
//! `[-0.5, 0.5)` semitones and returns the left edge of the fullest bin of a 100-bin
//! histogram (resolution 0.01 semitone). Arithmetic follows librosa's float32 steps.

use super::stft::{N_BINS, N_FFT};

/// Collects piptrack candidates frame by frame (streamable) and turns them into a tuning.
#[derive(Debug, Clone, Default)]
pub struct TuningEstimator {
    /// `(frequency Hz, magnitude)` of every candidate so far, as librosa's float32 values.
    candidates: Vec<(f32, f32)>,
}

impl TuningEstimator {
    /// An estimator with no candidates.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the candidates of one frame. `mag`: [`N_BINS`] STFT magnitudes, `sr` in Hz.
    pub fn push_frame(&mut self, mag: &[f32], sr: f64) {
        debug_assert_eq!(mag.len(), N_BINS);
        let fmin = 150.0f64;
        let fmax = 4000.0f64.min(sr / 2.0);
        let max = mag.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let thr = 0.1f32 * max;
        let gated = |i: usize| if mag[i] > thr { mag[i] } else { 0.0 };
        // Bins whose frequency lies in [fmin, fmax); bin 0 and the last never qualify
        // for sensible rates, but the edge rules of util.localmax are kept anyway.
        let bin_hz = sr / N_FFT as f64;
        let lo = (fmin / bin_hz).ceil() as usize;
        for i in lo.max(1)..N_BINS - 1 {
            let f = i as f64 * bin_hz;
            if f >= fmax {
                break;
            }
            let s = gated(i);
            if !(s > gated(i - 1) && s >= gated(i + 1)) {
                continue;
            }
            let (prev, cur, next) = (mag[i - 1], mag[i], mag[i + 1]);
            let avg = 0.5f32 * (next - prev);
            let shift_raw = 2.0f32 * cur - next - prev;
            let denom = shift_raw
                + if shift_raw.abs() < f32::MIN_POSITIVE {
                    1.0
                } else {
                    0.0
                };
            let shift = avg / denom;
            let dskew = 0.5f32 * avg * shift;
            let pitch = ((i as f64 + shift as f64) * sr / N_FFT as f64) as f32;
            self.candidates.push((pitch, cur + dskew));
        }
    }

    /// Number of candidates collected.
    pub fn len(&self) -> usize {
        self.candidates.len()
    }

    /// True when no candidate was collected.
    pub fn is_empty(&self) -> bool {
        self.candidates.is_empty()
    }

    /// The tuning offset in fractions of a semitone, in `[-0.5, 0.5)` on a 0.01 grid
    /// (0.0 when there is no candidate, as librosa).
    pub fn tuning(&self) -> f64 {
        let with_pitch: Vec<(f32, f32)> = self
            .candidates
            .iter()
            .copied()
            .filter(|&(p, _)| p > 0.0)
            .collect();
        if with_pitch.is_empty() {
            return 0.0;
        }
        let mut mags: Vec<f32> = with_pitch.iter().map(|&(_, m)| m).collect();
        let threshold = median_f32(&mut mags);
        let edges: Vec<f64> = (0..=100)
            .map(|i| {
                if i == 100 {
                    0.5
                } else {
                    i as f64 * 0.01 + -0.5
                }
            })
            .collect();
        let mut counts = [0u64; 100];
        let mut any = false;
        for &(p, m) in &with_pitch {
            if (m as f64) < threshold || p <= 0.0 {
                continue;
            }
            any = true;
            // hz_to_octs in float32: log2(f / 27.5); residual mod 1.
            let octs = (p / 27.5f32).log2();
            let x = 12.0f32 * octs;
            let mut r = x - x.floor();
            if r >= 1.0 {
                r -= 1.0;
            }
            if r >= 0.5 {
                r -= 1.0;
            }
            let r = r as f64;
            if !(edges[0]..=edges[100]).contains(&r) {
                continue;
            }
            let mut k = ((r - edges[0]) * 100.0) as usize;
            k = k.min(99);
            if r < edges[k] {
                k -= 1;
            } else if k < 99 && r >= edges[k + 1] {
                k += 1;
            }
            counts[k] += 1;
        }
        if !any {
            return 0.0;
        }
        let best = (0..100).fold(0, |b, i| if counts[i] > counts[b] { i } else { b });
        edges[best]
    }
}

/// numpy `median` of float32 values (mean of the two middle values for an even count),
/// computed in f64.
fn median_f32(v: &mut [f32]) -> f64 {
    let n = v.len();
    v.sort_unstable_by(|a, b| a.total_cmp(b));
    if n % 2 == 1 {
        v[n / 2] as f64
    } else {
        // numpy averages the two float32 values in float32.
        ((v[n / 2 - 1] + v[n / 2]) / 2.0) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::stft::StftFrame;

    fn tone_tuning(f: f64) -> f64 {
        let sr = 44_100.0;
        let mut st = StftFrame::new();
        let mut est = TuningEstimator::new();
        let mut mag = vec![0.0; N_BINS];
        for t in 0..20 {
            let frame: Vec<f32> = (0..N_FFT)
                .map(|n| {
                    let s = (t * 512 + n) as f64 / sr;
                    ((2.0 * std::f64::consts::PI * f * s).sin()
                        + 0.5 * (2.0 * std::f64::consts::PI * 1.5 * f * s).sin())
                        as f32
                })
                .collect();
            st.magnitude(&frame, &mut mag);
            est.push_frame(&mag, sr);
        }
        est.tuning()
    }

    #[test]
    fn in_tune_and_detuned_tones() {
        // A4 = 440 Hz exactly: tuning near 0. The same note 30 cents sharp: near +0.3.
        let t0 = tone_tuning(440.0);
        assert!(t0.abs() <= 0.06, "{t0}");
        let t30 = tone_tuning(440.0 * 2f64.powf(0.30 / 12.0));
        assert!((t30 - 0.30).abs() <= 0.06, "{t30}");
    }

    #[test]
    fn silence_has_zero_tuning() {
        let mut est = TuningEstimator::new();
        est.push_frame(&vec![0.0; N_BINS], 44_100.0);
        assert!(est.is_empty());
        assert_eq!(est.tuning(), 0.0);
    }
}
