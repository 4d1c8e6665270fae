//! The streaming song analyzer equals the offline path for the same audio, whatever the
//! block sizes, and its summary agrees with the engine's offline features.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chorder_analysis::song::{analyze_file, SongAnalyzer};
use chorder_analysis::Embedder;
use chorder_engine::decode::decode_mono;
use chorder_engine::features::{extract, FeatureConfig};
use chorder_models::bundle::ModelBundle;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn embedder() -> Arc<Embedder> {
    let bundle =
        ModelBundle::load_file(root().join("models/assets/msd_musicnn.safetensors")).unwrap();
    Embedder::shared(bundle).unwrap()
}

#[test]
fn streaming_in_odd_blocks_equals_the_offline_file_analysis() {
    let path = root().join("fixtures/audio/rock.wav");
    let e = embedder();
    let (windows, summary) = analyze_file(&path, e.clone(), FeatureConfig::default()).unwrap();
    // 10 s at 0.96 s per window.
    assert_eq!(windows.len(), 10);
    assert_eq!(summary.n_windows, 10);
    assert_eq!(summary.embeddings.len(), 10 * 200);

    let (mono, report) = decode_mono(&path).unwrap();
    let mut song = SongAnalyzer::new(
        "rock.wav",
        e.clone(),
        report.sample_rate,
        FeatureConfig::default(),
    )
    .unwrap();
    let mut streamed = Vec::new();
    let sizes = [1usize, 517, 64, 4096, 33, 8192];
    let (mut pos, mut i) = (0, 0);
    while pos < mono.len() {
        let n = sizes[i % sizes.len()].min(mono.len() - pos);
        streamed.extend(song.push(&mono[pos..pos + n]).unwrap());
        pos += n;
        i += 1;
    }
    let (last, streamed_summary) = song.finish().unwrap();
    streamed.extend(last);
    assert_eq!(streamed, windows);
    assert_eq!(streamed_summary.embeddings, summary.embeddings);

    // Features equal the engine's whole-signal extractor.
    let offline = extract(&mono, report.sample_rate, FeatureConfig::default()).unwrap();
    for (a, b) in summary.features.values.iter().zip(offline.values.iter()) {
        assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
    }
    // Mean tags are the mean over windows.
    for t in 0..summary.mean_tags.len() {
        let mean: f32 = windows.iter().map(|w| w.output.tags[t]).sum::<f32>() / 10.0;
        assert!((mean - summary.mean_tags[t]).abs() < 1e-6);
    }
}

#[test]
fn the_model_hears_rock_in_the_rock_clip() {
    let e = embedder();
    let (_, summary) = analyze_file(
        &root().join("fixtures/audio/rock.mp3"),
        e.clone(),
        FeatureConfig::default(),
    )
    .unwrap();
    let mut order: Vec<usize> = (0..summary.mean_tags.len()).collect();
    order.sort_by(|&a, &b| summary.mean_tags[b].total_cmp(&summary.mean_tags[a]));
    let top: Vec<&str> = order[..3]
        .iter()
        .map(|&i| e.tag_names()[i].as_str())
        .collect();
    assert_eq!(top[0], "rock", "top tags {top:?}");
}

#[test]
fn one_embedder_per_bundle_per_process() {
    let a = embedder();
    let b = embedder();
    assert!(Arc::ptr_eq(&a, &b));
}
