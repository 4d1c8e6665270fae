//! Full-size VGGish (64-128-256-256-512-512 convs, fc 12288-4096-4096-128; random weights,
//! which cost the same as the published ones) on one thread (`RAYON_NUM_THREADS=1`): one
//! 96 × 64 patch (0.96 s) at batch 1, the whole network and its two parts (conv stack,
//! fully connected layers). Compare with `scripts/torch_vggish.py`.
//! Run: `cargo bench -p chorder-models --bench vggish`.

use criterion::{black_box, Criterion};

use chorder_models::vggish::{random_tensors, var_builder, Vggish, VggishConfig};

fn bench(c: &mut Criterion) {
    let cfg = VggishConfig::standard();
    let net = Vggish::load(&cfg, var_builder(&random_tensors(&cfg, 1)).unwrap()).unwrap();
    // Log-mel-like values (ln(mel + 0.01)) in [-4.6, 2).
    let x: Vec<f32> = (0..96 * 64)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 8) as f32 / (1u32 << 24) as f32)
        .map(|u| u * 6.6 - 4.6)
        .collect();
    let mut g = c.benchmark_group("vggish");
    g.sample_size(30);
    g.bench_function("patch_batch_1_1_thread", |b| {
        b.iter(|| net.embed_batch(black_box(&x), 1).unwrap())
    });
    g.bench_function("conv_stack_1_thread", |b| {
        b.iter(|| net.conv_features(black_box(&x)).unwrap())
    });
    let feats = net.conv_features(&x).unwrap();
    g.bench_function("fc_layers_batch_1_1_thread", |b| {
        b.iter(|| net.fc_forward(black_box(&feats), 1).unwrap())
    });
    g.finish();
}

fn main() {
    // Must be set before candle reads it (it reads it on every matmul).
    std::env::set_var("RAYON_NUM_THREADS", "1");
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
