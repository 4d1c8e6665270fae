//! One STFT frame to one log-mel frame.
//!
//! Input: `frame_length()` samples of the (padded) 16 kHz signal, as cut by the framer.
//! Output: `n_mels` log-compressed mel values. The FFT plan, window and all buffers are made
//! once in [`LogMelFrame::new`]; [`LogMelFrame::compute`] does not allocate.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

use crate::config::{FrameConvention, FrontEndConfig, LogCompression, Spectrum};
use crate::mel::MelFilterBank;

/// Periodic Hann window of `len` samples: `0.5 - 0.5 cos(2 pi n / len)` (scipy
/// `get_window('hann', len, fftbins=True)`).
pub fn periodic_hann(len: usize) -> Vec<f32> {
    (0..len)
        .map(|n| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / len as f64).cos()) as f32)
        .collect()
}

/// Computes log-mel frames for one [`FrontEndConfig`].
pub struct LogMelFrame {
    cfg: FrontEndConfig,
    fft: Arc<dyn RealToComplex<f32>>,
    /// Window laid out over the frame: `frame_length()` values.
    window: Vec<f32>,
    fft_in: Vec<f32>,
    fft_out: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    spectrum: Vec<f32>,
    bank: MelFilterBank,
}

impl LogMelFrame {
    /// Plans the FFT and builds window and filter bank. The config must be valid
    /// ([`FrontEndConfig::validate`]).
    pub fn new(cfg: &FrontEndConfig) -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(cfg.n_fft);
        let hann = periodic_hann(cfg.win_length);
        let window = match cfg.frames {
            FrameConvention::Tensorflow => hann,
            FrameConvention::Librosa { .. } => {
                // librosa pads a shorter window to n_fft, centred.
                let mut w = vec![0.0; cfg.n_fft];
                let off = (cfg.n_fft - cfg.win_length) / 2;
                w[off..off + cfg.win_length].copy_from_slice(&hann);
                w
            }
        };
        Self {
            fft_in: fft.make_input_vec(),
            fft_out: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            spectrum: vec![0.0; cfg.n_bins()],
            bank: MelFilterBank::new(cfg),
            window,
            fft,
            cfg: cfg.clone(),
        }
    }

    /// The filter bank in use.
    pub fn filter_bank(&self) -> &MelFilterBank {
        &self.bank
    }

    /// Turns one frame (`frame_length()` samples) into `n_mels` log-mel values in `out`.
    pub fn compute(&mut self, frame: &[f32], out: &mut [f32]) {
        debug_assert_eq!(frame.len(), self.window.len());
        debug_assert_eq!(out.len(), self.bank.n_mels());
        let n = frame.len();
        for ((dst, &x), &w) in self.fft_in[..n].iter_mut().zip(frame).zip(&self.window) {
            *dst = x * w;
        }
        self.fft_in[n..].fill(0.0);
        self.fft
            .process_with_scratch(&mut self.fft_in, &mut self.fft_out, &mut self.scratch)
            .expect("buffer sizes come from the plan");
        match self.cfg.spectrum {
            Spectrum::Magnitude => {
                // sqrt(re² + im²) rather than `norm()`, whose overflow-safe `hypot` is several
                // times slower; squares of audio FFT values cannot overflow f32.
                for (s, c) in self.spectrum.iter_mut().zip(&self.fft_out) {
                    *s = c.norm_sqr().sqrt();
                }
            }
            Spectrum::Power => {
                for (s, c) in self.spectrum.iter_mut().zip(&self.fft_out) {
                    *s = c.norm_sqr();
                }
            }
        }
        self.bank.apply(&self.spectrum, out);
        if self.cfg.round_mel_to_f16 {
            for v in out.iter_mut() {
                *v = half::f16::from_f32(*v).to_f32();
            }
        }
        match self.cfg.log {
            LogCompression::LnOffset { offset } => {
                for v in out.iter_mut() {
                    *v = (*v + offset).ln();
                }
            }
            LogCompression::Log10Scaled { scale } => {
                for v in out.iter_mut() {
                    *v = (scale * *v + 1.0).log10();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periodic_hann_matches_definition() {
        let w = periodic_hann(4);
        let expect = [0.0, 0.5, 1.0, 0.5];
        for (a, b) in w.iter().zip(expect) {
            assert!((a - b).abs() < 1e-7);
        }
    }

    #[test]
    fn silence_gives_log_of_offset() {
        let cfg = FrontEndConfig::vggish();
        let mut lm = LogMelFrame::new(&cfg);
        let mut out = vec![0.0; 64];
        lm.compute(&vec![0.0; cfg.frame_length()], &mut out);
        assert!(out.iter().all(|&v| (v - 0.01f32.ln()).abs() < 1e-6));
    }

    #[test]
    fn sine_peaks_in_the_band_centred_on_its_frequency() {
        for cfg in [FrontEndConfig::vggish(), FrontEndConfig::musicnn()] {
            let mut lm = LogMelFrame::new(&cfg);
            let bands: Vec<f32> = lm
                .filter_bank()
                .bands()
                .iter()
                .map(|b| b.center_hz)
                .collect();
            for target in [10, 30, 50] {
                let f = bands[target] as f64;
                let frame: Vec<f32> = (0..cfg.frame_length())
                    .map(|n| (2.0 * std::f64::consts::PI * f * n as f64 / 16_000.0).sin() as f32)
                    .collect();
                let mut out = vec![0.0; cfg.n_mels];
                lm.compute(&frame, &mut out);
                let argmax = (0..out.len())
                    .max_by(|&a, &b| out[a].total_cmp(&out[b]))
                    .unwrap();
                assert!(
                    argmax.abs_diff(target) <= 1,
                    "{}: {f} Hz peaked in band {argmax}, want {target}",
                    cfg.name
                );
            }
        }
    }
}
