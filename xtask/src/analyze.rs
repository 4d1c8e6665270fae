//! `cargo xtask analyze`: popularity estimates of songs, folders or manifests, with the
//! per-window timeline the plugin would show and the top music tags of each song.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context};
use chorder_analysis::song::SongAnalyzer;
use chorder_analysis::{Embedder, PopularityHead, PopularityTracker};
use chorder_engine::features::FeatureConfig;
use chorder_engine::AudioReader;
use chorder_models::bundle::ModelBundle;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::demo;
use crate::models::{load_embedding_bundle, load_popularity_bundle};

/// Version of the JSON output; bumped on any incompatible change.
pub const SCHEMA: &str = "chorder.analysis/1";

/// Output format of the results.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// A table for people.
    Table,
    /// One JSON document (schema `chorder.analysis/1`).
    Json,
    /// One CSV row per song.
    Csv,
}

/// Estimate the popularity of songs from their audio (0-100), with a per-window timeline.
///
/// INPUT is an audio file, a folder (searched recursively for audio files) or a CSV manifest
/// with a `path` column. Without INPUT the built-in demo clip is analysed. Each song runs
/// through exactly the computation of the plugin: 0.96 s windows, the embedding network, the
/// stateful sequence encoder; the overall estimate uses the song's full low-level features.
/// Exit status: 0 when every song was analysed, 2 when some failed (listed), 1 on fatal errors.
#[derive(clap::Args)]
pub struct Args {
    /// Audio file, folder or manifest.csv (default: the built-in demo clip).
    pub input: Option<PathBuf>,
    /// Popularity model bundle (.safetensors) written by `cargo xtask train`; default: the
    /// built-in demo model (trained on the generated corpus: a demonstration only).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Run without a popularity model (only what the embedding model hears: tags).
    #[arg(long, conflicts_with = "model")]
    pub no_model: bool,
    /// Embedding model bundle (default: the built-in MSD musicnn).
    #[arg(long)]
    pub embedding: Option<PathBuf>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Also write results.json and results.csv into this folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Worker threads for catalogs (default: all cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Number of tags to report per song.
    #[arg(long, default_value_t = 5)]
    pub top_tags: usize,
}

/// One point of a song's timeline.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TimelinePoint {
    /// End of the window, seconds.
    pub t: f64,
    /// Estimate from this window alone, 0-100 (absent without a popularity model).
    pub momentary: Option<f32>,
    /// Estimate from the song so far, 0-100.
    pub integrated: Option<f32>,
}

/// The result for one song.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SongResult {
    pub file: String,
    pub seconds: f64,
    pub windows: usize,
    /// Overall estimate 0-100 (whole song, its full features); absent without a model.
    pub estimate: Option<f32>,
    pub top_tags: Vec<(String, f32)>,
    pub timeline: Vec<TimelinePoint>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Report<'a> {
    schema: &'static str,
    embedding_model: &'a str,
    popularity_model: Option<&'a str>,
    demo_model: bool,
    songs: &'a [SongResult],
    errors: &'a [(String, String)],
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let embedder = Embedder::shared(load_embedding_bundle(args.embedding.as_deref())?)?;
    let head = if args.no_model {
        None
    } else {
        let what = args.model.as_ref().map_or_else(
            || "the built-in demo model".to_string(),
            |p| p.display().to_string(),
        );
        let head = PopularityHead::shared(load_popularity_bundle(args.model.as_deref())?)
            .with_context(|| format!("{what} is not a popularity model"))?;
        if head.bundle().meta().front_end != *embedder.front_end() {
            bail!("{what} was trained on windows of another front end than the embedding model's");
        }
        Some(head)
    };
    let inputs = collect_inputs(args.input.as_deref())?;
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let (songs, errors) = analyze_all(&inputs, &embedder, head.as_ref(), jobs, args.top_tags);

    let report = Report {
        schema: SCHEMA,
        embedding_model: embedder.id(),
        popularity_model: head.as_ref().map(|h| h.id()),
        demo_model: head.as_ref().is_some_and(|h| is_demo(h.bundle())),
        songs: &songs,
        errors: &errors,
    };
    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Table => write_table(&mut stdout, &report)?,
        Format::Json => writeln!(stdout, "{}", serde_json::to_string_pretty(&report)?)?,
        Format::Csv => write_csv(&mut stdout, &songs)?,
    }
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::write(
            dir.join("results.json"),
            serde_json::to_string_pretty(&report)?,
        )?;
        let mut f = std::fs::File::create(dir.join("results.csv"))?;
        write_csv(&mut f, &songs)?;
        eprintln!("wrote {0}/results.json and {0}/results.csv", dir.display());
    }
    if !errors.is_empty() {
        drop(stdout);
        std::process::exit(if songs.is_empty() { 1 } else { 2 });
    }
    Ok(())
}

/// Whether a bundle says it is a demonstration model (trained on the generated corpus).
pub fn is_demo(bundle: &ModelBundle) -> bool {
    let p = &bundle.meta().provenance;
    p.source.contains("demo") || p.source.contains("generated corpus")
}

/// Audio sources named by the input: the demo clip, a file, a folder's audio files (sorted),
/// or a manifest's `path` column (relative to the manifest).
fn collect_inputs(input: Option<&Path>) -> anyhow::Result<Vec<Option<PathBuf>>> {
    let Some(input) = input else {
        return Ok(vec![None]);
    };
    if input.is_dir() {
        let mut files = Vec::new();
        walk(input, &mut files)?;
        files.sort();
        if files.is_empty() {
            bail!(
                "{}: no audio files (wav, flac, mp3, ogg, m4a, aac) found",
                input.display()
            );
        }
        return Ok(files.into_iter().map(Some).collect());
    }
    if input
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        let mut rdr = csv::Reader::from_path(input)
            .with_context(|| format!("cannot read {}", input.display()))?;
        let col = rdr
            .headers()?
            .iter()
            .position(|h| h == "path")
            .with_context(|| format!("{}: no `path` column", input.display()))?;
        let base = input.parent().unwrap_or(Path::new("."));
        let mut out = Vec::new();
        for row in rdr.records() {
            let row = row.with_context(|| format!("{}: malformed row", input.display()))?;
            out.push(Some(base.join(row.get(col).unwrap_or_default())));
        }
        return Ok(out);
    }
    Ok(vec![Some(input.to_path_buf())])
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
            ["wav", "flac", "mp3", "ogg", "m4a", "aac", "aif", "aiff"]
                .contains(&e.to_ascii_lowercase().as_str())
        }) {
            out.push(path);
        }
    }
    Ok(())
}

/// Analyses every input on `jobs` threads (one song per thread at a time); results and
/// errors come back in input order.
fn analyze_all(
    inputs: &[Option<PathBuf>],
    embedder: &Arc<Embedder>,
    head: Option<&Arc<PopularityHead>>,
    jobs: usize,
    top_tags: usize,
) -> (Vec<SongResult>, Vec<(String, String)>) {
    let bar = if inputs.len() > 1 {
        let bar = ProgressBar::new(inputs.len() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} analyze [{bar:30}] {pos}/{len} songs  {per_sec}  ETA {eta}",
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
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1).min(inputs.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= inputs.len() {
                    break;
                }
                let r = analyze_one(inputs[i].as_deref(), embedder, head, top_tags);
                slots.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r);
                bar.inc(1);
            });
        }
    });
    bar.finish_and_clear();
    let mut songs = Vec::new();
    let mut errors = Vec::new();
    for (input, slot) in inputs
        .iter()
        .zip(slots.into_inner().unwrap_or_else(|p| p.into_inner()))
    {
        match slot.expect("every input was processed") {
            Ok(song) => songs.push(song),
            Err(e) => errors.push((display_name(input.as_deref()), e)),
        }
    }
    (songs, errors)
}

fn display_name(input: Option<&Path>) -> String {
    input.map_or_else(|| demo::DEMO_NAME.to_string(), |p| p.display().to_string())
}

/// One song: stream it through the analyzer and the tracker, exactly as the plugin does.
pub fn analyze_one(
    input: Option<&Path>,
    embedder: &Arc<Embedder>,
    head: Option<&Arc<PopularityHead>>,
    top_tags: usize,
) -> Result<SongResult, String> {
    let mut reader = match input {
        Some(p) => AudioReader::open(p),
        None => demo::demo_reader(),
    }
    .map_err(|e| e.to_string())?;
    let mut song = SongAnalyzer::new(
        reader.path(),
        embedder.clone(),
        reader.sample_rate(),
        FeatureConfig::default(),
    )
    .map_err(|e| e.to_string())?;
    let mut tracker = head
        .map(|h| PopularityTracker::new(h.clone()))
        .transpose()?;
    let mut timeline = Vec::new();
    let mut block = Vec::new();
    let mut on_windows = |windows: Vec<chorder_analysis::song::Window>,
                          tracker: &mut Option<PopularityTracker>|
     -> Result<(), String> {
        for w in windows {
            let (momentary, integrated) = match tracker.as_mut() {
                Some(t) => {
                    let e = t.step(&w.output.embedding)?;
                    (Some(e.momentary), Some(e.integrated))
                }
                None => (None, None),
            };
            timeline.push(TimelinePoint {
                t: w.end_seconds,
                momentary,
                integrated,
            });
        }
        Ok(())
    };
    loop {
        block.clear();
        if !reader.next_block(&mut block).map_err(|e| e.to_string())? {
            break;
        }
        on_windows(song.push(&block).map_err(|e| e.to_string())?, &mut tracker)?;
    }
    let (last, summary) = song.finish().map_err(|e| e.to_string())?;
    on_windows(last, &mut tracker)?;
    let estimate = match tracker.as_mut() {
        Some(t) => {
            t.set_features(&summary.features.values)?;
            t.current()?
        }
        None => None,
    };
    let mut order: Vec<usize> = (0..summary.mean_tags.len()).collect();
    order.sort_by(|&a, &b| summary.mean_tags[b].total_cmp(&summary.mean_tags[a]));
    let names = embedder.tag_names();
    let mut warnings = reader.report().warnings();
    if summary.non_finite_replaced > 0 {
        warnings.push(format!(
            "{} NaN/Inf samples replaced by 0",
            summary.non_finite_replaced
        ));
    }
    Ok(SongResult {
        file: display_name(input),
        seconds: summary.seconds,
        windows: summary.n_windows,
        estimate,
        top_tags: order
            .iter()
            .take(top_tags)
            .map(|&i| {
                (
                    names.get(i).cloned().unwrap_or_else(|| format!("tag{i}")),
                    summary.mean_tags[i],
                )
            })
            .collect(),
        timeline,
        warnings,
    })
}

fn fmt_estimate(e: Option<f32>) -> String {
    e.map_or_else(|| "n/a".into(), |v| format!("{v:.1}"))
}

fn write_table(out: &mut impl Write, r: &Report) -> anyhow::Result<()> {
    match r.popularity_model {
        Some(m) => writeln!(
            out,
            "popularity model: {m}{}",
            if r.demo_model {
                " (DEMO: trained on the generated corpus, not a predictor of real popularity)"
            } else {
                ""
            }
        )?,
        None => writeln!(
            out,
            "popularity model: none (--no-model); showing what the embedding model hears"
        )?,
    }
    writeln!(out, "embedding model: {}\n", r.embedding_model)?;
    writeln!(
        out,
        "| song | seconds | windows | estimate (0-100) | top tags |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---|")?;
    for s in r.songs {
        let tags: Vec<String> = s
            .top_tags
            .iter()
            .map(|(n, p)| format!("{n} {p:.2}"))
            .collect();
        writeln!(
            out,
            "| {} | {:.1} | {} | {} | {} |",
            s.file,
            s.seconds,
            s.windows,
            fmt_estimate(s.estimate),
            tags.join(", ")
        )?;
        for w in &s.warnings {
            writeln!(out, "|   warning: {w} | | | | |")?;
        }
    }
    if r.songs.len() == 1 && r.popularity_model.is_some() {
        writeln!(
            out,
            "\ntimeline of {}: t (s) momentary integrated",
            r.songs[0].file
        )?;
        for p in &r.songs[0].timeline {
            writeln!(
                out,
                "  {:7.2} {:>6} {:>6}",
                p.t,
                fmt_estimate(p.momentary),
                fmt_estimate(p.integrated)
            )?;
        }
    }
    if !r.errors.is_empty() {
        writeln!(
            out,
            "\n{} song(s) failed:\n| song | error |\n|---|---|",
            r.errors.len()
        )?;
        for (f, e) in r.errors {
            writeln!(out, "| {f} | {e} |")?;
        }
    }
    Ok(())
}

fn write_csv(out: &mut impl Write, songs: &[SongResult]) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(["file", "seconds", "windows", "estimate", "top_tags"])?;
    for s in songs {
        let tags: Vec<String> = s
            .top_tags
            .iter()
            .map(|(n, p)| format!("{n}:{p:.3}"))
            .collect();
        w.write_record([
            s.file.clone(),
            format!("{:.3}", s.seconds),
            s.windows.to_string(),
            s.estimate.map_or_else(String::new, |e| format!("{e:.3}")),
            tags.join(";"),
        ])?;
    }
    w.flush()?;
    Ok(())
}
