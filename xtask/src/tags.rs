//! `cargo xtask tags <file> [--top N] [--bundle PATH]`: musicnn tags over time.
//!
//! Decodes the file with the engine ([`AudioReader`], packet by packet), runs the bundle's
//! front end ([`FrontEndStream`], musicnn preset: a patch of the last ≤ 187 log-mel frames every
//! 60 frames = 0.96 s) and the musicnn network on each patch as it completes, and prints one
//! line per window (start–end seconds, top-N tags with probabilities), then the top-N of the
//! probabilities averaged over all windows.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use chorder_engine::{AudioReader, FrontEndStream, LogMelPatch};
use chorder_models::builtin;
use chorder_models::bundle::ModelBundle;
use chorder_models::musicnn::Musicnn;

/// Print musicnn tags for each 0.96 s step of an audio file.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Audio file (WAV, FLAC, MP3, Ogg Vorbis, AAC/M4A); default: the built-in demo clip.
    file: Option<PathBuf>,
    /// Tags to print per window.
    #[arg(long, default_value_t = 5)]
    top: usize,
    /// A musicnn model bundle to use instead of the built-in MSD one.
    #[arg(long)]
    bundle: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let bundle = match &args.bundle {
        Some(p) => ModelBundle::load_file(p)?,
        None => builtin::musicnn_bundle()?,
    };
    let net = Musicnn::from_bundle(&bundle)?;
    let meta = bundle.meta();
    let cfg = &meta.front_end;
    let frame_s = cfg.hop_length as f64 / cfg.sample_rate as f64;

    let mut reader = match &args.file {
        Some(f) => AudioReader::open(f)?,
        None => crate::demo::demo_reader()?,
    };
    let file = reader.path().to_path_buf();
    let mut stream = FrontEndStream::new(cfg, reader.sample_rate())
        .with_context(|| format!("front end for {}", file.display()))?;
    println!(
        "{}: {} Hz, model {} ({}), window ≤ {} frames every {} frames ({:.2} s)",
        file.display(),
        reader.sample_rate(),
        meta.model_kind,
        meta.provenance.checkpoint,
        meta.streaming.context_frames,
        meta.streaming.hop_frames,
        meta.streaming.hop_frames as f64 * frame_s
    );
    let mut sum = vec![0.0f64; meta.tags.len()];
    let mut n_windows = 0usize;
    let mut compute_s = 0.0f64;
    let mut patches: Vec<LogMelPatch> = Vec::new();
    let mut block = Vec::new();
    let mut emit = |patches: &mut Vec<LogMelPatch>| -> Result<()> {
        for p in patches.drain(..) {
            let t0 = Instant::now();
            let out = net.forward_patch(&p)?;
            compute_s += t0.elapsed().as_secs_f64();
            for (s, &v) in sum.iter_mut().zip(&out.tags) {
                *s += f64::from(v);
            }
            n_windows += 1;
            let top = top_n(&out.tags, args.top)
                .into_iter()
                .map(|(i, v)| format!("{} {v:.2}", meta.tags[i]))
                .collect::<Vec<_>>()
                .join(", ");
            println!(
                "{:7.2}-{:7.2} s  {top}",
                p.start_frame() as f64 * frame_s,
                p.end_frame as f64 * frame_s
            );
        }
        Ok(())
    };
    loop {
        block.clear();
        if !reader.next_block(&mut block)? {
            break;
        }
        stream.push(&block, &mut patches);
        emit(&mut patches)?;
    }
    stream.finish(&mut patches);
    emit(&mut patches)?;
    for w in reader.report().warnings() {
        eprintln!("warning: {w}");
    }
    if n_windows == 0 {
        bail!(
            "{}: too short for one window ({} frames = {:.2} s)",
            file.display(),
            meta.streaming.hop_frames,
            meta.streaming.hop_frames as f64 * frame_s
        );
    }
    let mean: Vec<f32> = sum.iter().map(|s| (s / n_windows as f64) as f32).collect();
    let top = top_n(&mean, args.top)
        .into_iter()
        .map(|(i, v)| format!("{} {v:.3}", meta.tags[i]))
        .collect::<Vec<_>>()
        .join(", ");
    println!("mean over {n_windows} windows: {top}");
    eprintln!(
        "model time {:.1} ms per window",
        compute_s * 1e3 / n_windows as f64
    );
    Ok(())
}

/// Indices and values of the `n` largest values, largest first.
fn top_n(v: &[f32], n: usize) -> Vec<(usize, f32)> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[b].total_cmp(&v[a]));
    idx.into_iter().take(n).map(|i| (i, v[i])).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn top_n_orders_by_value() {
        let v = [0.1, 0.9, 0.3, 0.95, 0.0];
        assert_eq!(super::top_n(&v, 3), vec![(3, 0.95), (1, 0.9), (2, 0.3)]);
        assert_eq!(super::top_n(&v, 10).len(), 5);
    }
}
