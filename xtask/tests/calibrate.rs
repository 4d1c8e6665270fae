//! `cargo xtask calibrate` through the built binary: a bundle trained by `train --synthetic`
//! (already calibrated on its validation split) is recalibrated on the test split; the
//! tensors stay byte for byte, the stored residuals are those of the test split, and a
//! bundle without a popularity output is refused with a clear message.

use std::path::Path;
use std::process::{Command, Output};

use chorder_models::bundle::ModelBundle;

fn xtask() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn recalibrating_on_the_test_split_keeps_the_tensors() {
    let tmp = tempfile::tempdir().unwrap();
    // One or two epochs per stage: the model only has to exist.
    let config = tmp.path().join("tiny.json");
    std::fs::write(
        &config,
        r#"{"study": {"seq_autoencoder": {"epochs": 1}, "feature_autoencoder": {"epochs": 1},
                      "regressor": {"epochs": 2}},
            "hitmusicnet": {"autoencoder": {"epochs": 1}, "regressor": {"epochs": 2}}}"#,
    )
    .unwrap();
    let out_dir = tmp.path().join("run");
    ok(&xtask()
        .args(["train", "--synthetic", "200", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap());
    let trained = out_dir.join("chorder_popularity.safetensors");
    let before = ModelBundle::load_file(&trained).unwrap();
    // `train --synthetic 200` splits 140 / 30 / 30 and calibrates on the validation split.
    let val_cal = before.meta().calibration.clone().unwrap();
    assert_eq!(val_cal.n, 30);
    assert!(
        val_cal.source.contains("validation split"),
        "{}",
        val_cal.source
    );

    let recal = tmp.path().join("cal.safetensors");
    let text = ok(&xtask()
        .args([
            "calibrate",
            "--synthetic",
            "200",
            "--split",
            "test",
            "--model",
        ])
        .arg(&trained)
        .arg("--out")
        .arg(&recal)
        .output()
        .unwrap());
    // One table row per stored coverage: coverage, half-width, share of the other split.
    let rows: Vec<Vec<f64>> = text
        .lines()
        .filter(|l| l.starts_with("| 0."))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().parse().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 4, "{text}");
    let after = ModelBundle::load_file(&recal).unwrap();
    let cal = after.meta().calibration.clone().unwrap();
    assert_eq!(cal.n, 30);
    assert!(
        cal.source.contains("test split (30 songs)"),
        "{}",
        cal.source
    );
    assert_ne!(cal.abs_residuals, val_cal.abs_residuals);
    for (row, level) in rows.iter().zip(&cal.levels) {
        assert_eq!(row[0], (level.coverage as f64 * 100.0).round() / 100.0);
        assert!((row[1] - level.half_width as f64).abs() < 0.006, "{row:?}");
        assert!((0.0..=1.0).contains(&row[2]), "{row:?}");
    }
    // Same tensors, same everything else.
    assert_eq!(after.meta().data_sha256, before.meta().data_sha256);
    let mut meta = after.meta().clone();
    meta.calibration = before.meta().calibration.clone();
    assert_eq!(&meta, before.meta());

    // The embedding model has no popularity output to calibrate.
    let musicnn =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/assets/msd_musicnn.safetensors");
    let out = xtask()
        .args(["calibrate", "--synthetic", "200", "--model"])
        .arg(&musicnn)
        .arg("--out")
        .arg(tmp.path().join("never.safetensors"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no popularity output"), "{err}");
    assert!(!tmp.path().join("never.safetensors").exists());
}
