//! The generated corpus: determinism, audio format, and the popularity formula.

use std::path::Path;

use chorder_engine::corpus::{
    self, plan_song, popularity_target, render, CorpusOptions, SongProperties,
};

fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn opts(seed: u64, sample_rate: u32) -> CorpusOptions {
    CorpusOptions {
        songs: 3,
        seconds: 1.0,
        seed,
        sample_rate,
    }
}

#[test]
fn same_seed_gives_bit_identical_files() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let mut calls = 0;
    corpus::generate(&opts(11, 22050), a.path(), |done, total| {
        calls += 1;
        assert_eq!(total, 3);
        assert_eq!(done, calls);
    })
    .unwrap();
    corpus::generate(&opts(11, 22050), b.path(), |_, _| {}).unwrap();
    corpus::generate(&opts(12, 22050), c.path(), |_, _| {}).unwrap();
    let (fa, fb, fc) = (
        files_under(a.path()),
        files_under(b.path()),
        files_under(c.path()),
    );
    // 3 WAVs + manifest + 3 source CSVs + 1 feature CSV.
    assert_eq!(
        fa.len(),
        8,
        "{:?}",
        fa.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert_eq!(fa, fb, "same seed must give identical files");
    let wav = |f: &[(String, Vec<u8>)]| -> Vec<Vec<u8>> {
        f.iter()
            .filter(|(n, _)| n.ends_with(".wav"))
            .map(|(_, d)| d.clone())
            .collect()
    };
    for (x, y) in wav(&fa).iter().zip(&wav(&fc)) {
        assert_ne!(x, y, "another seed must give other audio");
    }
}

#[test]
fn audio_is_16_bit_mono_of_the_requested_length_and_decodes() {
    for sr in [22050, 44100] {
        let dir = tempfile::tempdir().unwrap();
        let o = CorpusOptions {
            songs: 1,
            seconds: 0.75,
            ..opts(5, sr)
        };
        let specs = corpus::generate(&o, dir.path(), |_, _| {}).unwrap();
        let path = corpus::audio_path(dir.path(), &specs[0]);
        let reader = hound::WavReader::open(&path).unwrap();
        let spec = reader.spec();
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (1, sr, 16)
        );
        assert_eq!(
            reader.duration() as usize,
            (0.75 * sr as f64).round() as usize
        );
        let (samples, report) = chorder_engine::decode::decode_mono(&path).unwrap();
        assert_eq!(report.sample_rate, sr);
        let peak = samples.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!((peak - 0.89).abs() < 0.01, "peak {peak}");
    }
    assert!(corpus::plan(&CorpusOptions {
        sample_rate: 48000,
        ..opts(1, 22050)
    })
    .is_err());
    assert!(corpus::plan(&CorpusOptions {
        songs: 0,
        ..opts(1, 22050)
    })
    .is_err());
    assert!(corpus::plan(&CorpusOptions {
        seconds: 0.0,
        ..opts(1, 22050)
    })
    .is_err());
}

fn corr(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    sxy / (sxx * syy).sqrt()
}

#[test]
fn popularity_has_the_documented_range_and_depends_on_the_properties() {
    let specs: Vec<_> = (0..2000).map(|i| plan_song(42, i)).collect();
    let pop: Vec<f64> = specs.iter().map(|s| s.popularity).collect();
    let target: Vec<f64> = specs.iter().map(|s| s.target).collect();
    assert!(pop
        .iter()
        .all(|p| (0.0..=100.0).contains(p) && p.fract() == 0.0));
    assert!(target.iter().all(|t| (0.0..=100.0).contains(t)));
    let mean = target.iter().sum::<f64>() / target.len() as f64;
    let sd = (target.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / target.len() as f64).sqrt();
    assert!(sd > 8.0, "target barely varies: sd {sd}");
    let r = corr(&pop, &target);
    assert!(r > 0.5, "label/target correlation {r}");
    println!("target mean {mean:.1} sd {sd:.1}; corr(label, target) {r:.3}");
    // Each property moves the target the documented way.
    let tempo: Vec<f64> = specs
        .iter()
        .map(|s| -(s.properties.tempo_bpm - 118.0).abs())
        .collect();
    assert!(
        corr(&tempo, &target) > 0.3,
        "tempo closeness to 118 should raise popularity"
    );
    let base = SongProperties {
        tempo_bpm: 118.0,
        key: 0,
        major: true,
        brightness: 0.55,
        density: 0.5,
        dynamics: 0.5,
        sections: 4,
        noise: 0.2,
    };
    let t0 = popularity_target(&base);
    let with = |f: &dyn Fn(&mut SongProperties)| {
        let mut p = base;
        f(&mut p);
        popularity_target(&p)
    };
    assert!(with(&|p| p.tempo_bpm = 160.0) < t0 - 15.0);
    assert!(with(&|p| p.tempo_bpm = 80.0) < t0 - 15.0);
    assert!(with(&|p| p.brightness = 0.05) < t0 - 10.0);
    assert!(with(&|p| p.density = 1.0) > t0);
    assert!(with(&|p| p.density = 0.0) < t0 - 5.0);
    assert!(with(&|p| p.noise = 1.0) < t0 - 5.0);
    assert!(with(&|p| p.sections = 1) < t0 - 5.0);
    assert!(with(&|p| p.major = false) < t0);
    // Smooth: a small change in tempo changes the target a little.
    assert!((with(&|p| p.tempo_bpm = 118.5) - t0).abs() < 0.5);
}

#[test]
fn brighter_songs_have_more_zero_crossings() {
    let o = opts(9, 22050);
    let zcr = |brightness: f64| {
        let mut spec = plan_song(9, 0);
        spec.properties.brightness = brightness;
        spec.properties.noise = 0.0;
        let x = render(&spec, &o);
        x.windows(2)
            .filter(|w| (w[0] >= 0.0) != (w[1] >= 0.0))
            .count()
    };
    let (dark, bright) = (zcr(0.05), zcr(0.95));
    assert!(
        bright > dark * 2,
        "zero crossings dark {dark}, bright {bright}"
    );
}
