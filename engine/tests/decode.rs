//! Decoder round trips on real music (fixtures/audio, see SOURCES.md there) and the
//! behaviour on every kind of bad input: a typed error naming the file, or a documented
//! policy, never a panic.

mod common;

use std::path::Path;

use chorder_engine::decode::decode_mono;
use chorder_engine::{logmel_file, AudioError, FrontEndConfig};
use common::{fixture, temp_dir, write_wav_f32, write_wav_i16};

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn wav_and_flac_decode_to_the_same_samples() {
    let (wav, wav_report) = decode_mono(fixture("audio/rock.wav")).unwrap();
    let (flac, flac_report) = decode_mono(fixture("audio/rock.flac")).unwrap();
    assert_eq!(wav_report.sample_rate, 44_100);
    assert_eq!(wav_report.channels, 2);
    assert_eq!(flac_report.channels, 2);
    assert!(
        wav.len() > 44_100 * 9,
        "expected ~10 s, got {} samples",
        wav.len()
    );
    assert_eq!(
        wav, flac,
        "FLAC of the same 16-bit samples must decode bit-identically"
    );
}

#[test]
fn every_pcm_bit_depth_decodes_to_the_same_music() {
    let (reference, _) = decode_mono(fixture("audio/rock.wav")).unwrap();
    for name in [
        "audio/rock_s24.wav",
        "audio/rock_s32.wav",
        "audio/rock_f32.wav",
    ] {
        let (samples, report) = decode_mono(fixture(name)).unwrap();
        // The fixtures are the first 3 s of rock.wav, rescaled exactly to each format.
        assert_eq!(samples.len(), 3 * 44_100, "{name}");
        assert_eq!(report.sample_rate, 44_100, "{name}");
        let err = max_abs_diff(&samples, &reference[..samples.len()]);
        assert!(err < 1e-7, "{name}: max difference {err}");
    }
}

/// Best alignment lag of `b` against `a` (b delayed by lag), searched over 0..max_lag on a
/// one-second excerpt, then the signal-to-noise ratio in dB over the aligned overlap.
fn aligned_snr_db(a: &[f32], b: &[f32], max_lag: usize) -> (usize, f64) {
    let seg = 44_100.min(a.len() / 2);
    let start = a.len() / 4;
    let score = |lag: usize| -> f64 {
        (start..start + seg)
            .map(|i| a[i] as f64 * b[i + lag] as f64)
            .sum()
    };
    let lag = (0..max_lag)
        .max_by(|&x, &y| score(x).total_cmp(&score(y)))
        .unwrap();
    let n = a.len().min(b.len() - lag) - 4096;
    let (mut sig, mut noise) = (0.0f64, 0.0f64);
    for i in 4096..n {
        sig += (a[i] as f64).powi(2);
        noise += (a[i] as f64 - b[i + lag] as f64).powi(2);
    }
    (lag, 10.0 * (sig / noise).log10())
}

#[test]
fn lossy_codecs_decode_within_codec_tolerance() {
    let (reference, _) = decode_mono(fixture("audio/rock.wav")).unwrap();
    for (name, min_snr) in [
        ("audio/rock.mp3", 15.0),
        ("audio/rock.ogg", 12.0),
        ("audio/rock.m4a", 12.0),
    ] {
        let (samples, report) = decode_mono(fixture(name)).unwrap();
        assert_eq!(report.sample_rate, 44_100, "{name}");
        // Encoder delay and padding add at most a few thousand samples.
        let extra = samples.len() as i64 - reference.len() as i64;
        assert!(
            (-4096..=8192).contains(&extra),
            "{name}: length differs by {extra}"
        );
        let (lag, snr) = aligned_snr_db(&reference, &samples, 4096);
        assert!(snr > min_snr, "{name}: SNR {snr:.1} dB at lag {lag}");
    }
}

#[test]
fn odd_rate_and_mono_files_run_through_the_front_end() {
    let analysis = logmel_file(
        fixture("audio/rock_48k_mono.wav"),
        &FrontEndConfig::vggish(),
    )
    .unwrap();
    assert_eq!(analysis.decode.sample_rate, 48_000);
    assert_eq!(analysis.decode.channels, 1);
    // 16 kHz samples after resampling, then VGGish framing.
    let n16 = (analysis.decode.frames_decoded * 16_000).div_ceil(48_000) as usize;
    assert_eq!(analysis.n_frames(), 1 + (n16 - 400) / 160);
    assert_eq!(analysis.patches.len(), analysis.n_frames() / 96);
}

fn expect_err(path: &Path) -> AudioError {
    let err = match decode_mono(path) {
        Ok((s, r)) => panic!(
            "{}: decoded {} samples ({r:?}), expected an error",
            path.display(),
            s.len()
        ),
        Err(e) => e,
    };
    assert_eq!(err.path(), path);
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "message must name the file: {err}"
    );
    err
}

#[test]
fn missing_and_empty_files_are_typed_errors() {
    let dir = temp_dir("bad-missing");
    let missing = dir.join("nope.wav");
    assert!(matches!(expect_err(&missing), AudioError::Open { .. }));
    let empty = dir.join("empty.mp3");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(expect_err(&empty), AudioError::EmptyFile { .. }));
}

#[test]
fn garbage_and_text_files_are_not_recognised() {
    let dir = temp_dir("bad-garbage");
    let garbage = dir.join("noise.wav");
    let bytes: Vec<u8> = (0..10_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&garbage, bytes).unwrap();
    assert!(matches!(
        expect_err(&garbage),
        AudioError::UnrecognisedFormat { .. }
    ));
    let text = dir.join("notes.mp3");
    std::fs::write(&text, "these are my lyrics, not an mp3\n".repeat(50)).unwrap();
    let err = expect_err(&text);
    assert!(
        matches!(
            err,
            AudioError::UnrecognisedFormat { .. } | AudioError::NoAudio { .. }
        ),
        "{err:?}"
    );
}

#[test]
fn header_only_and_zero_channel_wavs_are_errors() {
    let dir = temp_dir("bad-header");
    let full = dir.join("full.wav");
    write_wav_i16(&full, 44_100, 2, &vec![0.1; 2000]);
    let bytes = std::fs::read(&full).unwrap();
    let header_only = dir.join("header_only.wav");
    std::fs::write(&header_only, &bytes[..44]).unwrap();
    let err = expect_err(&header_only);
    assert!(
        matches!(
            err,
            AudioError::NoAudio { .. } | AudioError::UnrecognisedFormat { .. }
        ),
        "{err:?}"
    );

    // Patch the fmt chunk's channel count (bytes 22..24) to 0.
    let mut zero = bytes.clone();
    zero[22] = 0;
    zero[23] = 0;
    let zero_path = dir.join("zero_channels.wav");
    std::fs::write(&zero_path, zero).unwrap();
    expect_err(&zero_path);

    // An unknown codec tag in the fmt chunk (bytes 20..22).
    let mut odd = bytes;
    odd[20] = 0x99;
    odd[21] = 0x99;
    let odd_path = dir.join("unknown_codec.wav");
    std::fs::write(&odd_path, odd).unwrap();
    let err = expect_err(&odd_path);
    assert!(
        matches!(
            err,
            AudioError::UnsupportedCodec { .. } | AudioError::UnrecognisedFormat { .. }
        ),
        "{err:?}"
    );
}

#[test]
fn truncated_files_keep_what_decodes_and_say_so() {
    let dir = temp_dir("bad-truncated");
    let song = common::synth_song(44_100, 3.0);
    let full = dir.join("song.wav");
    write_wav_i16(&full, 44_100, 1, &song);
    let bytes = std::fs::read(&full).unwrap();
    let cut = dir.join("cut.wav");
    std::fs::write(&cut, &bytes[..bytes.len() * 6 / 10]).unwrap();
    let (samples, report) = decode_mono(&cut).unwrap();
    assert!(report.truncated, "{report:?}");
    assert!(report.warnings().iter().any(|w| w.contains("truncated")));
    let expect = (bytes.len() * 6 / 10 - 44) / 2;
    assert!(
        samples.len().abs_diff(expect) <= 4096,
        "{} vs {expect}",
        samples.len()
    );
    // What was decoded is the start of the song, unchanged up to 16-bit quantisation
    // (written as round(x * 32767), read back as n / 32768).
    assert!(max_abs_diff(&samples, &song[..samples.len()]) < 2.0 / 32768.0);

    // Compressed formats cut in half: no panic, a shorter result or a typed error.
    for name in [
        "audio/rock.flac",
        "audio/rock.mp3",
        "audio/rock.ogg",
        "audio/rock.m4a",
    ] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let ext = Path::new(name).extension().unwrap().to_str().unwrap();
        let cut = dir.join(format!("half.{ext}"));
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        match decode_mono(&cut) {
            Ok((samples, report)) => {
                assert!(
                    samples.len() < 44_100 * 8,
                    "{name}: {} samples from half a file",
                    samples.len()
                );
                if ext == "flac" {
                    assert!(report.truncated, "FLAC declares its length: {report:?}");
                }
            }
            Err(e) => assert_eq!(e.path(), cut.as_path(), "{name}: {e}"),
        }
    }
}

#[test]
fn corrupt_bytes_in_an_mp3_cost_only_the_damaged_packets() {
    let dir = temp_dir("bad-corrupt");
    let mut bytes = std::fs::read(fixture("audio/rock.mp3")).unwrap();
    let mid = bytes.len() / 2;
    for (i, b) in bytes[mid..mid + 3000].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37) ^ 0x5a;
    }
    let path = dir.join("scratched.mp3");
    std::fs::write(&path, bytes).unwrap();
    let (samples, report) = decode_mono(&path).unwrap();
    let (clean, _) = decode_mono(fixture("audio/rock.mp3")).unwrap();
    // Most of the song survives (3 kB is ~0.1 s at 192 kbit/s).
    assert!(
        samples.len() as f64 > clean.len() as f64 * 0.9,
        "{} of {}",
        samples.len(),
        clean.len()
    );
    assert!(samples.iter().all(|s| s.is_finite()));
    let _ = report;
}

#[test]
fn nan_and_inf_samples_are_replaced_by_zero_and_counted() {
    let dir = temp_dir("bad-nan");
    let mut song = common::synth_song(16_000, 3.0);
    let bad = [10usize, 999, 20_000, 40_001];
    song[bad[0]] = f32::NAN;
    song[bad[1]] = f32::INFINITY;
    song[bad[2]] = f32::NEG_INFINITY;
    song[bad[3]] = f32::NAN;
    let path = dir.join("nan.wav");
    write_wav_f32(&path, 16_000, 1, &song);
    let analysis = logmel_file(&path, &FrontEndConfig::vggish()).unwrap();
    assert_eq!(analysis.non_finite_replaced, 4);
    assert!(analysis.frames.iter().all(|v| v.is_finite()));
    for &i in &bad {
        song[i] = 0.0;
    }
    let clean_path = dir.join("clean.wav");
    write_wav_f32(&clean_path, 16_000, 1, &song);
    let clean = logmel_file(&clean_path, &FrontEndConfig::vggish()).unwrap();
    assert_eq!(analysis.frames, clean.frames);
}

#[test]
fn audio_shorter_than_one_window_is_a_typed_error() {
    let dir = temp_dir("bad-short");
    let path = dir.join("blip.wav");
    write_wav_i16(&path, 44_100, 2, &common::synth_song(44_100, 0.4));
    let err = logmel_file(&path, &FrontEndConfig::vggish()).unwrap_err();
    match &err {
        AudioError::TooShort {
            seconds,
            needed_seconds,
            ..
        } => {
            assert!(
                (seconds - 0.2).abs() < 0.01,
                "stereo 0.4 s of interleaved samples is 0.2 s: {seconds}"
            );
            assert!((needed_seconds - 0.975).abs() < 1e-9, "{needed_seconds}");
        }
        other => panic!("expected TooShort, got {other:?}"),
    }
    assert!(err.to_string().contains("blip.wav"));
}
