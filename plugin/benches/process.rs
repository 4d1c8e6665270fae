//! Audio-thread cost of `Chorder::process` per block (stereo, 48 kHz, analysis worker
//! running), at 64 and 512 samples.

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

criterion_group!(benches, process_blocks);
criterion_main!(benches);
