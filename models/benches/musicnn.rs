//! musicnn on one thread (`RAYON_NUM_THREADS=1`, so neither candle nor the direct `gemm`
//! calls use rayon). Run: `cargo bench -p chorder-models --bench musicnn`.
//!
//! - `musicnn_patch_187_frames_1_thread`: the network alone on one 187-frame patch (3 s, the
//!   full streaming context); compare with `scripts/torch_musicnn.py` (PyTorch, same weights,
//!   batch 1, one thread).
//! - `musicnn_patch_60_frames_1_thread`: one 60-frame patch (0.96 s, the first streaming window).
//! - `musicnn_stream_step_0.96s_1_thread`: one streaming step of the whole embedding path,
//!   0.96 s of 16 kHz audio pushed into the engine's `LogMelStream` (musicnn front end) and the
//!   network run on the 187-frame patch it emits; divide by 0.96 s for the real-time share.

use chorder_engine::{FrontEndConfig, LogMelStream};
use criterion::{black_box, Criterion};

fn input(n_frames: usize) -> Vec<f32> {
    // Log-mel-like values in [0, 4).
    (0..n_frames * 96)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 8) as f32 / (1u32 << 24) as f32 * 4.0)
        .collect()
}

/// 30 s of 16 kHz music-like audio: a few partials with vibrato plus a little noise.
fn audio() -> Vec<f32> {
    let sr = 16_000.0f32;
    (0..30 * 16_000)
        .map(|i| {
            let t = i as f32 / sr;
            let noise = ((i as u32).wrapping_mul(2_654_435_761) >> 8) as f32 / (1u32 << 24) as f32;
            [110.0f32, 220.0, 330.0, 523.3, 1760.0]
                .iter()
                .enumerate()
                .map(|(k, &f)| {
                    let ph = 2.0 * std::f32::consts::PI * f * t + (5.0 * t).sin() * k as f32;
                    ph.sin() * 0.2 / (k + 1) as f32
                })
                .sum::<f32>()
                + 0.02 * (noise - 0.5)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let net = chorder_models::builtin::musicnn().unwrap();
    for n in [187usize, 60] {
        let x = input(n);
        c.bench_function(&format!("musicnn_patch_{n}_frames_1_thread"), |b| {
            b.iter(|| net.forward_frames(black_box(&x), n, 96).unwrap())
        });
    }

    let cfg = FrontEndConfig::musicnn();
    let step = cfg.patch.hop_frames * cfg.hop_length; // 60 frames × 256 = 15,360 samples
    let audio = audio();
    let mut stream = LogMelStream::new(&cfg).unwrap();
    let mut patches = Vec::new();
    // Warm up past the partial first windows so that every step sees the full 187 frames.
    stream.push(&audio[..4 * 16_000], &mut patches);
    let mut pos = 4 * 16_000;
    c.bench_function("musicnn_stream_step_0.96s_1_thread", |b| {
        b.iter(|| {
            if pos + step > audio.len() {
                pos = 0; // wrap around; the stream just sees a discontinuity
            }
            patches.clear();
            stream.push(&audio[pos..pos + step], &mut patches);
            pos += step;
            for p in &patches {
                black_box(net.forward_patch(p).unwrap());
            }
            assert_eq!(patches.len(), 1, "one patch per 0.96 s step");
            assert_eq!(patches[0].n_frames, cfg.patch.context_frames);
        })
    });
}

fn main() {
    // Must be set before candle reads it (it reads it on every matmul).
    std::env::set_var("RAYON_NUM_THREADS", "1");
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
