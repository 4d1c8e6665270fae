//! The one sample framer: push blocks of any size, get every complete window of
//! `window` samples starting at multiples of `hop`.
//!
//! Output depends only on the concatenated input, never on how it was split into blocks:
//! window `i` is exactly samples `i * hop .. i * hop + window` of the stream.

/// Streaming framer over `f32` samples (any rate; it only counts samples).
#[derive(Debug, Clone)]
pub struct Framer {
    window: usize,
    hop: usize,
    buf: Vec<f32>,
    /// Offset in `buf` of the next window's first sample. May exceed `buf.len()` when
    /// `hop > window` (samples between windows that have not arrived yet are skipped).
    next: usize,
    emitted: u64,
}

impl Framer {
    /// A framer cutting windows of `window` samples every `hop` samples (both > 0).
    pub fn new(window: usize, hop: usize) -> Self {
        assert!(window > 0 && hop > 0, "window and hop must be positive");
        Self {
            window,
            hop,
            buf: Vec::with_capacity(window + hop + 8192),
            next: 0,
            emitted: 0,
        }
    }

    /// Window length in samples.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Windows emitted so far.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    /// Appends `samples` and calls `on_window` with each window completed by them, in order.
    pub fn push(&mut self, samples: &[f32], mut on_window: impl FnMut(&[f32])) {
        let mut samples = samples;
        // Skip samples that fall in a gap between windows (hop > window).
        if self.next > self.buf.len() {
            let skip = (self.next - self.buf.len()).min(samples.len());
            samples = &samples[skip..];
            self.next -= skip;
        }
        self.buf.extend_from_slice(samples);
        while self.next + self.window <= self.buf.len() {
            on_window(&self.buf[self.next..self.next + self.window]);
            self.emitted += 1;
            self.next += self.hop;
        }
        // Drop consumed samples once they dominate the buffer (amortised O(1) per sample).
        let consumed = self.next.min(self.buf.len());
        if consumed > 0 && consumed >= self.buf.len() / 2 {
            self.buf.drain(..consumed);
            self.next -= consumed;
        }
    }

    /// Forgets all buffered samples and the window count.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.next = 0;
        self.emitted = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames_of(input: &[f32], window: usize, hop: usize, blocks: &[usize]) -> Vec<Vec<f32>> {
        let mut framer = Framer::new(window, hop);
        let mut out = Vec::new();
        let mut pos = 0;
        let mut i = 0;
        while pos < input.len() {
            let n = blocks[i % blocks.len()].min(input.len() - pos);
            framer.push(&input[pos..pos + n], |w| out.push(w.to_vec()));
            pos += n;
            i += 1;
        }
        out
    }

    #[test]
    fn windows_are_exact_slices() {
        let input: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        for (window, hop) in [(400, 160), (10, 10), (5, 7), (1, 1)] {
            let frames = frames_of(&input, window, hop, &[13, 1, 200]);
            let expect = if input.len() >= window {
                1 + (input.len() - window) / hop
            } else {
                0
            };
            assert_eq!(frames.len(), expect, "window {window} hop {hop}");
            for (i, f) in frames.iter().enumerate() {
                assert_eq!(f.as_slice(), &input[i * hop..i * hop + window]);
            }
        }
    }
}
