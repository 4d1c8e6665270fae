//! MFCC as librosa 0.6 `mfcc(y, sr, n_mfcc=48)`: power mel spectrogram (128 Slaney bands,
//! 0..sr/2, area-normalised, n_fft 2048, hop 512), `power_to_db` with `ref=1`, `amin=1e-10`,
//! `top_db=80` (every value raised to at least the song's maximum minus 80 dB), then an
//! orthonormal DCT-II over the 128 bands, first 48 coefficients.
//!
//! The mean over frames of the MFCCs is the DCT of the mean clipped log-mel frame, which is
//! how it is computed here.

/// Mel bands.
pub const N_MELS: usize = 128;
/// Coefficients kept.
pub const N_MFCC: usize = 48;

/// The orthonormal DCT-II matrix `[N_MFCC][N_MELS]` (scipy `dct(type=2, norm='ortho')`):
/// row 0 is `sqrt(1/N)`, row `k` is `sqrt(2/N) cos(pi k (2n + 1) / 2N)`.
pub fn dct_matrix() -> Vec<[f64; N_MELS]> {
    let n = N_MELS as f64;
    (0..N_MFCC)
        .map(|k| {
            let s = if k == 0 {
                (1.0 / n).sqrt()
            } else {
                (2.0 / n).sqrt()
            };
            let mut row = [0.0; N_MELS];
            for (i, r) in row.iter_mut().enumerate() {
                *r = s * (std::f64::consts::PI * k as f64 * (2 * i + 1) as f64 / (2.0 * n)).cos();
            }
            row
        })
        .collect()
}

/// Mean MFCCs from per-band sums of log-mel values.
///
/// `log_mel` holds every frame's 128 values `10 log10(max(1e-10, mel))` (frame-major);
/// the clip at `max - 80 dB` needs the song's maximum, so the values are kept until the end.
pub fn mean_mfcc(log_mel: &[f32], n_frames: usize) -> [f64; N_MFCC] {
    debug_assert_eq!(log_mel.len(), n_frames * N_MELS);
    let max = log_mel.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let floor = max - 80.0;
    let mut mean = [0.0f64; N_MELS];
    for frame in log_mel.chunks_exact(N_MELS) {
        for (m, &v) in mean.iter_mut().zip(frame) {
            *m += (v as f64).max(floor);
        }
    }
    for m in &mut mean {
        *m /= n_frames.max(1) as f64;
    }
    let dct = dct_matrix();
    let mut out = [0.0; N_MFCC];
    for (o, row) in out.iter_mut().zip(&dct) {
        *o = row.iter().zip(&mean).map(|(a, b)| a * b).sum();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dct_is_orthonormal() {
        let d = dct_matrix();
        for a in 0..N_MFCC {
            for b in 0..N_MFCC {
                let dot: f64 = d[a].iter().zip(&d[b]).map(|(x, y)| x * y).sum();
                let want = if a == b { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-12, "{a} {b} {dot}");
            }
        }
    }

    #[test]
    fn constant_log_mel_gives_only_c0() {
        let frames = 3;
        let lm = vec![-20.0f32; frames * N_MELS];
        let m = mean_mfcc(&lm, frames);
        assert!((m[0] - (-20.0 * (N_MELS as f64).sqrt())).abs() < 1e-9);
        assert!(m[1..].iter().all(|v| v.abs() < 1e-9));
    }

    #[test]
    fn top_db_clips_quiet_values() {
        // One loud value at 0 dB and the rest at -200 dB: the rest are raised to -80.
        let mut lm = vec![-200.0f32; N_MELS];
        lm[0] = 0.0;
        let m = mean_mfcc(&lm, 1);
        let want_c0 = (-80.0 * 127.0) / (N_MELS as f64).sqrt();
        assert!((m[0] - want_c0).abs() < 1e-9, "{}", m[0]);
    }
}
