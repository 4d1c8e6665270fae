//! Typed errors of the signal path. Every audio error names the file (or in-memory source)
//! it concerns and says what is wrong in words a user can act on.

use std::path::PathBuf;

/// A problem with an audio source: opening, recognising or decoding it.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("{}: cannot open: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: file is empty (0 bytes)", path.display())]
    EmptyFile { path: PathBuf },
    #[error("{}: not a recognised audio file ({detail})", path.display())]
    UnrecognisedFormat { path: PathBuf, detail: String },
    #[error("{}: contains no audio track", path.display())]
    NoAudioTrack { path: PathBuf },
    #[error("{}: unsupported codec: {detail}", path.display())]
    UnsupportedCodec { path: PathBuf, detail: String },
    #[error("{}: audio stream declares zero channels", path.display())]
    ZeroChannels { path: PathBuf },
    #[error("{}: audio stream has no sample rate", path.display())]
    UnknownSampleRate { path: PathBuf },
    #[error("{}: read failed after {frames_decoded} frames: {detail}", path.display())]
    Read {
        path: PathBuf,
        frames_decoded: u64,
        detail: String,
    },
    #[error("{}: no audio could be decoded ({packets_skipped} corrupt packets skipped)", path.display())]
    NoAudio { path: PathBuf, packets_skipped: u64 },
    #[error(
        "{}: {seconds:.3} s of audio is shorter than one analysis window ({needed_seconds:.3} s)",
        path.display()
    )]
    TooShort {
        path: PathBuf,
        seconds: f64,
        needed_seconds: f64,
    },
    #[error("{}: {source}", path.display())]
    FrontEnd {
        path: PathBuf,
        source: FrontEndError,
    },
}

impl AudioError {
    /// The file or source name the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            AudioError::Open { path, .. }
            | AudioError::EmptyFile { path }
            | AudioError::UnrecognisedFormat { path, .. }
            | AudioError::NoAudioTrack { path }
            | AudioError::UnsupportedCodec { path, .. }
            | AudioError::ZeroChannels { path }
            | AudioError::UnknownSampleRate { path }
            | AudioError::Read { path, .. }
            | AudioError::NoAudio { path, .. }
            | AudioError::TooShort { path, .. }
            | AudioError::FrontEnd { path, .. } => path,
        }
    }
}

/// A front end that cannot be built as configured.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FrontEndError {
    #[error("invalid front-end configuration: {0}")]
    Config(String),
    #[error("cannot resample {in_rate} Hz to {out_rate} Hz: rates must be positive")]
    SampleRate { in_rate: u32, out_rate: u32 },
    #[error("cannot build resampler: {0}")]
    Resampler(String),
}
