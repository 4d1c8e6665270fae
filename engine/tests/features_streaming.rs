//! The streaming extractor fed in random block sizes ends with the offline values
//! (within 1e-5), and really works block by block (frames are accumulated as audio comes).

use std::path::PathBuf;

use chorder_engine::features::{extract, FeatureConfig, FeatureStream, Layout};

fn rock() -> Vec<f32> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/features/rock_input.npy");
    chorder_engine::npy::read_f32(p).unwrap().1
}

struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n
    }
}

#[test]
fn random_blocks_match_offline() {
    // 4 s of the rock clip keeps the test quick in the test profile.
    let sig: Vec<f32> = rock().into_iter().take(4 * 44_100 + 123).collect();
    for compat in [true, false] {
        let cfg = FeatureConfig { compat };
        let offline = extract(&sig, 44_100, cfg).unwrap();
        for seed in [1u64, 2, 3] {
            let mut rng = Lcg(seed);
            let mut s = FeatureStream::new(44_100, cfg).unwrap();
            let mut i = 0;
            while i < sig.len() {
                // Mostly small and odd sizes, sometimes single samples, sometimes big.
                let n = match rng.next(10) {
                    0 => 1,
                    1..=6 => 1 + rng.next(700),
                    _ => 1 + rng.next(20_000),
                }
                .min(sig.len() - i);
                s.push(&sig[i..i + n]);
                i += n;
            }
            let streamed = s.finish().unwrap();
            for (k, (a, b)) in streamed.values.iter().zip(&offline.values).enumerate() {
                let tol = 1e-5 * b.abs().max(1.0);
                assert!(
                    (a - b).abs() <= tol || (a.is_nan() && b.is_nan()),
                    "compat {compat} seed {seed} column {k}: {a} vs {b}"
                );
            }
            assert_eq!(streamed.tuning, offline.tuning);
            assert_eq!(streamed.n_frames, offline.n_frames);
        }
    }
}

#[test]
fn frames_are_accumulated_while_audio_arrives() {
    let sig = rock();
    let mut s = FeatureStream::new(44_100, FeatureConfig::default()).unwrap();
    s.push(&sig[..1024]);
    assert_eq!(
        s.frames_done(),
        0,
        "frame 0 needs sample 1024 for its reflection"
    );
    s.push(&sig[1024..1025]);
    assert_eq!(s.frames_done(), 1);
    s.push(&sig[1025..100_000]);
    // Frame t is complete once sample t*512 + 1024 has arrived.
    assert_eq!(s.frames_done(), (100_000 - 1025) / 512 + 1);
    s.push(&sig[100_000..]);
    let total = 1 + sig.len() / 512;
    assert!(
        s.frames_done() < total,
        "the last frames wait for the end of the song"
    );
    let fv = s.finish().unwrap();
    assert_eq!(fv.n_frames, total);
    assert!(fv.values[Layout::MEL] > 0.0);
}
