//! The bundles an experiment writes carry their split-conformal calibration on the
//! validation split: the stored residuals are those of the loaded bundle on that split.

mod common;

use chorder_models::bundle::ModelBundle;
use chorder_models::calibration::{conformal_half_width, DEFAULT_COVERAGES};
use chorder_models::hitmusicnet::HitMusicNet;
use chorder_models::regressor::PopularityModel;
use chorder_train::experiment::ExperimentConfig;
use chorder_train::trainer::{predict_hmn, predict_study, Control};
use common::{run, sets};

#[test]
fn experiment_bundles_are_calibrated_on_the_validation_split() {
    let (train, val, test) = sets(120, 9, Some(30), 70, 30);
    let mut cfg = ExperimentConfig::default();
    cfg.fit_to_data(train.emb_dim, train.feat_dim);
    for s in [
        &mut cfg.study.seq_autoencoder,
        &mut cfg.study.feature_autoencoder,
        &mut cfg.study.regressor,
        &mut cfg.hitmusicnet.autoencoder,
        &mut cfg.hitmusicnet.regressor,
    ] {
        s.epochs = 1;
    }
    cfg.study.model.seq.lstm_dims = vec![16];
    cfg.study.model.seq.linear_dims = vec![16];
    let out = tempfile::tempdir().unwrap();
    run(
        &cfg,
        (&train, &val, &test),
        out.path(),
        &mut Control::default(),
    )
    .unwrap();
    let truth = val.targets();
    for file in ["chorder_popularity.safetensors", "hitmusicnet.safetensors"] {
        let b = ModelBundle::load_file(out.path().join(file)).unwrap();
        let cal = b.meta().calibration.clone().expect("calibrated");
        assert_eq!(cal.n, val.len(), "{file}");
        assert!(
            cal.source.contains("validation split (30 songs)"),
            "{}",
            cal.source
        );
        // Recompute the residuals from the loaded bundle.
        let pred = if file.starts_with("chorder") {
            predict_study(&PopularityModel::from_bundle(&b).unwrap(), &val).unwrap()
        } else {
            predict_hmn(&HitMusicNet::from_bundle(&b).unwrap(), &val).unwrap()
        };
        let res: Vec<f32> = pred
            .iter()
            .zip(&truth)
            .map(|(p, t)| 100.0 * (p - t).abs())
            .collect();
        // n = 30 supports all four default coverages (0.95 needs rank 30).
        assert_eq!(cal.levels.len(), DEFAULT_COVERAGES.len(), "{file}");
        for l in &cal.levels {
            let want = conformal_half_width(&res, l.coverage).unwrap();
            assert!(
                (l.half_width - want).abs() < 1e-4,
                "{file} at {}: stored {} vs recomputed {want}",
                l.coverage,
                l.half_width
            );
        }
    }
}
