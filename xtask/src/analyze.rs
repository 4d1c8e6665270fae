//! `cargo xtask analyze`: popularity estimates of songs, folders or manifests, with the
//! per-window timeline the plugin would show and the top music tags of each song.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use chorder_analysis::catalog::{run_catalog, CatalogOptions, CatalogRun};
pub use chorder_analysis::offline::{analyze_song, SongResult, SCHEMA};
use chorder_analysis::percentile::Reference;
use chorder_analysis::shard::Shard;
use chorder_analysis::uncertainty::Calibration;
use chorder_analysis::{Embedder, PopularityHead};
use chorder_engine::AudioReader;
use chorder_models::bundle::ModelBundle;
use serde::Serialize;

use crate::demo;
use crate::models::{load_embedding_bundle, load_popularity_bundle};

mod output;
mod parquet;
mod plot;

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
    /// Write results into this folder: results.jsonl (appended song by song, keyed by
    /// content hash; a re-run skips songs already there), results.json, results.csv and
    /// errors.csv.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Only the slice i/n (0-based) of the inputs, ranked by path: for batch schedulers.
    #[arg(long)]
    pub shard: Option<Shard>,
    /// Results of an earlier catalog run (its --out folder or results.jsonl): report each
    /// song's estimate as a percentile of that catalog.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Draw a PNG: the timeline of the one song analysed over its log-mel spectrogram, or
    /// with --compare the two timelines and their difference.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Compare two songs (A/B, e.g. two mixes): their timelines side by side with B - A.
    #[arg(long, num_args = 2, value_names = ["A", "B"], conflicts_with_all = ["input", "shard"])]
    pub compare: Option<Vec<PathBuf>>,
    /// Worker threads for catalogs (default: all cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Number of tags to report per song.
    #[arg(long, default_value_t = 5)]
    pub top_tags: usize,
    /// Stated coverage of the interval around each estimate (split conformal, from the
    /// held-out residuals stored in the model bundle; no interval when it has none).
    #[arg(long, default_value_t = chorder_analysis::uncertainty::DEFAULT_COVERAGE)]
    pub coverage: f32,
}

#[derive(Debug, Serialize)]
struct Report<'a> {
    schema: &'static str,
    embedding_model: &'a str,
    popularity_model: Option<&'a str>,
    demo_model: bool,
    /// Songs analysed in this run.
    computed: usize,
    /// Songs taken from the results of an earlier run (--out).
    resumed: usize,
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
    anyhow::ensure!(
        args.coverage > 0.0 && args.coverage < 1.0,
        "--coverage must lie strictly between 0 and 1 (e.g. 0.9), not {}",
        args.coverage
    );
    let calibration = match &head {
        Some(h) => {
            Calibration::from_bundle(h.bundle(), args.coverage).map_err(anyhow::Error::msg)?
        }
        None => None,
    };
    let reference = args
        .reference
        .as_deref()
        .map(Reference::load)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if let Some(pair) = &args.compare {
        let mut songs = Vec::new();
        for p in pair {
            let mut reader = AudioReader::open(p)?;
            let name = p.display().to_string();
            let mut song =
                analyze_song(&mut reader, &name, &embedder, head.as_ref(), args.top_tags)
                    .map_err(anyhow::Error::msg)?;
            song.set_interval(calibration.as_ref());
            songs.push(song);
        }
        let mut stdout = std::io::stdout().lock();
        match args.format {
            Format::Json => {
                let report = Report {
                    schema: SCHEMA,
                    embedding_model: embedder.id(),
                    popularity_model: head.as_ref().map(|h| h.id()),
                    demo_model: head.as_ref().is_some_and(|h| is_demo(h.bundle())),
                    computed: 2,
                    resumed: 0,
                    songs: &songs,
                    errors: &[],
                };
                writeln!(stdout, "{}", serde_json::to_string_pretty(&report)?)?
            }
            Format::Csv => output::write_csv(&mut stdout, &songs)?,
            Format::Table => output::write_compare(&mut stdout, &songs[0], &songs[1])?,
        }
        if let Some(png) = &args.plot {
            plot::compare_png(png, &songs[0], &songs[1])?;
            eprintln!("wrote {}", png.display());
        }
        return Ok(());
    }
    let (mut songs, errors, computed, resumed) = match collect_inputs(args.input.as_deref())? {
        None => {
            if args.shard.is_some() {
                bail!("--shard needs a folder or manifest");
            }
            let mut reader = demo::demo_reader()?;
            let song = analyze_song(
                &mut reader,
                demo::DEMO_NAME,
                &embedder,
                head.as_ref(),
                args.top_tags,
            )
            .map_err(anyhow::Error::msg)?;
            (vec![song], Vec::new(), 1, 0)
        }
        Some(inputs) => {
            let inputs = match args.shard {
                Some(s) => s.select(&inputs),
                None => inputs,
            };
            let opts = CatalogOptions {
                jobs,
                progress: inputs.len() > 1,
                cancel: None,
            };
            let run = run_catalog(&inputs, args.out.as_deref(), &opts, |path| {
                let mut reader = AudioReader::open(path).map_err(|e| e.to_string())?;
                let name = path.display().to_string();
                let mut song =
                    analyze_song(&mut reader, &name, &embedder, head.as_ref(), args.top_tags)?;
                song.set_interval(calibration.as_ref());
                Ok(song)
            })
            .context("cannot write the results file")?;
            split(run)
        }
    };
    // Also for songs resumed from an earlier run (which may have used another coverage).
    for s in &mut songs {
        s.set_interval(calibration.as_ref());
    }
    if let Some(r) = &reference {
        for s in &mut songs {
            s.percentile = s.estimate.map(|e| r.percentile(e));
        }
    }

    let report = Report {
        schema: SCHEMA,
        embedding_model: embedder.id(),
        popularity_model: head.as_ref().map(|h| h.id()),
        demo_model: head.as_ref().is_some_and(|h| is_demo(h.bundle())),
        computed,
        resumed,
        songs: &songs,
        errors: &errors,
    };
    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Table => output::write_table(&mut stdout, &report, reference.as_ref())?,
        Format::Json => writeln!(stdout, "{}", serde_json::to_string_pretty(&report)?)?,
        Format::Csv => output::write_csv(&mut stdout, &songs)?,
    }
    if let Some(png) = &args.plot {
        let [song] = &songs[..] else {
            bail!(
                "--plot draws one song (or --compare A B); {} were analysed",
                songs.len()
            );
        };
        let mut reader = if song.file == demo::DEMO_NAME {
            demo::demo_reader()?
        } else {
            AudioReader::open(&song.file)?
        };
        plot::timeline_png(
            png,
            song,
            calibration.as_ref(),
            &mut reader,
            embedder.front_end(),
        )?;
        eprintln!("wrote {}", png.display());
    }
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::write(
            dir.join("results.json"),
            serde_json::to_string_pretty(&report)?,
        )?;
        let mut f = std::fs::File::create(dir.join("results.csv"))?;
        output::write_csv(&mut f, &songs)?;
        let mut f = std::fs::File::create(dir.join("errors.csv"))?;
        output::write_errors_csv(&mut f, &errors)?;
        parquet::write_parquet(&dir.join("results.parquet"), &songs)?;
        eprintln!(
            "wrote {0}/results.json, results.csv, results.parquet, errors.csv ({computed} analysed, {resumed} resumed from {0}/results.jsonl)",
            dir.display()
        );
    }
    if !errors.is_empty() {
        drop(stdout);
        std::process::exit(if songs.is_empty() { 1 } else { 2 });
    }
    Ok(())
}

/// Results (input order), errors (input, reason), computed and resumed counts of a run.
fn split(run: CatalogRun) -> (Vec<SongResult>, Vec<(String, String)>, usize, usize) {
    let (computed, resumed) = (run.computed, run.resumed);
    let mut songs = Vec::new();
    let mut errors = Vec::new();
    for (path, outcome) in run.outcomes {
        match outcome {
            Some(Ok(s)) => songs.push(s),
            Some(Err(e)) => errors.push((path.display().to_string(), e)),
            None => errors.push((path.display().to_string(), "not analysed".into())),
        }
    }
    (songs, errors, computed, resumed)
}

/// Whether a bundle says it is a demonstration model (trained on the generated corpus).
pub fn is_demo(bundle: &ModelBundle) -> bool {
    let p = &bundle.meta().provenance;
    p.source.contains("demo") || p.source.contains("generated corpus")
}

/// Audio files named by the input: a file, a folder's audio files (sorted), or a manifest's
/// `path` column (relative to the manifest); `None` for the built-in demo clip.
fn collect_inputs(input: Option<&Path>) -> anyhow::Result<Option<Vec<PathBuf>>> {
    let Some(input) = input else {
        return Ok(None);
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
        return Ok(Some(files));
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
            out.push(base.join(row.get(col).unwrap_or_default()));
        }
        return Ok(Some(out));
    }
    Ok(Some(vec![input.to_path_buf()]))
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
