//! `extract`: every track of a dataset through [`crate::song::analyze_file`] into the
//! [`FeatureCache`], on all cores (one song per worker at a time, so memory stays bounded by
//! `jobs` songs), with a progress bar. Songs already cached are skipped; a song that fails
//! is reported with its reason and the run goes on.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chorder_engine::dataset::Dataset;
use chorder_engine::features::FeatureConfig;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cache::{file_sha256, CachedSong, FeatureCache};
use crate::embedder::Embedder;
use crate::song::analyze_file;

/// What an extraction run did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ExtractReport {
    /// Songs analysed in this run.
    pub computed: usize,
    /// Songs found in the cache.
    pub cached: usize,
    /// Songs that failed: track id, audio path, reason.
    pub failed: Vec<(String, PathBuf, String)>,
}

/// Options of [`extract_dataset`].
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// Worker threads (each analyses one song at a time). With more than one, each worker
    /// runs the embedding network on one thread.
    pub jobs: usize,
    /// Low-level feature setting.
    pub features: FeatureConfig,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

/// Fills the cache for every track of `dataset`; returns per-track cache keys (audio
/// sha256, `None` where the track failed) in track order, and the report.
pub fn extract_dataset(
    dataset: &Dataset,
    cache: &FeatureCache,
    embedder: &Arc<Embedder>,
    opts: &ExtractOptions,
) -> (Vec<Option<String>>, ExtractReport) {
    let n = dataset.tracks.len();
    let bar = if opts.progress {
        let bar = ProgressBar::new(n as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} extract [{bar:30}] {pos}/{len} songs  {per_sec}  ETA {eta}  {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let next = AtomicUsize::new(0);
    let keys = Mutex::new(vec![None; n]);
    let report = Mutex::new(ExtractReport::default());
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let track = &dataset.tracks[i];
                if opts.jobs > 1 {
                    // Songs in parallel fill the cores: each runs its network on one thread.
                    chorder_models::set_thread_gemm_threads(Some(1));
                }
                let outcome = extract_one(&track.audio, cache, embedder, opts.features);
                let mut r = report.lock().unwrap_or_else(|p| p.into_inner());
                match outcome {
                    Ok((key, was_cached)) => {
                        keys.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(key);
                        if was_cached {
                            r.cached += 1;
                        } else {
                            r.computed += 1;
                        }
                    }
                    Err(reason) => {
                        bar.set_message(format!("{} failed", r.failed.len() + 1));
                        r.failed
                            .push((track.id.clone(), track.audio.clone(), reason));
                    }
                }
                drop(r);
                bar.inc(1);
            });
        }
    });
    bar.finish_and_clear();
    (
        keys.into_inner().unwrap_or_else(|p| p.into_inner()),
        report.into_inner().unwrap_or_else(|p| p.into_inner()),
    )
}

/// Analyses one file unless cached; returns its key and whether it was cached.
fn extract_one(
    audio: &std::path::Path,
    cache: &FeatureCache,
    embedder: &Arc<Embedder>,
    features: FeatureConfig,
) -> Result<(String, bool), String> {
    let key = file_sha256(audio).map_err(|e| format!("{}: {e}", audio.display()))?;
    match cache.get(&key) {
        Ok(Some(_)) => return Ok((key, true)),
        Ok(None) => {}
        // A damaged entry is recomputed (and overwritten) rather than trusted.
        Err(_) => {}
    }
    let (_, summary) =
        analyze_file(audio, embedder.clone(), features).map_err(|e| e.to_string())?;
    cache
        .put(&key, &CachedSong::from(&summary))
        .map_err(|e| format!("cannot write cache entry: {e}"))?;
    Ok((key, false))
}
