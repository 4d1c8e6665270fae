//! SpotGenTrack low-level features (207 columns) on one thread: seconds per 30 s clip at
//! 44.1 kHz (the rock fixture signal tiled to 30 s, the same signal
//! `scripts/reference_features.py --bench` gives librosa), and its two halves: the STFT
//! CQT alone: the librosa-exact multirate CQT the extractor uses, and the whole-song FFT
//! CQT (approximate, kept for comparison).

use std::hint::black_box;
use std::path::PathBuf;

use chorder_engine::features::cqt::{cqt_magnitudes, cqt_magnitudes_multirate, CqtPlan};
use chorder_engine::features::{extract, FeatureConfig};
use criterion::{criterion_group, criterion_main, Criterion};

fn clip_30s() -> (Vec<f32>, u32) {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/features/rock_input.npy");
    let (_, sig) = chorder_engine::npy::read_f32(path).expect("fixtures/features/rock_input.npy");
    let sr = 44_100u32;
    let n = 30 * sr as usize;
    let tiled: Vec<f32> = sig.iter().copied().cycle().take(n).collect();
    (tiled, sr)
}

fn bench(c: &mut Criterion) {
    let (sig, sr) = clip_30s();
    let mut g = c.benchmark_group("features");
    g.sample_size(20);
    g.bench_function("extract_207_30s", |b| {
        b.iter(|| extract(black_box(&sig), sr, FeatureConfig::default()).unwrap())
    });
    g.bench_function("cqt_multirate_30s", |b| {
        b.iter(|| cqt_magnitudes_multirate(black_box(&sig), sr as f64, 0.03).unwrap())
    });
    let plan = CqtPlan::new(sr as f64, 0.03, sig.len()).unwrap();
    g.bench_function("cqt_whole_song_fft_30s", |b| {
        b.iter(|| cqt_magnitudes(black_box(&sig), &plan))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
