//! The streaming front end: audio blocks in, log-mel patches out.
//!
//! - [`LogMelStream`]: mono samples at the front end's rate (16 kHz for the presets) →
//!   log-mel frames (`n_mels` every `hop_length` samples) → patches ([`PatchConfig`]).
//! - [`FrontEndStream`]: mono samples at any host rate → non-finite samples replaced by 0
//!   (and counted) → [`StreamingResampler`] → [`LogMelStream`].
//!
//! Both produce bit-identical output whatever block sizes the input arrives in; calling
//! `finish` at the end of a song flushes the resampler and the end padding of centred
//! frames, exactly as an offline computation over the whole signal would.
//!
//! [`PatchConfig`]: crate::config::PatchConfig

use crate::config::{FrameConvention, FrontEndConfig, PadMode};
use crate::error::FrontEndError;
use crate::framer::Framer;
use crate::logmel::LogMelFrame;
use crate::resample::StreamingResampler;

/// A block of consecutive log-mel frames handed to an embedding model.
#[derive(Debug, Clone, PartialEq)]
pub struct LogMelPatch {
    /// 0-based patch number in the stream.
    pub index: u64,
    /// Frame index (in the whole stream) one past the last frame of the patch.
    pub end_frame: u64,
    /// Frames in this patch (`context_frames`, or fewer during a partial warm-up).
    pub n_frames: usize,
    /// Mel bands per frame.
    pub n_mels: usize,
    /// Row-major `[n_frames][n_mels]` log-mel values.
    pub data: Vec<f32>,
}

impl LogMelPatch {
    /// Frame index of the first frame.
    pub fn start_frame(&self) -> u64 {
        self.end_frame - self.n_frames as u64
    }

    /// Frame `i` of the patch (`n_mels` values).
    pub fn frame(&self, i: usize) -> &[f32] {
        &self.data[i * self.n_mels..(i + 1) * self.n_mels]
    }
}

/// Log-mel frames and patches from mono samples at the front end's own sample rate.
pub struct LogMelStream {
    cfg: FrontEndConfig,
    logmel: LogMelFrame,
    framer: Framer,
    /// Samples of padding at each end (centred frames), else 0.
    pad: usize,
    reflect: bool,
    /// Raw samples held back until the start padding can be built from them.
    head: Vec<f32>,
    started: bool,
    /// The last raw samples, for the end padding.
    tail: Vec<f32>,
    /// Recent frames, `[n][n_mels]`, the first being frame `history_start`.
    history: Vec<f32>,
    history_start: u64,
    frames_total: u64,
    next_patch_end: u64,
    patches_emitted: u64,
    mel: Vec<f32>,
    recorded: Option<Vec<f32>>,
}

impl LogMelStream {
    /// A stream for a validated configuration.
    pub fn new(cfg: &FrontEndConfig) -> Result<Self, FrontEndError> {
        cfg.validate().map_err(FrontEndError::Config)?;
        let reflect = matches!(
            cfg.frames,
            FrameConvention::Librosa {
                pad_mode: PadMode::Reflect,
                ..
            }
        );
        Ok(Self {
            logmel: LogMelFrame::new(cfg),
            framer: Framer::new(cfg.frame_length(), cfg.hop_length),
            pad: cfg.edge_padding(),
            reflect,
            head: Vec::new(),
            started: false,
            tail: Vec::new(),
            history: Vec::new(),
            history_start: 0,
            frames_total: 0,
            next_patch_end: first_patch_end(cfg),
            patches_emitted: 0,
            mel: vec![0.0; cfg.n_mels],
            recorded: None,
            cfg: cfg.clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &FrontEndConfig {
        &self.cfg
    }

    /// Log-mel frames computed so far.
    pub fn frames_total(&self) -> u64 {
        self.frames_total
    }

    /// Keep a copy of every frame computed from now on (for offline export).
    pub fn record_frames(&mut self) {
        self.recorded.get_or_insert_with(Vec::new);
    }

    /// Takes the frames recorded so far, `[n][n_mels]` row-major.
    pub fn take_recorded_frames(&mut self) -> Vec<f32> {
        self.recorded
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Feeds mono samples at `config().sample_rate`; completed patches are appended to `out`.
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<LogMelPatch>) {
        if self.pad > 0 {
            let keep = self.pad + 1;
            self.tail.extend_from_slice(samples);
            if self.tail.len() > 2 * keep + 4096 {
                self.tail.drain(..self.tail.len() - keep);
            }
        }
        if self.started {
            self.feed(samples, out);
            return;
        }
        self.head.extend_from_slice(samples);
        if self.head.len() > self.pad {
            self.start(out);
        }
    }

    /// Ends the song: adds the end padding, emits the last complete patches, and resets the
    /// stream for the next song.
    pub fn finish(&mut self, out: &mut Vec<LogMelPatch>) {
        if !self.started {
            // Too short to reflect: pad with zeros (documented in PadMode::Reflect).
            self.reflect = false;
            self.start(out);
        }
        if self.pad > 0 {
            let n = self.tail.len();
            let end: Vec<f32> = if self.reflect && n > self.pad {
                (0..self.pad).map(|i| self.tail[n - 2 - i]).collect()
            } else {
                vec![0.0; self.pad]
            };
            self.feed(&end, out);
        }
        let recorded = self.recorded.take();
        self.reset();
        self.recorded = recorded;
    }

    /// Forgets everything; the next sample starts a new song.
    pub fn reset(&mut self) {
        self.framer.reset();
        self.reflect = matches!(
            self.cfg.frames,
            FrameConvention::Librosa {
                pad_mode: PadMode::Reflect,
                ..
            }
        );
        self.head.clear();
        self.started = false;
        self.tail.clear();
        self.history.clear();
        self.history_start = 0;
        self.frames_total = 0;
        self.next_patch_end = first_patch_end(&self.cfg);
        self.patches_emitted = 0;
        self.recorded = None;
    }

    fn start(&mut self, out: &mut Vec<LogMelPatch>) {
        self.started = true;
        let head = std::mem::take(&mut self.head);
        if self.pad > 0 {
            let start: Vec<f32> = if self.reflect {
                (0..self.pad).map(|i| head[self.pad - i]).collect()
            } else {
                vec![0.0; self.pad]
            };
            self.feed(&start, out);
        }
        self.feed(&head, out);
    }

    fn feed(&mut self, samples: &[f32], out: &mut Vec<LogMelPatch>) {
        let n_mels = self.cfg.n_mels;
        let Self {
            framer,
            logmel,
            mel,
            history,
            recorded,
            frames_total,
            ..
        } = self;
        framer.push(samples, |frame| {
            logmel.compute(frame, mel);
            history.extend_from_slice(mel);
            if let Some(r) = recorded.as_mut() {
                r.extend_from_slice(mel);
            }
            *frames_total += 1;
        });
        let p = self.cfg.patch;
        while self.frames_total >= self.next_patch_end {
            let end = self.next_patch_end;
            let start = end.saturating_sub(p.context_frames as u64);
            let lo = (start - self.history_start) as usize * n_mels;
            let hi = (end - self.history_start) as usize * n_mels;
            out.push(LogMelPatch {
                index: self.patches_emitted,
                end_frame: end,
                n_frames: (end - start) as usize,
                n_mels,
                data: self.history[lo..hi].to_vec(),
            });
            self.patches_emitted += 1;
            self.next_patch_end += p.hop_frames as u64;
        }
        // Keep only the frames a future patch can still need.
        let needed_from = self
            .next_patch_end
            .saturating_sub(p.context_frames as u64)
            .min(self.frames_total);
        if needed_from > self.history_start {
            let drop = (needed_from - self.history_start) as usize * n_mels;
            if drop >= self.history.len() / 2 {
                self.history.drain(..drop);
                self.history_start = needed_from;
            }
        }
    }
}

fn first_patch_end(cfg: &FrontEndConfig) -> u64 {
    if cfg.patch.partial_warmup {
        cfg.patch.hop_frames as u64
    } else {
        cfg.patch.context_frames as u64
    }
}

/// The whole front end for one input stream at a host sample rate.
pub struct FrontEndStream {
    resampler: StreamingResampler,
    logmel: LogMelStream,
    clean: Vec<f32>,
    resampled: Vec<f32>,
    non_finite: u64,
    samples_in: u64,
}

impl FrontEndStream {
    /// A front end taking mono audio at `input_rate` Hz.
    pub fn new(cfg: &FrontEndConfig, input_rate: u32) -> Result<Self, FrontEndError> {
        Ok(Self {
            resampler: StreamingResampler::new(input_rate, cfg.sample_rate)?,
            logmel: LogMelStream::new(cfg)?,
            clean: Vec::new(),
            resampled: Vec::new(),
            non_finite: 0,
            samples_in: 0,
        })
    }

    /// The log-mel stage (configuration, frame counts, frame recording).
    pub fn logmel(&mut self) -> &mut LogMelStream {
        &mut self.logmel
    }

    /// Input rate, Hz.
    pub fn input_rate(&self) -> u32 {
        self.resampler.in_rate()
    }

    /// Input samples that were NaN or infinite and were replaced by 0.
    pub fn non_finite_replaced(&self) -> u64 {
        self.non_finite
    }

    /// Input samples received since the last reset.
    pub fn samples_in(&self) -> u64 {
        self.samples_in
    }

    /// Feeds a block of mono input; completed patches are appended to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<LogMelPatch>) {
        self.samples_in += input.len() as u64;
        self.clean.clear();
        self.clean.extend(input.iter().map(|&x| {
            if x.is_finite() {
                x
            } else {
                self.non_finite += 1;
                0.0
            }
        }));
        self.resampled.clear();
        self.resampler.push(&self.clean, &mut self.resampled);
        self.logmel.push(&self.resampled, out);
    }

    /// Ends the song (flushes resampler and padding); the stream is then ready for another.
    pub fn finish(&mut self, out: &mut Vec<LogMelPatch>) {
        self.resampled.clear();
        self.resampler.finish(&mut self.resampled);
        self.logmel.push(&self.resampled, out);
        self.logmel.finish(out);
        self.samples_in = 0;
    }

    /// Drops all buffered audio and counters.
    pub fn reset(&mut self) {
        self.resampler.reset();
        self.logmel.reset();
        self.non_finite = 0;
        self.samples_in = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cfg: &FrontEndConfig, x: &[f32], block: usize) -> (Vec<LogMelPatch>, Vec<f32>) {
        let mut s = LogMelStream::new(cfg).unwrap();
        s.record_frames();
        let mut out = Vec::new();
        for b in x.chunks(block) {
            s.push(b, &mut out);
        }
        s.finish(&mut out);
        (out, s.take_recorded_frames())
    }

    fn noise(n: usize) -> Vec<f32> {
        let mut state = 12345u32;
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(1664525).wrapping_add(1013904223);
                (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    }

    #[test]
    fn frame_counts_follow_each_convention() {
        let x = noise(16_000 * 3 + 77);
        let (_, frames) = run(&FrontEndConfig::vggish(), &x, 1000);
        assert_eq!(frames.len() / 64, 1 + (x.len() - 400) / 160);
        let (_, frames) = run(&FrontEndConfig::musicnn(), &x, 1000);
        assert_eq!(frames.len() / 96, 1 + x.len() / 256);
    }

    #[test]
    fn vggish_patches_tile_the_frames() {
        let x = noise(16_000 * 5);
        let (patches, frames) = run(&FrontEndConfig::vggish(), &x, 333);
        let n_frames = frames.len() / 64;
        assert_eq!(patches.len(), n_frames / 96);
        for p in &patches {
            assert_eq!(p.n_frames, 96);
            let s = p.start_frame() as usize * 64;
            assert_eq!(p.data, frames[s..s + 96 * 64]);
        }
    }

    #[test]
    fn musicnn_patches_grow_to_three_seconds_then_slide() {
        let x = noise(16_000 * 8);
        let (patches, frames) = run(&FrontEndConfig::musicnn(), &x, 4096);
        let n_frames = (frames.len() / 96) as u64;
        assert_eq!(patches.len() as u64, n_frames / 60);
        for (k, p) in patches.iter().enumerate() {
            let end = 60 * (k as u64 + 1);
            assert_eq!(p.end_frame, end);
            assert_eq!(p.n_frames as u64, end.min(187));
            let s = p.start_frame() as usize * 96;
            assert_eq!(p.data, frames[s..s + p.n_frames * 96]);
        }
    }

    #[test]
    fn reflect_padding_mirrors_the_signal_edges() {
        // numpy reflect: x[-t] = x[t] and x[L-1+t] = x[L-1-t]; check the first and last
        // frames against frames built by hand from that definition.
        let x = noise(256 * 20 + 100);
        let (_, frames) = run(&FrontEndConfig::musicnn(), &x, 100);
        let n = frames.len() / 96;
        assert_eq!(n, 1 + x.len() / 256);
        let l = x.len() as isize;
        let at = |t: isize| -> f32 {
            let t = if t < 0 {
                -t
            } else if t >= l {
                2 * (l - 1) - t
            } else {
                t
            };
            x[t as usize]
        };
        let mut lm = LogMelFrame::new(&FrontEndConfig::musicnn());
        for frame in [0, n - 1] {
            let centre = frame as isize * 256;
            let manual: Vec<f32> = (0..512).map(|i| at(centre - 256 + i as isize)).collect();
            let mut expect = vec![0.0; 96];
            lm.compute(&manual, &mut expect);
            assert_eq!(
                &frames[frame * 96..(frame + 1) * 96],
                &expect[..],
                "frame {frame}"
            );
        }
    }

    #[test]
    fn non_finite_input_is_replaced_and_counted() {
        let cfg = FrontEndConfig::vggish();
        let mut fe = FrontEndStream::new(&cfg, 16_000).unwrap();
        let mut x = noise(16_000 * 2);
        x[100] = f32::NAN;
        x[5000] = f32::INFINITY;
        x[7000] = f32::NEG_INFINITY;
        let mut out = Vec::new();
        fe.push(&x, &mut out);
        fe.finish(&mut out);
        assert_eq!(fe.non_finite_replaced(), 3);
        assert!(out.iter().all(|p| p.data.iter().all(|v| v.is_finite())));
        let mut y = x.clone();
        for i in [100, 5000, 7000] {
            y[i] = 0.0;
        }
        let mut clean = FrontEndStream::new(&cfg, 16_000).unwrap();
        let mut expect = Vec::new();
        clean.push(&y, &mut expect);
        clean.finish(&mut expect);
        assert_eq!(out, expect);
    }
}
