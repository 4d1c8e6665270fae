//! The song synthesiser: drums (kick, snare, hat), bass, chord pads, melody and noise over a
//! sectioned arrangement, all from a song's [`SongProperties`] and a seeded random stream.

use super::detmath::{exp, sin_cycles};
use super::rng::Rng;
use super::SongProperties;

const MAJOR: [i32; 7] = [0, 2, 4, 5, 7, 9, 11];
const MINOR: [i32; 7] = [0, 2, 3, 5, 7, 8, 10];
/// Chord progressions as scale degrees (0-based), one chord per bar.
const PROGRESSIONS_MAJOR: [[usize; 4]; 3] = [[0, 4, 5, 3], [0, 5, 3, 4], [0, 3, 4, 4]];
const PROGRESSIONS_MINOR: [[usize; 4]; 3] = [[0, 5, 2, 6], [0, 3, 4, 0], [0, 6, 5, 4]];

/// Low-pass cutoff of the final mix for a brightness in `0..=1`: `800 · 12^brightness` Hz
/// (800 Hz to 9.6 kHz), at most 45 % of the sample rate.
pub fn brightness_cutoff_hz(brightness: f64, sample_rate: u32) -> f64 {
    (800.0 * exp(brightness * LN_12)).min(0.45 * sample_rate as f64)
}

/// ln(12), written out so that no platform `ln` is involved.
const LN_12: f64 = 2.484_906_649_788_000_3;

fn midi_hz(note: i32) -> f64 {
    440.0 * exp((note - 69) as f64 / 12.0 * std::f64::consts::LN_2)
}

fn scale_note(scale: &[i32; 7], root: i32, degree: i32) -> i32 {
    let octave = degree.div_euclid(7);
    root + scale[degree.rem_euclid(7) as usize] + 12 * octave
}

/// Adds `len` samples of `f(t_seconds)` into `buf` from sample `start` (clipped at the end).
fn add(buf: &mut [f64], start: usize, len: usize, sr: f64, mut f: impl FnMut(f64) -> f64) {
    let end = (start + len).min(buf.len());
    for (i, s) in buf[start.min(end)..end].iter_mut().enumerate() {
        *s += f(i as f64 / sr);
    }
}

/// Renders a mono song of `seconds` at `sample_rate`, peak-normalised to 0.89 (−1 dBFS).
/// Deterministic: the same properties and `rng` state give the same samples on any platform.
pub fn render(p: &SongProperties, seconds: f64, sample_rate: u32, rng: &mut Rng) -> Vec<f32> {
    let sr = sample_rate as f64;
    let n = (seconds * sr).round() as usize;
    let mut drums = vec![0.0f64; n];
    let mut tonal = vec![0.0f64; n];
    let beat = 60.0 / p.tempo_bpm;
    let beats = (seconds / beat).ceil() as usize;
    let scale = if p.major { &MAJOR } else { &MINOR };
    let progression = if p.major {
        PROGRESSIONS_MAJOR[rng.int(0, 2) as usize]
    } else {
        PROGRESSIONS_MINOR[rng.int(0, 2) as usize]
    };
    let root = 48 + p.key as i32; // C3 + key
    let sections = p.sections.max(1) as usize;
    let section_of = |t: f64| ((t / seconds * sections as f64) as usize).min(sections - 1);
    // Even sections are the quiet ones ("verses"), odd the loud ones ("choruses"); with three
    // or more sections the first is an intro without kick and snare.
    let quiet = |s: usize| s % 2 == 0 && sections > 1;
    let intro = |s: usize| s == 0 && sections >= 3;
    let harmonics = 2 + (p.brightness * 8.0).round() as usize;
    let nyquist = sr / 2.0;
    let mut melody_degree: i32 = 7;

    for b in 0..beats {
        let t0 = b as f64 * beat;
        let s = section_of(t0);
        let start = (t0 * sr) as usize;
        let in_bar = b % 4;
        let chord_degree = progression[(b / 4) % 4] as i32;
        let quiet_now = quiet(s) && p.dynamics > 0.5;

        // Kick on beats 1 and 3, plus the "and" of 3 when dense.
        if !intro(s) {
            let mut kicks = Vec::new();
            if in_bar == 0 || in_bar == 2 {
                kicks.push(0.0);
            }
            if in_bar == 2 && p.density > 0.5 {
                kicks.push(0.5 * beat);
            }
            for off in kicks {
                let mut phase = 0.0;
                add(
                    &mut drums,
                    start + (off * sr) as usize,
                    (0.35 * sr) as usize,
                    sr,
                    |t| {
                        let f = 50.0 + 70.0 * exp(-t / 0.03);
                        phase += f / sr;
                        0.9 * exp(-t / 0.18) * sin_cycles(phase)
                    },
                );
            }
            // Snare on beats 2 and 4: noise burst plus a 180 Hz body.
            if in_bar == 1 || in_bar == 3 {
                add(&mut drums, start, (0.25 * sr) as usize, sr, |t| {
                    let noise = rng.range(-1.0, 1.0);
                    0.45 * exp(-t / 0.08) * noise + 0.35 * exp(-t / 0.05) * sin_cycles(180.0 * t)
                });
            }
        }
        // Hats: quarters, eighths or sixteenths by density; level by brightness.
        if !quiet_now {
            let subdivision = if p.density < 0.25 {
                1
            } else if p.density < 0.6 {
                2
            } else {
                4
            };
            for k in 0..subdivision {
                let st = start + (k as f64 * beat / subdivision as f64 * sr) as usize;
                let level = 0.08 + 0.25 * p.brightness;
                let mut prev = 0.0;
                add(&mut drums, st, (0.06 * sr) as usize, sr, |t| {
                    let x = rng.range(-1.0, 1.0);
                    let hp = x - prev; // first difference: a crude high-pass
                    prev = x;
                    level * exp(-t / 0.02) * hp
                });
            }
        }
        // Bass: chord root, two octaves down, on beats (eighths when dense).
        let bass_hz = midi_hz(scale_note(scale, root - 12, chord_degree));
        let bass_notes = if p.density > 0.4 { 2 } else { 1 };
        for k in 0..bass_notes {
            let st = start + (k as f64 * beat / bass_notes as f64 * sr) as usize;
            let len = beat / bass_notes as f64;
            add(&mut tonal, st, (len * sr) as usize, sr, |t| {
                let env = (t / 0.005).min(1.0) * exp(-t / 0.25);
                let mut v = 0.0;
                for h in 1..=harmonics.min(6) {
                    let f = bass_hz * h as f64;
                    if f < nyquist {
                        v += sin_cycles(f * t) / h as f64;
                    }
                }
                0.35 * env * v
            });
        }
        // Pad: the bar's triad, two slightly detuned voices, sustained over the bar.
        if in_bar == 0 {
            let len = 4.0 * beat;
            let notes: Vec<f64> = (0..3)
                .map(|i| midi_hz(scale_note(scale, root, chord_degree + 2 * i)))
                .collect();
            add(&mut tonal, start, (len * sr) as usize, sr, |t| {
                let env = (t / 0.2).min(1.0) * ((len - t) / 0.05).clamp(0.0, 1.0);
                let mut v = 0.0;
                for &f0 in &notes {
                    for detune in [0.997, 1.003] {
                        for h in 1..=harmonics {
                            let f = f0 * detune * h as f64;
                            if f < nyquist {
                                v += sin_cycles(f * t) / (h * h) as f64;
                            }
                        }
                    }
                }
                0.06 * env * v
            });
        }
        // Melody: a random walk on the scale, one or two notes a beat, rests by density.
        if !quiet_now || p.density > 0.8 {
            let per_beat = if p.density > 0.5 { 2 } else { 1 };
            for k in 0..per_beat {
                let rest = rng.unit() > 0.3 + 0.7 * p.density;
                let step = rng.int(0, 4) as i32 - 2;
                melody_degree = (melody_degree + step).clamp(3, 14);
                if rest {
                    continue;
                }
                let f0 = midi_hz(scale_note(scale, root + 12, melody_degree));
                let st = start + (k as f64 * beat / per_beat as f64 * sr) as usize;
                let len = beat / per_beat as f64;
                add(&mut tonal, st, (len * sr) as usize, sr, |t| {
                    let env =
                        (t / 0.01).min(1.0) * exp(-t / 0.3) * ((len - t) / 0.01).clamp(0.0, 1.0);
                    let second = if 2.0 * f0 < nyquist {
                        p.brightness * sin_cycles(2.0 * f0 * t)
                    } else {
                        0.0
                    };
                    0.3 * env * (sin_cycles(f0 * t) + 0.5 * second)
                });
            }
        }
    }

    // Mix, section dynamics (20 ms ramps between sections), noise floor, brightness low-pass.
    let cutoff = brightness_cutoff_hz(p.brightness, sample_rate);
    let a = 1.0 - exp(-std::f64::consts::TAU * cutoff / sr);
    let gain_of = |s: usize| {
        if quiet(s) {
            1.0 - 0.7 * p.dynamics
        } else {
            1.0
        }
    };
    let ramp = 0.02 * sr;
    let section_len = n as f64 / sections as f64;
    let mut y = 0.0;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let s = ((i as f64 / section_len) as usize).min(sections - 1);
        let mut g = gain_of(s);
        let into = i as f64 - s as f64 * section_len;
        if s > 0 && into < ramp {
            let w = into / ramp;
            g = w * g + (1.0 - w) * gain_of(s - 1);
        }
        let x = g * (drums[i] + tonal[i]) + 0.12 * p.noise * rng.range(-1.0, 1.0);
        y += a * (x - y);
        out.push(y);
    }
    let peak = out.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let scale = if peak > 0.0 { 0.89 / peak } else { 0.0 };
    out.into_iter().map(|v| (v * scale) as f32).collect()
}
