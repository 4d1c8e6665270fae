//! [`SongAnalyzer`]: one song, streamed. Mono audio blocks at the host or file rate go in;
//! every 0.96 s a window comes out (embedding + tags); at the end, the summary with the
//! 207 low-level features. The plugin's worker and the offline commands run this same code,
//! so for the same audio they compute the same numbers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chorder_engine::features::{FeatureConfig, FeatureError, FeatureStream, FeatureVector};
use chorder_engine::{AudioError, AudioReader, FrontEndError, FrontEndStream, LogMelPatch};

use crate::embedder::{Embedder, WindowEmbedding};

/// Why a song could not be analysed.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error("{}: {source}", path.display())]
    FrontEnd {
        path: PathBuf,
        source: FrontEndError,
    },
    #[error("{}: low-level features: {source}", path.display())]
    Features { path: PathBuf, source: FeatureError },
    #[error("{}: embedding model failed on window {window}: {detail}", path.display())]
    Model {
        path: PathBuf,
        window: u64,
        detail: String,
    },
    #[error("{}: {seconds:.2} s of audio gives no complete 0.96 s window", path.display())]
    TooShort { path: PathBuf, seconds: f64 },
}

/// One analysed window.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// 0-based window number.
    pub index: u64,
    /// End of the window in seconds from the start of the song.
    pub end_seconds: f64,
    /// Frames of context the model saw (shorter for the first windows).
    pub context_frames: usize,
    /// Embedding and tags.
    pub output: WindowEmbedding,
}

/// Everything a song yields.
#[derive(Debug, Clone, PartialEq)]
pub struct SongSummary {
    /// Window embeddings, row-major `[n_windows, dim]`.
    pub embeddings: Vec<f32>,
    /// Embedding size.
    pub dim: usize,
    /// Number of windows.
    pub n_windows: usize,
    /// Mean tag probabilities over the windows, `[n_tags]`.
    pub mean_tags: Vec<f32>,
    /// The 207 SpotGenTrack low-level features.
    pub features: FeatureVector,
    /// Duration of the input, seconds.
    pub seconds: f64,
    /// NaN/Inf input samples replaced by 0.
    pub non_finite_replaced: u64,
}

/// Streams one song through front end, embedding network and feature statistics.
pub struct SongAnalyzer {
    name: PathBuf,
    embedder: Arc<Embedder>,
    front_end: FrontEndStream,
    features: FeatureStream,
    input_rate: u32,
    samples_in: u64,
    patches: Vec<LogMelPatch>,
    embeddings: Vec<f32>,
    tag_sums: Vec<f32>,
    n_windows: usize,
}

impl SongAnalyzer {
    /// An analyzer for mono input at `input_rate` Hz; `name` is used in error messages.
    pub fn new(
        name: impl Into<PathBuf>,
        embedder: Arc<Embedder>,
        input_rate: u32,
        feature_cfg: FeatureConfig,
    ) -> Result<Self, AnalysisError> {
        let name = name.into();
        let front_end =
            FrontEndStream::new(embedder.front_end(), input_rate).map_err(|source| {
                AnalysisError::FrontEnd {
                    path: name.clone(),
                    source,
                }
            })?;
        let features = FeatureStream::new(input_rate, feature_cfg).map_err(|source| {
            AnalysisError::Features {
                path: name.clone(),
                source,
            }
        })?;
        let n_tags = embedder.tag_names().len();
        Ok(Self {
            name,
            embedder,
            front_end,
            features,
            input_rate,
            samples_in: 0,
            patches: Vec::new(),
            embeddings: Vec::new(),
            tag_sums: vec![0.0; n_tags],
            n_windows: 0,
        })
    }

    /// Feeds a block of mono samples; returns the windows it completed.
    pub fn push(&mut self, block: &[f32]) -> Result<Vec<Window>, AnalysisError> {
        self.samples_in += block.len() as u64;
        self.features.push(block);
        self.front_end.push(block, &mut self.patches);
        self.drain_patches()
    }

    /// Ends the song: flushes the front end and returns the last windows and the summary.
    pub fn finish(mut self) -> Result<(Vec<Window>, SongSummary), AnalysisError> {
        self.front_end.finish(&mut self.patches);
        let last = self.drain_patches()?;
        let seconds = self.samples_in as f64 / self.input_rate as f64;
        if self.n_windows == 0 {
            return Err(AnalysisError::TooShort {
                path: self.name,
                seconds,
            });
        }
        let non_finite_replaced = self.front_end.non_finite_replaced();
        let features = self
            .features
            .finish()
            .map_err(|source| AnalysisError::Features {
                path: self.name.clone(),
                source,
            })?;
        let n = self.n_windows as f32;
        Ok((
            last,
            SongSummary {
                dim: self.embedder.dim(),
                embeddings: self.embeddings,
                n_windows: self.n_windows,
                mean_tags: self.tag_sums.iter().map(|s| s / n).collect(),
                features,
                seconds,
                non_finite_replaced,
            },
        ))
    }

    fn drain_patches(&mut self) -> Result<Vec<Window>, AnalysisError> {
        let fe = self.embedder.front_end();
        let seconds_per_frame = fe.hop_length as f64 / fe.sample_rate as f64;
        let mut windows = Vec::with_capacity(self.patches.len());
        for patch in self.patches.drain(..) {
            let output = self
                .embedder
                .embed(&patch)
                .map_err(|e| AnalysisError::Model {
                    path: self.name.clone(),
                    window: patch.index,
                    detail: e.to_string(),
                })?;
            self.embeddings.extend_from_slice(&output.embedding);
            for (s, t) in self.tag_sums.iter_mut().zip(&output.tags) {
                *s += t;
            }
            self.n_windows += 1;
            windows.push(Window {
                index: patch.index,
                end_seconds: patch.end_frame as f64 * seconds_per_frame,
                context_frames: patch.n_frames,
                output,
            });
        }
        Ok(windows)
    }
}

/// Analyses a whole file (streamed packet by packet): all windows and the summary.
pub fn analyze_file(
    path: &Path,
    embedder: Arc<Embedder>,
    feature_cfg: FeatureConfig,
) -> Result<(Vec<Window>, SongSummary), AnalysisError> {
    let mut reader = AudioReader::open(path)?;
    analyze_reader(&mut reader, embedder, feature_cfg)
}

/// [`analyze_file`] on an open reader (a file or an in-memory clip).
pub fn analyze_reader(
    reader: &mut AudioReader,
    embedder: Arc<Embedder>,
    feature_cfg: FeatureConfig,
) -> Result<(Vec<Window>, SongSummary), AnalysisError> {
    let mut song = SongAnalyzer::new(reader.path(), embedder, reader.sample_rate(), feature_cfg)?;
    let mut windows = Vec::new();
    let mut block = Vec::new();
    loop {
        block.clear();
        if !reader.next_block(&mut block)? {
            break;
        }
        windows.extend(song.push(&block)?);
    }
    let (last, summary) = song.finish()?;
    windows.extend(last);
    Ok((windows, summary))
}
