//! Writes trained models as Chorder model bundles (`chorder_models::bundle`): the one
//! format the plugin and `analyze` load.
//!
//! A popularity bundle's tensors are the model's variables under their own names
//! (`seq_ae.*`, `feat_ae.*`, `head.*`, normalisation buffers included); its `model_config` is
//! the [`PopularityModelConfig`](chorder_models::regressor::PopularityModelConfig); its front
//! end and streaming contract are those of the embedding model whose windows it was trained
//! on (the popularity model consumes one embedding per patch), and its single output is
//! `popularity`, a value in (0, 1) = Spotify popularity / 100.

use candle_core::DType;
use candle_nn::VarMap;
use chorder_engine::FrontEndConfig;
use chorder_models::bundle::{
    rewrite_metadata, write_bundle, BundleError, BundleMeta, HeldOutMetrics, Licence, NamedTensor,
    OutputSpec, Provenance, StageRecord, StreamingContract, TrainingRecord, FORMAT_VERSION,
};
use chorder_models::calibration::{ConformalCalibration, DEFAULT_COVERAGES};
use chorder_models::hitmusicnet::HITMUSICNET_KIND;
use chorder_models::regressor::POPULARITY_KIND;

/// What a bundle says about where its weights came from.
#[derive(Debug, Clone)]
pub struct ExportInfo {
    /// The data set trained on (name and version, e.g. `SpotGenTrack 10k split seed 7`).
    pub source: String,
    /// sha256 of the data set's manifest, lower-case hex (empty if none).
    pub source_sha256: String,
    /// Id of the embedding bundle whose windows the data holds (e.g. `musicnn-…`), recorded
    /// in the bundle's [`TrainingRecord`].
    pub embedding_model: String,
    /// Tool and procedure (e.g. `chorder-train 0.1.0, run config sha …`).
    pub converted_by: String,
    /// Licence of the trained weights.
    pub licence: Licence,
}

/// All variables of `vm` as bundle tensors (`f32`), sorted by name.
pub fn varmap_tensors(vm: &VarMap) -> candle_core::Result<Vec<NamedTensor>> {
    let data = vm.data().lock().unwrap();
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let t = data[n].as_tensor().to_dtype(DType::F32)?;
            Ok((
                n.clone(),
                t.dims().to_vec(),
                t.flatten_all()?.to_vec1::<f32>()?,
            ))
        })
        .collect()
}

fn meta(
    kind: &str,
    config: serde_json::Value,
    front_end: &FrontEndConfig,
    info: &ExportInfo,
    description: &str,
) -> BundleMeta {
    let p = front_end.patch;
    BundleMeta {
        format_version: FORMAT_VERSION,
        model_kind: kind.into(),
        model_config: config,
        front_end: front_end.clone(),
        streaming: StreamingContract::from_patch(&p),
        outputs: vec![OutputSpec {
            name: "popularity".into(),
            size: 1,
            description: description.into(),
        }],
        tags: vec![],
        provenance: Provenance {
            source: info.source.clone(),
            source_sha256: info.source_sha256.clone(),
            checkpoint: String::new(),
            converted_by: info.converted_by.clone(),
            tensors: vec![],
        },
        licence: info.licence.clone(),
        data_sha256: String::new(),
        calibration: None,
        training: None,
    }
}

/// Bundle bytes of a trained study model (`model_kind` = `chorder_popularity`).
pub fn popularity_bundle(
    vm: &VarMap,
    cfg: &chorder_models::regressor::PopularityModelConfig,
    front_end: &FrontEndConfig,
    info: &ExportInfo,
) -> Result<Vec<u8>, BundleError> {
    let config = serde_json::to_value(cfg).map_err(|e| BundleError::Write(e.to_string()))?;
    let desc = "predicted Spotify popularity / 100, sigmoid output in (0, 1); inputs: one embedding per patch (step) and the low-level feature vector";
    write_bundle(
        &meta(POPULARITY_KIND, config, front_end, info, desc),
        &varmap_tensors(vm)?,
    )
}

/// Bundle bytes of a trained HitMusicNet (`model_kind` = `hitmusicnet`).
pub fn hitmusicnet_bundle(
    vm: &VarMap,
    cfg: &chorder_models::hitmusicnet::HitMusicNetConfig,
    front_end: &FrontEndConfig,
    info: &ExportInfo,
) -> Result<Vec<u8>, BundleError> {
    let config = serde_json::to_value(cfg).map_err(|e| BundleError::Write(e.to_string()))?;
    let desc = "HitMusicNet baseline: predicted popularity / 100, sigmoid output in (0, 1); input: the feature vector";
    write_bundle(
        &meta(HITMUSICNET_KIND, config, front_end, info, desc),
        &varmap_tensors(vm)?,
    )
}

/// Split-conformal calibration ([`ConformalCalibration`], at
/// [`DEFAULT_COVERAGES`]) from a model's predictions and the true targets of held-out songs
/// it did not fit, both on the 0-1 scale (residuals are stored ×100, popularity points).
/// `source` says which songs they are. Errors on mismatched lengths or too few songs.
pub fn calibration_from_predictions(
    pred: &[f32],
    truth: &[f32],
    source: &str,
) -> Result<ConformalCalibration, String> {
    if pred.len() != truth.len() {
        return Err(format!(
            "{} predictions for {} targets",
            pred.len(),
            truth.len()
        ));
    }
    let residuals: Vec<f32> = pred
        .iter()
        .zip(truth)
        .map(|(p, t)| 100.0 * (p - t).abs())
        .collect();
    ConformalCalibration::from_residuals(&residuals, &DEFAULT_COVERAGES, source)
}

/// The bundle `bytes` with a [`TrainingRecord`] in its metadata (tensors untouched).
pub fn with_training(bytes: &[u8], record: TrainingRecord) -> Result<Vec<u8>, BundleError> {
    rewrite_metadata(bytes, |m| m.training = Some(record))
}

/// The [`TrainingRecord`] of a model trained on `sizes` songs (train, validation, test) with
/// `run_config`, from its stages and its held-out test metrics.
pub fn training_record(
    info: &ExportInfo,
    run_config: serde_json::Value,
    sizes: [usize; 3],
    stages: &[crate::checkpoint::StageProgress],
    test: Option<&crate::metrics::Metrics>,
) -> TrainingRecord {
    TrainingRecord {
        embedding_model: info.embedding_model.clone(),
        target: "Spotify popularity / 100: the output lies in (0, 1); x 100 gives 0-100".into(),
        run_config,
        split_sizes: sizes,
        stages: stages
            .iter()
            .map(|s| StageRecord {
                name: s.name.clone(),
                epochs: s.epochs_done,
                best_epoch: s.best_epoch,
                best_monitored: s.best,
                stopped_early: s.stopped_early,
            })
            .collect(),
        test: test.map(|m| HeldOutMetrics {
            n: m.n,
            mae: m.mae,
            mse: m.mse,
            r2: m.r2,
        }),
    }
}

/// The bundle `bytes` with `calibration` stored in its metadata (tensors unchanged).
pub fn with_calibration(
    bytes: &[u8],
    calibration: ConformalCalibration,
) -> Result<Vec<u8>, BundleError> {
    rewrite_metadata(bytes, |m| m.calibration = Some(calibration))
}
