//! Shared helpers for the engine's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The repository's `fixtures/` folder.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(rel)
}

/// A fresh temporary folder for one test.
pub fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chorder-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A deterministic "song": a few detuned partials, a bass line and noise bursts, at `rate`.
pub fn synth_song(rate: u32, seconds: f64) -> Vec<f32> {
    let n = (rate as f64 * seconds) as usize;
    let mut state = 0x2545_f491_u32;
    (0..n)
        .map(|i| {
            let t = i as f64 / rate as f64;
            let beat = (t * 2.0).fract();
            let bass = 0.3
                * (2.0 * std::f64::consts::PI * 55.0 * (1.0 + (t * 0.25).floor() % 3.0) * t).sin();
            let chord: f64 = [261.6, 329.6, 392.0, 523.3]
                .iter()
                .map(|f| 0.1 * (2.0 * std::f64::consts::PI * f * t).sin())
                .sum();
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let noise = (state as f64 / u32::MAX as f64 - 0.5) * (-(beat * 30.0)).exp();
            (bass + chord + 0.5 * noise) as f32
        })
        .collect()
}

/// Writes interleaved 16-bit PCM.
pub fn write_wav_i16(path: &Path, rate: u32, channels: u16, samples: &[f32]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        w.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
            .unwrap();
    }
    w.finalize().unwrap();
}

/// Writes interleaved 32-bit float PCM (NaN and Inf are written as they are).
pub fn write_wav_f32(path: &Path, rate: u32, channels: u16, samples: &[f32]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}
