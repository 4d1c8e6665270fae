//! Front-end throughput on one thread: log-mel (VGGish and musicnn presets) for 30 s of
//! 16 kHz audio, the FFT work alone as a lower bound, resampling 44.1 → 16 kHz, and decoding
//! the 10 s fixture in each format. `scripts/bench_librosa_logmel.py` times librosa on the
//! same 30 s signal for the README's ratio.

use std::hint::black_box;
use std::path::Path;

use chorder_engine::decode::decode_mono;
use chorder_engine::resample::StreamingResampler;
use chorder_engine::{FrontEndConfig, LogMelStream};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use realfft::RealFftPlanner;

/// 30 s of a deterministic test signal (chord plus noise) at `rate`.
fn signal(rate: u32, seconds: f64) -> Vec<f32> {
    let n = (rate as f64 * seconds) as usize;
    let mut s = 1u32;
    (0..n)
        .map(|i| {
            let t = i as f64 / rate as f64;
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = (s >> 8) as f64 / (1u64 << 24) as f64 - 0.5;
            (0.3 * (2.0 * std::f64::consts::PI * 220.0 * t).sin()
                + 0.2 * (2.0 * std::f64::consts::PI * 1234.0 * t).sin()
                + 0.1 * noise) as f32
        })
        .collect()
}

fn logmel(c: &mut Criterion) {
    let x = signal(16_000, 30.0);
    let mut group = c.benchmark_group("logmel_30s_16k");
    group.throughput(Throughput::Elements(x.len() as u64));
    for cfg in [FrontEndConfig::vggish(), FrontEndConfig::musicnn()] {
        let mut stream = LogMelStream::new(&cfg).unwrap();
        let mut out = Vec::new();
        group.bench_function(&cfg.name, |b| {
            b.iter(|| {
                out.clear();
                stream.push(black_box(&x), &mut out);
                stream.finish(&mut out);
                black_box(out.len())
            })
        });
    }
    // Lower bound: only the 512-point real FFTs of the VGGish frames (2998 of them).
    let fft = RealFftPlanner::<f32>::new().plan_fft_forward(512);
    let (mut input, mut output, mut scratch) = (
        fft.make_input_vec(),
        fft.make_output_vec(),
        fft.make_scratch_vec(),
    );
    let n_frames = 1 + (x.len() - 400) / 160;
    group.bench_function("fft_only_vggish_frames", |b| {
        b.iter(|| {
            for t in 0..n_frames {
                input[..400].copy_from_slice(&x[t * 160..t * 160 + 400]);
                input[400..].fill(0.0);
                fft.process_with_scratch(&mut input, &mut output, &mut scratch)
                    .unwrap();
            }
            black_box(output[3])
        })
    });
    group.finish();
}

fn resample(c: &mut Criterion) {
    let x = signal(44_100, 30.0);
    let mut group = c.benchmark_group("resample_30s");
    group.throughput(Throughput::Elements(x.len() as u64));
    group.bench_function("44100_to_16000", |b| {
        let mut r = StreamingResampler::new(44_100, 16_000).unwrap();
        let mut out = Vec::with_capacity(500_000);
        b.iter(|| {
            out.clear();
            r.push(black_box(&x), &mut out);
            r.finish(&mut out);
            black_box(out.len())
        })
    });
    group.finish();
}

fn decode(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/audio");
    let mut group = c.benchmark_group("decode_10s_stereo_44k1");
    group.sample_size(20);
    for name in ["rock.wav", "rock.flac", "rock.mp3", "rock.ogg", "rock.m4a"] {
        let path = dir.join(name);
        group.bench_function(name, |b| {
            b.iter(|| black_box(decode_mono(&path).unwrap().0.len()))
        });
    }
    group.finish();
}

criterion_group!(benches, logmel, resample, decode);
criterion_main!(benches);
