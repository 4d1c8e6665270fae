//! One experiment, end to end: train the study's model and HitMusicNet on the same split,
//! evaluate both and the random baseline on the test set, write bundles and reports.
//!
//! Output folder layout:
//! - `study/`, `hitmusicnet/`: run directories (per-epoch checkpoints; a re-run of the same
//!   command resumes there);
//! - `chorder_popularity.safetensors`, `hitmusicnet.safetensors`: model bundles, each with
//!   its split-conformal calibration on the validation split (`BundleMeta::calibration`);
//! - `report.json` ([`ExperimentReport`]), `report.txt` (the table of
//!   [`EvalReport::table`] plus per-stage epochs and times);
//! - `report.md`, `scatter.png`, `bands.png`, `training.png` ([`crate::report`]);
//! - `alternatives/<name>/`: run directories of the alternatives the config enables
//!   ([`crate::alternatives`]); they are evaluated on the same test set and appear in all
//!   the reports, between HitMusicNet and the random baseline.

use crate::alternatives::{train_alternative, AlternativeStages, AlternativesConfig};
use crate::checkpoint::StageProgress;
use crate::config::{HmnRunConfig, RunConfig};
use crate::data::Dataset;
use crate::export::{
    calibration_from_predictions, hitmusicnet_bundle, popularity_bundle, training_record,
    with_calibration, with_training, ExportInfo,
};
use crate::metrics::EvalReport;
use crate::report::{write_markdown_report, ReportInputs};
use crate::trainer::{predict_hmn, predict_study, train_hitmusicnet, train_study, Control};
use chorder_engine::FrontEndConfig;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Both models' run configs, the evaluation seed and the alternatives to train as well.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ExperimentConfig {
    /// The study's model.
    pub study: RunConfig,
    /// The HitMusicNet baseline.
    pub hitmusicnet: HmnRunConfig,
    /// Seed of the random baseline's draws.
    pub eval_seed: u64,
    /// Alternative models to train and evaluate as well (default: none).
    pub alternatives: AlternativesConfig,
}

impl ExperimentConfig {
    /// Sets the input sizes of both models from the data: embedding size `D` and feature
    /// count `F` (HitMusicNet's widths are re-derived from `F` when they were sized for
    /// another input).
    pub fn fit_to_data(&mut self, emb_dim: usize, feat_dim: usize) {
        self.study.model.seq.emb_dim = emb_dim;
        self.study.model.features.input_dim = feat_dim;
        if self.hitmusicnet.model.input_dim != feat_dim {
            let dropout = self.hitmusicnet.model.dropout;
            self.hitmusicnet.model =
                chorder_models::hitmusicnet::HitMusicNetConfig::for_input(feat_dim);
            self.hitmusicnet.model.dropout = dropout;
        }
        self.alternatives.fit_to_data(emb_dim, feat_dim);
    }
}

/// What an experiment produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentReport {
    /// Test-set comparison.
    pub eval: EvalReport,
    /// Songs in train / validation / test.
    pub sizes: [usize; 3],
    /// Stages of the study's model.
    pub study_stages: Vec<StageProgress>,
    /// Stages of HitMusicNet.
    pub hitmusicnet_stages: Vec<StageProgress>,
    /// Stages of each enabled alternative, in report order (absent from JSON when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternative_stages: Vec<AlternativeStages>,
}

fn stage_lines(name: &str, stages: &[StageProgress]) -> String {
    let mut s = String::new();
    for st in stages {
        let secs: f64 = st.history.iter().map(|e| e.seconds).sum();
        let per = secs / st.history.len().max(1) as f64;
        s += &format!(
            "{name}/{:<20} {:4} epochs, best {:4} (monitored {:.6}){}, {:.2} s/epoch\n",
            st.name,
            st.epochs_done,
            st.best_epoch,
            st.best,
            if st.stopped_early {
                ", stopped early"
            } else {
                ""
            },
            per
        );
    }
    s
}

/// Runs the experiment into `out` (see the module doc). Returns `None` when `control`
/// stopped it; running it again resumes.
pub fn run_experiment(
    cfg: &ExperimentConfig,
    (train, val, test): (&Dataset, &Dataset, &Dataset),
    out: &Path,
    front_end: &FrontEndConfig,
    info: &ExportInfo,
    control: &mut Control,
) -> anyhow::Result<Option<ExperimentReport>> {
    std::fs::create_dir_all(out)?;
    let Some(study) = train_study(&cfg.study, train, val, Some(&out.join("study")), control)?
    else {
        return Ok(None);
    };
    let Some(hmn) = train_hitmusicnet(
        &cfg.hitmusicnet,
        train,
        val,
        Some(&out.join("hitmusicnet")),
        control,
    )?
    else {
        return Ok(None);
    };
    let mut alternatives = Vec::new();
    for &kind in &cfg.alternatives.enabled {
        let dir = out.join("alternatives").join(kind.name());
        let Some(t) = train_alternative(kind, &cfg.alternatives, train, val, Some(&dir), control)?
        else {
            return Ok(None);
        };
        alternatives.push(t);
    }
    // Intervals: split-conformal calibration on the validation split (not fitted, but used
    // for early stopping and to keep the best epoch).
    let val_source = format!(
        "validation split ({} songs) of {}; training used it for early stopping",
        val.len(),
        info.source
    );
    let calibrated = |bytes: Vec<u8>, pred: Vec<f32>| -> anyhow::Result<Vec<u8>> {
        let cal = calibration_from_predictions(&pred, &val.targets(), &val_source)
            .map_err(anyhow::Error::msg)?;
        Ok(with_calibration(&bytes, cal)?)
    };
    let truth = test.targets();
    let p_study = predict_study(&study.model, test)?;
    let p_hmn = predict_hmn(&hmn.model, test)?;
    let mut eval = EvalReport::new(
        ("chorder", &p_study),
        ("hitmusicnet", &p_hmn),
        &truth,
        train.target_mean_sd(),
        cfg.eval_seed,
    );
    let p_alt = alternatives
        .iter()
        .map(|a| Ok((a.kind.name(), a.predict(test)?)))
        .collect::<candle_core::Result<Vec<_>>>()?;
    for (name, p) in &p_alt {
        eval.add_model(name, p, &p_hmn, &truth);
    }
    // Bundles: weights, calibration and the training record (config, stages, test metrics).
    let sizes = [train.len(), val.len(), test.len()];
    let metrics_of = |name: &str| {
        eval.models
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.metrics)
    };
    let study_record = training_record(
        info,
        serde_json::to_value(&cfg.study)?,
        sizes,
        &study.stages,
        metrics_of("chorder").as_ref(),
    );
    std::fs::write(
        out.join("chorder_popularity.safetensors"),
        with_training(
            &calibrated(
                popularity_bundle(&study.varmap, &cfg.study.model, front_end, info)?,
                predict_study(&study.model, val)?,
            )?,
            study_record,
        )?,
    )?;
    let hmn_record = training_record(
        info,
        serde_json::to_value(&cfg.hitmusicnet)?,
        sizes,
        &hmn.stages,
        metrics_of("hitmusicnet").as_ref(),
    );
    std::fs::write(
        out.join("hitmusicnet.safetensors"),
        with_training(
            &calibrated(
                hitmusicnet_bundle(&hmn.varmap, &cfg.hitmusicnet.model, front_end, info)?,
                predict_hmn(&hmn.model, val)?,
            )?,
            hmn_record,
        )?,
    )?;
    let report = ExperimentReport {
        eval,
        sizes,
        study_stages: study.stages,
        hitmusicnet_stages: hmn.stages,
        alternative_stages: alternatives
            .into_iter()
            .map(|a| AlternativeStages {
                name: a.kind.name().to_string(),
                stages: a.stages,
            })
            .collect(),
    };
    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    let mut text = format!(
        "train {} / validation {} / test {} songs\n\n{}\n{}{}",
        train.len(),
        val.len(),
        test.len(),
        report.eval.table(),
        stage_lines("chorder", &report.study_stages),
        stage_lines("hitmusicnet", &report.hitmusicnet_stages)
    );
    for a in &report.alternative_stages {
        text += &stage_lines(&a.name, &a.stages);
    }
    std::fs::write(out.join("report.txt"), text)?;
    let mut predictions: Vec<(&str, &[f32])> = vec![("chorder", &p_study), ("hitmusicnet", &p_hmn)];
    predictions.extend(p_alt.iter().map(|(n, p)| (*n, p.as_slice())));
    let mut stages: Vec<(&str, &[StageProgress])> = vec![
        ("chorder", &report.study_stages),
        ("hitmusicnet", &report.hitmusicnet_stages),
    ];
    stages.extend(
        report
            .alternative_stages
            .iter()
            .map(|a| (a.name.as_str(), a.stages.as_slice())),
    );
    write_markdown_report(
        out,
        &report.eval,
        &ReportInputs {
            title: "Chorder popularity model: evaluation",
            sizes: Some(report.sizes),
            truth: &truth,
            predictions: &predictions,
            stages: &stages,
        },
    )?;
    Ok(Some(report))
}
