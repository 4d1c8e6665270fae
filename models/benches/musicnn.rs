//! musicnn forward pass on one thread (`RAYON_NUM_THREADS=1`, so candle's matmul runs
//! without rayon): one 187-frame patch (3 s, the full streaming context) and one 60-frame patch
//! (0.96 s, the first streaming window). Run: `cargo bench -p chorder-models --bench musicnn`.

use criterion::{black_box, Criterion};

fn input(n_frames: usize) -> Vec<f32> {
    // Log-mel-like values in [0, 4).
    (0..n_frames * 96)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 8) as f32 / (1u32 << 24) as f32 * 4.0)
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
}

fn main() {
    // Must be set before candle reads it (it reads it on every matmul).
    std::env::set_var("RAYON_NUM_THREADS", "1");
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
