//! The 207 low-level audio features of the SpotGenTrack Popularity Dataset
//! (`low_level_audio_features.csv`), computed as HitMusicNet's extractor did with
//! librosa 0.6: native sample rate, mono, n_fft 2048, hop 512, every family averaged over
//! frames.
//!
//! ```text
//! mono f32 @ native rate ─┬─ STFT (2048 / 512, Hann, reflect-centred) ── |X| ──┬─ MEL_1..128   power mel means
//!                         │                                                   ├─ MFCC_1..48   DCT of clipped log-mel
//!                         │                                                   ├─ Spectral_contrast_1..7
//!                         │                                                   ├─ spectral_bandwith / centroid / rollOff_max (85 %) / rollOff_min (10 %)
//!                         │                                                   └─ piptrack ── tuning ─┐
//!                         ├─ CQT (84 bins from C1, 12/octave, hop 512, multirate) ◀──────────────────┘
//!                         │     └─ Chroma_1..12 (C..B, max-normalised) ── Tonnetz_1..6
//!                         └─ frames (2048 / 512) ── ZCR, RMS ── entropy_energy
//! ```
//!
//! One STFT and one CQT per song feed every family ([`stft`], [`cqt`]). The columns, in the
//! order of [`FeatureVector::names`]: `Chroma_1..12`, `MEL_1..128`, `MFCC_1..48`,
//! `Spectral_contrast_1..7`, `Tonnetz_1..6`, `ZCR`, `entropy_energy`, `spectral_bandwith`
//! (sic), `spectral_centroid`, `spectral_rollOff_max`, `spectral_rollOff_min`.
//!
//! # Compatibility switch
//! [`FeatureConfig::compat`] (default `true`) reproduces the original's two quirks:
//! - `spectral_centroid` is the centroid of the **first frame only** (`[0][0]` in the
//!   original), Hz. With `compat = false` it is the mean over frames, Hz.
//! - `entropy_energy` is `sum_j q_j log10 q_j` with `q_j = |rms_j - mean rms|` (not an
//!   entropy; NaN when some `q_j` is exactly 0). With `compat = false` it is the Shannon
//!   entropy in bits of each frame's share of the song's energy
//!   ([`streaming::energy_entropy_shannon`]).
//!
//! Every other column is the same in both settings.
//!
//! # Accuracy against librosa 0.6.3
//! Measured on the two 10 s fixture clips (`engine/tests/features_librosa.rs`, which
//! asserts the tolerances in brackets):
//! - STFT families match to float rounding: MEL rel <= 4e-5 [1e-4], MFCC abs <= 5e-6
//!   [1e-4 rel + 1e-4], contrast rel <= 2e-5 [1e-4], ZCR rel <= 3e-8 [1e-5], bandwidth and
//!   centroid rel <= 2e-7 [1e-5], roll-offs rel <= 3e-8 [1e-3, room for a bin flip],
//!   `entropy_energy` equal in f32 [1e-4]. The tuning estimate is identical.
//! - CQT families: chroma within 4e-8 abs, tonnetz within 1e-8 abs [chroma 1e-5 rel +
//!   1e-6, tonnetz 1e-4 rel + 1e-6]: the CQT follows librosa's multirate pipeline (resampy
//!   kaiser_fast decimation, per-octave STFT, sparsified kernels), see [`cqt`].
//!
//! # Streaming
//! [`FeatureStream`] takes blocks of any size; [`extract`] is the same stream fed once.
//! [`LiveFeatures`] is the bounded-memory variant for endless streams (the plugin).

pub mod chroma;
pub mod cqt;
pub mod decimate;
pub mod live;
pub mod mfcc;
pub mod spectral;
pub mod stft;
pub mod streaming;
pub mod tonnetz;
pub mod tuning;

use std::sync::OnceLock;

pub use live::LiveFeatures;
pub use streaming::FeatureStream;

/// Options of the extractor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureConfig {
    /// Reproduce the original extractor's quirks (first-frame centroid, its energy
    /// "entropy"). Default `true`.
    pub compat: bool,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self { compat: true }
    }
}

/// Why features could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeatureError {
    /// Fewer samples than one analysis frame.
    #[error("{samples} samples is shorter than one 2048-sample analysis frame (need {needed})")]
    TooShort {
        /// Samples received.
        samples: usize,
        /// Samples needed (2048).
        needed: usize,
    },
    /// The sample rate is too low for the original parameters (spectral contrast's top
    /// band starts at 6.4 kHz, the CQT reaches B7 = 3951 Hz).
    #[error(
        "sample rate {sample_rate} Hz is too low for the SpotGenTrack features (need > 12.8 kHz)"
    )]
    UnsupportedRate {
        /// The refused rate, Hz.
        sample_rate: u32,
    },
}

/// Offsets of each family in [`FeatureVector::values`].
pub struct Layout;

impl Layout {
    /// `Chroma_1..12`: mean max-normalised chroma, C first, in `[0, 1]`.
    pub const CHROMA: usize = 0;
    /// `MEL_1..128`: mean power mel spectrogram (|X|^2 units, Slaney area-normalised).
    pub const MEL: usize = 12;
    /// `MFCC_1..48`: mean MFCCs (dB-scaled DCT-II, orthonormal).
    pub const MFCC: usize = 140;
    /// `Spectral_contrast_1..7`: mean peak-minus-valley, dB.
    pub const CONTRAST: usize = 188;
    /// `Tonnetz_1..6`: mean tonal centroid coordinates.
    pub const TONNETZ: usize = 195;
    /// `ZCR`: mean zero-crossing rate, crossings per sample.
    pub const ZCR: usize = 201;
    /// `entropy_energy` (see the compatibility switch).
    pub const ENTROPY: usize = 202;
    /// `spectral_bandwith`: mean spectral bandwidth, Hz.
    pub const BANDWIDTH: usize = 203;
    /// `spectral_centroid`, Hz (first frame in compat mode, else the mean).
    pub const CENTROID: usize = 204;
    /// `spectral_rollOff_max`: mean 85 % roll-off, Hz.
    pub const ROLLOFF_MAX: usize = 205;
    /// `spectral_rollOff_min`: mean 10 % roll-off, Hz.
    pub const ROLLOFF_MIN: usize = 206;
    /// Number of features.
    pub const COUNT: usize = 207;
}

/// The 207 column names in SpotGenTrack order (see the module docs).
pub fn feature_names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut n = Vec::with_capacity(Layout::COUNT);
        n.extend((1..=12).map(|i| format!("Chroma_{i}")));
        n.extend((1..=128).map(|i| format!("MEL_{i}")));
        n.extend((1..=48).map(|i| format!("MFCC_{i}")));
        n.extend((1..=7).map(|i| format!("Spectral_contrast_{i}")));
        n.extend((1..=6).map(|i| format!("Tonnetz_{i}")));
        for s in [
            "ZCR",
            "entropy_energy",
            "spectral_bandwith",
            "spectral_centroid",
            "spectral_rollOff_max",
            "spectral_rollOff_min",
        ] {
            n.push(s.to_string());
        }
        n
    })
}

/// The 207 features of one song.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureVector {
    /// Values in the order of [`FeatureVector::names`]; units per family in [`Layout`].
    pub values: [f32; Layout::COUNT],
    /// Tuning the CQT used, fractions of a semitone in `[-0.5, 0.5)`.
    pub tuning: f64,
    /// STFT frames averaged (`1 + samples / 512`).
    pub n_frames: usize,
    /// Non-finite input samples that were replaced by 0.
    pub non_finite_replaced: u64,
}

impl FeatureVector {
    /// Column names, same order as `values`.
    pub fn names() -> &'static [String] {
        feature_names()
    }

    /// The value of a column by its SpotGenTrack name.
    pub fn get(&self, name: &str) -> Option<f32> {
        feature_names()
            .iter()
            .position(|n| n == name)
            .map(|i| self.values[i])
    }
}

/// Computes the 207 features of a whole song: `signal` is mono `f32` at `sample_rate` Hz
/// (the file's native rate, e.g. from [`crate::decode::decode_mono`]).
pub fn extract(
    signal: &[f32],
    sample_rate: u32,
    cfg: FeatureConfig,
) -> Result<FeatureVector, FeatureError> {
    let mut s = FeatureStream::new(sample_rate, cfg)?;
    s.push(signal);
    s.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_have_the_layout() {
        let n = feature_names();
        assert_eq!(n.len(), 207);
        assert_eq!(n[Layout::CHROMA], "Chroma_1");
        assert_eq!(n[Layout::MEL + 127], "MEL_128");
        assert_eq!(n[Layout::MFCC], "MFCC_1");
        assert_eq!(n[Layout::CONTRAST + 6], "Spectral_contrast_7");
        assert_eq!(n[Layout::TONNETZ], "Tonnetz_1");
        assert_eq!(n[Layout::ZCR], "ZCR");
        assert_eq!(n[Layout::ENTROPY], "entropy_energy");
        assert_eq!(n[Layout::BANDWIDTH], "spectral_bandwith");
        assert_eq!(n[Layout::CENTROID], "spectral_centroid");
        assert_eq!(n[Layout::ROLLOFF_MAX], "spectral_rollOff_max");
        assert_eq!(n[Layout::ROLLOFF_MIN], "spectral_rollOff_min");
    }
}
