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
//! - [`live`]: the running low-level features the tracker uses while a song plays
//!   (bounded memory; plugin and offline alike).
//! - [`offline`]: one song's `analyze` record (schema [`offline::SCHEMA`]).
//! - [`catalog`]: many songs into an append-only results file, resumable by content hash.
//! - [`shard`]: deterministic slices of a catalog (`--shard i/n`).
//! - [`percentile`]: an estimate's percentile within an earlier catalog.
//! - [`explain`]: time ranges that raised or lowered the running estimate.
//! - [`uncertainty`]: split-conformal intervals around estimates.

pub mod cache;
pub mod catalog;
pub mod embedder;
pub mod explain;
pub mod extract;
pub mod live;
pub mod offline;
pub mod percentile;
pub mod popularity;
pub mod shard;
mod shared;
pub mod song;
pub mod uncertainty;

pub use cache::{CachedSong, FeatureCache};
pub use embedder::{Embedder, WindowEmbedding};
pub use popularity::{Estimate, PopularityHead, PopularityTracker};
pub use song::{AnalysisError, SongAnalyzer, SongSummary};
