//! Features of signals whose answers are known: pure tones, silence, a detuned note, and
//! the compatibility switch.

use std::f64::consts::PI;

use chorder_engine::features::{extract, FeatureConfig, FeatureError, FeatureVector, Layout};

const SR: u32 = 44_100;

fn tone(f: f64, seconds: f64, amp: f64) -> Vec<f32> {
    (0..(seconds * SR as f64) as usize)
        .map(|n| (amp * (2.0 * PI * f * n as f64 / SR as f64 + 0.3).sin()) as f32)
        .collect()
}

fn clean(sig: &[f32]) -> FeatureVector {
    extract(sig, SR, FeatureConfig { compat: false }).unwrap()
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap()
}

#[test]
fn tone_centroid_rolloff_bandwidth() {
    let f = 1000.0;
    let fv = clean(&tone(f, 3.0, 0.5));
    let bin = SR as f64 / 2048.0;
    let c = fv.values[Layout::CENTROID] as f64;
    // Magnitude-weighted Hann leakage biases the centroid by a fraction of a bin.
    assert!((c - f).abs() < bin / 2.0, "centroid {c}");
    for k in [Layout::ROLLOFF_MIN, Layout::ROLLOFF_MAX] {
        let r = fv.values[k] as f64;
        assert!((r - f).abs() <= 2.0 * bin, "rolloff {r}");
    }
    let bw = fv.values[Layout::BANDWIDTH] as f64;
    // Hann sidelobes weighted by (f - c)^2 keep it from being ~0, but it stays a few bins
    // (white noise gives several kHz).
    assert!(bw < 5.0 * bin, "bandwidth {bw}");
    // The loudest mel band is the one whose triangle holds 1 kHz.
    let mel = &fv.values[Layout::MEL..Layout::MEL + 128];
    let band = argmax(mel);
    let mel_of =
        |hz: f64| chorder_engine::mel::hz_to_mel(hz, chorder_engine::config::MelScale::Slaney);
    let step = mel_of(SR as f64 / 2.0) / 129.0;
    let centre = (mel_of(f) / step).round() as usize - 1;
    assert!(band.abs_diff(centre) <= 1, "band {band}, want {centre}");
}

#[test]
fn zcr_of_a_sine_is_two_f_over_sr() {
    for f in [220.0, 1000.0, 5000.0] {
        let fv = clean(&tone(f, 2.0, 0.8));
        let want = 2.0 * f / SR as f64;
        let got = fv.values[Layout::ZCR] as f64;
        // The two edge frames at each end are half / three-quarters edge padding (no
        // crossings there): about 1.5 frames' worth missing at each end.
        let edge = want * 3.0 / fv.n_frames as f64;
        assert!(got < want + 1.0 / 2048.0, "{f} Hz: {got} vs {want}");
        assert!(got > want - edge - 1.0 / 2048.0, "{f} Hz: {got} vs {want}");
    }
}

#[test]
fn chroma_of_a4_peaks_at_a_and_tonnetz_follows() {
    let fv = clean(&tone(440.0, 3.0, 0.5));
    let chroma = &fv.values[Layout::CHROMA..Layout::CHROMA + 12];
    assert_eq!(argmax(chroma), 9, "chroma {chroma:?}");
    assert!(chroma[9] > 0.99);
    // 12-bin-per-octave Hann kernels are one semitone wide at half height: the neighbours
    // G# and A# get about 0.5, everything else little.
    for (i, &c) in chroma.iter().enumerate() {
        match i {
            9 => {}
            8 | 10 => assert!((0.4..0.65).contains(&c), "{chroma:?}"),
            _ => assert!(c < 0.1, "{chroma:?}"),
        }
    }
    // Every frame of a steady tone has the same chroma, so the mean tonnetz is the
    // tonnetz of the mean chroma: phi . (chroma / |chroma|_1), written out here.
    let l1: f32 = chroma.iter().sum();
    let t = &fv.values[Layout::TONNETZ..Layout::TONNETZ + 6];
    let scale = [7.0 / 6.0, 7.0 / 6.0, 1.5, 1.5, 2.0 / 3.0, 2.0 / 3.0];
    let radius = [1.0, 1.0, 1.0, 1.0, 0.5, 0.5];
    for d in 0..6 {
        let want: f64 = (0..12)
            .map(|c| {
                let v = scale[d] * c as f64 - if d % 2 == 0 { 0.5 } else { 0.0 };
                radius[d] * (PI * v).cos() * (chroma[c] / l1) as f64
            })
            .sum();
        assert!(
            (t[d] as f64 - want).abs() < 0.01,
            "tonnetz {d}: {} vs {want}",
            t[d]
        );
    }
}

#[test]
fn detuned_note_is_tuned_out() {
    // A4 30 cents sharp: the estimated tuning absorbs it and chroma still says A.
    let fv = clean(&tone(440.0 * 2f64.powf(0.3 / 12.0), 3.0, 0.5));
    assert!((fv.tuning - 0.3).abs() < 0.05, "tuning {}", fv.tuning);
    let chroma = &fv.values[Layout::CHROMA..Layout::CHROMA + 12];
    assert_eq!(argmax(chroma), 9);
}

#[test]
fn steady_tone_energy_entropy() {
    let fv = clean(&tone(300.0, 3.0, 0.5));
    // Clean: equal energy in every frame -> log2(frames) bits (edge frames differ a bit).
    let want = (fv.n_frames as f64).log2();
    let got = fv.values[Layout::ENTROPY] as f64;
    assert!((got - want).abs() < 0.01, "{got} vs {want}");
}

#[test]
fn compat_switch_changes_only_centroid_and_entropy() {
    // First 50 ms at 200 Hz, then 3 kHz: the first frame's centroid is low, the mean high.
    let mut sig = tone(200.0, 0.05, 0.5);
    sig.extend(tone(3000.0, 2.0, 0.5));
    let compat = extract(&sig, SR, FeatureConfig::default()).unwrap();
    let clean = clean(&sig);
    assert!(
        compat.values[Layout::CENTROID] < 1000.0,
        "{}",
        compat.values[Layout::CENTROID]
    );
    assert!(
        clean.values[Layout::CENTROID] > 2500.0,
        "{}",
        clean.values[Layout::CENTROID]
    );
    assert_ne!(
        compat.values[Layout::ENTROPY],
        clean.values[Layout::ENTROPY]
    );
    for k in (0..Layout::COUNT).filter(|&k| k != Layout::CENTROID && k != Layout::ENTROPY) {
        assert_eq!(compat.values[k], clean.values[k], "column {k}");
    }
    // The compat entropy is the original's sum q log10 q, q = |rms - mean rms| < 1: negative.
    assert!(compat.values[Layout::ENTROPY] < 0.0);
}

#[test]
fn silence() {
    let sig = vec![0.0f32; 3 * SR as usize];
    let c = extract(&sig, SR, FeatureConfig::default()).unwrap();
    // Original quirk: every q_j is 0, and 0 * log10(0) is NaN.
    assert!(c.values[Layout::ENTROPY].is_nan());
    let fv = clean(&sig);
    assert_eq!(fv.values[Layout::ENTROPY], 0.0);
    assert!(fv.values[Layout::CHROMA..Layout::CHROMA + 12]
        .iter()
        .all(|&v| v == 0.0));
    assert!(fv.values[Layout::MEL..Layout::MEL + 128]
        .iter()
        .all(|&v| v == 0.0));
    // log-mel is -100 dB everywhere: only MFCC_1 is non-zero, -100 sqrt(128).
    let m1 = fv.values[Layout::MFCC] as f64;
    assert!((m1 + 100.0 * 128f64.sqrt()).abs() < 1e-3, "{m1}");
    assert!(fv.values[Layout::MFCC + 1..Layout::MFCC + 48]
        .iter()
        .all(|v| v.abs() < 1e-3));
    assert_eq!(fv.values[Layout::ZCR], 0.0);
    assert_eq!(fv.values[Layout::CENTROID], 0.0);
}

#[test]
fn bad_input_is_refused() {
    assert_eq!(
        extract(&[0.1; 100], SR, FeatureConfig::default()),
        Err(FeatureError::TooShort {
            samples: 100,
            needed: 2048
        })
    );
    assert!(matches!(
        extract(&[0.1; 40_000], 8_000, FeatureConfig::default()),
        Err(FeatureError::UnsupportedRate { sample_rate: 8_000 })
    ));
    // Non-finite samples are replaced by zeros and counted.
    let mut sig = tone(440.0, 1.0, 0.5);
    sig[1000] = f32::NAN;
    sig[2000] = f32::INFINITY;
    let fv = clean(&sig);
    assert_eq!(fv.non_finite_replaced, 2);
    assert!(fv.values.iter().all(|v| v.is_finite()));
}
