//! `cargo xtask logmel [FILE]`: the front end on one song. Prints what was decoded and how
//! many patches came out, and writes the log-mel frames and patches as `.npy` files so they
//! can be checked against other implementations.

use std::path::PathBuf;

use anyhow::{bail, Context};
use chorder_engine::{logmel_from_reader, npy, AudioReader, FrontEndConfig};

use crate::demo;

/// Compute log-mel frames and patches (the embedding models' input) of a song.
///
/// Writes `<stem>.<preset>.frames.npy` ([frames, mel bands], float32) and
/// `<stem>.<preset>.patches.npy` ([patches, frames per patch, mel bands], float32; only the
/// full-context patches when the preset warms up with shorter ones) into --out.
#[derive(clap::Args)]
pub struct Args {
    /// Audio file (WAV, FLAC, MP3, Ogg Vorbis, AAC/M4A; any rate and channel count).
    /// Without it, the built-in 10 s demo clip is used.
    pub file: Option<PathBuf>,
    /// Front-end preset: `vggish` (64 HTK bands, 0.96 s patches of 96 frames) or `musicnn`
    /// (96 Slaney bands, the last 3 s every 0.96 s).
    #[arg(long, default_value = "vggish")]
    pub preset: String,
    /// Folder for the .npy files (created if missing).
    #[arg(long, default_value = "out/logmel")]
    pub out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Some(cfg) = FrontEndConfig::preset(&args.preset) else {
        bail!(
            "unknown preset `{}` (choose vggish or musicnn)",
            args.preset
        );
    };
    let mut reader = match &args.file {
        Some(path) => AudioReader::open(path)?,
        None => demo::demo_reader()?,
    };
    let name = reader.path().to_path_buf();
    let analysis = logmel_from_reader(&mut reader, &cfg)?;
    let d = &analysis.decode;
    println!(
        "{}: {} Hz, {} channel(s), {}, {:.2} s",
        name.display(),
        d.sample_rate,
        d.channels,
        d.codec,
        d.seconds()
    );
    for w in d.warnings() {
        println!("warning: {w}");
    }
    if analysis.non_finite_replaced > 0 {
        println!(
            "warning: {} NaN/Inf sample(s) replaced by 0",
            analysis.non_finite_replaced
        );
    }
    let n_mels = analysis.n_mels;
    let full: Vec<_> = analysis
        .patches
        .iter()
        .filter(|p| p.n_frames == cfg.patch.context_frames)
        .collect();
    println!(
        "{} front end: {} frames x {} mel bands, {} patches ({} with full {}-frame context), one every {:.2} s",
        cfg.name,
        analysis.n_frames(),
        n_mels,
        analysis.patches.len(),
        full.len(),
        cfg.patch.context_frames,
        cfg.patch_hop_seconds()
    );
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let stem = name
        .file_stem()
        .map(|s| s.to_string_lossy().replace(':', "-"))
        .unwrap_or_else(|| "audio".into());
    let frames_path = args.out.join(format!("{stem}.{}.frames.npy", cfg.name));
    npy::write_f32(
        &frames_path,
        &[analysis.n_frames(), n_mels],
        &analysis.frames,
    )
    .with_context(|| format!("cannot write {}", frames_path.display()))?;
    let patches_path = args.out.join(format!("{stem}.{}.patches.npy", cfg.name));
    let data: Vec<f32> = full.iter().flat_map(|p| p.data.iter().copied()).collect();
    npy::write_f32(
        &patches_path,
        &[full.len(), cfg.patch.context_frames, n_mels],
        &data,
    )
    .with_context(|| format!("cannot write {}", patches_path.display()))?;
    println!("wrote {}", frames_path.display());
    println!("wrote {}", patches_path.display());
    Ok(())
}
