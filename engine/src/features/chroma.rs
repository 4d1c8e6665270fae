//! Chroma from CQT magnitudes, librosa 0.6 `chroma_cqt` defaults: each of the 12 pitch
//! classes (C first, since the CQT starts at C1) sums its 7 octaves, and every frame is
//! divided by its largest class (`norm=inf`; an all-zero frame stays zero).

use super::cqt::{CqtMagnitudes, BINS_PER_OCTAVE, N_OCTAVES};

/// Pitch classes.
pub const N_CHROMA: usize = 12;

/// Chroma of frame `t`: 12 values in `[0, 1]` (C, C#, ..., B).
pub fn chroma_frame(cqt: &CqtMagnitudes, t: usize) -> [f64; N_CHROMA] {
    let mut c = [0.0f64; N_CHROMA];
    for (pc, v) in c.iter_mut().enumerate() {
        *v = (0..N_OCTAVES)
            .map(|o| cqt.get(o * BINS_PER_OCTAVE + pc, t) as f64)
            .sum();
    }
    let max = c.iter().copied().fold(0.0f64, f64::max);
    // librosa normalize: lengths below the smallest normal float are left at 1.
    if max >= f64::MIN_POSITIVE {
        for v in &mut c {
            *v /= max;
        }
    }
    c
}
