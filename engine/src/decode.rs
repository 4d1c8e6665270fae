//! Streaming decoding of WAV (8/16/24/32-bit int, 32/64-bit float), FLAC, MP3, Ogg Vorbis
//! and AAC in MP4/M4A (symphonia), downmixed to mono.
//!
//! Output: mono `f32` blocks at the file's own sample rate (`channel mean`, like
//! `librosa.load(mono=True)`), one packet at a time, so a file is never held whole.
//!
//! Policy for damaged files: a packet that fails to decode is skipped and counted in the
//! [`DecodeReport`] (so a scratch in the middle of an MP3 costs only that packet); a stream
//! that ends before the length its header declares is marked `truncated`; a stream from
//! which nothing at all decodes is an error. Non-finite samples are not touched here: the
//! front end replaces them (see [`crate::stream`]).

use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CodecType, DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use crate::error::AudioError;

/// What happened while decoding a source, for warnings and reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecodeReport {
    /// Native sample rate, Hz.
    pub sample_rate: u32,
    /// Channels in the file (before downmixing).
    pub channels: usize,
    /// Codec name as symphonia reports it (`pcm_s16le`, `flac`, `mp3`, ...).
    pub codec: String,
    /// Frames (samples per channel) decoded so far.
    pub frames_decoded: u64,
    /// Frames the container header declares, when it does.
    pub frames_declared: Option<u64>,
    /// Packets that failed to decode and were skipped.
    pub packets_skipped: u64,
    /// The stream ended before `frames_declared` (by more than one packet's worth).
    pub truncated: bool,
}

impl DecodeReport {
    /// Decoded duration in seconds.
    pub fn seconds(&self) -> f64 {
        self.frames_decoded as f64 / self.sample_rate.max(1) as f64
    }

    /// Human-readable warnings (empty when the file decoded cleanly).
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.packets_skipped > 0 {
            w.push(format!(
                "{} corrupt packet(s) skipped",
                self.packets_skipped
            ));
        }
        if self.truncated {
            w.push(format!(
                "file is truncated: header declares {} frames, {} decoded ({:.2} s missing)",
                self.frames_declared.unwrap_or(0),
                self.frames_decoded,
                (self.frames_declared.unwrap_or(0)
                    - self.frames_decoded.min(self.frames_declared.unwrap_or(0)))
                    as f64
                    / self.sample_rate.max(1) as f64
            ));
        }
        w
    }
}

/// Frames a decoded stream may fall short of its declared length without being reported
/// as truncated (encoder padding, final partial packets).
const TRUNCATION_SLACK_FRAMES: u64 = 4096;

/// A streaming mono decoder over one audio file or in-memory buffer.
pub struct AudioReader {
    path: PathBuf,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn symphonia::core::codecs::Decoder>,
    track_id: u32,
    report: DecodeReport,
    samples: Option<SampleBuffer<f32>>,
    /// Mono samples decoded while opening (to learn the rate) not yet handed out.
    pending: Vec<f32>,
    finished: bool,
}

impl AudioReader {
    /// Opens a file; the container is recognised from its content, helped by the extension.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AudioError> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|source| AudioError::Open {
            path: path.clone(),
            source,
        })?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(1);
        if len == 0 {
            return Err(AudioError::EmptyFile { path });
        }
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_owned);
        Self::from_source(path, Box::new(file), ext.as_deref())
    }

    /// Decodes an in-memory file (e.g. an embedded demo clip); `name` is used in messages
    /// and its extension as a format hint.
    pub fn from_bytes(name: &str, bytes: &'static [u8]) -> Result<Self, AudioError> {
        let path = PathBuf::from(name);
        if bytes.is_empty() {
            return Err(AudioError::EmptyFile { path });
        }
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_owned);
        Self::from_source(path, Box::new(std::io::Cursor::new(bytes)), ext.as_deref())
    }

    fn from_source(
        path: PathBuf,
        source: Box<dyn MediaSource>,
        ext: Option<&str>,
    ) -> Result<Self, AudioError> {
        let mss = MediaSourceStream::new(source, Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = ext {
            hint.with_extension(ext);
        }
        let probed = symphonia::default::get_probe()
            .format(
                &hint,
                mss,
                &FormatOptions::default(),
                &MetadataOptions::default(),
            )
            .map_err(|e| match e {
                SymphoniaError::IoError(io) if io.kind() == ErrorKind::UnexpectedEof => {
                    AudioError::UnrecognisedFormat {
                        path: path.clone(),
                        detail: "file ends inside its header".into(),
                    }
                }
                other => AudioError::UnrecognisedFormat {
                    path: path.clone(),
                    detail: other.to_string(),
                },
            })?;
        let format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| AudioError::NoAudioTrack { path: path.clone() })?;
        let params = track.codec_params.clone();
        let track_id = track.id;
        let codec = codec_name(params.codec);
        let decoder = symphonia::default::get_codecs()
            .make(&params, &DecoderOptions::default())
            .map_err(|e| AudioError::UnsupportedCodec {
                path: path.clone(),
                detail: format!("{codec}: {e}"),
            })?;
        if let Some(ch) = params.channels {
            if ch.count() == 0 {
                return Err(AudioError::ZeroChannels { path });
            }
        }
        let report = DecodeReport {
            sample_rate: params.sample_rate.unwrap_or(0),
            channels: params.channels.map_or(0, |c| c.count()),
            codec,
            frames_declared: params.n_frames,
            ..Default::default()
        };
        let mut reader = Self {
            path,
            format,
            decoder,
            track_id,
            report,
            samples: None,
            pending: Vec::new(),
            finished: false,
        };
        if reader.report.sample_rate == 0 || reader.report.channels == 0 {
            // Some containers only reveal the stream layout in the first decoded packet.
            let mut first = Vec::new();
            reader.decode_next(&mut first)?;
            reader.pending = first;
            if reader.report.sample_rate == 0 {
                return Err(if reader.finished && reader.report.frames_decoded == 0 {
                    AudioError::NoAudio {
                        path: reader.path,
                        packets_skipped: reader.report.packets_skipped,
                    }
                } else {
                    AudioError::UnknownSampleRate { path: reader.path }
                });
            }
        }
        Ok(reader)
    }

    /// The source's name.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Native sample rate, Hz.
    pub fn sample_rate(&self) -> u32 {
        self.report.sample_rate
    }

    /// What has been decoded so far.
    pub fn report(&self) -> &DecodeReport {
        &self.report
    }

    /// Appends the next decoded block (mono, native rate) to `out`. Returns `Ok(false)` at
    /// the end of the stream, when nothing was appended.
    pub fn next_block(&mut self, out: &mut Vec<f32>) -> Result<bool, AudioError> {
        if !self.pending.is_empty() {
            out.append(&mut self.pending);
            return Ok(true);
        }
        let before = out.len();
        while !self.finished && out.len() == before {
            self.decode_next(out)?;
        }
        Ok(out.len() > before)
    }

    /// Decodes the rest of the stream into one mono buffer.
    pub fn read_to_end(&mut self) -> Result<Vec<f32>, AudioError> {
        let mut all = Vec::new();
        while self.next_block(&mut all)? {}
        Ok(all)
    }

    /// Decodes one packet (or reaches the end), appending mono samples.
    fn decode_next(&mut self, out: &mut Vec<f32>) -> Result<(), AudioError> {
        let packet = match self.format.next_packet() {
            Ok(p) => p,
            Err(SymphoniaError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => {
                return self.end_of_stream();
            }
            Err(SymphoniaError::ResetRequired) => return self.end_of_stream(),
            Err(e) => {
                return Err(AudioError::Read {
                    path: self.path.clone(),
                    frames_decoded: self.report.frames_decoded,
                    detail: e.to_string(),
                })
            }
        };
        if packet.track_id() != self.track_id {
            return Ok(());
        }
        let decoded = match self.decoder.decode(&packet) {
            Ok(d) => d,
            Err(SymphoniaError::DecodeError(_)) | Err(SymphoniaError::IoError(_)) => {
                self.report.packets_skipped += 1;
                return Ok(());
            }
            Err(e) => {
                return Err(AudioError::Read {
                    path: self.path.clone(),
                    frames_decoded: self.report.frames_decoded,
                    detail: e.to_string(),
                })
            }
        };
        let spec = *decoded.spec();
        let channels = spec.channels.count();
        if channels == 0 {
            return Err(AudioError::ZeroChannels {
                path: self.path.clone(),
            });
        }
        if self.report.sample_rate == 0 {
            self.report.sample_rate = spec.rate;
        }
        self.report.channels = channels;
        let frames = decoded.frames();
        if frames == 0 {
            return Ok(());
        }
        let needs_new = self
            .samples
            .as_ref()
            .is_none_or(|b| b.capacity() < frames * channels);
        if needs_new {
            self.samples = Some(SampleBuffer::new(decoded.capacity() as u64, spec));
        }
        let buf = self.samples.as_mut().expect("allocated above");
        buf.copy_interleaved_ref(decoded);
        let interleaved = &buf.samples()[..frames * channels];
        if channels == 1 {
            out.extend_from_slice(interleaved);
        } else {
            let scale = 1.0 / channels as f32;
            out.extend(
                interleaved
                    .chunks_exact(channels)
                    .map(|f| f.iter().sum::<f32>() * scale),
            );
        }
        self.report.frames_decoded += frames as u64;
        Ok(())
    }

    fn end_of_stream(&mut self) -> Result<(), AudioError> {
        self.finished = true;
        if let Some(declared) = self.report.frames_declared {
            self.report.truncated = self.report.frames_decoded + TRUNCATION_SLACK_FRAMES < declared;
        }
        if self.report.frames_decoded == 0 {
            return Err(AudioError::NoAudio {
                path: self.path.clone(),
                packets_skipped: self.report.packets_skipped,
            });
        }
        Ok(())
    }
}

fn codec_name(codec: CodecType) -> String {
    symphonia::default::get_codecs()
        .get_codec(codec)
        .map_or_else(|| format!("{codec}"), |d| d.short_name.to_string())
}

/// Decodes a whole file to mono at its native rate: `(samples, report)`.
pub fn decode_mono(path: impl AsRef<Path>) -> Result<(Vec<f32>, DecodeReport), AudioError> {
    let mut reader = AudioReader::open(path)?;
    let samples = reader.read_to_end()?;
    Ok((samples, reader.report().clone()))
}
