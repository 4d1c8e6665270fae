//! The streaming front end gives bit-identical patches whatever block sizes the host uses,
//! at every supported input rate.

mod common;

use chorder_engine::{FrontEndConfig, FrontEndStream, LogMelPatch};
use proptest::prelude::*;

fn run(cfg: &FrontEndConfig, rate: u32, x: &[f32], blocks: &[usize]) -> Vec<LogMelPatch> {
    let mut fe = FrontEndStream::new(cfg, rate).unwrap();
    let mut out = Vec::new();
    let (mut pos, mut i) = (0, 0);
    while pos < x.len() {
        let n = blocks[i % blocks.len()].clamp(1, x.len() - pos);
        fe.push(&x[pos..pos + n], &mut out);
        pos += n;
        i += 1;
    }
    fe.finish(&mut out);
    out
}

#[test]
fn three_minute_song_is_identical_for_blocks_of_1_64_511_4096() {
    let rate = 44_100;
    let song = common::synth_song(rate, 180.0);
    for cfg in [FrontEndConfig::vggish(), FrontEndConfig::musicnn()] {
        let reference = run(&cfg, rate, &song, &[4096]);
        // 180 s gives 187 VGGish patches (0.96 s each) and 187 musicnn steps.
        assert_eq!(reference.len(), 187, "{}", cfg.name);
        for block in [1, 64, 511] {
            let other = run(&cfg, rate, &song, &[block]);
            assert!(
                other == reference,
                "{}: block size {block} changed the output",
                cfg.name
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_block_sequences_give_identical_patches(
        rate in prop::sample::select(vec![22_050u32, 44_100, 48_000, 88_200, 96_000, 192_000]),
        blocks in prop::collection::vec(1usize..=8192, 1..40),
        musicnn in any::<bool>(),
    ) {
        let cfg = if musicnn { FrontEndConfig::musicnn() } else { FrontEndConfig::vggish() };
        let song = common::synth_song(rate, 4.5);
        let reference = run(&cfg, rate, &song, &[song.len()]);
        prop_assert!(!reference.is_empty());
        let other = run(&cfg, rate, &song, &blocks);
        prop_assert!(other == reference);
    }
}
