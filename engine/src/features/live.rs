//! [`LiveFeatures`]: the 207 features over an endless stream, in bounded memory.
//!
//! [`super::FeatureStream`] keeps every sample (the CQT needs the song's tuning before its
//! first frame) and per-frame values for the song-wide `top_db` clips: about 230 kB per
//! second at 44.1 kHz, unbounded for a plugin that runs for hours. `LiveFeatures` cuts the
//! stream into **segments** of a fixed number of samples, runs an exact `FeatureStream` on
//! each, and combines the finished segments:
//!
//! - every column that is a mean over frames (`MEL`, `MFCC`, `Spectral_contrast`,
//!   `Chroma`, `Tonnetz`, `ZCR`, bandwidth, roll-offs, the clean centroid) is the
//!   frame-weighted mean of the segments' values;
//! - compat `spectral_centroid` (the song's first frame) is the first segment's value;
//! - compat `entropy_energy` (a *sum* over frames in the original) is the sum of the
//!   segments' sums; the clean (Shannon) entropy is the frame-weighted mean of the
//!   segments' entropies.
//!
//! **Exact** for a song no longer than one segment: then [`LiveFeatures::finish`] returns
//! bit for bit what [`super::extract`] returns. **Approximate** beyond, where the song-wide
//! steps become per-segment: the tuning of the CQT (chroma, tonnetz), the `top_db = 80`
//! clip of MFCC and contrast, the mean RMS inside `entropy_energy` (and, clean, the
//! energy shares between segments), plus frames at segment edges (reflect padding instead
//! of the neighbouring audio). `engine/tests/live_features.rs` measures the difference on
//! real music. The approximation does not drift with length: every segment is treated
//! alike.
//!
//! Memory: one segment's `FeatureStream` (about 230 kB per second of segment at 44.1 kHz,
//! 3.5 MB for the default 15 s) plus 207 running sums, whatever the stream's length.
//!
//! Updates: a new combined vector ([`LiveFeatures::latest`]) after each finished segment,
//! i.e. at fixed input sample counts, so the sequence of vectors does not depend on how
//! the stream was cut into blocks.

use super::streaming::FeatureStream;
use super::{FeatureConfig, FeatureError, FeatureVector, Layout};

/// Default segment length, seconds.
pub const DEFAULT_SEGMENT_SECONDS: f64 = 15.0;

/// Combined statistics of the finished segments.
#[derive(Debug, Clone)]
struct Combined {
    /// `sum_k n_k * v_k` per column, `n_k` the segment's STFT frames.
    weighted: [f64; Layout::COUNT],
    frames: usize,
    /// Sum of the segments' compat `entropy_energy` sums.
    entropy_sum: f64,
    /// The first segment's `spectral_centroid` (compat: the song's first frame).
    first_centroid: f32,
    tuning: f64,
    non_finite: u64,
}

impl Combined {
    fn new() -> Self {
        Self {
            weighted: [0.0; Layout::COUNT],
            frames: 0,
            entropy_sum: 0.0,
            first_centroid: 0.0,
            tuning: 0.0,
            non_finite: 0,
        }
    }

    fn add(&mut self, v: &FeatureVector) {
        if self.frames == 0 {
            self.first_centroid = v.values[Layout::CENTROID];
        }
        let n = v.n_frames as f64;
        for (s, &x) in self.weighted.iter_mut().zip(&v.values) {
            *s += n * x as f64;
        }
        self.entropy_sum += v.values[Layout::ENTROPY] as f64;
        self.frames += v.n_frames;
        self.tuning = v.tuning;
        self.non_finite += v.non_finite_replaced;
    }

    fn vector(&self, compat: bool) -> FeatureVector {
        let n = self.frames.max(1) as f64;
        let mut values = [0.0f32; Layout::COUNT];
        for (o, s) in values.iter_mut().zip(&self.weighted) {
            *o = (s / n) as f32;
        }
        if compat {
            values[Layout::CENTROID] = self.first_centroid;
            values[Layout::ENTROPY] = self.entropy_sum as f32;
        }
        FeatureVector {
            values,
            tuning: self.tuning,
            n_frames: self.frames,
            non_finite_replaced: self.non_finite,
        }
    }
}

/// The 207 features of a stream of any length, in bounded memory (see the module docs).
///
/// Input: mono `f32` at `sample_rate` Hz, in blocks of any size.
pub struct LiveFeatures {
    sr: u32,
    cfg: FeatureConfig,
    segment_len: usize,
    current: FeatureStream,
    in_segment: usize,
    samples_total: u64,
    combined: Combined,
    latest: Option<FeatureVector>,
    updates: u64,
}

impl LiveFeatures {
    /// A stream at `sample_rate` Hz cutting segments of `segment_seconds` (at least one
    /// 2048-sample frame; [`DEFAULT_SEGMENT_SECONDS`] is a good default).
    pub fn new(
        sample_rate: u32,
        cfg: FeatureConfig,
        segment_seconds: f64,
    ) -> Result<Self, FeatureError> {
        let segment_len = ((segment_seconds.max(0.0) * sample_rate as f64).round() as usize)
            .max(super::streaming::MIN_SAMPLES);
        Ok(Self {
            sr: sample_rate,
            cfg,
            segment_len,
            current: FeatureStream::new(sample_rate, cfg)?,
            in_segment: 0,
            samples_total: 0,
            combined: Combined::new(),
            latest: None,
            updates: 0,
        })
    }

    /// Sample rate, Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sr
    }

    /// Samples per segment.
    pub fn segment_len(&self) -> usize {
        self.segment_len
    }

    /// Samples received since the start (or the last reset).
    pub fn samples(&self) -> u64 {
        self.samples_total
    }

    /// Samples held in memory now (never more than [`LiveFeatures::segment_len`]).
    pub fn samples_held(&self) -> usize {
        self.current.samples()
    }

    /// The features of every finished segment combined, or `None` before the first
    /// segment is complete.
    pub fn latest(&self) -> Option<&FeatureVector> {
        self.latest.as_ref()
    }

    /// How many times [`LiveFeatures::latest`] changed (one per finished segment).
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// Input sample count at which [`LiveFeatures::latest`] was last updated (0 before
    /// the first update): a multiple of the segment length.
    pub fn latest_at(&self) -> u64 {
        self.updates * self.segment_len as u64
    }

    /// Appends a block; finishes every segment it completes.
    pub fn push(&mut self, mut block: &[f32]) {
        while !block.is_empty() {
            let take = (self.segment_len - self.in_segment).min(block.len());
            self.current.push(&block[..take]);
            self.in_segment += take;
            self.samples_total += take as u64;
            block = &block[take..];
            if self.in_segment == self.segment_len {
                self.close_segment();
            }
        }
    }

    fn close_segment(&mut self) {
        let fresh = FeatureStream::new(self.sr, self.cfg)
            .expect("the rate was accepted when the stream was made");
        let done = std::mem::replace(&mut self.current, fresh);
        self.in_segment = 0;
        // A full segment has at least MIN_SAMPLES samples, so this cannot fail.
        if let Ok(v) = done.finish() {
            self.combined.add(&v);
            self.latest = Some(self.combined.vector(self.cfg.compat));
            self.updates += 1;
        }
    }

    /// Forgets everything (a new song).
    pub fn reset(&mut self) {
        self.current = FeatureStream::new(self.sr, self.cfg)
            .expect("the rate was accepted when the stream was made");
        self.in_segment = 0;
        self.samples_total = 0;
        self.combined = Combined::new();
        self.latest = None;
        self.updates = 0;
    }

    /// Ends the stream: the partial last segment counts too when it has at least one
    /// analysis frame of samples. Fails like [`FeatureStream::finish`] when the whole
    /// stream is shorter than one frame.
    pub fn finish(mut self) -> Result<FeatureVector, FeatureError> {
        if self.in_segment > 0 {
            match self.current.finish() {
                Ok(v) => self.combined.add(&v),
                Err(e) if self.combined.frames == 0 => return Err(e),
                Err(_) => {} // a sliver after full segments: dropped
            }
        } else if self.combined.frames == 0 {
            return Err(FeatureError::TooShort {
                samples: 0,
                needed: super::streaming::MIN_SAMPLES,
            });
        }
        Ok(self.combined.vector(self.cfg.compat))
    }
}
