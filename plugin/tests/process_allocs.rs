//! The audio thread never allocates: `Chorder::process` runs inside nice-plug's allocation
//! assertion (`assert_process_allocs`: an allocation aborts the test process), in blocks of
//! 64 and 512 samples, mono and stereo, and leaves the audio bit-for-bit untouched.

use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chorder_plugin::harness::{self, HarnessContext};
use chorder_plugin::tap::{audio_ring, TapCounters};
use chorder_plugin::Chorder;
use nice_assert_no_alloc::assert_no_alloc;
use nice_plug::prelude::{Plugin, ProcessStatus};

const RATE: f32 = 48_000.0;

/// Test signal: a tone with a denormal, a NaN and an infinity mixed in.
fn signal(len: usize, channel: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..len)
        .map(|i| 0.3 * (i as f32 * 0.01 * (channel + 1) as f32).sin())
        .collect();
    v[10] = f32::MIN_POSITIVE / 4.0;
    v[1000] = f32::NAN;
    v[2000] = f32::INFINITY;
    v
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn run_blocks(block: usize, channels: usize) {
    // 1.6 s of audio whatever the block size (fits the 2 s ring).
    let n_blocks = 76_800 / block;
    let len = block * n_blocks;
    let mut plugin = Chorder::default();
    let mut meter = plugin.take_meter_output().expect("meter output");
    let mut ctx = HarnessContext::new(RATE);
    assert!(harness::activate(
        &mut plugin,
        &mut ctx,
        channels as u32,
        RATE,
        block as u32
    ));

    let input: Vec<Vec<f32>> = (0..channels).map(|c| signal(len, c)).collect();
    let mut io = input.clone();
    for b in 0..n_blocks {
        let range = b * block..(b + 1) * block;
        let mut buffer = harness::buffer(io.iter_mut().map(|c| &mut c[range.clone()]).collect());
        let status = assert_no_alloc(|| harness::process(&mut plugin, &mut ctx, &mut buffer));
        assert_eq!(status, ProcessStatus::Normal);
    }
    for (out, inp) in io.iter().zip(&input) {
        let same = out.iter().zip(inp).all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(
            same,
            "process changed the audio (block {block}, {channels} ch)"
        );
    }

    // The worker received every sample (the ring holds 2 s, more than the 1.6 s sent).
    let shared = plugin.shared().clone();
    assert_eq!(shared.tap.overflowed.load(Ordering::Relaxed), 0);
    wait_until("the worker to drain the ring", || {
        shared.consumed.load(Ordering::Acquire) == len as u64
    });
    // The NaN and the infinity reach the front end (mono: once each; stereo: the mean).
    let seconds = len as f64 / RATE as f64;
    wait_until("the final counters to be published", || {
        let m = meter.read();
        m.non_finite_replaced == 2 && (m.seconds_analysed - seconds).abs() < 1e-6
    });
    let m = *meter.read();
    assert!(
        m.windows >= 1,
        "1.6 s of audio gives at least one 0.96 s window"
    );
    // The built-in demo model is loaded by default: estimates exist, in range, marked demo.
    assert!(
        m.has_model && m.is_demo,
        "the built-in demo model should be loaded"
    );
    for estimate in [m.momentary, m.integrated] {
        assert!(
            estimate.is_some_and(|p| (0.0..=100.0).contains(&p)),
            "{estimate:?}"
        );
    }
    assert!(m.n_tags > 0, "the model's top tags are published");
    assert!(m.level.is_some());
    plugin.deactivate();
}

#[test]
fn process_64_sample_blocks_stereo_without_allocating() {
    run_blocks(64, 2);
}

#[test]
fn process_512_sample_blocks_stereo_without_allocating() {
    run_blocks(512, 2);
}

#[test]
fn process_64_and_512_sample_blocks_mono_without_allocating() {
    run_blocks(64, 1);
    run_blocks(512, 1);
}

#[test]
fn tap_overflow_path_does_not_allocate() {
    let counters = Arc::new(TapCounters::default());
    let (mut tap, _cons) = audio_ring(1000, counters.clone());
    let l = vec![0.25f32; 512];
    let r = vec![0.75f32; 512];
    let dropped: usize = (0..4)
        .map(|_| assert_no_alloc(|| tap.push(&[&l[..], &r[..]])))
        .sum();
    assert_eq!(dropped, 4 * 512 - 1000);
    assert_eq!(counters.overflowed.load(Ordering::Relaxed), dropped as u64);
}

#[test]
fn state_survives_reactivation_at_another_rate() {
    let mut plugin = Chorder::default();
    let mut meter = plugin.take_meter_output().unwrap();
    let mut ctx = HarnessContext::new(RATE);
    assert!(harness::activate(&mut plugin, &mut ctx, 2, RATE, 512));
    // 1.6 s: fits the 2 s ring even if the worker has not started yet.
    let len = 512 * 150;
    let mut l = signal(len, 0);
    let mut r = signal(len, 1);
    for (lb, rb) in l.chunks_mut(512).zip(r.chunks_mut(512)) {
        let mut buffer = harness::buffer(vec![lb, rb]);
        harness::process(&mut plugin, &mut ctx, &mut buffer);
    }
    let shared = plugin.shared().clone();
    wait_until("drain", || {
        shared.consumed.load(Ordering::Acquire) == len as u64
    });
    wait_until("publication", || meter.read().windows >= 1);
    let windows = meter.read().windows;
    plugin.deactivate();

    let mut ctx = HarnessContext::new(44_100.0);
    assert!(harness::activate(&mut plugin, &mut ctx, 2, 44_100.0, 64));
    wait_until("publication after re-activation", || {
        meter.read().sample_rate == 44_100.0
    });
    let m = *meter.read();
    assert_eq!(m.windows, windows, "analysis kept across re-activation");
    assert_eq!(m.history.len() as u64, windows);
    plugin.deactivate();
}

/// The assertion is armed: an allocation inside `assert_no_alloc` aborts the process. Run in
/// a child process (this test binary, filtered to this test) since the abort kills it.
#[test]
fn allocation_inside_the_assertion_aborts() {
    if std::env::var_os("CHORDER_ALLOC_CANARY").is_some() {
        assert_no_alloc(|| std::hint::black_box(vec![1u8; 64]).len());
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "allocation_inside_the_assertion_aborts",
            "--nocapture",
        ])
        .env("CHORDER_ALLOC_CANARY", "1")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "an allocation under assert_no_alloc must abort; the child exited with {:?}",
        out.status
    );
}
