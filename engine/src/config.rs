//! [`FrontEndConfig`]: every parameter that turns mono audio into log-mel patches.
//!
//! An embedding model declares its front end with one of these (it is stored in the model
//! bundle's metadata), so offline analysis, training and the plugin compute exactly the same
//! input. Two presets exist: [`FrontEndConfig::vggish`] and [`FrontEndConfig::musicnn`].

use serde::{Deserialize, Serialize};

/// How STFT frames are cut from the signal and where the window sits in the FFT buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FrameConvention {
    /// TensorFlow / VGGish `mel_features.py`: frames of `win_length` samples starting at
    /// `t * hop_length` (no centring, no padding, trailing partial frame dropped), windowed,
    /// then zero-padded at the end to `n_fft`.
    Tensorflow,
    /// librosa `stft`: frames of `n_fft` samples with the `win_length` window centred inside.
    /// With `center`, frame `t` is centred on sample `t * hop_length`, the signal being padded
    /// by `n_fft / 2` samples at both ends with `pad_mode`.
    Librosa { center: bool, pad_mode: PadMode },
}

/// Padding at the ends of the signal for centred frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PadMode {
    /// numpy `reflect`: `x[1], x[2], ...` mirrored around the edge sample (edge not repeated).
    /// A signal too short to reflect (fewer than `n_fft / 2 + 1` samples) is zero-padded.
    Reflect,
    /// Zeros.
    Constant,
}

/// What the FFT bins hold before the mel filter bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spectrum {
    /// `|X(k)|`.
    Magnitude,
    /// `|X(k)|^2`.
    Power,
}

/// The Hz <-> mel mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MelScale {
    /// `mel = 1127 ln(1 + hz / 700)`.
    Htk,
    /// Slaney's Auditory Toolbox scale (librosa `htk=False`): linear below 1 kHz, log above.
    Slaney,
}

/// In which space the filter triangles are linear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriangleSpace {
    /// Triangles evaluated on the mel value of each bin (VGGish `spectrogram_to_mel_matrix`).
    Mel,
    /// Triangles evaluated on the Hz value of each bin, with corners at mel-spaced
    /// frequencies (librosa `filters.mel`).
    Hertz,
}

/// Normalisation of each mel triangle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MelNorm {
    /// Peak 1.
    None,
    /// Area normalisation `2 / (f_upper - f_lower)` (librosa `norm='slaney'`).
    Slaney,
}

/// The compression applied to each mel value `x`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LogCompression {
    /// `ln(x + offset)` (VGGish: offset 0.01).
    LnOffset { offset: f32 },
    /// `log10(scale * x + 1)` (musicnn: scale 10000).
    Log10Scaled { scale: f32 },
}

/// How log-mel frames are grouped into the patches an embedding model sees.
///
/// Patch `k` ends (exclusive) at frame `e_k = e_0 + k * hop_frames` and holds the frames
/// `max(0, e_k - context_frames) .. e_k`; `e_0` is `context_frames` when `partial_warmup` is
/// false (every patch is full) and `hop_frames` when it is true (the first patches of a song
/// see the shorter context available). A trailing incomplete patch is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchConfig {
    /// Frames a full patch spans (VGGish 96, musicnn 187).
    pub context_frames: usize,
    /// Frames between the ends of consecutive patches (VGGish 96, musicnn 60 = 0.96 s).
    pub hop_frames: usize,
    /// Emit patches before a full context is available.
    pub partial_warmup: bool,
}

/// Every parameter of a log-mel front end. Input: mono `f32` audio at `sample_rate` Hz.
/// Output: log-mel frames `[n_mels]` every `hop_length` samples, grouped into patches by
/// [`PatchConfig`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontEndConfig {
    /// Short name of the preset, for messages and metadata.
    pub name: String,
    /// Sample rate the front end runs at, Hz.
    pub sample_rate: u32,
    /// FFT length in samples; the spectrum has `n_fft / 2 + 1` bins.
    pub n_fft: usize,
    /// Periodic-Hann window length in samples (`<= n_fft`).
    pub win_length: usize,
    /// Samples between frame starts.
    pub hop_length: usize,
    pub frames: FrameConvention,
    pub spectrum: Spectrum,
    pub n_mels: usize,
    /// Lowest filter corner, Hz.
    pub fmin: f32,
    /// Highest filter corner, Hz.
    pub fmax: f32,
    pub mel_scale: MelScale,
    pub triangles: TriangleSpace,
    pub mel_norm: MelNorm,
    /// Give the DC bin zero weight in every band (VGGish does).
    pub zero_dc_bin: bool,
    /// Round each mel value to IEEE half precision before the log (musicnn stored its
    /// training data as float16; rounding reproduces its input exactly).
    pub round_mel_to_f16: bool,
    pub log: LogCompression,
    pub patch: PatchConfig,
}

impl FrontEndConfig {
    /// VGGish (AudioSet `vggish_input.py`): 16 kHz, 25 ms frames (400) with 10 ms hop (160),
    /// periodic Hann, 512-point FFT magnitude, 64 HTK mel bands 125-7500 Hz built in mel space
    /// with zero DC weight, `ln(mel + 0.01)`, non-overlapping patches of 96 frames (0.96 s).
    pub fn vggish() -> Self {
        Self {
            name: "vggish".into(),
            sample_rate: 16_000,
            n_fft: 512,
            win_length: 400,
            hop_length: 160,
            frames: FrameConvention::Tensorflow,
            spectrum: Spectrum::Magnitude,
            n_mels: 64,
            fmin: 125.0,
            fmax: 7500.0,
            mel_scale: MelScale::Htk,
            triangles: TriangleSpace::Mel,
            mel_norm: MelNorm::None,
            zero_dc_bin: true,
            round_mel_to_f16: false,
            log: LogCompression::LnOffset { offset: 0.01 },
            patch: PatchConfig {
                context_frames: 96,
                hop_frames: 96,
                partial_warmup: false,
            },
        }
    }

    /// musicnn (`musicnn==0.1.0`, librosa 0.7 defaults): 16 kHz, n_fft 512, hop 256, periodic
    /// Hann, centred frames with reflect padding, power spectrum, 96 Slaney mel bands 0-8 kHz
    /// with Slaney area norm, mel power rounded to f16, `log10(10000 x + 1)`. Streaming
    /// contract: every 60 frames (0.96 s) a patch of the last 187 frames (3 s); the first
    /// patches of a song use the shorter context available.
    pub fn musicnn() -> Self {
        Self {
            name: "musicnn".into(),
            sample_rate: 16_000,
            n_fft: 512,
            win_length: 512,
            hop_length: 256,
            frames: FrameConvention::Librosa {
                center: true,
                pad_mode: PadMode::Reflect,
            },
            spectrum: Spectrum::Power,
            n_mels: 96,
            fmin: 0.0,
            fmax: 8000.0,
            mel_scale: MelScale::Slaney,
            triangles: TriangleSpace::Hertz,
            mel_norm: MelNorm::Slaney,
            zero_dc_bin: false,
            round_mel_to_f16: true,
            log: LogCompression::Log10Scaled { scale: 10_000.0 },
            patch: PatchConfig {
                context_frames: 187,
                hop_frames: 60,
                partial_warmup: true,
            },
        }
    }

    /// A preset by name (`vggish`, `musicnn`).
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "vggish" => Some(Self::vggish()),
            "musicnn" => Some(Self::musicnn()),
            _ => None,
        }
    }

    /// Number of spectrum bins, `n_fft / 2 + 1`.
    pub fn n_bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// Samples each STFT frame reads from the (padded) signal.
    pub fn frame_length(&self) -> usize {
        match self.frames {
            FrameConvention::Tensorflow => self.win_length,
            FrameConvention::Librosa { .. } => self.n_fft,
        }
    }

    /// Samples of padding added before the first sample (and after the last one).
    pub fn edge_padding(&self) -> usize {
        match self.frames {
            FrameConvention::Librosa { center: true, .. } => self.n_fft / 2,
            _ => 0,
        }
    }

    /// Seconds between consecutive patches.
    pub fn patch_hop_seconds(&self) -> f64 {
        (self.patch.hop_frames * self.hop_length) as f64 / self.sample_rate as f64
    }

    /// Checks that the parameters describe a front end that can run.
    pub fn validate(&self) -> Result<(), String> {
        let fail = |m: String| Err(format!("front end `{}`: {m}", self.name));
        if self.sample_rate == 0 {
            return fail("sample_rate is 0".into());
        }
        if self.n_fft < 2 || self.win_length == 0 || self.win_length > self.n_fft {
            return fail(format!(
                "need 0 < win_length ({}) <= n_fft ({}), n_fft >= 2",
                self.win_length, self.n_fft
            ));
        }
        if self.hop_length == 0 || self.n_mels == 0 {
            return fail("hop_length and n_mels must be > 0".into());
        }
        let nyquist = self.sample_rate as f32 / 2.0;
        if !(self.fmin >= 0.0 && self.fmin < self.fmax && self.fmax <= nyquist) {
            return fail(format!(
                "need 0 <= fmin ({}) < fmax ({}) <= Nyquist ({nyquist})",
                self.fmin, self.fmax
            ));
        }
        if self.patch.context_frames == 0 || self.patch.hop_frames == 0 {
            return fail("patch context_frames and hop_frames must be > 0".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate_and_round_trip_through_json() {
        for cfg in [FrontEndConfig::vggish(), FrontEndConfig::musicnn()] {
            cfg.validate().unwrap();
            let json = serde_json::to_string(&cfg).unwrap();
            let back: FrontEndConfig = serde_json::from_str(&json).unwrap();
            assert_eq!(back, cfg);
        }
    }

    #[test]
    fn vggish_patch_is_0_96_seconds() {
        assert!((FrontEndConfig::vggish().patch_hop_seconds() - 0.96).abs() < 1e-12);
        assert!((FrontEndConfig::musicnn().patch_hop_seconds() - 0.96).abs() < 1e-12);
    }

    #[test]
    fn invalid_configs_are_rejected() {
        let mut cfg = FrontEndConfig::vggish();
        cfg.fmax = 9000.0;
        assert!(cfg.validate().unwrap_err().contains("Nyquist"));
        let mut cfg = FrontEndConfig::vggish();
        cfg.win_length = 1024;
        assert!(cfg.validate().is_err());
    }
}
