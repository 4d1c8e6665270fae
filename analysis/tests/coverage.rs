//! The intervals `analyze` reports hold their stated coverage on held-out generated songs.
//!
//! A small study model is trained on generated songs (`chorder_train::synth`: a known
//! target, 4-12 windows per song), exported as a bundle, calibrated on one held-out set
//! (residuals stored in the bundle, as training and `cargo xtask calibrate` do), loaded
//! back, and its intervals ([`Calibration::from_bundle`]) are checked on a DIFFERENT
//! held-out set of the same distribution.

use chorder_analysis::uncertainty::Calibration;
use chorder_engine::FrontEndConfig;
use chorder_models::bundle::{Licence, ModelBundle};
use chorder_models::calibration::DEFAULT_COVERAGES;
use chorder_models::feature_autoencoder::FeatureAutoencoderConfig;
use chorder_models::regressor::{PopularityModel, PopularityModelConfig, RegressorConfig};
use chorder_models::seq_autoencoder::SeqAutoencoderConfig;
use chorder_train::config::{RunConfig, StageConfig};
use chorder_train::export::{
    calibration_from_predictions, popularity_bundle, with_calibration, ExportInfo,
};
use chorder_train::optim::AdamParams;
use chorder_train::synth::{synthetic, SynthConfig};
use chorder_train::trainer::{predict_study, train_study, Control};

fn stage(epochs: usize, lr: f64) -> StageConfig {
    StageConfig {
        epochs,
        batch_size: 50,
        optimizer: AdamParams {
            lr,
            ..Default::default()
        },
        patience: Some(5),
        ..Default::default()
    }
}

#[test]
fn stated_coverage_holds_on_a_different_held_out_set() {
    let (n_train, n_val, n_cal, n_test) = (300, 100, 1000, 2000);
    let all = synthetic(&SynthConfig {
        n: n_train + n_val + n_cal + n_test,
        seed: 21,
        feat_dim: 20,
        ..Default::default()
    });
    let (train, rest) = all.split_at(n_train);
    let (val, rest) = rest.split_at(n_val);
    let (cal, test) = rest.split_at(n_cal);
    let cfg = RunConfig {
        seed: 3,
        model: PopularityModelConfig {
            seq: SeqAutoencoderConfig {
                emb_dim: train.emb_dim,
                lstm_dims: vec![16],
                linear_dims: vec![16],
                code_dim: 8,
            },
            features: FeatureAutoencoderConfig {
                input_dim: train.feat_dim,
                hidden_dims: vec![16],
                code_dim: 8,
                ..Default::default()
            },
            head: RegressorConfig {
                input_dim: 16,
                ..RegressorConfig::default()
            },
        },
        seq_autoencoder: stage(8, 3e-3),
        feature_autoencoder: stage(8, 3e-3),
        regressor: stage(30, 1e-3),
        ..Default::default()
    };
    // `val` only decides early stopping; `cal` and `test` are never seen in training.
    let study = train_study(&cfg, &train, &val, None, &mut Control::default())
        .unwrap()
        .unwrap();
    let info = ExportInfo {
        source: "synthetic".into(),
        source_sha256: String::new(),
        embedding_model: "test-embedding".into(),
        converted_by: "coverage test".into(),
        licence: Licence {
            spdx: "MIT".into(),
            text: "test weights".into(),
        },
    };
    let bytes =
        popularity_bundle(&study.varmap, &cfg.model, &FrontEndConfig::musicnn(), &info).unwrap();
    let stored = calibration_from_predictions(
        &predict_study(&study.model, &cal).unwrap(),
        &cal.targets(),
        "calibration half",
    )
    .unwrap();
    let bundle = ModelBundle::parse(&with_calibration(&bytes, stored).unwrap()).unwrap();
    assert_eq!(bundle.meta().calibration.as_ref().unwrap().n, n_cal);

    // The loaded bundle's estimates on the other held-out set, 0-100.
    let model = PopularityModel::from_bundle(&bundle).unwrap();
    let pred: Vec<f32> = predict_study(&model, &test)
        .unwrap()
        .iter()
        .map(|p| 100.0 * p)
        .collect();
    let truth: Vec<f32> = test.targets().iter().map(|t| 100.0 * t).collect();
    // What a model that knows only the mean would need for 90 %: the interval must be
    // much narrower, or it says little.
    let cal_truth = cal.targets();
    let mean = 100.0 * cal_truth.iter().sum::<f32>() / cal_truth.len() as f32;
    let mean_only: Vec<f32> = cal
        .targets()
        .iter()
        .map(|t| (100.0 * t - mean).abs())
        .collect();
    let uninformative = Calibration::from_residuals(&mean_only, 0.9).unwrap();

    for c in DEFAULT_COVERAGES {
        let cal_c = Calibration::from_bundle(&bundle, c).unwrap().unwrap();
        assert_eq!((cal_c.coverage, cal_c.n), (c, n_cal));
        let covered = pred
            .iter()
            .zip(&truth)
            .filter(|(p, t)| {
                let [lo, hi] = cal_c.interval(**p);
                (lo..=hi).contains(*t)
            })
            .count();
        let rate = covered as f64 / n_test as f64;
        // Slack: given the calibration set, the coverage on new songs is Beta(k, n + 1 - k)
        // with k = ceil((n + 1) c) (mean in [c, c + 1/(n + 1)], variance ≈ c(1 - c)/(n + 2));
        // the test set adds binomial noise c(1 - c)/n_test. Four standard deviations of
        // the sum (≈ 0.046 at c = 0.9, 0.077 at c = 0.5) make a false failure about 6e-5
        // per level under the normal approximation; the seeds are fixed, so the run is
        // reproducible anyway.
        let c64 = c as f64;
        let sd = (c64 * (1.0 - c64) * (1.0 / (n_cal as f64 + 2.0) + 1.0 / n_test as f64)).sqrt();
        let slack = 4.0 * sd;
        eprintln!(
            "coverage {c}: ±{:.2} points, empirical {rate:.3} on {n_test} songs (slack {slack:.3})",
            cal_c.half_width
        );
        assert!(rate >= c64 - slack, "coverage {c}: empirical {rate}");
        assert!(
            rate <= c64 + 1.0 / (n_cal as f64 + 1.0) + slack,
            "coverage {c}: empirical {rate} (intervals too wide)"
        );
    }
    // Not trivially wide: well inside the 0-100 range and under half the mean-only one (the
    // model explains most of the generated target; measured 2.2 vs 19.7 points).
    let q90 = Calibration::from_bundle(&bundle, 0.9)
        .unwrap()
        .unwrap()
        .half_width;
    eprintln!("mean-only 90 % half-width: {:.2}", uninformative.half_width);
    assert!(
        q90 < 0.5 * uninformative.half_width && q90 < 25.0,
        "90 % half-width {q90} vs mean-only {}",
        uninformative.half_width
    );
    // A coverage the residuals cannot give is refused with the stored coverages named.
    let err = Calibration::from_bundle(&bundle, 0.9999).unwrap_err();
    assert!(err.contains("0.95"), "{err}");
}
