//! Epoch time and held-out accuracy of the study's model, for `cargo xtask bench train`
//! (which runs this binary through `cargo bench -p chorder-train --bench epoch -- …`, i.e.
//! optimised, and compares it with `scripts/torch_study.py` on the same exported data).
//!
//! ```text
//! epoch export --out DIR [--preset timing|parity]   generate a synthetic set, write .npy
//! epoch time   --data DIR [--epochs K]              K epochs of every stage; JSON line
//! epoch parity --data DIR [--epochs E]              full training, test R²; JSON line
//! ```
//!
//! The thread count is the environment's (`RAYON_NUM_THREADS`, read by candle and rayon).
//! Presets: `timing` is the issue's fixed set (8,500 training songs × 31 windows of 128-d
//! embeddings, 207 features, 1,500 validation songs); `parity` draws variable lengths
//! (12–31 windows) and adds a test split.

use chorder_models::feature_autoencoder::FeatureAutoencoderConfig;
use chorder_models::regressor::{PopularityModelConfig, RegressorConfig};
use chorder_models::seq_autoencoder::SeqAutoencoderConfig;
use chorder_train::config::{RunConfig, StageConfig};
use chorder_train::data::Dataset;
use chorder_train::metrics::metrics;
use chorder_train::npy::{read_dataset, write_dataset};
use chorder_train::synth::{synthetic, SynthConfig};
use chorder_train::trainer::{predict_study, train_study, Control};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn need(args: &[String], name: &str) -> PathBuf {
    PathBuf::from(arg(args, name).unwrap_or_else(|| panic!("{name} DIR is required")))
}

/// `(train, val, test)` sizes and the lengths of each preset.
fn preset(name: &str) -> ([usize; 3], usize, usize) {
    match name {
        "timing" => ([8500, 1500, 0], 31, 31),
        "parity" => ([4000, 1000, 1000], 12, 31),
        other => panic!("unknown preset {other} (timing | parity)"),
    }
}

fn export(args: &[String]) {
    let out = need(args, "--out");
    let name = arg(args, "--preset").unwrap_or_else(|| "timing".into());
    let (sizes, min_steps, max_steps) = preset(&name);
    std::fs::create_dir_all(&out).expect("creating the output directory");
    let all = synthetic(&SynthConfig {
        n: sizes.iter().sum(),
        emb_dim: 128,
        feat_dim: 207,
        min_steps,
        max_steps,
        noise: 0.05,
        seed: 1,
    });
    let (train, rest) = all.split_at(sizes[0]);
    let (val, test) = rest.split_at(sizes[1]);
    for (ds, split) in [(&train, "train"), (&val, "val"), (&test, "test")] {
        if !ds.is_empty() {
            write_dataset(ds, &out, split).expect("writing the data set");
        }
    }
    let meta = serde_json::json!({
        "preset": name, "sizes": sizes, "min_steps": min_steps, "max_steps": max_steps,
        "emb_dim": 128, "feat_dim": 207, "generator": "chorder_train::synth, noise 0.05, seed 1",
    });
    std::fs::write(out.join("meta.json"), meta.to_string()).expect("writing meta.json");
    println!("{meta}");
}

/// The study's model at the issue's sizes for data of this shape.
fn run_config(train: &Dataset, epochs: usize, patience: Option<usize>) -> RunConfig {
    let stage = StageConfig {
        epochs,
        patience,
        ..Default::default()
    };
    RunConfig {
        model: PopularityModelConfig {
            seq: SeqAutoencoderConfig {
                emb_dim: train.emb_dim,
                lstm_dims: vec![64],
                linear_dims: vec![32],
                code_dim: 20,
            },
            features: FeatureAutoencoderConfig {
                input_dim: train.feat_dim,
                ..Default::default()
            },
            head: RegressorConfig::default(),
        },
        seq_autoencoder: stage.clone(),
        feature_autoencoder: stage.clone(),
        regressor: stage,
        ..Default::default()
    }
}

fn load(dir: &Path, split: &str) -> Dataset {
    read_dataset(dir, split).unwrap_or_else(|e| panic!("reading {split} from {dir:?}: {e}"))
}

fn time(args: &[String]) {
    let dir = need(args, "--data");
    let epochs: usize = arg(args, "--epochs").map_or(3, |s| s.parse().expect("--epochs"));
    let (train, val) = (load(&dir, "train"), load(&dir, "val"));
    let cfg = run_config(&train, epochs, None);
    let t = train_study(&cfg, &train, &val, None, &mut Control::default())
        .expect("training")
        .expect("not stopped");
    let stages: serde_json::Map<String, serde_json::Value> = t
        .stages
        .iter()
        .map(|s| {
            let secs: Vec<f64> = s.history.iter().map(|e| e.seconds).collect();
            (s.name.clone(), serde_json::json!(secs))
        })
        .collect();
    let out = serde_json::json!({
        "impl": "chorder (candle)",
        "threads": candle_core::utils::get_num_threads(),
        "n_train": train.len(),
        "n_val": val.len(),
        "epoch_seconds": stages,
    });
    println!("{out}");
}

fn parity(args: &[String]) {
    let dir = need(args, "--data");
    let epochs: usize = arg(args, "--epochs").map_or(40, |s| s.parse().expect("--epochs"));
    let seed: u64 = arg(args, "--seed").map_or(0, |s| s.parse().expect("--seed"));
    let (train, val, test) = (load(&dir, "train"), load(&dir, "val"), load(&dir, "test"));
    let mut cfg = run_config(&train, epochs, Some(10));
    cfg.seed = seed;
    let t0 = Instant::now();
    let t = train_study(&cfg, &train, &val, None, &mut Control::default())
        .expect("training")
        .expect("not stopped");
    let seconds = t0.elapsed().as_secs_f64();
    let pred = predict_study(&t.model, &test).expect("predicting");
    let m = metrics(&pred, &test.targets());
    let stages: Vec<serde_json::Value> = t
        .stages
        .iter()
        .map(|s| {
            serde_json::json!({
                "name": s.name, "epochs": s.history.len(), "best_epoch": s.best_epoch,
                "best": s.best,
            })
        })
        .collect();
    let out = serde_json::json!({
        "impl": "chorder (candle)",
        "seed": seed,
        "test_r2": m.r2,
        "test_mae": m.mae,
        "test_mse": m.mse,
        "n_test": m.n,
        "seconds": seconds,
        "stages": stages,
    });
    println!("{out}");
}

fn main() {
    // `cargo bench` appends `--bench`; ignore it.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args.first().map(String::as_str) {
        Some("export") => export(&args),
        Some("time") => time(&args),
        Some("parity") => parity(&args),
        _ => eprintln!(
            "usage: epoch export --out DIR [--preset timing|parity] | time --data DIR [--epochs K] | parity --data DIR [--epochs E] [--seed S]"
        ),
    }
}
