//! Ring + worker: the samples the audio thread pushes, in any block sizes, give exactly the
//! patches an offline `FrontEndStream` gives; a stalled worker makes the ring overflow,
//! counted exactly, without blocking the producer.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chorder_engine::{FrontEndConfig, FrontEndStream, LogMelPatch};
use chorder_plugin::analyzer::{Analyzer, WindowEstimate};
use chorder_plugin::meter::{MeterState, MAX_HISTORY};
use chorder_plugin::params::ChorderParams;
use chorder_plugin::tap::audio_ring;
use chorder_plugin::worker::{Shared, Worker, WorkerState};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Records every patch; optionally blocks on the first one until released.
struct Recorder {
    patches: Arc<Mutex<Vec<LogMelPatch>>>,
    stall: Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>,
}

impl Analyzer for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }
    fn has_model(&self) -> bool {
        true
    }
    fn on_patch(&mut self, patch: &LogMelPatch) -> Option<WindowEstimate> {
        if let Some((stalled, release)) = self.stall.take() {
            stalled.send(()).unwrap();
            release.recv().unwrap();
        }
        self.patches.lock().unwrap().push(patch.clone());
        Some(WindowEstimate {
            popularity: Some(50.0),
            ..Default::default()
        })
    }
}

fn signal(len: usize, rate: f32, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..len)
        .map(|i| {
            let t = i as f32 / rate;
            0.4 * (2.0 * std::f32::consts::PI * (220.0 + 200.0 * t) * t).sin()
                + 0.05 * (rng.random::<f32>() - 0.5)
        })
        .collect()
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

fn setup(
    analyzer: Recorder,
    ring: usize,
    rate: f32,
) -> (
    chorder_plugin::tap::AudioTap,
    Worker,
    Arc<Shared>,
    Arc<ChorderParams>,
    triple_buffer::Output<MeterState>,
) {
    let shared = Arc::new(Shared::default());
    let params = Arc::new(ChorderParams::new(shared.clone()));
    let (tap, cons) = audio_ring(ring, shared.tap.clone());
    let (meter_in, meter_out) = triple_buffer::triple_buffer(&MeterState::default());
    let mut state = WorkerState::new(meter_in);
    state.analyzer = Some(Box::new(analyzer));
    let worker = Worker::spawn(
        cons,
        FrontEndConfig::musicnn(),
        rate,
        state,
        params.clone(),
        shared.clone(),
    )
    .unwrap();
    (tap, worker, shared, params, meter_out)
}

#[test]
fn random_blocks_through_ring_and_worker_match_offline_front_end() {
    for (rate, seed) in [(44_100.0f32, 1u64), (48_000.0, 2), (16_000.0, 3)] {
        let len = (rate * 7.3) as usize;
        let audio = signal(len, rate, seed);
        let mut offline = Vec::new();
        FrontEndStream::new(&FrontEndConfig::musicnn(), rate as u32)
            .unwrap()
            .push(&audio, &mut offline);
        assert!(offline.len() >= 6, "7.3 s gives several patches");

        let patches = Arc::new(Mutex::new(Vec::new()));
        let recorder = Recorder {
            patches: patches.clone(),
            stall: None,
        };
        let (mut tap, worker, shared, params, _out) = setup(recorder, len + 16, rate);
        let mut rng = StdRng::seed_from_u64(seed + 100);
        let mut pos = 0;
        while pos < len {
            let n = rng.random_range(1..=2048).min(len - pos);
            assert_eq!(tap.push(&[&audio[pos..pos + n]]), 0);
            pos += n;
        }
        wait_until("the worker to drain", || {
            shared.consumed.load(Ordering::Acquire) == len as u64
        });
        wait_until("all patches", || {
            patches.lock().unwrap().len() >= offline.len()
        });
        let state = worker.stop().expect("worker state");
        let got = patches.lock().unwrap().clone();
        assert_eq!(got.len(), offline.len(), "rate {rate}");
        assert!(
            got == offline,
            "patches differ from the offline front end at {rate} Hz"
        );
        assert_eq!(state.meter.windows, offline.len() as u64);
        assert_eq!(state.meter.integrated, Some(50.0));
        assert_eq!(shared.tap.overflowed.load(Ordering::Relaxed), 0);
        let saved = params.history.read().unwrap().clone();
        assert_eq!(saved.windows, offline.len() as u64);
        assert_eq!(saved.history.len(), offline.len().min(MAX_HISTORY));
    }
}

#[test]
fn stalled_worker_overflows_the_ring_and_counts_every_dropped_sample() {
    let rate = 16_000.0;
    let ring = 4096;
    let (stalled_tx, stalled_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let patches = Arc::new(Mutex::new(Vec::new()));
    let recorder = Recorder {
        patches: patches.clone(),
        stall: Some((stalled_tx, release_rx)),
    };
    let (mut tap, worker, shared, _params, mut meter) = setup(recorder, ring, rate);
    let audio = signal(80_000, rate, 7);

    // Feed gently until the first patch stalls the analyzer.
    let mut pos = 0;
    let mut dropped_total = 0usize;
    loop {
        dropped_total += tap.push(&[&audio[pos..pos + 256]]);
        pos += 256;
        if stalled_rx.recv_timeout(Duration::from_millis(1)).is_ok() {
            break;
        }
        wait_until("the worker to keep up", || {
            shared.consumed.load(Ordering::Acquire) + 4096 >= pos as u64
        });
        assert!(pos + 256 <= 40_000, "no patch after 2.5 s");
    }
    // The worker is stuck: pushes return at once and drop what does not fit.
    let before = shared.tap.overflowed.load(Ordering::Relaxed) as usize;
    let t = Instant::now();
    let mut dropped_now = 0;
    for _ in 0..40 {
        dropped_now += tap.push(&[&audio[pos..pos + 1000]]);
        pos += 1000;
    }
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "the producer must never wait"
    );
    assert!(dropped_now >= 40_000 - ring, "dropped {dropped_now}");
    dropped_total += dropped_now;
    let overflowed = shared.tap.overflowed.load(Ordering::Relaxed) as usize;
    assert_eq!(overflowed - before, dropped_now);
    assert_eq!(overflowed, dropped_total);
    let pushed = shared.tap.pushed.load(Ordering::Relaxed) as usize;
    assert_eq!(
        pushed + overflowed,
        pos,
        "every sample is either pushed or counted"
    );

    // Released, the worker drains what was kept and reports the overflow.
    release_tx.send(()).unwrap();
    wait_until("drain", || {
        shared.consumed.load(Ordering::Acquire) == pushed as u64
    });
    wait_until("published overflow", || {
        meter.read().ring_overflows == overflowed as u64
    });
    drop(worker);
    assert!(!patches.lock().unwrap().is_empty());
}

#[test]
fn user_reset_clears_the_analysis() {
    let rate = 16_000.0;
    let patches = Arc::new(Mutex::new(Vec::new()));
    let recorder = Recorder {
        patches: patches.clone(),
        stall: None,
    };
    let (mut tap, worker, shared, params, mut meter) = setup(recorder, 64_000, rate);
    let audio = signal(48_000, rate, 9);
    assert_eq!(tap.push(&[&audio[..]]), 0);
    // Let the worker consume everything first, so nothing is analysed after the reset.
    wait_until("all audio consumed", || {
        shared.consumed.load(Ordering::Acquire) == audio.len() as u64
    });
    wait_until("windows", || meter.read().windows >= 2);
    shared.user_resets.fetch_add(1, Ordering::AcqRel);
    wait_until("reset published", || {
        let m = meter.read();
        m.windows == 0 && m.history.is_empty()
    });
    let m = *meter.read();
    assert_eq!(m.integrated, None);
    assert_eq!(m.seconds_analysed, 0.0);
    wait_until("saved state cleared", || {
        params.history.read().unwrap().windows == 0
    });
    drop(worker);
}
