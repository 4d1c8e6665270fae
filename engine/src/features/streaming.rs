//! [`FeatureStream`]: the extractor fed block by block. The offline [`super::extract`] is
//! this stream fed once, so both give bit-identical values whatever the block sizes.
//!
//! What is kept while streaming (per STFT frame, i.e. every 512 samples):
//! - running sums for `MEL_*`, `ZCR`, bandwidth, roll-offs and the clean centroid;
//! - the frame's 128 log-mel values (512 bytes), because the MFCC `top_db` clip needs the
//!   song's loudest mel value; the contrast peak/valley pairs (7 + 7 values), because their
//!   `top_db` clip is global too; the frame RMS, because `entropy_energy` needs the mean
//!   RMS first; the tuning candidates of piptrack, because the tuning uses their median;
//! - the samples themselves, because the CQT (chroma, tonnetz) needs the song's tuning
//!   before its first frame can be computed: it runs in [`FeatureStream::finish`].
//!
//! Memory: about 4 bytes per sample plus ~0.6 kB per frame (about 230 kB per second at
//! 44.1 kHz, 7 MB for a 30 s preview).

use super::chroma::{chroma_frame, N_CHROMA};
use super::cqt::{cqt_magnitudes, cqt_magnitudes_multirate, CqtPlan};
use super::mfcc::{mean_mfcc, N_MELS};
use super::spectral::{
    bin_frequencies, centroid_bandwidth, power_to_db, rolloffs, sign_bit, ContrastBands, N_CONTRAST,
};
use super::stft::{n_frames, reflect_frame, StftFrame, HOP, N_BINS, N_FFT};
use super::tonnetz::{tonnetz_frame, tonnetz_matrix, N_TONNETZ};
use super::tuning::TuningEstimator;
use super::{FeatureConfig, FeatureError, FeatureVector, Layout};
use crate::config::{
    FrameConvention, FrontEndConfig, LogCompression, MelNorm, MelScale, PadMode, PatchConfig,
    Spectrum, TriangleSpace,
};
use crate::mel::MelFilterBank;

/// Samples the extractor needs at least (one STFT frame).
pub const MIN_SAMPLES: usize = N_FFT;

/// librosa's default mel bank (`filters.mel(sr, 2048)`: 128 Slaney bands over 0..sr/2 with
/// Slaney area normalisation) expressed as a [`FrontEndConfig`] for [`MelFilterBank`].
pub fn librosa_mel_config(sr: u32) -> FrontEndConfig {
    FrontEndConfig {
        name: "spotgentrack-ll".into(),
        sample_rate: sr,
        n_fft: N_FFT,
        win_length: N_FFT,
        hop_length: HOP,
        frames: FrameConvention::Librosa {
            center: true,
            pad_mode: PadMode::Reflect,
        },
        spectrum: Spectrum::Power,
        n_mels: N_MELS,
        fmin: 0.0,
        fmax: sr as f32 / 2.0,
        mel_scale: MelScale::Slaney,
        triangles: TriangleSpace::Hertz,
        mel_norm: MelNorm::Slaney,
        zero_dc_bin: false,
        round_mel_to_f16: false,
        log: LogCompression::LnOffset { offset: 0.0 },
        patch: PatchConfig {
            context_frames: 1,
            hop_frames: 1,
            partial_warmup: false,
        },
    }
}

/// The 207-feature extractor over audio arriving in blocks of any size.
///
/// Input: mono `f32` at the file's native `sample_rate` (Hz). Non-finite samples are
/// replaced by 0 (librosa would raise).
pub struct FeatureStream {
    sr: u32,
    cfg: FeatureConfig,
    signal: Vec<f32>,
    /// `crossings[i]`: sign changes between samples `p` and `p + 1` for all `p < i`.
    crossings: Vec<u32>,
    non_finite: u64,
    frames_done: usize,
    stft: StftFrame,
    frame: Vec<f32>,
    mag: Vec<f32>,
    power: Vec<f32>,
    mel: Vec<f32>,
    bank: MelFilterBank,
    freqs: Vec<f64>,
    contrast: ContrastBands,
    tuning: TuningEstimator,
    mel_sum: Vec<f64>,
    log_mel: Vec<f32>,
    zcr_sum: f64,
    first_centroid: f64,
    centroid_sum: f64,
    bandwidth_sum: f64,
    roll85_sum: f64,
    roll10_sum: f64,
    rms: Vec<f32>,
    peaks: Vec<[f64; N_CONTRAST]>,
    valleys: Vec<[f64; N_CONTRAST]>,
}

impl FeatureStream {
    /// A stream for audio at `sample_rate` Hz. Rates at or below 12.8 kHz are refused
    /// (librosa's spectral contrast and CQT cannot run there either).
    pub fn new(sample_rate: u32, cfg: FeatureConfig) -> Result<Self, FeatureError> {
        let sr = sample_rate as f64;
        let contrast =
            ContrastBands::new(sr).ok_or(FeatureError::UnsupportedRate { sample_rate })?;
        if CqtPlan::new(sr, 0.0, 1 << 20).is_none() {
            return Err(FeatureError::UnsupportedRate { sample_rate });
        }
        Ok(Self {
            sr: sample_rate,
            cfg,
            signal: Vec::new(),
            crossings: vec![0],
            non_finite: 0,
            frames_done: 0,
            stft: StftFrame::new(),
            frame: vec![0.0; N_FFT],
            mag: vec![0.0; N_BINS],
            power: vec![0.0; N_BINS],
            mel: vec![0.0; N_MELS],
            bank: MelFilterBank::new(&librosa_mel_config(sample_rate)),
            freqs: bin_frequencies(sr),
            contrast,
            tuning: TuningEstimator::new(),
            mel_sum: vec![0.0; N_MELS],
            log_mel: Vec::new(),
            zcr_sum: 0.0,
            first_centroid: 0.0,
            centroid_sum: 0.0,
            bandwidth_sum: 0.0,
            roll85_sum: 0.0,
            roll10_sum: 0.0,
            rms: Vec::new(),
            peaks: Vec::new(),
            valleys: Vec::new(),
        })
    }

    /// Sample rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sr
    }

    /// Samples received so far.
    pub fn samples(&self) -> usize {
        self.signal.len()
    }

    /// STFT frames whose statistics are already accumulated.
    pub fn frames_done(&self) -> usize {
        self.frames_done
    }

    /// Non-finite input samples replaced by 0 so far.
    pub fn non_finite_replaced(&self) -> u64 {
        self.non_finite
    }

    /// Appends a block of samples and updates the statistics of every frame it completes.
    pub fn push(&mut self, block: &[f32]) {
        let old_len = self.signal.len();
        self.signal.extend_from_slice(block);
        for x in &mut self.signal[old_len..] {
            if !x.is_finite() {
                self.non_finite += 1;
                *x = 0.0;
            }
        }
        // crossings[i] counts sign changes between p and p + 1 for p < i.
        let first = old_len.max(1);
        self.crossings.reserve(self.signal.len() - first);
        let mut c = *self.crossings.last().unwrap();
        for w in self.signal[first - 1..].windows(2) {
            c += (sign_bit(w[0]) != sign_bit(w[1])) as u32;
            self.crossings.push(c);
        }
        // Frame t reads samples up to t*HOP + N_FFT/2 - 1 (and, reflected, sample N_FFT/2).
        while self.frames_done * HOP + N_FFT / 2 < self.signal.len() {
            self.process_frame(self.frames_done);
            self.frames_done += 1;
        }
    }

    fn process_frame(&mut self, t: usize) {
        let len = self.signal.len();
        reflect_frame(&self.signal, t, &mut self.frame);
        // RMS (librosa rms: reflect-padded frame, mean of squares).
        let ms: f64 = self
            .frame
            .iter()
            .map(|&x| (x as f64) * (x as f64))
            .sum::<f64>()
            / N_FFT as f64;
        self.rms.push(ms.sqrt() as f32);
        // ZCR (edge-padded frame: pairs outside the signal never cross).
        let start = (t * HOP) as isize - (N_FFT / 2) as isize;
        let lo = start.max(0) as usize;
        let hi = (start + N_FFT as isize - 2).min(len as isize - 2);
        let count = if hi >= lo as isize {
            self.crossings[hi as usize + 1] - self.crossings[lo]
        } else {
            0
        };
        self.zcr_sum += count as f64 / N_FFT as f64;
        // Spectrum.
        self.stft.magnitude(&self.frame, &mut self.mag);
        for (p, &m) in self.power.iter_mut().zip(&self.mag) {
            *p = m * m;
        }
        self.bank.apply(&self.power, &mut self.mel);
        for (s, &m) in self.mel_sum.iter_mut().zip(&self.mel) {
            *s += m as f64;
        }
        self.log_mel
            .extend(self.mel.iter().map(|&m| power_to_db(m as f64) as f32));
        let (c, bw) = centroid_bandwidth(&self.mag, &self.freqs);
        if t == 0 {
            self.first_centroid = c;
        }
        self.centroid_sum += c;
        self.bandwidth_sum += bw;
        let [r10, r85] = rolloffs(&self.mag, &self.freqs, [0.10, 0.85]);
        self.roll10_sum += r10;
        self.roll85_sum += r85;
        let (peak, valley) = self.contrast.peak_valley(&self.mag);
        self.peaks.push(peak);
        self.valleys.push(valley);
        self.tuning.push_frame(&self.mag, self.sr as f64);
    }

    /// Ends the song: processes the last frames (reflect-padded at the end), runs the CQT
    /// and returns the 207 features. Fails when fewer than [`MIN_SAMPLES`] samples came.
    pub fn finish(mut self) -> Result<FeatureVector, FeatureError> {
        let len = self.signal.len();
        if len < MIN_SAMPLES {
            return Err(FeatureError::TooShort {
                samples: len,
                needed: MIN_SAMPLES,
            });
        }
        let total = n_frames(len, HOP);
        while self.frames_done < total {
            self.process_frame(self.frames_done);
            self.frames_done += 1;
        }
        let nf = total as f64;
        let mut v = vec![0.0f64; Layout::COUNT];

        // CQT family.
        let sr = self.sr as f64;
        let tuning = self.tuning.tuning();
        let cqt = match cqt_magnitudes_multirate(&self.signal, sr, tuning) {
            Some(c) => c,
            None => {
                let plan = CqtPlan::new(sr, tuning, len).ok_or(FeatureError::UnsupportedRate {
                    sample_rate: self.sr,
                })?;
                cqt_magnitudes(&self.signal, &plan)
            }
        };
        let phi = tonnetz_matrix();
        let mut chroma_sum = [0.0f64; N_CHROMA];
        let mut tonnetz_sum = [0.0f64; N_TONNETZ];
        for t in 0..cqt.n_frames {
            let c = chroma_frame(&cqt, t);
            let tz = tonnetz_frame(&phi, &c);
            for (s, x) in chroma_sum.iter_mut().zip(c) {
                *s += x;
            }
            for (s, x) in tonnetz_sum.iter_mut().zip(tz) {
                *s += x;
            }
        }
        let ncq = cqt.n_frames.max(1) as f64;
        for i in 0..N_CHROMA {
            v[Layout::CHROMA + i] = chroma_sum[i] / ncq;
        }
        for i in 0..N_TONNETZ {
            v[Layout::TONNETZ + i] = tonnetz_sum[i] / ncq;
        }

        // Mel and MFCC.
        for i in 0..N_MELS {
            v[Layout::MEL + i] = self.mel_sum[i] / nf;
        }
        for (i, m) in mean_mfcc(&self.log_mel, total).into_iter().enumerate() {
            v[Layout::MFCC + i] = m;
        }

        // Spectral contrast: power_to_db(peak) - power_to_db(valley), each with its own
        // top_db = 80 clip over the whole song.
        let db_clip = |rows: &[[f64; N_CONTRAST]]| -> Vec<[f64; N_CONTRAST]> {
            let db: Vec<[f64; N_CONTRAST]> = rows.iter().map(|r| r.map(power_to_db)).collect();
            let max = db
                .iter()
                .flatten()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max);
            db.into_iter()
                .map(|r| r.map(|x| x.max(max - 80.0)))
                .collect()
        };
        let pdb = db_clip(&self.peaks);
        let vdb = db_clip(&self.valleys);
        for k in 0..N_CONTRAST {
            let s: f64 = pdb.iter().zip(&vdb).map(|(p, q)| p[k] - q[k]).sum();
            v[Layout::CONTRAST + k] = s / nf;
        }

        v[Layout::ZCR] = self.zcr_sum / nf;
        v[Layout::ENTROPY] = if self.cfg.compat {
            energy_entropy_compat(&self.rms)
        } else {
            energy_entropy_shannon(&self.rms)
        };
        v[Layout::BANDWIDTH] = self.bandwidth_sum / nf;
        v[Layout::CENTROID] = if self.cfg.compat {
            self.first_centroid
        } else {
            self.centroid_sum / nf
        };
        v[Layout::ROLLOFF_MAX] = self.roll85_sum / nf;
        v[Layout::ROLLOFF_MIN] = self.roll10_sum / nf;

        let mut values = [0.0f32; Layout::COUNT];
        for (o, x) in values.iter_mut().zip(&v) {
            *o = *x as f32;
        }
        Ok(FeatureVector {
            values,
            tuning,
            n_frames: total,
            non_finite_replaced: self.non_finite,
        })
    }
}

/// The original extractor's `entropy_energy`: `sum_j q_j log10 q_j` with
/// `q_j = |rms_j - mean(rms)|` over the frame RMS values (librosa `rmse`, 2048/512,
/// reflect-centred). Not an entropy; usually negative; NaN if some `q_j` is exactly 0
/// (`0 * log10(0)`), as in the original.
pub fn energy_entropy_compat(rms: &[f32]) -> f64 {
    let mu = (rms.iter().map(|&r| r as f64).sum::<f64>() / rms.len().max(1) as f64) as f32;
    rms.iter()
        .map(|&r| {
            let q = (r - mu).abs() as f64;
            q * q.log10()
        })
        .sum()
}

/// Clean `entropy_energy`: Shannon entropy in bits of the frames' share of the total
/// energy, `-sum p_j log2 p_j` with `p_j = rms_j^2 / sum rms^2` (0 for silence).
pub fn energy_entropy_shannon(rms: &[f32]) -> f64 {
    let total: f64 = rms.iter().map(|&r| (r as f64) * (r as f64)).sum();
    if total <= 0.0 {
        return 0.0;
    }
    rms.iter()
        .map(|&r| (r as f64) * (r as f64) / total)
        .filter(|&p| p > 0.0)
        .map(|p| -p * p.log2())
        .sum()
}
