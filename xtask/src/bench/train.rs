//! `cargo xtask bench train`: seconds per epoch of the study's model in Chorder (candle, our
//! LSTM kernels) next to the same model in PyTorch (`scripts/torch_study.py`), on one
//! exported synthetic data set, at 1 and 2 threads; `--parity` instead trains both to the
//! end on a data set with a test split and compares held-out R².
//!
//! The Rust side runs optimised through `cargo bench -p chorder-train --bench epoch`
//! (`train/benches/epoch.rs`); the thread count goes through `RAYON_NUM_THREADS` (candle
//! and rayon read it). Each epoch is what `cargo xtask train` does per epoch: a shuffled
//! pass over the 8,500 training songs in batches of 200 (forward, backward, Adam) and the
//! validation loss over 1,500 songs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use serde_json::Value;

/// Options of `cargo xtask bench train`.
#[derive(clap::Args)]
pub struct TrainArgs {
    /// Epochs per stage to time (the best epoch is reported).
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// Thread counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// Only write the timing data set (`.npy`, see `chorder_train::npy`) to DIR and stop.
    #[arg(long, value_name = "DIR")]
    export: Option<PathBuf>,
    /// Python with torch for `scripts/torch_study.py` (default: $CHORDER_TORCH_PYTHON,
    /// then ../torchvenv/bin/python next to the workspace, then python3).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Skip PyTorch.
    #[arg(long)]
    no_torch: bool,
    /// Train both implementations to the end (early stopping) on the parity data set and
    /// compare test R², instead of timing.
    #[arg(long)]
    parity: bool,
    /// Maximum epochs per stage in `--parity` (patience 10).
    #[arg(long, default_value_t = 40)]
    parity_epochs: usize,
    /// Threads for `--parity`.
    #[arg(long, default_value_t = 2)]
    parity_threads: usize,
}

pub(super) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Parses the last stdout line of a finished command as JSON.
pub(super) fn last_json(mut cmd: Command, what: &str) -> anyhow::Result<Value> {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!("{what} failed ({})", out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .with_context(|| format!("{what} printed no JSON line:\n{text}"))?;
    serde_json::from_str(line).with_context(|| format!("{what}: {line}"))
}

/// `cargo bench -p chorder-train --bench epoch -- <args>` with `threads` threads.
fn rust(args: &[&str], threads: usize) -> anyhow::Result<Value> {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(workspace_root())
        .args([
            "bench",
            "-q",
            "-p",
            "chorder-train",
            "--bench",
            "epoch",
            "--",
        ])
        .args(args)
        .env("RAYON_NUM_THREADS", threads.to_string());
    last_json(cmd, "the Rust epoch bench")
}

/// The Python to run the PyTorch script with, if one with torch is found.
pub(super) fn find_python(explicit: Option<&Path>) -> Option<PathBuf> {
    let mut candidates = vec![];
    if let Some(p) = explicit {
        candidates.push(p.to_path_buf());
    } else {
        if let Some(p) = std::env::var_os("CHORDER_TORCH_PYTHON") {
            candidates.push(PathBuf::from(p));
        }
        candidates.push(workspace_root().join("../torchvenv/bin/python"));
        candidates.push(PathBuf::from("python3"));
    }
    candidates.into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import torch, numpy"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn torch(python: &Path, args: &[&str]) -> anyhow::Result<Value> {
    let mut cmd = Command::new(python);
    cmd.current_dir(workspace_root())
        .arg("scripts/torch_study.py")
        .args(args);
    last_json(cmd, "scripts/torch_study.py")
}

/// Best (smallest) epoch time of `stage` in a result's `epoch_seconds`.
fn best(v: &Value, stage: &str) -> f64 {
    v["epoch_seconds"][stage]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_f64)
                .fold(f64::INFINITY, f64::min)
        })
        .unwrap_or(f64::NAN)
}

const STAGES: [&str; 3] = ["seq_autoencoder", "feature_autoencoder", "regressor"];

pub(super) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Writes (or reuses) the data set of `preset` under `target/bench-train/<preset>`.
fn ensure_data(preset: &str, dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = dir.map_or_else(
        || workspace_root().join("target/bench-train").join(preset),
        Path::to_path_buf,
    );
    let meta = dir.join("meta.json");
    let fresh = std::fs::read_to_string(&meta)
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .is_some_and(|m| m["preset"] == preset);
    if !fresh {
        let d = dir.to_string_lossy().into_owned();
        rust(&["export", "--out", &d, "--preset", preset], 1)?;
    }
    Ok(dir)
}

pub fn run(a: TrainArgs) -> anyhow::Result<()> {
    if let Some(dir) = &a.export {
        ensure_data("timing", Some(dir))?;
        println!("wrote the timing data set to {}", dir.display());
        return Ok(());
    }
    let python = if a.no_torch {
        None
    } else {
        let p = find_python(a.python.as_deref());
        if p.is_none() {
            eprintln!("no Python with torch found (--python, $CHORDER_TORCH_PYTHON); Rust only");
        }
        p
    };
    if a.parity {
        return parity(&a, python.as_deref());
    }
    let data = ensure_data("timing", None)?;
    let d = data.to_string_lossy().into_owned();
    let epochs = a.epochs.to_string();
    println!("study model, 8,500 training songs × 31 windows × 128-d, 1,500 validation songs, batch 200, Adam");
    println!(
        "seconds per epoch (best of {epochs}); load average before: {}\n",
        load_average()
    );
    println!(
        "| threads | implementation | seq AE | feature AE | regressor | total | Rust / PyTorch |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|");
    for &t in &a.threads {
        let ts = t.to_string();
        let r = rust(&["time", "--data", &d, "--epochs", &epochs], t)?;
        let py = match &python {
            Some(p) => Some(torch(
                p,
                &["time", "--data", &d, "--threads", &ts, "--epochs", &epochs],
            )?),
            None => None,
        };
        let total = |v: &Value| STAGES.iter().map(|s| best(v, s)).sum::<f64>();
        let row = |name: &str, v: &Value, ratio: &str| {
            println!(
                "| {t} | {name} | {:.3} | {:.3} | {:.3} | {:.3} | {ratio} |",
                best(v, STAGES[0]),
                best(v, STAGES[1]),
                best(v, STAGES[2]),
                total(v)
            )
        };
        match &py {
            Some(p) => {
                row("Chorder", &r, &format!("{:.2}x", total(&r) / total(p)));
                row(p["impl"].as_str().unwrap_or("pytorch"), p, "1");
            }
            None => row("Chorder", &r, "n/a"),
        }
    }
    println!("\nload average after: {}", load_average());
    Ok(())
}

fn parity(a: &TrainArgs, python: Option<&Path>) -> anyhow::Result<()> {
    let data = ensure_data("parity", None)?;
    let d = data.to_string_lossy().into_owned();
    let e = a.parity_epochs.to_string();
    let t = a.parity_threads;
    let r = rust(&["parity", "--data", &d, "--epochs", &e], t)?;
    println!("parity data set: {d} (4,000 train / 1,000 val / 1,000 test songs, 12-31 windows)");
    println!("| implementation | test R² | test MAE | seconds | epochs per stage |");
    println!("|---|---:|---:|---:|---|");
    let row = |name: &str, v: &Value| {
        let epochs: Vec<String> = v["stages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| s["epochs"].to_string())
            .collect();
        println!(
            "| {name} | {:.4} | {:.3} | {:.1} | {} |",
            v["test_r2"].as_f64().unwrap_or(f64::NAN),
            v["test_mae"].as_f64().unwrap_or(f64::NAN),
            v["seconds"].as_f64().unwrap_or(f64::NAN),
            epochs.join(", ")
        )
    };
    row("Chorder", &r);
    if let Some(p) = python {
        let ts = t.to_string();
        let py = torch(
            p,
            &["parity", "--data", &d, "--epochs", &e, "--threads", &ts],
        )?;
        row(py["impl"].as_str().unwrap_or("pytorch"), &py);
        let diff =
            r["test_r2"].as_f64().unwrap_or(f64::NAN) - py["test_r2"].as_f64().unwrap_or(f64::NAN);
        println!("\nR² difference (Chorder − PyTorch): {diff:+.4}");
    }
    Ok(())
}
