//! The 207 SpotGenTrack features against librosa 0.6.3 (the original extractor's library),
//! on the exact mono signals `scripts/reference_features.py` analysed
//! (`fixtures/features/<clip>_input.npy`), so decoding plays no part.
//!
//! Tolerances per family, `|rust - librosa| <= rtol * |librosa| + atol`:
//! - STFT families (MEL, MFCC, contrast, ZCR, bandwidth, centroid, roll-offs, entropy):
//!   same frames, window and formulas as librosa; the differences are float32 FFT rounding
//!   (and, for roll-offs, a rare bin flip of a float32 cumulative sum at its threshold).
//! - CQT families (Chroma, Tonnetz): the CQT reproduces librosa's multirate pipeline
//!   (resampy kaiser_fast decimation, per-octave rectangular STFT, sparsified kernels);
//!   left are float32 rounding differences (per-element CQT within ~1.3e-4 relative,
//!   song means within ~1e-7), so the bounds are looser than that only by headroom.

use std::path::PathBuf;

use chorder_engine::features::{extract, FeatureConfig, FeatureVector, Layout};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/features")
        .join(name)
}

fn load(clip: &str) -> (Vec<f32>, u32, serde_json::Value) {
    let (shape, signal) = chorder_engine::npy::read_f32(fixture(&format!("{clip}_input.npy")))
        .expect("fixture signal");
    assert_eq!(shape.len(), 1);
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture(&format!("{clip}_input.json"))).unwrap(),
    )
    .unwrap();
    let sr = meta["sample_rate"].as_u64().unwrap() as u32;
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture(&format!("{clip}_librosa.json"))).unwrap(),
    )
    .unwrap();
    (signal, sr, reference)
}

/// (family, first column, count, rtol, atol)
const FAMILIES: &[(&str, usize, usize, f64, f64)] = &[
    ("Chroma", Layout::CHROMA, 12, 1e-5, 1e-6),
    ("MEL", Layout::MEL, 128, 1e-4, 0.0),
    ("MFCC", Layout::MFCC, 48, 1e-4, 1e-4),
    ("Spectral_contrast", Layout::CONTRAST, 7, 1e-4, 0.0),
    ("Tonnetz", Layout::TONNETZ, 6, 1e-4, 1e-6),
    ("ZCR", Layout::ZCR, 1, 1e-5, 0.0),
    ("entropy_energy", Layout::ENTROPY, 1, 1e-4, 0.0),
    ("spectral_bandwith", Layout::BANDWIDTH, 1, 1e-5, 0.0),
    ("spectral_centroid", Layout::CENTROID, 1, 1e-5, 0.0),
    ("spectral_rollOff_max", Layout::ROLLOFF_MAX, 1, 1e-3, 0.0),
    ("spectral_rollOff_min", Layout::ROLLOFF_MIN, 1, 1e-3, 0.0),
];

fn compare(clip: &str) {
    let (signal, sr, reference) = load(clip);
    let fv = extract(&signal, sr, FeatureConfig::default()).unwrap();
    let names = FeatureVector::names();
    let mut failures = Vec::new();
    for &(family, start, count, rtol, atol) in FAMILIES {
        let (mut max_abs, mut max_rel) = (0.0f64, 0.0f64);
        for i in start..start + count {
            let want = reference[&names[i]].as_f64().unwrap();
            let got = fv.values[i] as f64;
            let err = (got - want).abs();
            max_abs = max_abs.max(err);
            max_rel = max_rel.max(err / want.abs().max(1e-30));
            if !(err <= rtol * want.abs() + atol) {
                failures.push(format!("{clip} {}: {got} vs librosa {want}", names[i]));
            }
        }
        println!("{clip:6} {family:22} max abs err {max_abs:.3e}  max rel err {max_rel:.3e}");
    }
    println!(
        "{clip}: tuning {} (librosa {})",
        fv.tuning, reference["_meta"]["tuning"]
    );
    assert!(
        failures.is_empty(),
        "{} columns off:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn rock_matches_librosa() {
    compare("rock");
}

#[test]
fn piano_matches_librosa() {
    compare("piano");
}
