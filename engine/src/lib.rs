//! Chorder's signal path, pure and single-threaded: no threads, no GUI, no plugin code.
//!
//! ```text
//! file ──decode──▶ mono f32 @ native rate ──resample──▶ mono f32 @ 16 kHz
//!      ──frame──▶ STFT frames ──log-mel──▶ [n_mels] every hop ──patch──▶ LogMelPatch
//! ```
//!
//! - [`decode`]: symphonia, streaming, downmix to mono.
//! - [`resample`]: rubato, block-size independent.
//! - [`framer`]: the one sample framer.
//! - [`config`]: [`FrontEndConfig`] with the VGGish and musicnn presets.
//! - [`mel`], [`logmel`]: filter banks and the per-frame log-mel computation.
//! - [`stream`]: the streaming front end (plugin worker and offline alike).
//! - [`offline`]: the same over a whole file.
//! - [`dataset`]: tracks with a popularity target, importers (SpotGenTrack, manifest), splits.
//! - [`corpus`]: a generated corpus of synthetic songs with a known popularity formula.

pub mod config;
pub mod corpus;
pub mod dataset;
pub mod decode;
pub mod error;
pub mod features;
pub mod framer;
pub mod logmel;
pub mod mel;
pub mod npy;
pub mod offline;
pub mod resample;
pub mod stream;

pub use config::FrontEndConfig;
pub use decode::{AudioReader, DecodeReport};
pub use error::{AudioError, FrontEndError};
pub use offline::{logmel_file, logmel_from_reader, LogMelAnalysis};
pub use stream::{FrontEndStream, LogMelPatch, LogMelStream};
