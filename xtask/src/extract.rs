//! `cargo xtask extract`: window embeddings, tags and the 207 low-level features of every
//! song of a dataset, into the feature cache that training reads.

use std::path::PathBuf;

use anyhow::Context;
use chorder_analysis::extract::{extract_dataset, ExtractOptions};
use chorder_analysis::{Embedder, FeatureCache};
use chorder_engine::dataset::Dataset;
use chorder_engine::features::FeatureConfig;

use crate::models::load_embedding_bundle;

/// Compute embeddings and features for every song of a dataset (resumable).
///
/// Songs are analysed in parallel, one per worker, and stored in the cache keyed by the
/// audio's sha256 and the embedding model, so re-runs and interrupted runs skip what is done.
/// Failures are listed with their reason; the exit status is non-zero if any song failed.
#[derive(clap::Args)]
pub struct Args {
    /// The dataset file written by `cargo xtask import` or `gen-corpus` (dataset.json).
    #[arg(long)]
    pub dataset: PathBuf,
    /// Embedding model bundle (.safetensors); default: the built-in MSD musicnn.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Cache folder (default: `cache/` next to the dataset file).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Use the clean feature definitions instead of the original extractor's quirks.
    #[arg(long)]
    pub clean_features: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let dataset = Dataset::load(&args.dataset)
        .with_context(|| format!("cannot load dataset {}", args.dataset.display()))?;
    let embedder = Embedder::shared(load_embedding_bundle(args.model.as_deref())?)?;
    let cache_root = args
        .cache
        .clone()
        .unwrap_or_else(|| default_cache_root(&args.dataset));
    let cache = FeatureCache::new(&cache_root, embedder.id(), !args.clean_features);
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    println!(
        "extract: {} songs with {} on {jobs} thread(s) into {}",
        dataset.tracks.len(),
        embedder.id(),
        cache.dir().display()
    );
    let opts = ExtractOptions {
        jobs,
        features: FeatureConfig {
            compat: !args.clean_features,
        },
        progress: true,
    };
    let (_, report) = extract_dataset(&dataset, &cache, &embedder, &opts);
    println!(
        "{} computed, {} already cached, {} failed",
        report.computed,
        report.cached,
        report.failed.len()
    );
    if !report.failed.is_empty() {
        println!("\n| track | file | reason |\n|---|---|---|");
        for (id, path, reason) in &report.failed {
            println!("| {id} | {} | {reason} |", path.display());
        }
        anyhow::bail!("{} song(s) failed", report.failed.len());
    }
    Ok(())
}

/// `cache/` beside the dataset file.
pub fn default_cache_root(dataset: &std::path::Path) -> PathBuf {
    dataset
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("cache")
}
