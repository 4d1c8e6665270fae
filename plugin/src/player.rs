//! The standalone app's input player: `chorder_plugin --input FILE` decodes a file once and
//! the plugin plays it, looped, into its own input (replacing whatever the audio backend
//! delivers; with the `dummy` backend that is silence). Used for demos, screenshots and the
//! Xvfb test on machines without a sound card. Plugins loaded by a DAW never have a clip.
//!
//! Data: one mono `f32` clip at the host rate, shared read-only (`Arc`); the player keeps
//! only a read position, so [`InputPlayer::fill`] never allocates (it runs on the audio
//! thread).

use std::sync::{Arc, OnceLock};

use nice_plug::prelude::Buffer;

/// A decoded input clip.
#[derive(Debug, Clone, PartialEq)]
pub struct InputClip {
    /// Mono samples, normally in -1..=1.
    pub samples: Vec<f32>,
    /// Their rate, Hz (the rate the standalone host was asked to run at).
    pub sample_rate: u32,
}

static STANDALONE_INPUT: OnceLock<Arc<InputClip>> = OnceLock::new();

/// Makes every plugin instance of this process play `clip` into its input. Only the
/// standalone binary calls this, before the plugin is created. Returns `false` (and changes
/// nothing) when a clip was already set or `clip` is empty.
pub fn set_standalone_input(clip: InputClip) -> bool {
    !clip.samples.is_empty() && STANDALONE_INPUT.set(Arc::new(clip)).is_ok()
}

/// The clip set by [`set_standalone_input`], if any.
pub fn standalone_input() -> Option<Arc<InputClip>> {
    STANDALONE_INPUT.get().cloned()
}

/// Plays a clip in a loop, block by block.
#[derive(Debug, Clone)]
pub struct InputPlayer {
    clip: Arc<InputClip>,
    pos: usize,
}

impl InputPlayer {
    /// A player at the start of `clip` (which must not be empty, see
    /// [`set_standalone_input`]).
    pub fn new(clip: Arc<InputClip>) -> Self {
        Self { clip, pos: 0 }
    }

    /// Overwrites every channel of `buffer` with the next samples of the clip (the same
    /// mono signal on each channel), wrapping around at the end. Real-time safe.
    pub fn fill(&mut self, buffer: &mut Buffer) {
        let samples = &self.clip.samples;
        if samples.is_empty() {
            return;
        }
        let start = self.pos;
        let mut end = start;
        for channel in buffer.as_slice().iter_mut() {
            end = start;
            for x in channel.iter_mut() {
                *x = samples[end];
                end += 1;
                if end == samples.len() {
                    end = 0;
                }
            }
        }
        self.pos = end;
    }

    /// Read position, samples from the start of the clip.
    pub fn position(&self) -> usize {
        self.pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_loops_the_clip_on_every_channel() {
        let clip = Arc::new(InputClip {
            samples: vec![1.0, 2.0, 3.0],
            sample_rate: 8000,
        });
        let mut player = InputPlayer::new(clip);
        let mut left = vec![0.0f32; 4];
        let mut right = vec![9.0f32; 4];
        let mut buffer = crate::harness::buffer(vec![&mut left[..], &mut right[..]]);
        player.fill(&mut buffer);
        drop(buffer);
        assert_eq!(left, [1.0, 2.0, 3.0, 1.0]);
        assert_eq!(right, left);
        assert_eq!(player.position(), 1);
    }
}
