//! Catalog runs: many songs analysed on all cores into an append-only results file that
//! makes an interrupted run resumable.
//!
//! Results are keyed by the sha256 of each file's bytes and appended, one JSON
//! [`SongResult`] per line, to `results.jsonl` in the output folder as soon as a song is
//! done (one `write` per line, under a lock). A re-run reads that file first and skips every
//! song whose content hash is already there, so a run killed at any point loses at most the
//! songs in flight and never records a song twice: a torn last line (the process died while
//! writing it) is cut off before appending, and a hash is appended only when absent.
//! Songs that fail are reported with their reason and retried on the next run. Each worker
//! holds one song at a time, so memory stays bounded by `jobs` songs plus the results.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

use crate::cache::file_sha256;
use crate::offline::SongResult;

/// Name of the append-only results file inside the output folder.
pub const RESULTS_FILE: &str = "results.jsonl";

/// Options of [`run_catalog`].
#[derive(Debug, Default)]
pub struct CatalogOptions<'a> {
    /// Worker threads (each analyses one song at a time); 0 counts as 1. With more than one,
    /// each worker runs the embedding network on one thread.
    pub jobs: usize,
    /// Show a progress bar (songs/s, ETA) on stderr.
    pub progress: bool,
    /// When set, workers take no new song (songs in flight still finish and are recorded).
    pub cancel: Option<&'a AtomicBool>,
}

/// What a catalog run produced.
#[derive(Debug, Default)]
pub struct CatalogRun {
    /// One entry per input, in input order: the result (its `file` is the input's path,
    /// `sha256` set), or the reason it failed. `None` for inputs skipped after a cancel.
    pub outcomes: Vec<(PathBuf, Option<Result<SongResult, String>>)>,
    /// Songs analysed in this run.
    pub computed: usize,
    /// Songs found in the results of an earlier run.
    pub resumed: usize,
}

impl CatalogRun {
    /// The successful results, in input order.
    pub fn results(&self) -> impl Iterator<Item = &SongResult> {
        self.outcomes
            .iter()
            .filter_map(|(_, o)| o.as_ref().and_then(|r| r.as_ref().ok()))
    }

    /// The failures (input path, reason), in input order.
    pub fn errors(&self) -> impl Iterator<Item = (&Path, &str)> {
        self.outcomes.iter().filter_map(|(p, o)| match o {
            Some(Err(e)) => Some((p.as_path(), e.as_str())),
            _ => None,
        })
    }
}

/// Reads the complete records of `dir/results.jsonl` (keyed by sha256). Returns them and
/// the byte length of the valid prefix (everything up to the last complete, parseable line).
pub fn read_results(dir: &Path) -> io::Result<(HashMap<String, SongResult>, u64)> {
    let mut text = Vec::new();
    match File::open(dir.join(RESULTS_FILE)) {
        Ok(mut f) => {
            f.read_to_end(&mut text)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((HashMap::new(), 0)),
        Err(e) => return Err(e),
    }
    let mut map = HashMap::new();
    let mut valid = 0usize;
    let mut start = 0usize;
    while let Some(nl) = text[start..].iter().position(|&b| b == b'\n') {
        let line = &text[start..start + nl];
        match serde_json::from_slice::<SongResult>(line) {
            Ok(r) => {
                if let Some(h) = r.sha256.clone() {
                    map.entry(h).or_insert(r);
                }
            }
            // A damaged line in the middle: stop trusting the file from here on.
            Err(_) => break,
        }
        start += nl + 1;
        valid = start;
    }
    Ok((map, valid as u64))
}

/// Analyses every input with `analyze` on `opts.jobs` threads, appending each new result to
/// `out_dir/results.jsonl` and skipping inputs whose content hash is already recorded there
/// (without `out_dir`, nothing is written and nothing resumed).
/// `analyze` gets the input path and returns its result (or a reason); the catalog sets
/// `file` and `sha256`. Fails only when the results file cannot be read or written.
pub fn run_catalog<F>(
    inputs: &[PathBuf],
    out_dir: Option<&Path>,
    opts: &CatalogOptions,
    analyze: F,
) -> io::Result<CatalogRun>
where
    F: Fn(&Path) -> Result<SongResult, String> + Sync,
{
    let (file, done) = match out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            let (done, valid_len) = read_results(dir)?;
            let mut file = OpenOptions::new()
                .create(true)
                .read(true)
                .write(true)
                .truncate(false)
                .open(dir.join(RESULTS_FILE))?;
            // Cut off a torn or damaged tail, then append after the valid records.
            file.set_len(valid_len)?;
            file.seek(io::SeekFrom::End(0))?;
            (Some(file), done)
        }
        None => (None, HashMap::new()),
    };
    let writer = Mutex::new((file, done));

    let bar = if opts.progress {
        let bar = ProgressBar::new(inputs.len() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} analyze [{bar:30}] {pos}/{len} songs  {per_sec}  ETA {eta}  {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let slots: Mutex<Vec<Option<Result<SongResult, String>>>> =
        Mutex::new(vec![None; inputs.len()]);
    let (computed, resumed, failed) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let io_error: Mutex<Option<io::Error>> = Mutex::new(None);
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.max(1).min(inputs.len().max(1)) {
            s.spawn(|| loop {
                if opts.cancel.is_some_and(|c| c.load(Ordering::SeqCst)) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= inputs.len() {
                    break;
                }
                let path = &inputs[i];
                if opts.jobs > 1 {
                    // Songs in parallel fill the cores: each runs its network on one thread
                    // (threaded small products on a shared pool cost more than they gain).
                    chorder_models::set_thread_gemm_threads(Some(1));
                }
                let outcome = (|| {
                    let hash = file_sha256(path).map_err(|e| format!("{}: {e}", path.display()))?;
                    let known = {
                        let w = writer.lock().unwrap_or_else(|p| p.into_inner());
                        w.1.get(&hash).cloned()
                    };
                    if let Some(mut r) = known {
                        resumed.fetch_add(1, Ordering::Relaxed);
                        r.file = path.display().to_string();
                        return Ok(r);
                    }
                    let mut r = analyze(path)?;
                    r.file = path.display().to_string();
                    r.sha256 = Some(hash.clone());
                    let mut line = serde_json::to_vec(&r).map_err(|e| e.to_string())?;
                    line.push(b'\n');
                    let mut w = writer.lock().unwrap_or_else(|p| p.into_inner());
                    if !w.1.contains_key(&hash) {
                        // One write call per record: a kill leaves at most a torn last line.
                        let written = match w.0.as_mut() {
                            Some(f) => f.write_all(&line).and_then(|()| f.flush()),
                            None => Ok(()),
                        };
                        if let Err(e) = written {
                            let msg = format!("cannot append to {RESULTS_FILE}: {e}");
                            io_error
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .get_or_insert(e);
                            return Err(msg);
                        }
                        w.1.insert(hash, r.clone());
                    }
                    computed.fetch_add(1, Ordering::Relaxed);
                    Ok(r)
                })();
                if outcome.is_err() {
                    let n = failed.fetch_add(1, Ordering::Relaxed) + 1;
                    bar.set_message(format!("{n} failed"));
                }
                slots.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(outcome);
                bar.inc(1);
            });
        }
    });
    bar.finish_and_clear();
    if let Some(e) = io_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let slots = slots.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok(CatalogRun {
        outcomes: inputs.iter().cloned().zip(slots).collect(),
        computed: computed.into_inner(),
        resumed: resumed.into_inner(),
    })
}
