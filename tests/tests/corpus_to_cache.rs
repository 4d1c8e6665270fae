//! End to end through three crates: a generated corpus (engine) is imported, every song is
//! analysed with the built-in musicnn (models) into the feature cache (analysis), a re-run
//! computes nothing, and a corrupt song is reported without stopping the run.

use chorder_analysis::extract::{extract_dataset, ExtractOptions};
use chorder_analysis::{Embedder, FeatureCache};
use chorder_engine::corpus::{generate, CorpusOptions};
use chorder_engine::dataset::{import_manifest, ManifestOptions, SplitConfig};
use chorder_engine::features::FeatureConfig;

#[test]
fn generated_corpus_is_extracted_once_and_failures_are_reported() {
    let dir = std::env::temp_dir().join(format!("chorder-e2e-corpus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = CorpusOptions {
        songs: 4,
        seconds: 4.0,
        seed: 3,
        sample_rate: 22_050,
    };
    generate(&opts, &dir, |_, _| {}).unwrap();
    let (mut dataset, report) = import_manifest(
        dir.join("manifest.csv"),
        &ManifestOptions {
            split: SplitConfig::default(),
        },
    )
    .unwrap();
    assert_eq!(dataset.tracks.len(), 4, "{report}");
    // Damage one song.
    std::fs::write(&dataset.tracks[2].audio, b"RIFF....garbage").unwrap();
    dataset.tracks[2].id = "damaged".into();

    let embedder = Embedder::shared(chorder_models::builtin::musicnn_bundle().unwrap()).unwrap();
    let cache = FeatureCache::new(dir.join("cache"), embedder.id(), true);
    let opts = ExtractOptions {
        jobs: 2,
        features: FeatureConfig::default(),
        progress: false,
    };
    let (keys, report) = extract_dataset(&dataset, &cache, &embedder, &opts);
    assert_eq!(report.computed, 3);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, "damaged");
    assert!(
        report.failed[0].2.contains("not a recognised audio file"),
        "{:?}",
        report.failed[0]
    );
    assert!(keys[2].is_none());

    // Each cached song holds 4 windows of 200-d embeddings (4 s at 0.96 s) and 207 features.
    for key in keys.iter().flatten() {
        let song = cache.get(key).unwrap().unwrap();
        assert_eq!((song.n_windows, song.dim), (4, 200));
        assert_eq!(song.features.len(), 207);
        assert!(song
            .embeddings
            .iter()
            .chain(&song.features)
            .all(|v| v.is_finite()));
        assert!((song.seconds - 4.0).abs() < 1e-3);
    }

    // A second run finds everything in the cache.
    let (keys2, report2) = extract_dataset(&dataset, &cache, &embedder, &opts);
    assert_eq!(
        (report2.computed, report2.cached, report2.failed.len()),
        (0, 3, 1)
    );
    assert_eq!(keys2, keys);
    std::fs::remove_dir_all(&dir).unwrap();
}
