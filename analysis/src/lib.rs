//! Song analysis, the one path from audio to what the popularity models consume:
//!
//! ```text
//! mono f32 @ any rate ─FrontEndStream─▶ LogMelPatch every 0.96 s ─Embedder─▶ [200] + tags
//!                     └FeatureStream──▶ 207 low-level features at the end of the song
//! ```
//!
//! - [`embedder`]: the embedding network of a model bundle, shared per process.
//! - [`song`]: [`SongAnalyzer`], streaming one song window by window (plugin and offline).
//! - [`cache`]: per-song results on disk, keyed by audio content and model.
//! - [`extract`]: a whole dataset into the cache, in parallel, resumable.

pub mod cache;
pub mod embedder;
pub mod extract;
pub mod popularity;
mod shared;
pub mod song;

pub use cache::{CachedSong, FeatureCache};
pub use embedder::{Embedder, WindowEmbedding};
pub use popularity::{Estimate, PopularityHead, PopularityTracker};
pub use song::{AnalysisError, SongAnalyzer, SongSummary};
