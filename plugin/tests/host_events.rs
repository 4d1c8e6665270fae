//! What hosts do besides streaming audio: `reset()` on transport start or a jump (the stream
//! restarts, the analysis is kept), bypass (Ableton calls `process` with no channels; other
//! hosts send empty blocks), and digital silence. Driven in-process through the harness.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chorder_engine::{FrontEndConfig, FrontEndStream};
use chorder_plugin::harness::{self, HarnessContext};
use chorder_plugin::Chorder;
use nice_plug::prelude::{Plugin, ProcessStatus};

const RATE: f32 = 48_000.0;
const BLOCK: usize = 512;

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

fn tone(len: usize, offset: usize) -> Vec<f32> {
    (offset..offset + len)
        .map(|i| 0.3 * (i as f32 * 0.021).sin() + 0.1 * (i as f32 * 0.0037).sin())
        .collect()
}

/// Windows the musicnn front end gives for `len` samples of one fresh stream at `RATE`.
fn windows_of(len: usize) -> u64 {
    let mut out = Vec::new();
    FrontEndStream::new(&FrontEndConfig::musicnn(), RATE as u32)
        .unwrap()
        .push(&tone(len, 0), &mut out);
    out.len() as u64
}

/// Feeds `audio` (mono) in blocks and waits until the worker took it all.
fn feed(plugin: &mut Chorder, ctx: &mut HarnessContext, audio: &[f32], consumed_before: u64) {
    let mut io = audio.to_vec();
    for chunk in io.chunks_mut(BLOCK) {
        let mut buffer = harness::buffer(vec![chunk]);
        assert_eq!(
            harness::process(plugin, ctx, &mut buffer),
            ProcessStatus::Normal
        );
    }
    assert_eq!(io, audio, "audio passes through");
    let shared = plugin.shared().clone();
    let want = consumed_before + audio.len() as u64;
    wait_until("the worker to take the audio", || {
        shared.consumed.load(Ordering::Acquire) == want
    });
}

#[test]
fn reset_restarts_the_stream_and_keeps_the_analysis() {
    let seg = (1.6 * RATE) as usize;
    let fresh = windows_of(seg);
    let glued = windows_of(2 * seg);
    assert!(fresh >= 1);
    assert_ne!(
        2 * fresh,
        glued,
        "the test must tell a restart from a glued stream"
    );

    let mut plugin = Chorder::default();
    let mut meter = plugin.take_meter_output().unwrap();
    let mut ctx = HarnessContext::new(RATE);
    assert!(harness::activate(
        &mut plugin,
        &mut ctx,
        1,
        RATE,
        BLOCK as u32
    ));
    let shared = plugin.shared().clone();
    let audio = tone(seg, 0);
    feed(&mut plugin, &mut ctx, &audio, 0);
    wait_until("first windows", || meter.read().windows == fresh);

    // Transport restart: the host calls reset(); the worker restarts its stream before it
    // takes the next samples.
    plugin.reset();
    let target = shared.stream_resets.load(Ordering::Acquire);
    wait_until("the worker to restart its stream", || {
        shared.stream_resets_done.load(Ordering::Acquire) == target
    });
    feed(&mut plugin, &mut ctx, &tone(seg, seg), seg as u64);
    wait_until("second windows", || meter.read().windows >= 2 * fresh);
    std::thread::sleep(Duration::from_millis(50));
    let m = *meter.read();
    assert_eq!(
        m.windows,
        2 * fresh,
        "two fresh streams, not one glued stream"
    );
    assert_eq!(
        m.history.len() as u64,
        2 * fresh,
        "history kept across the reset"
    );
    assert!(m.integrated.is_some_and(|p| (0.0..=100.0).contains(&p)));
    plugin.deactivate();
}

#[test]
fn bypass_style_empty_buffers_and_silence_are_harmless() {
    let mut plugin = Chorder::default();
    let mut meter = plugin.take_meter_output().unwrap();
    let mut ctx = HarnessContext::new(RATE);
    assert!(harness::activate(
        &mut plugin,
        &mut ctx,
        2,
        RATE,
        BLOCK as u32
    ));
    // No channels at all (Ableton Live's bypass) and zero-length blocks.
    let mut none = harness::buffer(vec![]);
    assert_eq!(
        harness::process(&mut plugin, &mut ctx, &mut none),
        ProcessStatus::Normal
    );
    let (mut l, mut r) = (Vec::<f32>::new(), Vec::<f32>::new());
    let mut empty = harness::buffer(vec![&mut l[..], &mut r[..]]);
    assert_eq!(
        harness::process(&mut plugin, &mut ctx, &mut empty),
        ProcessStatus::Normal
    );
    let shared = plugin.shared().clone();
    assert_eq!(shared.tap.pushed.load(Ordering::Relaxed), 0);

    // 1.6 s of digital silence: windows come out with finite, in-range estimates.
    let len = (1.6 * RATE) as usize / BLOCK * BLOCK;
    let mut l = vec![0.0f32; len];
    let mut r = vec![0.0f32; len];
    for (lb, rb) in l.chunks_mut(BLOCK).zip(r.chunks_mut(BLOCK)) {
        let mut buffer = harness::buffer(vec![lb, rb]);
        harness::process(&mut plugin, &mut ctx, &mut buffer);
    }
    assert!(l.iter().chain(&r).all(|x| x.to_bits() == 0));
    wait_until("the worker to take the silence", || {
        shared.consumed.load(Ordering::Acquire) == len as u64
    });
    wait_until("a window", || meter.read().windows >= 1);
    let m = *meter.read();
    for estimate in [m.momentary, m.integrated] {
        assert!(
            estimate.is_some_and(|p| (0.0..=100.0).contains(&p)),
            "{estimate:?}"
        );
    }
    assert!(m.level.is_some_and(f32::is_finite));
    assert_eq!(m.non_finite_replaced, 0);
    plugin.deactivate();
}
