//! `cargo xtask analyze` end to end, through the built binary: the JSON schema, a folder with
//! broken files, a run killed half way and resumed, and sharding.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn xtask() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
}

/// `seconds` of a mono 22.05 kHz 16-bit WAV: a tone of `hz` with a little seeded noise, so
/// every clip has different content (and hash).
fn write_clip(path: &Path, hz: f32, seconds: f32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 22_050,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let mut state = hz.to_bits() as u64 | 1;
    for i in 0..(seconds * 22_050.0) as usize {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let noise = ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.1;
        let t = i as f32 / 22_050.0;
        let x = 0.5 * (2.0 * std::f32::consts::PI * hz * t).sin() + noise;
        w.write_sample((x * 20_000.0) as i16).unwrap();
    }
    w.finalize().unwrap();
}

fn clips(dir: &Path, n: usize, seconds: f32) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    (0..n)
        .map(|i| {
            let p = dir.join(format!("song{i:02}.wav"));
            write_clip(&p, 110.0 * (i + 2) as f32, seconds);
            p
        })
        .collect()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

/// Complete lines of results.jsonl, parsed.
fn jsonl(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("results.jsonl")).unwrap_or_default();
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn json_schema_is_versioned_and_its_fields_are_stable() {
    let out = xtask()
        .args(["analyze", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json_of(&out);
    assert_eq!(v["schema"], "chorder.analysis/1");
    let want: BTreeSet<&str> = [
        "schema",
        "embedding_model",
        "popularity_model",
        "demo_model",
        "computed",
        "resumed",
        "songs",
        "errors",
    ]
    .into();
    assert_eq!(keys(&v), want);
    let song = &v["songs"][0];
    let want: BTreeSet<&str> = [
        "file",
        "sha256",
        "seconds",
        "windows",
        "estimate",
        "interval",
        "coverage",
        "percentile",
        "top_tags",
        "timeline",
        "explanation",
        "warnings",
    ]
    .into();
    assert_eq!(keys(song), want);
    let timeline = song["timeline"].as_array().unwrap();
    assert_eq!(timeline.len() as u64, song["windows"].as_u64().unwrap());
    assert_eq!(keys(&timeline[0]), ["t", "momentary", "integrated"].into());
    let est = song["estimate"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&est), "{est}");
    // The built-in demo model carries a calibration: a 90 % interval around the estimate.
    assert_eq!(song["coverage"].as_f64().unwrap() as f32, 0.9);
    let iv: Vec<f64> = serde_json::from_value(song["interval"].clone()).unwrap();
    assert!(
        iv[0] <= est && est <= iv[1] && iv[1] - iv[0] < 100.0,
        "{iv:?} around {est}"
    );
}

#[test]
fn coverage_flag_sets_the_interval_and_refuses_what_the_bundle_cannot_give() {
    let run = |c: &str| {
        xtask()
            .args(["analyze", "--format", "json", "--coverage", c])
            .output()
            .unwrap()
    };
    let width = |out: &Output| {
        let v = json_of(out);
        let iv: Vec<f64> = serde_json::from_value(v["songs"][0]["interval"].clone()).unwrap();
        assert!(v["songs"][0]["coverage"].as_f64().unwrap() > 0.0);
        iv[1] - iv[0]
    };
    let (w50, w95) = (width(&run("0.5")), width(&run("0.95")));
    assert!(
        w50 < w95,
        "50 % interval {w50} not narrower than 95 % {w95}"
    );
    let out = run("0.999");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot give coverage"), "{err}");
}

#[test]
fn broken_files_are_listed_and_the_exit_status_says_partial_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("in");
    clips(&dir, 2, 3.0);
    std::fs::write(dir.join("empty.wav"), b"").unwrap();
    let mut junk = b"RIFF\x24\x00\x00\x00WAVEfmt ".to_vec();
    junk.extend((0..4000u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8));
    std::fs::write(dir.join("corrupt.wav"), junk).unwrap();
    let out_dir = tmp.path().join("out");
    let out = xtask()
        .args(["analyze", "--format", "json", "--jobs", "2", "--out"])
        .arg(&out_dir)
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json_of(&out);
    let songs = v["songs"].as_array().unwrap();
    let names: Vec<&str> = songs.iter().map(|s| s["file"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].ends_with("song00.wav") && names[1].ends_with("song01.wav"));
    let errors = v["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{errors:?}");
    for (e, name) in errors.iter().zip(["corrupt.wav", "empty.wav"]) {
        let (file, reason) = (e[0].as_str().unwrap(), e[1].as_str().unwrap());
        assert!(file.ends_with(name), "{file}");
        assert!(reason.len() > 5, "unclear reason for {file}: {reason:?}");
    }
    assert_eq!(jsonl(&out_dir).len(), 2);
    let errors_csv = std::fs::read_to_string(out_dir.join("errors.csv")).unwrap();
    assert_eq!(errors_csv.lines().count(), 3, "{errors_csv}");

    // results.parquet holds the same songs and estimates as the JSON.
    let file = std::fs::File::open(out_dir.join("results.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let files = batch
            .column_by_name("file")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .unwrap()
            .clone();
        let est = batch
            .column_by_name("estimate")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow_array::Float32Array>()
            .unwrap()
            .clone();
        for i in 0..batch.num_rows() {
            rows.push((files.value(i).to_string(), est.value(i)));
        }
    }
    let want: Vec<(String, f32)> = songs
        .iter()
        .map(|s| {
            (
                s["file"].as_str().unwrap().to_string(),
                s["estimate"].as_f64().unwrap() as f32,
            )
        })
        .collect();
    assert_eq!(rows, want);
}

#[test]
fn a_killed_run_resumes_and_every_song_appears_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("in");
    let n = 10;
    clips(&dir, n, 4.0);
    let out_dir = tmp.path().join("out");
    let mut child = xtask()
        .args(["analyze", "--format", "csv", "--jobs", "1", "--out"])
        .arg(&out_dir)
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while jsonl(&out_dir).len() < 2 {
        assert!(start.elapsed() < Duration::from_secs(300), "no results");
        assert!(child.try_wait().unwrap().is_none(), "run ended early");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL: no clean-up runs.
    child.wait().unwrap();
    let before = jsonl(&out_dir).len();
    assert!((2..n).contains(&before), "killed after {before} of {n}");
    // As if the kill had hit in the middle of writing a record.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(out_dir.join("results.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut f, br#"{"file":"torn","sha256":"ab"#).unwrap();
    drop(f);

    let out = xtask()
        .args(["analyze", "--format", "json", "--jobs", "2", "--out"])
        .arg(&out_dir)
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json_of(&out);
    assert_eq!(v["resumed"].as_u64().unwrap() as usize, before);
    assert_eq!(v["computed"].as_u64().unwrap() as usize, n - before);
    assert_eq!(v["songs"].as_array().unwrap().len(), n);
    let text = std::fs::read_to_string(out_dir.join("results.jsonl")).unwrap();
    assert!(text.ends_with('\n') && !text.contains("torn"));
    let records = jsonl(&out_dir);
    assert_eq!(records.len(), n);
    let hashes: BTreeSet<&str> = records
        .iter()
        .map(|r| r["sha256"].as_str().unwrap())
        .collect();
    assert_eq!(hashes.len(), n);
}

#[test]
fn union_of_three_shards_equals_the_unsharded_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("in");
    clips(&dir, 5, 2.0);
    let run = |out: &Path, shard: Option<&str>| -> BTreeMap<String, Value> {
        let mut cmd = xtask();
        cmd.args(["analyze", "--format", "csv", "--jobs", "2", "--out"])
            .arg(out);
        if let Some(s) = shard {
            cmd.args(["--shard", s]);
        }
        let o = cmd.arg(&dir).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        jsonl(out)
            .into_iter()
            .map(|r| (r["sha256"].as_str().unwrap().to_string(), r))
            .collect()
    };
    let all = run(&tmp.path().join("all"), None);
    assert_eq!(all.len(), 5);
    let mut union = BTreeMap::new();
    for i in 0..3 {
        let part = run(
            &tmp.path().join(format!("shard-{i}")),
            Some(&format!("{i}/3")),
        );
        assert!(
            !part.is_empty() && part.len() <= 2,
            "shard {i}: {}",
            part.len()
        );
        for (k, r) in part {
            assert!(union.insert(k, r).is_none(), "a song in two shards");
        }
    }
    assert_eq!(union, all);
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(
        &b[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (be(16), be(20))
}

#[test]
fn timeline_and_compare_are_printed_and_plotted() {
    let tmp = tempfile::tempdir().unwrap();
    let png = tmp.path().join("timeline.png");
    let out = xtask()
        .args(["analyze", "--plot"])
        .arg(&png)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(png_size(&png), (900, 420));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("sections that raised the estimate"), "{text}");

    let files = clips(&tmp.path().join("ab"), 2, 3.0);
    let png = tmp.path().join("compare.png");
    let out = xtask()
        .args(["analyze", "--plot"])
        .arg(&png)
        .arg("--compare")
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(png_size(&png), (900, 420));
    let text = String::from_utf8_lossy(&out.stdout);
    // One row per window (3 s → 3 windows) with A, B and their difference.
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| t"))
        .collect();
    assert_eq!(rows.len(), 3, "{text}");
    for r in rows {
        let cells: Vec<f32> = r
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().parse().unwrap())
            .collect();
        assert!((cells[2] - cells[1] - cells[3]).abs() < 0.11, "{r}");
    }
}
