//! [`LiveFeatures`] against the offline extractor on real music (the 10 s rock and piano
//! fixtures at 44.1 kHz): bit-identical when the song fits in one segment, within stated
//! tolerances when it is cut into segments; memory bounded by one segment whatever the
//! stream's length; the sequence of combined vectors independent of block sizes.

use std::path::PathBuf;

use chorder_engine::decode::decode_mono;
use chorder_engine::features::{extract, FeatureConfig, Layout, LiveFeatures};

fn clip(name: &str) -> (Vec<f32>, u32) {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../fixtures/audio/{name}"));
    let (x, report) = decode_mono(&p).unwrap();
    (x, report.sample_rate)
}

fn live(x: &[f32], sr: u32, seg: f64, block: usize) -> LiveFeatures {
    let mut l = LiveFeatures::new(sr, FeatureConfig::default(), seg).unwrap();
    for b in x.chunks(block) {
        l.push(b);
    }
    l
}

#[test]
fn one_segment_is_the_offline_extract_bit_for_bit() {
    for name in ["rock.wav", "piano.wav"] {
        let (x, sr) = clip(name);
        let offline = extract(&x, sr, FeatureConfig::default()).unwrap();
        let l = live(&x, sr, 15.0, 1000);
        assert!(l.latest().is_none(), "no segment finished in 10 s");
        assert_eq!(l.finish().unwrap(), offline, "{name}");
    }
}

/// Largest |live - offline| over a family's columns, relative to the family's largest
/// offline magnitude (tiny high-band MEL means make per-column ratios meaningless).
fn worst(live: &[f32], offline: &[f32], _floor: f32) -> f32 {
    let scale = offline
        .iter()
        .fold(0.0f32, |m, x| m.max(x.abs()))
        .max(1e-12);
    live.iter()
        .zip(offline)
        .map(|(a, b)| (a - b).abs() / scale)
        .fold(0.0, f32::max)
}

#[test]
fn segmented_features_stay_close_to_the_offline_extract() {
    for name in ["rock.wav", "piano.wav"] {
        let (x, sr) = clip(name);
        let off = extract(&x, sr, FeatureConfig::default()).unwrap().values;
        // Segments of 4 s: 4 + 4 + 2 s.
        let v = live(&x, sr, 4.0, 4096).finish().unwrap().values;
        let fam = |start: usize, len: usize| (&v[start..start + len], &off[start..start + len]);
        let (a, b) = fam(Layout::MEL, 128);
        let mel = worst(a, b, 1e-6);
        let (a, b) = fam(Layout::MFCC, 48);
        let mfcc = worst(a, b, 1.0);
        let (a, b) = fam(Layout::CONTRAST, 7);
        let contrast = worst(a, b, 1.0);
        let (a, b) = fam(Layout::CHROMA, 12);
        let chroma = worst(a, b, 0.1);
        let (a, b) = fam(Layout::TONNETZ, 6);
        let tonnetz = worst(a, b, 0.1);
        let (a, b) = fam(Layout::ZCR, 1);
        let zcr = worst(a, b, 1e-6);
        let (a, b) = fam(Layout::BANDWIDTH, 1);
        let bw = worst(a, b, 1.0);
        let (a, b) = fam(Layout::ROLLOFF_MAX, 2);
        let roll = worst(a, b, 1.0);
        eprintln!(
            "{name}: mel {mel:.2e} mfcc {mfcc:.2e} contrast {contrast:.2e} chroma {chroma:.2e} \
             tonnetz {tonnetz:.2e} zcr {zcr:.2e} bandwidth {bw:.2e} rolloff {roll:.2e} \
             centroid {} vs {} entropy {} vs {}",
            v[Layout::CENTROID],
            off[Layout::CENTROID],
            v[Layout::ENTROPY],
            off[Layout::ENTROPY]
        );
        // Tolerances relative to each family's largest value (4 s segments; measured on
        // rock / piano: MEL 2.7e-4 / 1.2e-3, ZCR 3.2e-3 / 4.0e-3, bandwidth 6e-4 / 1.6e-4,
        // roll-off 1.2e-4 / 1.2e-4, MFCC 1.4e-2 / 4.7e-3, contrast 5.8e-3 / 3.3e-3, chroma
        // 1.6e-2 / 2.3e-2, tonnetz 4.5e-2 / 8.0e-2, entropy_energy 0.9 % / 2.2 %).
        // Means over frames: only the frames at the two segment edges differ.
        assert!(mel < 0.01, "{name}: MEL {mel}");
        assert!(zcr < 0.01, "{name}: ZCR {zcr}");
        assert!(
            bw < 0.01 && roll < 0.01,
            "{name}: bandwidth {bw}, roll-off {roll}"
        );
        // Per-segment top_db clip.
        assert!(mfcc < 0.03, "{name}: MFCC {mfcc}");
        assert!(contrast < 0.03, "{name}: contrast {contrast}");
        // Per-segment tuning and CQT edges.
        assert!(chroma < 0.05, "{name}: chroma {chroma}");
        assert!(tonnetz < 0.15, "{name}: tonnetz {tonnetz}");
        let e = (v[Layout::ENTROPY] - off[Layout::ENTROPY]).abs() / off[Layout::ENTROPY].abs();
        assert!(e < 0.05, "{name}: entropy_energy {e}");
        // The song's first frame: the first segment's.
        assert_eq!(v[Layout::CENTROID], off[Layout::CENTROID]);
    }
}

#[test]
fn memory_is_bounded_and_updates_do_not_depend_on_block_sizes() {
    let (x, sr) = clip("rock.wav");
    // Three minutes: the clip 18 times.
    let long: Vec<f32> = (0..18).flat_map(|_| x.iter().copied()).collect();
    let mut a = LiveFeatures::new(sr, FeatureConfig::default(), 15.0).unwrap();
    let mut b = LiveFeatures::new(sr, FeatureConfig::default(), 15.0).unwrap();
    let mut seen_a = Vec::new();
    let mut seen_b = Vec::new();
    let mut max_held = 0;
    for blk in long.chunks(4096) {
        a.push(blk);
        max_held = max_held.max(a.samples_held());
        if seen_a.len() < a.updates() as usize {
            seen_a.push((a.latest_at(), a.latest().unwrap().clone()));
        }
    }
    for blk in long.chunks(777) {
        b.push(blk);
        if seen_b.len() < b.updates() as usize {
            seen_b.push((b.latest_at(), b.latest().unwrap().clone()));
        }
    }
    assert!(
        max_held <= a.segment_len(),
        "{max_held} > {}",
        a.segment_len()
    );
    assert_eq!(a.updates() as usize, long.len() / a.segment_len());
    assert_eq!(seen_a.len(), 12);
    assert_eq!(seen_a, seen_b);
    assert_eq!(seen_a[3].0, 4 * a.segment_len() as u64);
}
