//! `cargo xtask bench analyze`: songs per minute of `cargo xtask analyze` on a folder of
//! 30 s clips, on one core and on all cores, next to a Python pipeline doing the same work
//! (`scripts/bench_python_analyze.py`: soundfile + soxr resampling, the musicnn log-mel with
//! librosa and the same network in PyTorch, librosa's 207 features) on the same clips and
//! cores.
//!
//! The clips (`--songs`, default 24; 44.1 kHz stereo 16-bit WAV, so decoding, down-mixing
//! and resampling are part of the work) are written once under
//! `target/bench-analyze/clips-<songs>/` and reused: even-numbered ones are songs of the
//! generated corpus (seed 0), odd-numbered ones are the two real fixtures
//! (`fixtures/audio/{rock,piano}.wav`, 10 s each) cut and mixed into 30 s, deterministically.
//!
//! Chorder is timed in an optimised build (`cargo build --release -p xtask`) whose hidden
//! `--worker` mode runs the `analyze` command itself (`analyze::run`, the code path of
//! `cargo xtask analyze <folder>`: decode, resample, musicnn, tags, the 207 features, the
//! popularity head) `--reps` times in one process and prints the seconds of each run. One
//! core: the worker runs under `taskset -c 0` with `--jobs 1` and `RAYON_NUM_THREADS=1`.
//! All cores: the defaults users get (`--jobs` = all cores, no thread variables); with
//! `--cores N`, the same pinned to cores 0..N (e.g. the 2-core target on a bigger machine).
//! The Python side is pinned the same way (one process, one torch thread) or runs one
//! process per core. Each side reports its best run and the CPU seconds it spent per song.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use chorder_engine::corpus::{self, CorpusOptions};
use clap::Parser;
use serde_json::{json, Value};

use super::train::{find_python, last_json, load_average, workspace_root};

/// Version of the clip recipe; bump it when the clips change so cached folders are rebuilt.
const CLIPS_VERSION: u32 = 1;
/// Clip length, seconds.
const CLIP_SECONDS: usize = 30;
/// Clip sample rate, Hz.
const CLIP_RATE: u32 = 44_100;

/// Options of `cargo xtask bench analyze`.
#[derive(clap::Args)]
pub struct AnalyzeArgs {
    /// Number of 30 s clips in the folder.
    #[arg(long, default_value_t = 24)]
    songs: usize,
    /// Timed runs per configuration (the best is reported).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Python with torch and librosa for `scripts/bench_python_analyze.py` (default:
    /// $CHORDER_TORCH_PYTHON, then ../torchvenv/bin/python next to the workspace, then
    /// python3).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Skip the Python pipeline.
    #[arg(long)]
    no_python: bool,
    /// The "all cores" runs use only cores 0..N (pinned with taskset; default: every core).
    #[arg(long, value_name = "N")]
    cores: Option<usize>,
    /// Internal: run `analyze` on this folder `--reps` times and print the timings as JSON.
    #[arg(long, hide = true)]
    worker: Option<PathBuf>,
    /// Internal: `--jobs` for the worker's `analyze` (default: its default, all cores).
    #[arg(long, hide = true)]
    jobs: Option<usize>,
    /// Internal: write the clip folder (`--songs` clips) here and stop.
    #[arg(long, hide = true)]
    prepare: Option<PathBuf>,
}

/// `cargo xtask analyze` arguments, parsed the way the command line parses them.
#[derive(Parser)]
struct AnalyzeCli {
    #[command(flatten)]
    args: crate::analyze::Args,
}

pub fn run(a: AnalyzeArgs) -> anyhow::Result<()> {
    if let Some(dir) = &a.prepare {
        return write_clips(dir, a.songs);
    }
    if let Some(dir) = &a.worker {
        return worker(dir, a.jobs, a.reps);
    }
    let available = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cores = a.cores.unwrap_or(available).clamp(1, available);
    let python = if a.no_python {
        None
    } else {
        let p = find_python(a.python.as_deref());
        if p.is_none() {
            eprintln!("no Python with torch found (--python, $CHORDER_TORCH_PYTHON); Chorder only");
        }
        p
    };
    let exe = build_release()?;
    let clips = workspace_root()
        .join("target/bench-analyze")
        .join(format!("clips-{}", a.songs));
    if !clips_fresh(&clips, a.songs) {
        eprintln!("writing {} clips to {}", a.songs, clips.display());
        let mut cmd = Command::new(&exe);
        cmd.args(["bench", "analyze", "--songs", &a.songs.to_string()])
            .arg("--prepare")
            .arg(&clips);
        let status = cmd.status().context("running the clip writer")?;
        if !status.success() {
            bail!("writing the clips failed ({status})");
        }
    }
    let taskset = Command::new("taskset")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !taskset {
        eprintln!("taskset not found: the one-core runs use one worker and one thread, unpinned");
    }
    let reps = a.reps.max(1).to_string();
    // `program` on cores 0..n (n < every core, with taskset), else unpinned.
    let on_cores = |program: &Path, n: usize| {
        let mut cmd = if taskset && n < available {
            let mut c = Command::new("taskset");
            c.args(["-c", &format!("0-{}", n - 1)]).arg(program);
            c
        } else {
            Command::new(program)
        };
        cmd.current_dir(workspace_root());
        cmd
    };

    println!(
        "{} clips of {CLIP_SECONDS} s (44.1 kHz stereo WAV) in {}; {cores} cores; best of {reps} runs",
        a.songs,
        clips.display()
    );
    println!("load average before: {}", load_average());

    let rust = |one_core: bool| -> anyhow::Result<Timing> {
        let mut cmd = on_cores(&exe, if one_core { 1 } else { cores });
        cmd.args(["bench", "analyze", "--reps", &reps])
            .arg("--worker")
            .arg(&clips);
        if one_core {
            cmd.args(["--jobs", "1"]).env("RAYON_NUM_THREADS", "1");
        } else {
            cmd.env_remove("RAYON_NUM_THREADS")
                .env_remove("CANDLE_NUM_THREADS");
        }
        Timing::from_json(&last_json(cmd, "the Chorder analyze worker")?)
    };
    let py = |one_core: bool| -> anyhow::Result<Option<Timing>> {
        let Some(p) = &python else { return Ok(None) };
        let procs = if one_core { 1 } else { cores };
        let mut cmd = on_cores(p, procs);
        cmd.arg("scripts/bench_python_analyze.py")
            .arg(&clips)
            .args(["--procs", &procs.to_string(), "--reps", &reps]);
        Timing::from_json(&last_json(cmd, "scripts/bench_python_analyze.py")?).map(Some)
    };

    // One configuration after the other, each side's runs back to back in one process.
    let r1 = rust(true)?;
    let p1 = py(true)?;
    let rn = rust(false)?;
    let pn = py(false)?;

    let spm = |t: &Option<Timing>| t.as_ref().map(|t| t.songs_per_minute);
    let ratio = |a: f64, b: Option<f64>| b.map_or("n/a".to_string(), |b| format!("{:.2}x", a / b));
    let cell = |t: &Option<Timing>| {
        t.as_ref().map_or("n/a".to_string(), |t| {
            format!("{:.1} ({})", t.songs_per_minute, t.cpu())
        })
    };
    println!();
    println!("songs per minute (CPU seconds per song in the best run)");
    println!();
    println!("| | Chorder | Python (PyTorch + librosa) | Chorder / Python |");
    println!("|---|---:|---:|---:|");
    for (name, r, p) in [("1 core", &r1, &p1), (&*format!("{cores} cores"), &rn, &pn)] {
        println!(
            "| {name} | {} | {} | {} |",
            cell(&Some(r.clone())),
            cell(p),
            ratio(r.songs_per_minute, spm(p))
        );
    }
    println!(
        "| {cores} cores / 1 core | {:.2}x | {} | |",
        rn.songs_per_minute / r1.songs_per_minute,
        match (spm(&p1), spm(&pn)) {
            (Some(a), Some(b)) => format!("{:.2}x", b / a),
            _ => "n/a".into(),
        }
    );
    println!("\nload average after: {}", load_average());
    Ok(())
}

/// The best run of a configuration.
#[derive(Clone)]
struct Timing {
    songs_per_minute: f64,
    /// CPU seconds (user + system, all threads and processes) per song in that run.
    cpu_per_song: Option<f64>,
}

impl Timing {
    /// From a worker's JSON: `songs`, `seconds` (one per run), optionally `cpu_seconds`.
    fn from_json(v: &Value) -> anyhow::Result<Self> {
        let songs = v["songs"].as_f64().context("no `songs` in the result")?;
        let runs = v["seconds"]
            .as_array()
            .context("no `seconds` in the result")?;
        let (best, i) = runs
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_f64().map(|s| (s, i)))
            .fold((f64::INFINITY, 0), |a, b| if b.0 < a.0 { b } else { a });
        if !(best.is_finite() && best > 0.0 && songs > 0.0) {
            bail!("no timed run in {v}");
        }
        Ok(Self {
            songs_per_minute: songs * 60.0 / best,
            cpu_per_song: v["cpu_seconds"][i].as_f64().map(|c| c / songs),
        })
    }

    fn cpu(&self) -> String {
        self.cpu_per_song
            .map_or("?".into(), |c| format!("{c:.2} s"))
    }
}

/// Builds the optimised xtask and returns its path.
fn build_release() -> anyhow::Result<PathBuf> {
    eprintln!("building the optimised xtask (cargo build --release -p xtask)");
    let status = Command::new(env!("CARGO"))
        .current_dir(workspace_root())
        .args(["build", "--release", "--quiet", "-p", "xtask"])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build --release -p xtask failed ({status})");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from);
    let exe = target
        .join("release")
        .join(format!("xtask{}", std::env::consts::EXE_SUFFIX));
    if !exe.exists() {
        bail!("{} was not built", exe.display());
    }
    Ok(exe)
}

/// Runs `cargo xtask analyze <dir> [--jobs j]` `reps` times in this process (the command's
/// own code, bundles loaded by each run as a user's run loads them); prints
/// `{"songs": n, "seconds": [...], ...}` as the last stdout line.
fn worker(dir: &Path, jobs: Option<usize>, reps: usize) -> anyhow::Result<()> {
    let songs = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "wav"))
        .count();
    let mut argv = vec!["analyze".to_string(), dir.display().to_string()];
    if let Some(j) = jobs {
        argv.extend(["--jobs".into(), j.to_string()]);
    }
    let (mut seconds, mut cpu) = (Vec::new(), Vec::new());
    for _ in 0..reps.max(1) {
        let cli = AnalyzeCli::try_parse_from(&argv)?;
        let (t0, c0) = (Instant::now(), cpu_seconds());
        crate::analyze::run(cli.args)?;
        seconds.push(t0.elapsed().as_secs_f64());
        cpu.push(cpu_seconds().zip(c0).map(|(c1, c0)| c1 - c0));
    }
    println!(
        "{}",
        json!({
            "impl": "chorder",
            "songs": songs,
            "jobs": jobs,
            "rayon_num_threads": std::env::var("RAYON_NUM_THREADS").ok(),
            "seconds": seconds,
            "cpu_seconds": cpu,
        })
    );
    Ok(())
}

/// User + system CPU time of this process (all threads) so far, seconds (Linux
/// `/proc/self/stat`, in units of 1/100 s); `None` elsewhere.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn meta_path(dir: &Path) -> PathBuf {
    dir.join("clips.json")
}

/// Whether `dir` holds the clips of this recipe version and size.
fn clips_fresh(dir: &Path, songs: usize) -> bool {
    std::fs::read_to_string(meta_path(dir))
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .is_some_and(|m| m["version"] == CLIPS_VERSION && m["songs"] == songs)
}

/// Interleaved 16-bit stereo samples of a fixture WAV (44.1 kHz).
fn read_fixture(name: &str) -> anyhow::Result<Vec<[f32; 2]>> {
    let path = workspace_root().join("fixtures/audio").join(name);
    let mut r =
        hound::WavReader::open(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let spec = r.spec();
    if spec.channels != 2 || spec.sample_rate != CLIP_RATE || spec.bits_per_sample != 16 {
        bail!("{}: expected 16-bit stereo at 44.1 kHz", path.display());
    }
    let s: Vec<i16> = r.samples::<i16>().collect::<Result<_, _>>()?;
    Ok(s.chunks_exact(2)
        .map(|c| [c[0] as f32 / 32768.0, c[1] as f32 / 32768.0])
        .collect())
}

/// Writes `songs` clips of 30 s, 44.1 kHz stereo 16-bit, and `clips.json`.
fn write_clips(dir: &Path, songs: usize) -> anyhow::Result<()> {
    use rayon::prelude::*;
    if songs == 0 {
        bail!("--songs must be at least 1");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let n = CLIP_SECONDS * CLIP_RATE as usize;
    let options = CorpusOptions {
        songs: songs.div_ceil(2),
        seconds: CLIP_SECONDS as f64,
        seed: 0,
        sample_rate: CLIP_RATE,
    };
    let specs = corpus::plan(&options)?;
    let fixtures = [read_fixture("rock.wav")?, read_fixture("piano.wav")?];
    (0..songs).into_par_iter().try_for_each(|i| {
        let frames: Vec<[f32; 2]> = if i % 2 == 0 {
            // A generated song; the right channel slightly quieter so the down-mix is real.
            corpus::render(&specs[i / 2], &options)
                .into_iter()
                .map(|s| [s, 0.9 * s])
                .collect()
        } else {
            // The real fixtures: one of them, read from a clip-dependent offset and looped,
            // with the other mixed in quietly.
            let k = i / 2;
            let (a, b) = (&fixtures[k % 2], &fixtures[(k + 1) % 2]);
            let offset = (k * 37_813) % a.len();
            let gain = 0.1 + 0.05 * (k % 5) as f32;
            (0..n)
                .map(|t| {
                    let x = a[(t + offset) % a.len()];
                    let y = b[t % b.len()];
                    [0.8 * x[0] + gain * y[0], 0.8 * x[1] + gain * y[1]]
                })
                .collect()
        };
        let path = dir.join(format!("clip{i:03}.wav"));
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: CLIP_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec)
            .with_context(|| format!("cannot write {}", path.display()))?;
        for f in frames.iter().take(n) {
            for s in f {
                w.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16)?;
            }
        }
        w.finalize()?;
        anyhow::Ok(())
    })?;
    std::fs::write(
        meta_path(dir),
        serde_json::to_string_pretty(&json!({
            "version": CLIPS_VERSION,
            "songs": songs,
            "seconds": CLIP_SECONDS,
            "sample_rate": CLIP_RATE,
            "channels": 2,
            "recipe": "even: generated corpus (seed 0); odd: fixtures rock/piano looped and mixed",
        }))?,
    )?;
    Ok(())
}
