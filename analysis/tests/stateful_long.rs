//! A 3-minute song (188 windows of 0.96 s) with the built-in demo popularity model: the
//! stateful tracker, stepped one window at a time as the plugin does, ends within 1e-5 of
//! the model's batch forward over the whole sequence on the model's (0, 1) output scale
//! (1e-3 popularity points), and agrees on a few prefixes on the way. The estimate must stay
//! away from the sigmoid's flat ends, where any two inputs agree. Embeddings are generated (smooth, musicnn-like magnitudes), so
//! the test needs no audio and runs in well under a second.

use candle_core::{Device, Tensor};
use chorder_analysis::{PopularityHead, PopularityTracker};
use chorder_models::builtin;
use chorder_models::regressor::PopularityModel;

fn batch(model: &PopularityModel, emb: &[f32], d: usize, features: &Tensor) -> f32 {
    let t = emb.len() / d;
    let x = Tensor::from_slice(emb, (1, t, d), &Device::Cpu).unwrap();
    let y = model.forward(&x, &[t], features).unwrap();
    y.flatten_all().unwrap().to_vec1::<f32>().unwrap()[0] * 100.0
}

#[test]
fn three_minutes_stepped_equal_the_batch_forward_within_1e5() {
    let bundle = builtin::demo_popularity_bundle().unwrap();
    let head = PopularityHead::shared(bundle.clone()).unwrap();
    let model = PopularityModel::from_bundle(&bundle).unwrap();
    let d = model.config().seq.emb_dim;
    let f = head.feature_dim();
    let windows = (180.0f64 / 0.96).ceil() as usize; // 188
                                                     // Slowly changing sections plus per-window detail, in [0, 1) like musicnn's pooled ReLU
                                                     // features.
    let emb: Vec<f32> = (0..windows * d)
        .map(|i| {
            let (w, k) = ((i / d) as f32, (i % d) as f32);
            let section = ((w / 40.0).floor() * 1.7 + k * 0.31).sin();
            let detail = ((w * 0.37 + k * 1.3).sin() * 43758.547).fract().abs();
            (0.25 * (section + 1.0) + 0.5 * detail).min(0.99)
        })
        .collect();
    let feats: Vec<f32> = (0..f).map(|i| ((i as f32 * 0.77).sin() * 2.0)).collect();
    let features = Tensor::from_slice(&feats, (1, f), &Device::Cpu).unwrap();

    let mut tracker = PopularityTracker::new(head).unwrap();
    tracker.set_features(&feats).unwrap();
    let mut stepped = Vec::with_capacity(windows);
    for w in emb.chunks(d) {
        stepped.push(tracker.step(w).unwrap().integrated);
    }
    for t in [1, 10, 60, windows] {
        let b = batch(&model, &emb[..t * d], d, &features);
        let s = stepped[t - 1];
        assert!((5.0..95.0).contains(&b), "estimate {b} is saturated");
        assert!(
            (s - b).abs() / 100.0 <= 1e-5,
            "after {t} windows: stepped {s} batch {b} (diff {})",
            (s - b).abs()
        );
    }
    // The estimate moves over the song (the state carries it), so agreeing is not trivial.
    let (lo, hi) = stepped
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    assert!(hi - lo > 1e-3, "estimate range {lo}..{hi}");
}
