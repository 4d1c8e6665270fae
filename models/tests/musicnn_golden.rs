//! The built-in musicnn bundle against golden outputs of the original TensorFlow checkpoint
//! (`fixtures/musicnn/`, made by `scripts/musicnn_golden.py`; see its README): 10 streaming
//! patches (60-frame hop, ≤ 187-frame context) of a rock and a piano clip.
//!
//! 1. Same log-mel input as TF → penultimate within 1e-4, tags within 1e-5 (max abs), pools
//!    within 1e-4 + 1e-5·|ref|.
//! 2. Log-mel computed by the engine's streaming front end from the 16 kHz audio → penultimate
//!    within 2e-3, tags within 2e-4.

use std::path::PathBuf;

use chorder_engine::npy::read_f32;
use chorder_engine::{FrontEndConfig, LogMelStream};
use chorder_models::builtin;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// Reads a fixture in C order (`read_f32` transposes Fortran-order files, as
/// `*_logmel.npy` is stored).
fn load(name: &str) -> (Vec<usize>, Vec<f32>) {
    let p = fixtures().join(name);
    read_f32(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `(start, end)` frame of every patch of `clip`, from `patches.json`.
fn patches(clip: &str) -> Vec<(usize, usize)> {
    let text = std::fs::read_to_string(fixtures().join("musicnn/patches.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["clips"][clip]["patches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_u64().unwrap() as usize,
                p[1].as_u64().unwrap() as usize,
            )
        })
        .collect()
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Max of `|a - b| - rtol·|b|` (≤ atol passes).
fn max_rel_excess(a: &[f32], b: &[f32], rtol: f32) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() - rtol * y.abs())
        .fold(0.0, f32::max)
}

struct Golden {
    penultimate: Vec<f32>,
    tags: Vec<f32>,
    maxpool: Vec<f32>,
    meanpool: Vec<f32>,
}

fn golden(clip: &str) -> Golden {
    let get = |what: &str, width: usize| {
        let (shape, data) = load(&format!("musicnn/{clip}_{what}.npy"));
        assert_eq!(shape[1], width, "{clip}_{what}");
        data
    };
    Golden {
        penultimate: get("penultimate", 200),
        tags: get("tags", 50),
        maxpool: get("maxpool", 753),
        meanpool: get("meanpool", 753),
    }
}

#[test]
fn same_logmel_input_matches_tensorflow() {
    let net = builtin::musicnn().unwrap();
    for clip in ["rock", "piano"] {
        let (shape, logmel) = load(&format!("musicnn/{clip}_logmel.npy"));
        assert_eq!(shape[1], 96);
        let g = golden(clip);
        let ps = patches(clip);
        assert_eq!(ps.len(), 10);
        let mut worst = [0.0f32; 4];
        for (k, &(s, e)) in ps.iter().enumerate() {
            let out = net
                .forward_frames(&logmel[s * 96..e * 96], e - s, 96)
                .unwrap();
            let errs = [
                max_abs(&out.penultimate, &g.penultimate[k * 200..][..200]),
                max_abs(&out.tags, &g.tags[k * 50..][..50]),
                max_rel_excess(&out.max_pool, &g.maxpool[k * 753..][..753], 1e-5),
                max_rel_excess(&out.mean_pool, &g.meanpool[k * 753..][..753], 1e-5),
            ];
            for (w, e) in worst.iter_mut().zip(errs) {
                *w = w.max(e);
            }
        }
        eprintln!("{clip}: max |Δ| penultimate {:.2e}, tags {:.2e}; pools max(|Δ| - 1e-5|ref|) {:.2e} / {:.2e}", worst[0], worst[1], worst[2], worst[3]);
        assert!(worst[0] <= 1e-4, "{clip}: penultimate {}", worst[0]);
        assert!(worst[1] <= 1e-5, "{clip}: tags {}", worst[1]);
        assert!(
            worst[2] <= 1e-4 && worst[3] <= 1e-4,
            "{clip}: pools {worst:?}"
        );
    }
}

#[test]
fn engine_front_end_matches_tensorflow() {
    let net = builtin::musicnn().unwrap();
    let cfg = builtin::musicnn_bundle().unwrap().meta().front_end.clone();
    assert_eq!(cfg, FrontEndConfig::musicnn());
    for clip in ["rock", "piano"] {
        let (_, audio) = load(&format!("logmel/{clip}_16k.npy"));
        let mut stream = LogMelStream::new(&cfg).unwrap();
        let mut out = Vec::new();
        for block in audio.chunks(4096) {
            stream.push(block, &mut out);
        }
        stream.finish(&mut out);
        let ps = patches(clip);
        let got: Vec<(usize, usize)> = out
            .iter()
            .map(|p| (p.start_frame() as usize, p.end_frame as usize))
            .collect();
        assert_eq!(got, ps, "{clip}: streaming patch layout");
        let g = golden(clip);
        let (mut pen, mut tags) = (0.0f32, 0.0f32);
        for (k, patch) in out.iter().enumerate() {
            let o = net.forward_patch(patch).unwrap();
            pen = pen.max(max_abs(&o.penultimate, &g.penultimate[k * 200..][..200]));
            tags = tags.max(max_abs(&o.tags, &g.tags[k * 50..][..50]));
        }
        eprintln!("{clip} (engine log-mel): max |Δ| penultimate {pen:.2e}, tags {tags:.2e}");
        assert!(pen <= 2e-3, "{clip}: penultimate {pen}");
        assert!(tags <= 2e-4, "{clip}: tags {tags}");
    }
}
