//! Epoch times at the study's sizes (run with `cargo test -p chorder-train --test timing --
//! --ignored --nocapture`): 1000 songs of ~30 windows of 200-d embeddings (musicnn, 0.96 s
//! hop over a 30 s preview), 207 features, batch 200, encoder LSTM 64, 20-d codes,
//! 7-layer head. Prints seconds per epoch per stage; the 8,500-song study split takes
//! about 8.5 times as long.

use chorder_models::feature_autoencoder::FeatureAutoencoderConfig;
use chorder_models::regressor::{PopularityModelConfig, RegressorConfig};
use chorder_models::seq_autoencoder::SeqAutoencoderConfig;
use chorder_train::config::{RunConfig, StageConfig};
use chorder_train::synth::{synthetic, SynthConfig};
use chorder_train::trainer::{train_study, Control};

#[test]
#[ignore = "timing only"]
fn study_sizes_epoch_time() {
    let all = synthetic(&SynthConfig {
        n: 1100,
        emb_dim: 200,
        feat_dim: 207,
        min_steps: 28,
        max_steps: 31,
        noise: 0.05,
        seed: 1,
    });
    let (train, val) = all.split_at(1000);
    let one = StageConfig {
        epochs: 2,
        ..Default::default()
    };
    let cfg = RunConfig {
        model: PopularityModelConfig {
            seq: SeqAutoencoderConfig {
                emb_dim: 200,
                lstm_dims: vec![64],
                linear_dims: vec![32],
                code_dim: 20,
            },
            features: FeatureAutoencoderConfig::default(),
            head: RegressorConfig::default(),
        },
        seq_autoencoder: one.clone(),
        feature_autoencoder: one.clone(),
        regressor: one,
        ..Default::default()
    };
    let t = train_study(&cfg, &train, &val, None, &mut Control::default())
        .unwrap()
        .unwrap();
    for s in &t.stages {
        let secs: Vec<String> = s
            .history
            .iter()
            .map(|e| format!("{:.2}", e.seconds))
            .collect();
        eprintln!("{:<20} s/epoch on 1000 songs: {}", s.name, secs.join(", "));
        assert_eq!(s.history.len(), 2);
    }
}
