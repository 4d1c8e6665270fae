//! Mel filter banks, stored sparsely: each band keeps only the contiguous run of FFT bins
//! where its triangle is non-zero (a handful of bins for low bands), so applying the bank
//! costs about two multiply-adds per bin instead of `n_mels` per bin.

use crate::config::{FrontEndConfig, MelNorm, MelScale, TriangleSpace};

/// Hz to mel on the given scale.
pub fn hz_to_mel(hz: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 1127.0 * (1.0 + hz / 700.0).ln(),
        MelScale::Slaney => {
            let f_sp = 200.0 / 3.0;
            let min_log_hz = 1000.0;
            let min_log_mel = min_log_hz / f_sp;
            let logstep = 6.4f64.ln() / 27.0;
            if hz >= min_log_hz {
                min_log_mel + (hz / min_log_hz).ln() / logstep
            } else {
                hz / f_sp
            }
        }
    }
}

/// Mel to Hz on the given scale (inverse of [`hz_to_mel`]).
pub fn mel_to_hz(mel: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 700.0 * ((mel / 1127.0).exp() - 1.0),
        MelScale::Slaney => {
            let f_sp = 200.0 / 3.0;
            let min_log_hz = 1000.0;
            let min_log_mel = min_log_hz / f_sp;
            let logstep = 6.4f64.ln() / 27.0;
            if mel >= min_log_mel {
                min_log_hz * (logstep * (mel - min_log_mel)).exp()
            } else {
                f_sp * mel
            }
        }
    }
}

/// One band of a sparse filter bank: weights for bins `start .. start + weights.len()`.
#[derive(Debug, Clone, PartialEq)]
pub struct MelBand {
    /// First FFT bin with a non-zero weight.
    pub start: usize,
    /// Weights of the consecutive bins from `start`.
    pub weights: Vec<f32>,
    /// Centre frequency of the triangle, Hz.
    pub center_hz: f32,
}

/// A mel filter bank over `n_fft / 2 + 1` spectrum bins, `n_mels` bands.
#[derive(Debug, Clone, PartialEq)]
pub struct MelFilterBank {
    n_bins: usize,
    bands: Vec<MelBand>,
}

impl MelFilterBank {
    /// Builds the bank a front-end configuration describes (weights computed in f64, stored
    /// as f32 like librosa's and VGGish's matrices).
    pub fn new(cfg: &FrontEndConfig) -> Self {
        let n_bins = cfg.n_bins();
        let sr = cfg.sample_rate as f64;
        let bin_hz: Vec<f64> = (0..n_bins)
            .map(|k| k as f64 * sr / cfg.n_fft as f64)
            .collect();
        let mel_lo = hz_to_mel(cfg.fmin as f64, cfg.mel_scale);
        let mel_hi = hz_to_mel(cfg.fmax as f64, cfg.mel_scale);
        // n_mels + 2 corner points equally spaced in mel.
        let corners_mel: Vec<f64> = (0..cfg.n_mels + 2)
            .map(|i| mel_lo + (mel_hi - mel_lo) * i as f64 / (cfg.n_mels + 1) as f64)
            .collect();
        let corners_hz: Vec<f64> = corners_mel
            .iter()
            .map(|&m| mel_to_hz(m, cfg.mel_scale))
            .collect();
        let (corners, bin_pos): (&[f64], Vec<f64>) = match cfg.triangles {
            TriangleSpace::Mel => (
                &corners_mel,
                bin_hz
                    .iter()
                    .map(|&f| hz_to_mel(f, cfg.mel_scale))
                    .collect(),
            ),
            TriangleSpace::Hertz => (&corners_hz, bin_hz.clone()),
        };
        let bands = (0..cfg.n_mels)
            .map(|b| {
                let (lo, mid, hi) = (corners[b], corners[b + 1], corners[b + 2]);
                let norm = match cfg.mel_norm {
                    MelNorm::None => 1.0,
                    MelNorm::Slaney => 2.0 / (corners_hz[b + 2] - corners_hz[b]),
                };
                let dense: Vec<f32> = bin_pos
                    .iter()
                    .enumerate()
                    .map(|(k, &p)| {
                        if k == 0 && cfg.zero_dc_bin {
                            return 0.0;
                        }
                        let rising = (p - lo) / (mid - lo);
                        let falling = (hi - p) / (hi - mid);
                        (rising.min(falling).max(0.0) * norm) as f32
                    })
                    .collect();
                let start = dense.iter().position(|&w| w != 0.0).unwrap_or(0);
                let end = dense
                    .iter()
                    .rposition(|&w| w != 0.0)
                    .map_or(start, |e| e + 1);
                MelBand {
                    start,
                    weights: dense[start..end].to_vec(),
                    center_hz: corners_hz[b + 1] as f32,
                }
            })
            .collect();
        Self { n_bins, bands }
    }

    /// Number of mel bands.
    pub fn n_mels(&self) -> usize {
        self.bands.len()
    }

    /// The bands, lowest first.
    pub fn bands(&self) -> &[MelBand] {
        &self.bands
    }

    /// The dense weight matrix `[n_bins][n_mels]`, row-major by bin (for tests and export).
    pub fn dense(&self) -> Vec<f32> {
        let n_mels = self.n_mels();
        let mut m = vec![0.0; self.n_bins * n_mels];
        for (b, band) in self.bands.iter().enumerate() {
            for (i, &w) in band.weights.iter().enumerate() {
                m[(band.start + i) * n_mels + b] = w;
            }
        }
        m
    }

    /// Applies the bank: `spectrum` is `[n_bins]`, `mel` receives `[n_mels]`.
    #[inline]
    pub fn apply(&self, spectrum: &[f32], mel: &mut [f32]) {
        debug_assert_eq!(spectrum.len(), self.n_bins);
        for (out, band) in mel.iter_mut().zip(&self.bands) {
            let bins = &spectrum[band.start..band.start + band.weights.len()];
            *out = bins.iter().zip(&band.weights).map(|(s, w)| s * w).sum();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mel_scales_invert() {
        for scale in [MelScale::Htk, MelScale::Slaney] {
            for hz in [0.0, 125.0, 999.0, 1000.0, 1500.0, 7500.0, 8000.0] {
                let back = mel_to_hz(hz_to_mel(hz, scale), scale);
                assert!((back - hz).abs() < 1e-9, "{scale:?} {hz} -> {back}");
            }
        }
    }

    #[test]
    fn known_mel_values() {
        // HTK: 1000 Hz is ~1000 mel by construction of the formula.
        assert!((hz_to_mel(1000.0, MelScale::Htk) - 999.9907).abs() < 1e-3);
        // Slaney: linear part, 200/3 Hz per mel, and 1 kHz at mel 15.
        assert!((hz_to_mel(500.0, MelScale::Slaney) - 7.5).abs() < 1e-12);
        assert!((hz_to_mel(1000.0, MelScale::Slaney) - 15.0).abs() < 1e-12);
        // 6.4 kHz is 27 log steps above 1 kHz.
        assert!((hz_to_mel(6400.0, MelScale::Slaney) - 42.0).abs() < 1e-9);
    }

    #[test]
    fn vggish_bank_shape_and_dc() {
        let bank = MelFilterBank::new(&FrontEndConfig::vggish());
        assert_eq!(bank.n_mels(), 64);
        let dense = bank.dense();
        assert!(dense[..64].iter().all(|&w| w == 0.0), "DC row must be zero");
        // Unnormalised triangles peak at most at 1, and every band has some weight.
        for band in bank.bands() {
            assert!(!band.weights.is_empty());
            assert!(band.weights.iter().all(|&w| (0.0..=1.0).contains(&w)));
        }
    }

    #[test]
    fn slaney_norm_gives_equal_area_in_hz() {
        // With area normalisation each triangle integrates (over Hz) to ~1; on a fine
        // FFT grid the Riemann sum of weights times bin width is close to 1.
        let mut cfg = FrontEndConfig::musicnn();
        cfg.n_fft = 16384;
        cfg.win_length = 16384;
        let bank = MelFilterBank::new(&cfg);
        let df = cfg.sample_rate as f64 / cfg.n_fft as f64;
        for band in &bank.bands()[1..] {
            let area: f64 = band.weights.iter().map(|&w| w as f64 * df).sum();
            assert!((area - 1.0).abs() < 0.02, "area {area}");
        }
    }
}
