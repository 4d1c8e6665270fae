//! `cargo xtask gen-corpus`: synthesise a corpus of songs with a known popularity formula
//! (see `chorder_engine::corpus`), as WAV files plus `manifest.csv` and a SpotGenTrack-like
//! copy. A model trained on it is a demonstration, not a predictor of real popularity.

use std::path::PathBuf;

use anyhow::{bail, Context};
use chorder_engine::corpus::{self, CorpusOptions};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

/// Generate synthetic songs whose popularity is a documented function of tempo, key,
/// brightness, density, dynamics, structure and noise (plus label noise).
///
/// Writes OUT/audio/<id>.wav (16-bit mono), OUT/manifest.csv and OUT/spotgentrack/ (the
/// SpotGenTrack folder layout; import it with `cargo xtask import spotgentrack
/// OUT/spotgentrack --audio OUT/audio`). The same seed gives bit-identical files.
#[derive(clap::Args)]
pub struct Args {
    /// Number of songs.
    #[arg(long, default_value_t = 200)]
    pub songs: usize,
    /// Length of each song in seconds (SpotGenTrack previews are 30 s).
    #[arg(long, default_value_t = 30.0)]
    pub seconds: f64,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sample rate in Hz: 22050 or 44100.
    #[arg(long, default_value_t = 22050)]
    pub sample_rate: u32,
    /// Output folder (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Write into OUT even if it already holds a corpus (files of songs beyond --songs from
    /// an earlier, larger run are not removed).
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let options = CorpusOptions {
        songs: args.songs,
        seconds: args.seconds,
        seed: args.seed,
        sample_rate: args.sample_rate,
    };
    let specs = corpus::plan(&options)?;
    let out = &args.out;
    if out.join("manifest.csv").exists() && !args.force {
        bail!(
            "{} already holds a corpus (manifest.csv); pass --force to overwrite it",
            out.display()
        );
    }
    let audio = corpus::audio_dir(out);
    std::fs::create_dir_all(&audio).with_context(|| format!("creating {}", audio.display()))?;

    let bar = ProgressBar::new(specs.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} songs  {elapsed_precise} (eta {eta})")
            .expect("valid progress template"),
    );
    specs.par_iter().try_for_each(|spec| {
        let samples = corpus::render(spec, &options);
        corpus::write_wav(
            &corpus::audio_path(out, spec),
            &samples,
            options.sample_rate,
        )?;
        bar.inc(1);
        Ok::<_, corpus::CorpusError>(())
    })?;
    bar.finish();
    corpus::write_metadata(out, &specs, &options)?;

    let n = specs.len() as f64;
    let mean = specs.iter().map(|s| s.popularity).sum::<f64>() / n;
    let sd = (specs
        .iter()
        .map(|s| (s.popularity - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    let min = specs
        .iter()
        .map(|s| s.popularity)
        .fold(f64::INFINITY, f64::min);
    let max = specs
        .iter()
        .map(|s| s.popularity)
        .fold(f64::NEG_INFINITY, f64::max);
    println!(
        "{} songs x {} s at {} Hz, seed {} -> {}",
        specs.len(),
        options.seconds,
        options.sample_rate,
        options.seed,
        out.display()
    );
    println!("popularity: mean {mean:.1}, sd {sd:.1}, min {min}, max {max}");
    println!("  audio:        {}", audio.display());
    println!("  manifest:     {}", out.join("manifest.csv").display());
    println!(
        "  spotgentrack: {}",
        corpus::spotgentrack_dir(out).display()
    );
    println!(
        "next: cargo xtask import manifest {} --out {}",
        out.join("manifest.csv").display(),
        out.join("dataset.json").display()
    );
    Ok(())
}
