//! Set-up shared by the integration tests (`synthetic.rs`, `alternatives.rs`,
//! `calibration.rs`): synthetic splits, stage configs, export metadata and an experiment run.

// Each test binary uses its own subset of these.
#![allow(dead_code)]

use chorder_models::bundle::Licence;
use chorder_train::checkpoint::StageProgress;
use chorder_train::config::{Monitor, StageConfig};
use chorder_train::data::Dataset;
use chorder_train::experiment::{run_experiment, ExperimentConfig, ExperimentReport};
use chorder_train::export::ExportInfo;
use chorder_train::optim::AdamParams;
use chorder_train::synth::{synthetic, SynthConfig};
use chorder_train::trainer::Control;
use std::path::Path;

/// `n` synthetic songs (`seed`; `feat_dim` features, the generator's default when `None`)
/// split in order into train (`n_train`), validation (`n_val`) and test (the rest).
pub fn sets(
    n: usize,
    seed: u64,
    feat_dim: Option<usize>,
    n_train: usize,
    n_val: usize,
) -> (Dataset, Dataset, Dataset) {
    let d = SynthConfig::default();
    let all = synthetic(&SynthConfig {
        n,
        seed,
        feat_dim: feat_dim.unwrap_or(d.feat_dim),
        ..d
    });
    let (train, rest) = all.split_at(n_train);
    let (val, test) = rest.split_at(n_val);
    (train, val, test)
}

/// A stage of `epochs` with Adam at `lr`, batches of `batch`, early stopping on the
/// validation loss after `patience` epochs without improvement.
pub fn stage(epochs: usize, batch: usize, lr: f64, patience: usize) -> StageConfig {
    StageConfig {
        epochs,
        batch_size: batch,
        optimizer: AdamParams {
            lr,
            ..Default::default()
        },
        adadelta: None,
        patience: Some(patience),
        min_delta: 0.0,
        monitor: Monitor::ValLoss,
    }
}

/// Export metadata of test bundles.
pub fn info() -> ExportInfo {
    ExportInfo {
        source: "synthetic".into(),
        source_sha256: String::new(),
        embedding_model: "test-embedding".into(),
        converted_by: "test".into(),
        licence: Licence {
            spdx: "MIT".into(),
            text: "test".into(),
        },
    }
}

/// [`run_experiment`] with musicnn's front end and [`info`]; `None` when `control`
/// stopped it.
pub fn run(
    cfg: &ExperimentConfig,
    sets: (&Dataset, &Dataset, &Dataset),
    out: &Path,
    control: &mut Control,
) -> Option<ExperimentReport> {
    let fe = chorder_engine::FrontEndConfig::musicnn();
    run_experiment(cfg, sets, out, &fe, &info(), control).unwrap()
}

/// Two runs' stage logs agree in names, epochs, best epoch and value (bit for bit) and
/// optimiser steps.
pub fn assert_same_stages(resumed: &[StageProgress], full: &[StageProgress]) {
    assert_eq!(resumed.len(), full.len());
    for (r, f) in resumed.iter().zip(full) {
        assert_eq!(
            (
                &r.name,
                r.epochs_done,
                r.best_epoch,
                r.best_bits,
                r.optimizer_steps
            ),
            (
                &f.name,
                f.epochs_done,
                f.best_epoch,
                f.best_bits,
                f.optimizer_steps
            )
        );
    }
}
