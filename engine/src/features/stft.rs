//! The one STFT of the SpotGenTrack extractor: librosa 0.6 `stft` defaults.
//!
//! Frames of [`N_FFT`] = 2048 samples every [`HOP`] = 512 samples at the file's native rate,
//! centred (frame `t` is centred on sample `t * 512`), the signal reflect-padded by 1024
//! samples at both ends (numpy `pad(mode='reflect')`), periodic Hann window, `|X(k)|` over
//! `N_FFT / 2 + 1 = 1025` bins. A signal of `n` samples gives `1 + n / 512` frames.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

use crate::logmel::periodic_hann;

/// FFT length (and frame length) in samples.
pub const N_FFT: usize = 2048;
/// Hop between frame centres in samples.
pub const HOP: usize = 512;
/// Number of spectrum bins, `N_FFT / 2 + 1`.
pub const N_BINS: usize = N_FFT / 2 + 1;

/// Number of centred frames librosa makes from `n` samples: `1 + n / hop`.
pub fn n_frames(n: usize, hop: usize) -> usize {
    1 + n / hop
}

/// numpy `reflect` padding: index `i` (may be negative or `>= len`) of the signal extended
/// by mirroring around its first and last samples (edge sample not repeated), repeated as
/// often as needed (period `2 (len - 1)`). `len` must be at least 2.
#[inline]
pub fn reflect_index(i: isize, len: usize) -> usize {
    debug_assert!(len >= 2);
    let period = 2 * (len as isize - 1);
    let mut j = i.rem_euclid(period);
    if j >= len as isize {
        j = period - j;
    }
    j as usize
}

/// Copies frame `t` (centred on sample `t * HOP`, [`N_FFT`] samples, reflect-padded at both
/// ends) of `signal` into `out`.
pub fn reflect_frame(signal: &[f32], t: usize, out: &mut [f32]) {
    debug_assert_eq!(out.len(), N_FFT);
    let start = (t * HOP) as isize - (N_FFT / 2) as isize;
    let len = signal.len();
    if start >= 0 && start as usize + N_FFT <= len {
        out.copy_from_slice(&signal[start as usize..start as usize + N_FFT]);
    } else {
        for (j, o) in out.iter_mut().enumerate() {
            *o = signal[reflect_index(start + j as isize, len)];
        }
    }
}

/// Magnitude spectra of windowed frames. Plans the FFT once; [`StftFrame::magnitude`] does
/// not allocate.
pub struct StftFrame {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    input: Vec<f32>,
    output: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
}

impl Default for StftFrame {
    fn default() -> Self {
        Self::new()
    }
}

impl StftFrame {
    /// A 2048-point periodic-Hann STFT.
    pub fn new() -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        Self {
            input: fft.make_input_vec(),
            output: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            window: periodic_hann(N_FFT),
            fft,
        }
    }

    /// `frame`: [`N_FFT`] raw samples; writes `|X(k)|` for the [`N_BINS`] bins into `mag`.
    pub fn magnitude(&mut self, frame: &[f32], mag: &mut [f32]) {
        debug_assert_eq!(frame.len(), N_FFT);
        debug_assert_eq!(mag.len(), N_BINS);
        for ((d, &x), &w) in self.input.iter_mut().zip(frame).zip(&self.window) {
            *d = x * w;
        }
        self.fft
            .process_with_scratch(&mut self.input, &mut self.output, &mut self.scratch)
            .expect("buffer sizes come from the plan");
        for (m, c) in mag.iter_mut().zip(&self.output) {
            *m = (c.re * c.re + c.im * c.im).sqrt();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_matches_numpy() {
        // np.pad([0,1,2,3], 5, mode='reflect') = [1 2 3 2 1 | 0 1 2 3 | 2 1 0 1 2]
        let sig = [0.0f32, 1.0, 2.0, 3.0];
        let got: Vec<usize> = (-5..9).map(|i| reflect_index(i, sig.len())).collect();
        assert_eq!(got, vec![1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2]);
    }

    #[test]
    fn frame_count_is_librosas() {
        assert_eq!(n_frames(441_000, HOP), 862);
        assert_eq!(n_frames(512, HOP), 2);
    }

    #[test]
    fn hann_sine_peaks_in_its_bin() {
        let sr = 44_100.0;
        let k = 100;
        let f = k as f64 * sr / N_FFT as f64;
        let frame: Vec<f32> = (0..N_FFT)
            .map(|n| (2.0 * std::f64::consts::PI * f * n as f64 / sr).sin() as f32)
            .collect();
        let mut mag = vec![0.0; N_BINS];
        StftFrame::new().magnitude(&frame, &mut mag);
        let argmax = (0..N_BINS)
            .max_by(|&a, &b| mag[a].total_cmp(&mag[b]))
            .unwrap();
        assert_eq!(argmax, k);
        // Periodic Hann sums to N/2, so a unit sine gives N/4 in its bin.
        assert!((mag[k] - N_FFT as f32 / 4.0).abs() < 0.01, "{}", mag[k]);
    }
}
