//! Audio-thread cost of `Chorder::process` per block (stereo, 48 kHz, analysis worker
//! running), at 64 and 512 samples; and the worker's cost per 0.96 s window with the
//! built-in model (resample 48 kHz → 16 kHz, log-mel, musicnn, live features, stateful
//! popularity head), to compare with 0.96 s of real time.

use std::hint::black_box;

use chorder_plugin::harness::{self, HarnessContext};
use chorder_plugin::tap::{audio_ring, TapCounters};
use chorder_plugin::Chorder;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nice_plug::prelude::Plugin;
use ringbuf::traits::Consumer;
use std::sync::Arc;

fn process_blocks(c: &mut Criterion) {
    let mut group = c.benchmark_group("process");
    for block in [64usize, 512] {
        let mut plugin = Chorder::default();
        let mut ctx = HarnessContext::new(48_000.0);
        assert!(harness::activate(
            &mut plugin,
            &mut ctx,
            2,
            48_000.0,
            block as u32
        ));
        let mut l: Vec<f32> = (0..block).map(|i| (i as f32 * 0.01).sin()).collect();
        let mut r = l.clone();
        let mut buffer = harness::buffer(vec![&mut l[..], &mut r[..]]);
        group.throughput(Throughput::Elements(block as u64));
        group.bench_function(format!("stereo_{block}"), |b| {
            b.iter(|| black_box(harness::process(&mut plugin, &mut ctx, &mut buffer)))
        });
        drop(buffer);
        let overflowed = plugin
            .shared()
            .tap
            .overflowed
            .load(std::sync::atomic::Ordering::Relaxed);
        eprintln!("process/stereo_{block}: samples dropped because the worker fell behind the bench: {overflowed}");
        plugin.deactivate();
    }
    // The push alone with the ring always having room (consumer skips what was pushed).
    for block in [64usize, 512] {
        let (mut tap, mut cons) = audio_ring(48_000, Arc::new(TapCounters::default()));
        let l: Vec<f32> = (0..block).map(|i| (i as f32 * 0.01).sin()).collect();
        let r = l.clone();
        group.throughput(Throughput::Elements(block as u64));
        group.bench_function(format!("tap_push_stereo_{block}"), |b| {
            b.iter(|| {
                let dropped = tap.push(&[&l[..], &r[..]]);
                cons.skip(block);
                black_box(dropped)
            })
        });
    }
    group.finish();
}

/// One worker step as `worker.rs` runs it: 0.96 s of 48 kHz mono audio through the live
/// features, the front end and the analyzer (one window per step once the stream is warm).
fn worker_window(c: &mut Criterion) {
    use chorder_engine::FrontEndStream;
    use chorder_plugin::analyzer::Analyzer;
    use chorder_plugin::model_analyzer::ModelAnalyzer;

    let rate = 48_000u32;
    let mut analyzer = ModelAnalyzer::builtin().expect("built-in model");
    let cfg = analyzer.embedder().front_end().clone();
    let mut stream = FrontEndStream::new(&cfg, rate).expect("front end at 48 kHz");
    let step = (cfg.patch_hop_seconds() * rate as f64).round() as usize;
    // A chord with a slow tremolo, so features and embeddings are not trivial.
    let mut t = 0usize;
    let mut next_block = move || -> Vec<f32> {
        let block: Vec<f32> = (t..t + step)
            .map(|i| {
                let x = i as f32 / rate as f32;
                let env = 0.6 + 0.4 * (x * 0.7).sin();
                env * [220.0f32, 277.2, 329.6]
                    .iter()
                    .map(|f| (std::f32::consts::TAU * f * x).sin() / 3.0)
                    .sum::<f32>()
            })
            .collect();
        t += step;
        block
    };
    let mut patches = Vec::new();
    // Warm up past the first full context (3 s) so every step is a steady-state window.
    for _ in 0..5 {
        let block = next_block();
        analyzer.on_audio(rate, &block);
        stream.push(&block, &mut patches);
        for p in patches.drain(..) {
            analyzer.on_patch(&p);
        }
    }
    let mut group = c.benchmark_group("worker");
    group.sample_size(20);
    group.bench_function("window_0.96s_48k_builtin_model", |b| {
        b.iter_batched(
            &mut next_block,
            |block| {
                analyzer.on_audio(rate, &block);
                stream.push(&block, &mut patches);
                let mut last = None;
                for p in patches.drain(..) {
                    last = analyzer.on_patch(&p);
                }
                black_box(last)
            },
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, process_blocks, worker_window);
criterion_main!(benches);
