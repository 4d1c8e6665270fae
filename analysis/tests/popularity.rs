//! The stateful tracker (one window at a time) equals the model's batch forward over each
//! prefix of the song, for random weights: the plugin's live numbers are the offline ones.

use candle_core::{Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use chorder_analysis::{PopularityHead, PopularityTracker};
use chorder_engine::FrontEndConfig;
use chorder_models::bundle::{Licence, ModelBundle};
use chorder_models::init::{init_varmap, InitConfig, DTYPE};
use chorder_models::regressor::{PopularityModel, PopularityModelConfig};
use chorder_train::export::{popularity_bundle, ExportInfo};

fn random_head(
    emb_dim: usize,
    feat_dim: usize,
) -> (std::sync::Arc<PopularityHead>, PopularityModel) {
    let mut cfg = PopularityModelConfig::default();
    cfg.seq.emb_dim = emb_dim;
    cfg.features.input_dim = feat_dim;
    cfg.head.input_dim = cfg.seq.code_dim + cfg.features.code_dim;
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DTYPE, &Device::Cpu);
    let model = PopularityModel::load(cfg.clone(), vb).unwrap();
    init_varmap(
        &vm,
        &InitConfig {
            seed: 5,
            ..InitConfig::default()
        },
    )
    .unwrap();
    let info = ExportInfo {
        source: "test".into(),
        source_sha256: String::new(),
        embedding_model: "test-embedding".into(),
        converted_by: "analysis test".into(),
        licence: Licence {
            spdx: "CC0-1.0".into(),
            text: "test weights".into(),
        },
    };
    let bytes = popularity_bundle(&vm, &cfg, &FrontEndConfig::musicnn(), &info).unwrap();
    let bundle = ModelBundle::load_bytes(Box::leak(bytes.into_boxed_slice())).unwrap();
    (
        PopularityHead::shared(bundle.clone()).unwrap(),
        PopularityModel::from_bundle(&bundle).unwrap(),
    )
}

/// The model's batch forward over one sequence of `emb.len() / d` windows, 0-100.
fn batch_estimate(model: &PopularityModel, emb: &[f32], d: usize, features: &Tensor) -> f32 {
    let t = emb.len() / d;
    let x = Tensor::from_slice(emb, (1, t, d), &Device::Cpu).unwrap();
    let y = model.forward(&x, &[t], features).unwrap();
    y.flatten_all().unwrap().to_vec1::<f32>().unwrap()[0] * 100.0
}

#[test]
fn stepping_window_by_window_equals_the_batch_forward_on_every_prefix() {
    let (d, f, t) = (16, 9, 12);
    let (head, model) = random_head(d, f);
    let emb: Vec<f32> = (0..t * d)
        .map(|i| ((i * 37 % 101) as f32 / 50.0 - 1.0) * 0.8)
        .collect();
    let feats: Vec<f32> = (0..f).map(|i| i as f32 * 0.3 - 1.0).collect();
    let mut tracker = PopularityTracker::new(head).unwrap();
    tracker.set_features(&feats).unwrap();
    let features = Tensor::from_slice(&feats, (1, f), &Device::Cpu).unwrap();
    let mut estimates = Vec::new();
    for k in 0..t {
        let e = tracker.step(&emb[k * d..(k + 1) * d]).unwrap();
        let prefix = Tensor::from_slice(&emb[..(k + 1) * d], (1, k + 1, d), &Device::Cpu).unwrap();
        let batch = model
            .forward(&prefix, &[k + 1], &features)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()[0]
            * 100.0;
        assert!(
            (e.integrated - batch).abs() < 1e-4,
            "window {k}: step {} batch {batch}",
            e.integrated
        );
        let single = Tensor::from_slice(&emb[k * d..(k + 1) * d], (1, 1, d), &Device::Cpu).unwrap();
        let alone = model
            .forward(&single, &[1], &features)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()[0]
            * 100.0;
        assert!(
            (e.momentary - alone).abs() < 1e-4,
            "window {k}: momentary {} alone {alone}",
            e.momentary
        );
        assert!((0.0..=100.0).contains(&e.integrated));
        estimates.push(e.integrated);
    }
    assert_eq!(tracker.current().unwrap(), Some(*estimates.last().unwrap()));
    // Not constant: the state really carries the song.
    assert!(estimates.iter().any(|&x| (x - estimates[0]).abs() > 1e-4));
    tracker.reset().unwrap();
    assert_eq!(tracker.current().unwrap(), None);
    assert!(tracker.set_features(&feats[..3]).is_err());
}
