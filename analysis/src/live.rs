//! [`LiveFeatureTrack`]: the low-level features a [`PopularityTracker`] uses while a song
//! plays, in bounded memory. The plugin's worker (`ModelAnalyzer`) and `analyze`
//! ([`crate::offline::analyze_song`]) both feed it the same mono input and call
//! [`LiveFeatureTrack::step`] for every window, so for the same audio they compute the same
//! per-window estimates whatever the block sizes.
//!
//! Features come from `chorder_engine::features::LiveFeatures` (segments of
//! [`SEGMENT_SECONDS`], combined; see there for the approximation and its bound on
//! memory). A combined vector is handed to the tracker before the first window that ends
//! at or after the input sample where its segment ended; until the first segment is done
//! the tracker keeps the training mean of each feature ("an average song").

use std::collections::VecDeque;

use chorder_engine::features::{FeatureConfig, FeatureError, FeatureVector, LiveFeatures};

use crate::popularity::{Estimate, PopularityTracker};

/// Segment length of the live features, seconds.
pub const SEGMENT_SECONDS: f64 = 15.0;

/// Live features for one input stream, applied to a tracker at window boundaries.
pub struct LiveFeatureTrack {
    live: LiveFeatures,
    /// Combined vectors not yet handed over, with the input sample count they became
    /// valid at (at most a few: the windows consume them).
    pending: VecDeque<(u64, FeatureVector)>,
}

impl LiveFeatureTrack {
    /// A track for mono input at `input_rate` Hz (the SpotGenTrack features need more than
    /// 12.8 kHz).
    pub fn new(input_rate: u32) -> Result<Self, FeatureError> {
        Ok(Self {
            live: LiveFeatures::new(input_rate, FeatureConfig::default(), SEGMENT_SECONDS)?,
            pending: VecDeque::new(),
        })
    }

    /// Input rate, Hz.
    pub fn sample_rate(&self) -> u32 {
        self.live.sample_rate()
    }

    /// Samples held by the feature stream now (bounded by one segment).
    pub fn samples_held(&self) -> usize {
        self.live.samples_held()
    }

    /// Feeds mono input (the same samples the front end gets, before it gets them).
    pub fn push(&mut self, mut block: &[f32]) {
        let seg = self.live.segment_len() as u64;
        while !block.is_empty() {
            // Cut at segment ends so that no combined vector is skipped.
            let to_end = (seg - self.live.samples() % seg) as usize;
            let take = to_end.min(block.len());
            let before = self.live.updates();
            self.live.push(&block[..take]);
            block = &block[take..];
            if self.live.updates() != before {
                if let Some(v) = self.live.latest() {
                    self.pending.push_back((self.live.latest_at(), v.clone()));
                }
            }
        }
    }

    /// Steps `tracker` with the window ending `end_seconds` after the start of the stream:
    /// first hands it the newest combined features valid at that point (if any new), then
    /// steps it with `embedding`.
    pub fn step(
        &mut self,
        tracker: &mut PopularityTracker,
        end_seconds: f64,
        embedding: &[f32],
    ) -> Result<Estimate, String> {
        let end_sample = (end_seconds * self.sample_rate() as f64).floor() as u64;
        let mut newest = None;
        while self
            .pending
            .front()
            .is_some_and(|(at, _)| *at <= end_sample)
        {
            newest = self.pending.pop_front();
        }
        if let Some((_, v)) = newest {
            tracker.set_features(&v.values)?;
        }
        tracker.step(embedding)
    }

    /// Forgets the stream (a new song; call with the tracker's reset).
    pub fn reset(&mut self) {
        self.live.reset();
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::popularity::PopularityHead;

    /// Per-window estimates for `x` (22.05 kHz) fed in blocks of `block`, windows every
    /// 0.96 s stepped as soon as the input covers them (as a front end would emit them).
    fn run(x: &[f32], block: usize, with_features: bool) -> Vec<Estimate> {
        let bundle = chorder_models::builtin::demo_popularity_bundle().unwrap();
        let head = PopularityHead::shared(bundle).unwrap();
        let mut tracker = PopularityTracker::new(head).unwrap();
        let mut track = LiveFeatureTrack::new(22_050).unwrap();
        let embedding: Vec<f32> = (0..200).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut out = Vec::new();
        let mut pushed = 0usize;
        let mut next_window = 1u32;
        for b in x.chunks(block) {
            track.push(b);
            pushed += b.len();
            assert!(track.samples_held() <= 15 * 22_050);
            while next_window as f64 * 0.96 * 22_050.0 <= pushed as f64 {
                let end = next_window as f64 * 0.96;
                out.push(if with_features {
                    track.step(&mut tracker, end, &embedding).unwrap()
                } else {
                    tracker.step(&embedding).unwrap()
                });
                next_window += 1;
            }
        }
        out
    }

    #[test]
    fn estimates_do_not_depend_on_block_sizes_and_use_the_features_after_one_segment() {
        // 20 s of a decaying chord with noise, 22.05 kHz.
        let x: Vec<f32> = (0..20 * 22_050)
            .map(|i| {
                let t = i as f32 / 22_050.0;
                0.3 * (std::f32::consts::TAU * 440.0 * t).sin()
                    + 0.2 * (std::f32::consts::TAU * 660.0 * t).sin() * (-t % 1.0).exp()
                    + 0.05 * (((i as u64 * 7919) % 1000) as f32 / 500.0 - 1.0)
            })
            .collect();
        let a = run(&x, 4096, true);
        let b = run(&x, 333, true);
        let plain = run(&x, 4096, false);
        assert_eq!(a.len(), 20);
        assert_eq!(a, b);
        // Windows ending before 15 s use the training mean, as without features.
        let first_after = (15.0f64 / 0.96).ceil() as usize - 1; // window 16 ends at 15.36 s
        assert_eq!(a[..first_after], plain[..first_after]);
        assert_ne!(a[first_after], plain[first_after]);
    }
}
