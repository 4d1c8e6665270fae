//! The three alternative models of issue 6, selectable by config and trained on the same
//! split as the study's model (see [`crate::experiment`]):
//!
//! - [`Alternative::SingleAe`] (`single-ae`): one autoencoder on the embedding sequence and
//!   the feature vector together ([`chorder_models::single_autoencoder`]), then the
//!   regressor on its 20-d code. Two stages as the study: `single_ae_autoencoder` on the
//!   reconstruction loss, `single_ae_regressor` on the frozen codes with the regression loss.
//! - [`Alternative::LstmRegressor`] (`lstm-regressor`): LSTM over the embeddings, features
//!   concatenated after it, the regressor on top ([`chorder_models::lstm_regressor`]),
//!   trained end to end on the regression loss in one stage, `lstm_regressor`.
//! - [`Alternative::HmnEmbedding`] (`hmn-embedding`): HitMusicNet's pipeline (its trainer,
//!   [`crate::trainer::train_hitmusicnet`], stages `hmn_embedding_autoencoder`,
//!   `hmn_embedding_regressor`) on the feature vector
//!   extended with the embeddings' per-dimension mean and sd
//!   ([`chorder_models::hmn_embedding`]).
//!
//! Each trains through the trainer's stage loop (early stopping, best epoch, per-epoch
//! checkpoints, exact resume) in its own run directory. Defaults: the study's (Adam lr 1e-3,
//! batch 200, weighted loss α = β = 2, Xavier-uniform weights with bias 0.1, 20-d codes, the
//! study's 7-layer regressor) for the first two, HitMusicNet's for the third.

use crate::checkpoint::StageProgress;
use crate::config::{HmnRunConfig, StageConfig};
use crate::data::{Dataset, Sample};
use crate::loss::{LossConfig, RegressionLoss};
use crate::trainer::{
    batch_loss_stage, fingerprint, init_study_scheme, monitored, over_batches,
    regressor_on_codes_stage, standardise, train_hitmusicnet_as, Control, Run, StageFns,
};
use candle_core::{DType, Device, Result, Tensor};
use candle_nn::{VarBuilder, VarMap};
use chorder_models::hitmusicnet::HitMusicNetConfig;
use chorder_models::hmn_embedding::{embedding_summary, HmnEmbedding};
use chorder_models::init::DTYPE;
use chorder_models::lstm_regressor::{LstmRegressor, LstmRegressorConfig};
use chorder_models::single_autoencoder::{SingleAeModel, SingleAeModelConfig};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One of the alternative models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Alternative {
    /// One autoencoder on both inputs, then the regressor on its code.
    SingleAe,
    /// LSTM (+ features) straight into the regressor, end to end, no autoencoder.
    LstmRegressor,
    /// HitMusicNet on the features extended with the embeddings' mean and sd.
    HmnEmbedding,
}

impl Alternative {
    /// All of them, in report order.
    pub const ALL: [Alternative; 3] = [
        Alternative::SingleAe,
        Alternative::LstmRegressor,
        Alternative::HmnEmbedding,
    ];

    /// The name in configs, on the command line and in reports (`single-ae`,
    /// `lstm-regressor`, `hmn-embedding`).
    pub fn name(self) -> &'static str {
        match self {
            Alternative::SingleAe => "single-ae",
            Alternative::LstmRegressor => "lstm-regressor",
            Alternative::HmnEmbedding => "hmn-embedding",
        }
    }
}

impl std::str::FromStr for Alternative {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Alternative::ALL
            .into_iter()
            .find(|a| a.name() == s.trim())
            .ok_or_else(|| {
                format!(
                    "unknown alternative {s:?}; expected one of {}",
                    Alternative::ALL.map(Alternative::name).join(", ")
                )
            })
    }
}

/// Parses a command-line list: `all`, `none`, or names separated by commas
/// (`single-ae,lstm-regressor`). Returns them deduplicated, in [`Alternative::ALL`] order.
pub fn parse_alternatives(list: &str) -> std::result::Result<Vec<Alternative>, String> {
    let mut out = match list.trim() {
        "all" => Alternative::ALL.to_vec(),
        "none" | "" => vec![],
        l => l
            .split(',')
            .map(str::parse)
            .collect::<std::result::Result<Vec<_>, _>>()?,
    };
    out.sort();
    out.dedup();
    Ok(out)
}

/// Training run of the single autoencoder + regressor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SingleAeRunConfig {
    /// Seed of everything random (initial weights, shuffling, dropout).
    pub seed: u64,
    /// Network sizes.
    pub model: SingleAeModelConfig,
    /// Constant bias of every linear layer at initialisation (study: 0.1).
    pub init_bias: f64,
    /// Stage 1: the autoencoder on its reconstruction loss.
    pub autoencoder: StageConfig,
    /// Stage 2: the regressor on the frozen codes.
    pub regressor: StageConfig,
    /// The regressor's loss (default: the study's weighted MSE).
    pub loss: LossConfig,
}

impl Default for SingleAeRunConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            model: SingleAeModelConfig::default(),
            init_bias: 0.1,
            autoencoder: StageConfig::default(),
            regressor: StageConfig::default(),
            loss: LossConfig::default(),
        }
    }
}

/// Training run of the LSTM regressor (one stage, end to end).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LstmRegressorRunConfig {
    /// Seed of everything random.
    pub seed: u64,
    /// Network sizes.
    pub model: LstmRegressorConfig,
    /// Constant bias of every linear layer at initialisation (study: 0.1).
    pub init_bias: f64,
    /// The one stage: LSTM and regressor together on the regression loss.
    pub regressor: StageConfig,
    /// The loss (default: the study's weighted MSE).
    pub loss: LossConfig,
}

impl Default for LstmRegressorRunConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            model: LstmRegressorConfig::default(),
            init_bias: 0.1,
            regressor: StageConfig::default(),
            loss: LossConfig::default(),
        }
    }
}

/// Which alternatives an experiment trains, and their run configs (JSON key
/// `alternatives` of [`crate::experiment::ExperimentConfig`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlternativesConfig {
    /// The alternatives to train (default: none), e.g. `["single-ae", "hmn-embedding"]`.
    pub enabled: Vec<Alternative>,
    /// `single-ae`.
    pub single_ae: SingleAeRunConfig,
    /// `lstm-regressor`.
    pub lstm_regressor: LstmRegressorRunConfig,
    /// `hmn-embedding`: HitMusicNet's run config; its `model.input_dim` is `F + 2D`.
    pub hmn_embedding: HmnRunConfig,
}

impl Default for AlternativesConfig {
    fn default() -> Self {
        let mut c = Self {
            enabled: vec![],
            single_ae: SingleAeRunConfig::default(),
            lstm_regressor: LstmRegressorRunConfig::default(),
            hmn_embedding: HmnRunConfig::default(),
        };
        c.fit_to_data(128, 207);
        c
    }
}

impl AlternativesConfig {
    /// Sets every alternative's input sizes from the data (`D`, `F`); HitMusicNet's widths
    /// are re-derived for `F + 2D` inputs when they were sized for another input.
    pub fn fit_to_data(&mut self, emb_dim: usize, feat_dim: usize) {
        self.single_ae.model.fit_to_data(emb_dim, feat_dim);
        self.lstm_regressor.model.fit_to_data(emb_dim, feat_dim);
        let n = feat_dim + 2 * emb_dim;
        if self.hmn_embedding.model.input_dim != n {
            let dropout = self.hmn_embedding.model.dropout;
            self.hmn_embedding.model = HitMusicNetConfig::for_input(n);
            self.hmn_embedding.model.dropout = dropout;
        }
    }
}

/// A trained alternative network.
#[derive(Debug, Clone)]
pub enum AlternativeModel {
    /// `single-ae`.
    SingleAe(SingleAeModel),
    /// `lstm-regressor`.
    LstmRegressor(LstmRegressor),
    /// `hmn-embedding`.
    HmnEmbedding(HmnEmbedding),
}

impl AlternativeModel {
    /// Popularity `[B]` in (0, 1) of a padded batch: embeddings `[B, T, D]` with lengths,
    /// raw features `[B, F]`.
    pub fn forward(&self, emb: &Tensor, lengths: &[usize], features: &Tensor) -> Result<Tensor> {
        match self {
            AlternativeModel::SingleAe(m) => m.forward(emb, lengths, features),
            AlternativeModel::LstmRegressor(m) => m.forward(emb, lengths, features),
            AlternativeModel::HmnEmbedding(m) => m.forward(emb, lengths, features),
        }
    }
}

/// A finished alternative run.
pub struct TrainedAlternative {
    /// Which one.
    pub kind: Alternative,
    /// All its variables, best weights of each stage.
    pub varmap: VarMap,
    /// The network reading them.
    pub model: AlternativeModel,
    /// Per-stage logs, in order.
    pub stages: Vec<StageProgress>,
}

impl TrainedAlternative {
    /// Predictions in \[0, 1\] for every song of `ds`, in order.
    pub fn predict(&self, ds: &Dataset) -> Result<Vec<f32>> {
        over_batches(ds, |b| {
            self.model.forward(&b.embeddings, &b.lengths, &b.features)
        })?
        .to_dtype(DType::F32)?
        .to_vec1()
    }
}

/// An alternative's stage logs, as [`crate::experiment::ExperimentReport`] stores them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlternativeStages {
    /// The alternative's name ([`Alternative::name`]).
    pub name: String,
    /// Its stages, in order.
    pub stages: Vec<StageProgress>,
}

fn check_sizes(name: &str, (d, f): (usize, usize), data: &Dataset) -> Result<()> {
    if (d, f) != (data.emb_dim, data.feat_dim) {
        candle_core::bail!(
            "{name} expects D = {d}, F = {f}; data has D = {}, F = {}",
            data.emb_dim,
            data.feat_dim
        );
    }
    Ok(())
}

/// The set-up the two sequence alternatives share: checks the data's sizes against the
/// model's `(D, F)`, loads the model with `load` on a fresh varmap, initialises it with the
/// study's scheme (`seed`, `bias`) and standardises its normalisers
/// `{norm_prefix}emb_norm` and `{norm_prefix}feat_norm` on `train`.
fn build<M>(
    name: &str,
    sizes: (usize, usize),
    (seed, bias): (u64, f64),
    norm_prefix: &str,
    train: &Dataset,
    load: impl FnOnce(VarBuilder) -> Result<M>,
) -> Result<(VarMap, M)> {
    check_sizes(name, sizes, train)?;
    let vm = VarMap::new();
    let model = load(VarBuilder::from_varmap(&vm, DTYPE, &Device::Cpu))?;
    init_study_scheme(&vm, seed, bias)?;
    standardise(
        &vm,
        &format!("{norm_prefix}emb_norm"),
        &train.embedding_rows(),
    )?;
    standardise(
        &vm,
        &format!("{norm_prefix}feat_norm"),
        &train.feature_rows(),
    )?;
    Ok((vm, model))
}

/// Trains `single-ae` on `train`, early-stopping on `val`; with `run_dir`, checkpoints every
/// epoch and resumes. `None` when [`Control::stop_after_epochs`] stopped it.
pub fn train_single_ae(
    cfg: &SingleAeRunConfig,
    train: &Dataset,
    val: &Dataset,
    run_dir: Option<&Path>,
    control: &mut Control,
) -> Result<Option<TrainedAlternative>> {
    let dev = Device::Cpu;
    let ae = &cfg.model.autoencoder;
    let (vm, model) = build(
        "single-ae",
        (ae.emb_dim, ae.feat_dim),
        (cfg.seed, cfg.init_bias),
        "ae.",
        train,
        |vb| SingleAeModel::load(cfg.model.clone(), vb),
    )?;
    let mut run = Run::open(
        &vm,
        run_dir,
        fingerprint(cfg, train, val),
        cfg.seed,
        control,
    )?;
    let m = &model;
    if !batch_loss_stage(
        &mut run,
        (0, "single_ae_autoencoder", &cfg.autoencoder, "ae."),
        (train, val),
        |b| {
            m.ae.reconstruction_loss(&b.embeddings, &b.lengths, &b.features)
        },
    )? {
        return Ok(None);
    }
    // The regressor on the frozen codes.
    let (mean, sd) = train.target_mean_sd();
    let loss = RegressionLoss::new(&cfg.loss, mean, sd);
    {
        let codes = |ds: &Dataset| {
            over_batches(ds, |b| m.ae.encode(&b.embeddings, &b.lengths, &b.features))
        };
        let (train_codes, val_codes) = (codes(train)?, codes(val)?);
        let train_y = Tensor::from_vec(train.targets(), train.len(), &dev)?;
        let val_y = Tensor::from_vec(val.targets(), val.len(), &dev)?;
        let head = |x: &Tensor, rng: Option<&mut dyn RngCore>| m.head_forward_t(x, rng);
        if !regressor_on_codes_stage(
            &mut run,
            (1, "single_ae_regressor", &cfg.regressor),
            &head,
            &loss,
            (&train_codes, &train_y),
            (&val_codes, &val_y),
        )? {
            return Ok(None);
        }
    }
    let stages = run.progress.done.clone();
    Ok(Some(TrainedAlternative {
        kind: Alternative::SingleAe,
        varmap: vm,
        model: AlternativeModel::SingleAe(model),
        stages,
    }))
}

/// Trains `lstm-regressor` end to end (one stage) on `train`, early-stopping on `val`;
/// checkpoints and resume as [`train_single_ae`].
pub fn train_lstm_regressor(
    cfg: &LstmRegressorRunConfig,
    train: &Dataset,
    val: &Dataset,
    run_dir: Option<&Path>,
    control: &mut Control,
) -> Result<Option<TrainedAlternative>> {
    let dev = Device::Cpu;
    let (vm, model) = build(
        "lstm-regressor",
        (cfg.model.emb_dim, cfg.model.feat_dim),
        (cfg.seed, cfg.init_bias),
        "",
        train,
        |vb| LstmRegressor::load(cfg.model.clone(), vb),
    )?;
    let mut run = Run::open(
        &vm,
        run_dir,
        fingerprint(cfg, train, val),
        cfg.seed,
        control,
    )?;
    let (mean, sd) = train.target_mean_sd();
    let loss = RegressionLoss::new(&cfg.loss, mean, sd);
    let m = &model;
    let val_y = Tensor::from_vec(val.targets(), val.len(), &dev)?;
    let mut batch_loss = |idx: &[usize], rng: &mut dyn RngCore| -> Result<Tensor> {
        let b = train.batch(idx, &dev)?;
        let pred = m.forward_t(&b.embeddings, &b.lengths, &b.features, Some(rng))?;
        loss.loss(&pred, &b.targets)
    };
    let monitor = cfg.regressor.monitor;
    let mut validate = || -> Result<f64> {
        let pred = over_batches(val, |b| m.forward(&b.embeddings, &b.lengths, &b.features))?;
        monitored(&pred, &val_y, monitor, &loss)
    };
    let fns = StageFns {
        batch_loss: &mut batch_loss,
        validate: &mut validate,
    };
    // Everything trains (the normalisers are buffers, never trained).
    if !run.stage(0, "lstm_regressor", &cfg.regressor, "", train.len(), fns)? {
        return Ok(None);
    }
    let stages = run.progress.done.clone();
    Ok(Some(TrainedAlternative {
        kind: Alternative::LstmRegressor,
        varmap: vm,
        model: AlternativeModel::LstmRegressor(model),
        stages,
    }))
}

/// `ds` with every song's feature vector extended by its embedding summary
/// ([`embedding_summary`]: per-dimension mean and sd over its windows), `F → F + 2D`.
pub fn with_embedding_summary(ds: &Dataset) -> Result<Dataset> {
    let summary = over_batches(ds, |b| embedding_summary(&b.embeddings, &b.lengths))?
        .to_dtype(DType::F32)?
        .to_vec2::<f32>()?;
    let mut out = Dataset::new(ds.emb_dim, ds.feat_dim + 2 * ds.emb_dim);
    for (s, extra) in ds.samples.iter().zip(summary) {
        let mut features = s.features.clone();
        features.extend(extra);
        out.push(Sample {
            features,
            ..s.clone()
        })
        .map_err(candle_core::Error::Msg)?;
    }
    Ok(out)
}

/// Trains `hmn-embedding`: HitMusicNet's trainer on [`with_embedding_summary`] of both
/// sets (`cfg.model.input_dim` must be `F + 2D`).
pub fn train_hmn_embedding(
    cfg: &HmnRunConfig,
    train: &Dataset,
    val: &Dataset,
    run_dir: Option<&Path>,
    control: &mut Control,
) -> Result<Option<TrainedAlternative>> {
    let (train_x, val_x) = (with_embedding_summary(train)?, with_embedding_summary(val)?);
    let names = ["hmn_embedding_autoencoder", "hmn_embedding_regressor"];
    let Some(hmn) = train_hitmusicnet_as(names, cfg, &train_x, &val_x, run_dir, control)? else {
        return Ok(None);
    };
    Ok(Some(TrainedAlternative {
        kind: Alternative::HmnEmbedding,
        varmap: hmn.varmap,
        model: AlternativeModel::HmnEmbedding(HmnEmbedding::new(hmn.model, train.emb_dim)?),
        stages: hmn.stages,
    }))
}

/// Trains the alternative `kind` with its config from `cfg`.
pub fn train_alternative(
    kind: Alternative,
    cfg: &AlternativesConfig,
    train: &Dataset,
    val: &Dataset,
    run_dir: Option<&Path>,
    control: &mut Control,
) -> Result<Option<TrainedAlternative>> {
    match kind {
        Alternative::SingleAe => train_single_ae(&cfg.single_ae, train, val, run_dir, control),
        Alternative::LstmRegressor => {
            train_lstm_regressor(&cfg.lstm_regressor, train, val, run_dir, control)
        }
        Alternative::HmnEmbedding => {
            train_hmn_embedding(&cfg.hmn_embedding, train, val, run_dir, control)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::from_json_over_defaults;

    #[test]
    fn names_lists_and_json_over_defaults() {
        assert_eq!(
            parse_alternatives("all").unwrap(),
            Alternative::ALL.to_vec()
        );
        assert_eq!(parse_alternatives("none").unwrap(), vec![]);
        assert_eq!(
            parse_alternatives("hmn-embedding, single-ae,hmn-embedding").unwrap(),
            vec![Alternative::SingleAe, Alternative::HmnEmbedding]
        );
        let e = parse_alternatives("single-ae,lstm").unwrap_err();
        assert!(
            e.contains("\"lstm\"") && e.contains("lstm-regressor"),
            "{e}"
        );
        let d = AlternativesConfig::default();
        assert!(d.enabled.is_empty());
        assert_eq!(d.single_ae.model.autoencoder.code_dim, 20);
        assert_eq!(d.single_ae.model.head.input_dim, 20);
        assert_eq!(d.single_ae.regressor.batch_size, 200);
        assert_eq!(d.lstm_regressor.model.head.input_dim, 64 + 207);
        assert_eq!(d.lstm_regressor.init_bias, 0.1);
        assert_eq!(d.hmn_embedding.model.input_dim, 207 + 256);
        let c: AlternativesConfig = from_json_over_defaults(
            r#"{"enabled": ["lstm-regressor"], "lstm_regressor": {"regressor": {"epochs": 3}}}"#,
        )
        .unwrap();
        assert_eq!(c.enabled, vec![Alternative::LstmRegressor]);
        assert_eq!(c.lstm_regressor.regressor.epochs, 3);
        assert_eq!(c.lstm_regressor.regressor.batch_size, 200);
        assert_eq!(c.hmn_embedding.autoencoder.batch_size, 32);
        assert!(from_json_over_defaults::<AlternativesConfig>(r#"{"enabled": ["x"]}"#).is_err());
        let mut f = d.clone();
        f.fit_to_data(12, 48);
        assert_eq!(f.hmn_embedding.model.input_dim, 72);
        assert_eq!(f.hmn_embedding.model.ae_dims, [36, 24, 14]);
        assert_eq!(f.lstm_regressor.model.head.input_dim, 64 + 48);
        // Through the experiment config: nested fields over the defaults, sizes from data.
        let mut e: crate::experiment::ExperimentConfig = from_json_over_defaults(
            r#"{"alternatives": {"enabled": ["single-ae"], "single_ae": {"model": {"autoencoder": {"code_dim": 10}}}}}"#,
        )
        .unwrap();
        e.fit_to_data(12, 48);
        let s = &e.alternatives.single_ae;
        assert_eq!(e.alternatives.enabled, vec![Alternative::SingleAe]);
        assert_eq!(
            (s.model.autoencoder.code_dim, s.model.head.input_dim),
            (10, 10)
        );
        assert_eq!(s.model.autoencoder.lstm_dims, vec![64]);
        assert_eq!(s.model.head.hidden_dims.len(), 6);
        assert_eq!(
            (s.model.autoencoder.emb_dim, s.model.autoencoder.feat_dim),
            (12, 48)
        );
        assert_eq!(e.study.model.seq.emb_dim, 12);
    }

    #[test]
    fn summary_extends_the_features() {
        let ds = crate::synth::synthetic(&crate::synth::SynthConfig {
            n: 5,
            emb_dim: 3,
            feat_dim: 4,
            ..Default::default()
        });
        let x = with_embedding_summary(&ds).unwrap();
        assert_eq!(x.feat_dim, 10);
        let s = &ds.samples[2];
        let xs = &x.samples[2];
        assert_eq!(&xs.features[..4], &s.features[..]);
        // Mean of dimension 1 over the song's windows.
        let col: Vec<f32> = s.embeddings.chunks(3).map(|w| w[1]).collect();
        let mean = col.iter().sum::<f32>() / col.len() as f32;
        assert!((xs.features[5] - mean).abs() < 1e-5);
        assert_eq!((xs.n_steps, xs.target), (s.n_steps, s.target));
    }
}
