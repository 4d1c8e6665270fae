//! Per-epoch checkpoints of a training run, written atomically.
//!
//! A run directory holds:
//! - `checkpoint.safetensors`: everything needed to resume, in one file so it can be
//!   replaced atomically (write `*.tmp`, then rename): `model.{var}` (all variables,
//!   normalisation buffers included), `opt.m.{var}` / `opt.v.{var}` (Adam moments of the
//!   stage in progress), `best.{var}` (the stage's best weights so far, for early stopping),
//!   and `meta.json` (a `u8` tensor holding [`Progress`] as JSON);
//! - `progress.json`: the same [`Progress`], pretty-printed for people (not read back);
//! - `train.log`: one timestamped line per stage start, epoch and stage end, appended by
//!   every call (a resumed run says where it resumed), for people (not read back).
//!
//! A run killed at any point (SIGKILL included) and started again with the same command
//! resumes from the last complete epoch and ends with the same weights as an uninterrupted
//! run: the optimiser moments and step count are restored, and every epoch's randomness
//! (shuffling, dropout) comes from a ChaCha8 stream seeded by `(seed, stage, epoch)` alone
//! (see [`epoch_rng`]), so no RNG position needs saving.

use candle_core::{DType, Device, Result, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One epoch's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    /// 0-based epoch within its stage.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches.
    pub train_loss: f64,
    /// The monitored value after the epoch (validation loss/MAE, or the training loss).
    pub monitored: f64,
    /// Wall-clock seconds of the epoch (training + validation).
    pub seconds: f64,
}

/// Where a stage stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageProgress {
    /// Stage name (`"seq_autoencoder"`, …).
    pub name: String,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Best monitored value so far.
    pub best: f64,
    /// `best.to_bits()`: JSON floats need not round-trip to the last bit, and a resumed run
    /// must compare against exactly the same value.
    pub best_bits: u64,
    /// Epoch of `best`.
    pub best_epoch: usize,
    /// Epochs since the last improvement.
    pub bad_epochs: usize,
    /// Whether early stopping ended the stage.
    pub stopped_early: bool,
    /// Optimiser steps taken (Adam's `t`).
    pub optimizer_steps: usize,
    /// Per-epoch log.
    pub history: Vec<EpochLog>,
}

/// Where a run stands: finished stages and the one in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Fingerprint of config + data; a checkpoint with another fingerprint is not resumed.
    pub fingerprint: String,
    /// The run's seed (the per-epoch RNG derivation is documented in [`epoch_rng`]).
    pub seed: u64,
    /// Completed stages, in order.
    pub done: Vec<StageProgress>,
    /// The stage in progress, if any.
    pub current: Option<StageProgress>,
}

/// The RNG of `epoch` of stage number `stage` of a run seeded with `seed`.
pub fn epoch_rng(seed: u64, stage: usize, epoch: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((stage as u64) << 32) | epoch as u64);
    rng
}

/// Reads and writes a run directory's checkpoint (or nothing, without a directory).
#[derive(Debug, Clone)]
pub struct Checkpointer {
    dir: Option<PathBuf>,
}

/// A loaded checkpoint.
pub struct Loaded {
    /// Progress.
    pub progress: Progress,
    /// All tensors, by full name (`model.*`, `opt.*`, `best.*`).
    pub tensors: HashMap<String, Tensor>,
}

impl Checkpointer {
    /// Checkpoints into `dir` (created if needed), or nowhere with `None`.
    pub fn new(dir: Option<&Path>) -> std::io::Result<Self> {
        if let Some(d) = dir {
            std::fs::create_dir_all(d)?;
        }
        Ok(Self {
            dir: dir.map(Path::to_path_buf),
        })
    }

    fn file(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join("checkpoint.safetensors"))
    }

    /// Appends `line` to the run's `train.log` after a UTC timestamp (nothing without a
    /// directory).
    pub fn log(&self, line: &str) -> std::io::Result<()> {
        use std::io::Write as _;
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("train.log"))?;
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
        writeln!(f, "{now} {line}")
    }

    /// The checkpoint, if the directory has one.
    pub fn load(&self) -> Result<Option<Loaded>> {
        let Some(path) = self.file() else {
            return Ok(None);
        };
        if !path.exists() {
            return Ok(None);
        }
        let mut tensors = candle_core::safetensors::load(&path, &Device::Cpu)?;
        let meta = tensors
            .remove("meta.json")
            .ok_or_else(|| candle_core::Error::Msg(format!("{}: no meta.json", path.display())))?;
        let bytes: Vec<u8> = meta.to_vec1()?;
        let progress: Progress = serde_json::from_slice(&bytes).map_err(|e| {
            candle_core::Error::Msg(format!("{}: bad meta.json: {e}", path.display()))
        })?;
        Ok(Some(Loaded { progress, tensors }))
    }

    /// Writes `progress` and `tensors` atomically (no-op without a directory).
    pub fn save(&self, progress: &Progress, tensors: &HashMap<String, Tensor>) -> Result<()> {
        let Some(path) = self.file() else {
            return Ok(());
        };
        let json =
            serde_json::to_vec(progress).map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let mut all = tensors.clone();
        let n = json.len();
        all.insert(
            "meta.json".into(),
            Tensor::from_vec(json, n, &Device::Cpu)?.to_dtype(DType::U8)?,
        );
        let tmp = path.with_extension("safetensors.tmp");
        candle_core::safetensors::save(&all, &tmp)?;
        std::fs::rename(&tmp, &path)?;
        let pretty = serde_json::to_string_pretty(progress)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let ptmp = dir.join("progress.json.tmp");
        std::fs::write(&ptmp, pretty)?;
        std::fs::rename(ptmp, dir.join("progress.json"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    #[test]
    fn roundtrip_and_rng_streams() {
        let dir = tempfile::tempdir().unwrap();
        let ck = Checkpointer::new(Some(dir.path())).unwrap();
        assert!(ck.load().unwrap().is_none());
        let p = Progress {
            fingerprint: "abc".into(),
            seed: 3,
            done: vec![],
            current: None,
        };
        let mut t = HashMap::new();
        t.insert(
            "model.w".to_string(),
            Tensor::new(&[1.5f32, -2.0], &Device::Cpu).unwrap(),
        );
        ck.save(&p, &t).unwrap();
        let l = ck.load().unwrap().unwrap();
        assert_eq!(l.progress, p);
        assert_eq!(
            l.tensors["model.w"].to_vec1::<f32>().unwrap(),
            vec![1.5, -2.0]
        );
        assert!(dir.path().join("progress.json").exists());
        assert!(!dir.path().join("checkpoint.safetensors.tmp").exists());
        assert_eq!(epoch_rng(1, 0, 4).next_u64(), epoch_rng(1, 0, 4).next_u64());
        assert_ne!(epoch_rng(1, 0, 4).next_u64(), epoch_rng(1, 1, 4).next_u64());
        assert_ne!(epoch_rng(1, 0, 4).next_u64(), epoch_rng(1, 0, 5).next_u64());
        assert!(Checkpointer::new(None).unwrap().load().unwrap().is_none());
    }
}
