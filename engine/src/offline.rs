//! Whole-file front end: decode → [`FrontEndStream`] → patches, streaming the file packet
//! by packet. The same code path the plugin's worker uses, run to the end of a file.

use std::path::Path;

use crate::config::FrontEndConfig;
use crate::decode::{AudioReader, DecodeReport};
use crate::error::AudioError;
use crate::stream::{FrontEndStream, LogMelPatch};

/// Log-mel output for one song.
#[derive(Debug, Clone)]
pub struct LogMelAnalysis {
    /// Patches in stream order.
    pub patches: Vec<LogMelPatch>,
    /// Every log-mel frame, `[n_frames][n_mels]` row-major.
    pub frames: Vec<f32>,
    /// Mel bands per frame.
    pub n_mels: usize,
    /// How decoding went (rate, channels, skipped packets, truncation).
    pub decode: DecodeReport,
    /// Input samples that were NaN/Inf and were replaced by 0.
    pub non_finite_replaced: u64,
}

impl LogMelAnalysis {
    /// Number of log-mel frames.
    pub fn n_frames(&self) -> usize {
        self.frames.len() / self.n_mels
    }
}

/// Runs the front end over a whole source. Errors: anything [`AudioReader`] reports, or
/// [`AudioError::TooShort`] when the audio does not fill one patch.
pub fn logmel_from_reader(
    reader: &mut AudioReader,
    cfg: &FrontEndConfig,
) -> Result<LogMelAnalysis, AudioError> {
    let path = reader.path().to_path_buf();
    let mut stream =
        FrontEndStream::new(cfg, reader.sample_rate()).map_err(|source| AudioError::FrontEnd {
            path: path.clone(),
            source,
        })?;
    stream.logmel().record_frames();
    let mut patches = Vec::new();
    let mut block = Vec::new();
    loop {
        block.clear();
        if !reader.next_block(&mut block)? {
            break;
        }
        stream.push(&block, &mut patches);
    }
    stream.finish(&mut patches);
    let frames = stream.logmel().take_recorded_frames();
    let decode = reader.report().clone();
    if patches.is_empty() {
        let p = cfg.patch;
        let first = if p.partial_warmup {
            p.hop_frames
        } else {
            p.context_frames
        };
        let needed_seconds = ((first - 1) * cfg.hop_length + cfg.frame_length()
            - 2 * cfg.edge_padding()) as f64
            / cfg.sample_rate as f64;
        return Err(AudioError::TooShort {
            path,
            seconds: decode.seconds(),
            needed_seconds,
        });
    }
    Ok(LogMelAnalysis {
        patches,
        frames,
        n_mels: cfg.n_mels,
        non_finite_replaced: stream.non_finite_replaced(),
        decode,
    })
}

/// [`logmel_from_reader`] on a file path.
pub fn logmel_file(
    path: impl AsRef<Path>,
    cfg: &FrontEndConfig,
) -> Result<LogMelAnalysis, AudioError> {
    let mut reader = AudioReader::open(path)?;
    logmel_from_reader(&mut reader, cfg)
}
