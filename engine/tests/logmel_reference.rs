//! The Rust front ends against an independent numpy/librosa implementation
//! (`scripts/reference_logmel.py`, outputs in `fixtures/logmel/`), on real music and on
//! analytic signals. Both read the same 16 kHz float32 input, so only the front end differs.

mod common;

use chorder_engine::npy::read_f32;
use chorder_engine::{FrontEndConfig, LogMelPatch, LogMelStream};
use common::fixture;

const TOLERANCE: f32 = 1e-3;

fn run(cfg: &FrontEndConfig, x: &[f32]) -> (Vec<LogMelPatch>, Vec<f32>) {
    let mut stream = LogMelStream::new(cfg).unwrap();
    stream.record_frames();
    let mut patches = Vec::new();
    stream.push(x, &mut patches);
    stream.finish(&mut patches);
    (patches, stream.take_recorded_frames())
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

const CLIPS: [&str; 4] = ["rock", "piano", "silence", "sine1k"];

#[test]
fn vggish_patches_match_the_numpy_reference() {
    for clip in CLIPS {
        let (_, x) = read_f32(fixture(&format!("logmel/{clip}_16k.npy"))).unwrap();
        let (shape, expect) = read_f32(fixture(&format!("logmel/{clip}_vggish.npy"))).unwrap();
        assert_eq!(&shape[1..], &[96, 64], "{clip}");
        let (patches, _) = run(&FrontEndConfig::vggish(), &x);
        assert_eq!(patches.len(), shape[0], "{clip}: patch count");
        let ours: Vec<f32> = patches
            .iter()
            .flat_map(|p| p.data.iter().copied())
            .collect();
        let err = max_abs_diff(&ours, &expect);
        println!("{clip}: VGGish max abs error {err:.2e}");
        assert!(err <= TOLERANCE, "{clip}: VGGish max abs error {err}");
    }
}

#[test]
fn musicnn_frames_match_librosa() {
    for clip in CLIPS {
        let (_, x) = read_f32(fixture(&format!("logmel/{clip}_16k.npy"))).unwrap();
        let (shape, expect) = read_f32(fixture(&format!("logmel/{clip}_musicnn.npy"))).unwrap();
        assert_eq!(shape[1], 96, "{clip}");
        let (_, frames) = run(&FrontEndConfig::musicnn(), &x);
        assert_eq!(frames.len() / 96, shape[0], "{clip}: frame count");
        let err = max_abs_diff(&frames, &expect);
        println!("{clip}: musicnn max abs error {err:.2e}");
        assert!(err <= TOLERANCE, "{clip}: musicnn max abs error {err}");
    }
}

#[test]
fn a_1khz_sine_lands_in_the_expected_mel_band() {
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("logmel/analytic.json")).unwrap())
            .unwrap();
    let (_, x) = read_f32(fixture("logmel/sine1k_16k.npy")).unwrap();
    for cfg in [FrontEndConfig::vggish(), FrontEndConfig::musicnn()] {
        let expected_band = find_band(&meta, &cfg.name);
        let (_, frames) = run(&cfg, &x);
        let n_mels = cfg.n_mels;
        // Skip the edge frames (padding); every interior frame peaks in that band.
        let n = frames.len() / n_mels;
        for t in 2..n - 2 {
            let f = &frames[t * n_mels..(t + 1) * n_mels];
            let argmax = (0..n_mels).max_by(|&a, &b| f[a].total_cmp(&f[b])).unwrap();
            assert_eq!(argmax, expected_band, "{} frame {t}", cfg.name);
        }
        // And the band's centre frequency is the closest one to 1 kHz.
        let bank = chorder_engine::mel::MelFilterBank::new(&cfg);
        let closest = (0..n_mels)
            .min_by(|&a, &b| {
                let d = |i: usize| (bank.bands()[i].center_hz - 1000.0).abs();
                d(a).total_cmp(&d(b))
            })
            .unwrap();
        assert!(
            closest.abs_diff(expected_band) <= 1,
            "{}: band {expected_band}, closest centre {closest}",
            cfg.name
        );
    }
}

/// The expected argmax band for `preset` recorded by the reference script.
fn find_band(meta: &serde_json::Value, preset: &str) -> usize {
    fn search(v: &serde_json::Value, preset: &str) -> Option<usize> {
        match v {
            serde_json::Value::Object(map) => {
                for (k, val) in map {
                    let k = k.to_lowercase();
                    if k.contains(preset) && (k.contains("band") || k.contains("argmax")) {
                        if let Some(n) = val.as_u64() {
                            return Some(n as usize);
                        }
                    }
                    if let Some(n) = search(val, preset) {
                        return Some(n);
                    }
                }
                None
            }
            _ => None,
        }
    }
    search(meta, preset).unwrap_or_else(|| panic!("analytic.json has no {preset} band: {meta}"))
}
