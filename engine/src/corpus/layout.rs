//! Writers for the generated corpus: WAV files, `manifest.csv` and the SpotGenTrack-like copy.

use std::path::Path;

use super::{audio_path, spotgentrack_dir, CorpusError, CorpusOptions, SongSpec};
use crate::dataset::{low_level_feature_names, FEATURES_CSV, TRACKS_CSV};

/// Writes mono `samples` (clamped to `[-1, 1]`) as a 16-bit PCM WAV at `sample_rate` Hz.
pub fn write_wav(path: &Path, samples: &[f32], sample_rate: u32) -> Result<(), CorpusError> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let wav = |source| CorpusError::Wav {
        path: path.to_path_buf(),
        source,
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(wav)?;
    for &s in samples {
        let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        w.write_sample(v).map_err(wav)?;
    }
    w.finalize().map_err(wav)
}

fn csv_writer(path: &Path) -> Result<csv::Writer<std::fs::File>, CorpusError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| CorpusError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    csv::Writer::from_path(path).map_err(|source| CorpusError::Csv {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes every record, then flushes; errors name the file.
fn write_all(path: &Path, header: &[String], rows: Vec<Vec<String>>) -> Result<(), CorpusError> {
    let mut w = csv_writer(path)?;
    let err = |source| CorpusError::Csv {
        path: path.to_path_buf(),
        source,
    };
    w.write_record(header).map_err(err)?;
    for r in rows {
        w.write_record(&r).map_err(err)?;
    }
    w.flush().map_err(|source| CorpusError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn py_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    format!("[{}]", quoted.join(", "))
}

/// Placeholder values for the 207 low-level features of a song, in
/// [`low_level_feature_names`] order, derived from its properties (NOT computed from the
/// audio): chroma 1.0 on scale notes and 0.3 elsewhere, MEL band `k` = `0.1·e^(−k/(20+80b))`,
/// `MFCC_1 = −200 + 100b`, `MFCC_2 = 10·density`, other MFCCs 0, spectral contrast
/// `20 + 5·density`, Tonnetz 0, `ZCR` = cutoff/sample rate, `entropy_energy = 3 − dynamics`,
/// spectral centroid/bandwidth/roll-offs = 0.5/0.4/1.0/0.1 × the brightness cutoff (Hz).
pub fn placeholder_features(spec: &SongSpec, sample_rate: u32) -> Vec<f32> {
    let p = &spec.properties;
    let cutoff = super::brightness_cutoff_hz(p.brightness, sample_rate);
    let scale: &[u8] = if p.major {
        &[0, 2, 4, 5, 7, 9, 11]
    } else {
        &[0, 2, 3, 5, 7, 8, 10]
    };
    let mut v: Vec<f64> = Vec::with_capacity(207);
    for pc in 0..12u8 {
        let in_scale = scale.iter().any(|d| (p.key + d) % 12 == pc);
        v.push(if in_scale { 1.0 } else { 0.3 });
    }
    for k in 0..128 {
        v.push(0.1 * super::detmath::exp(-(k as f64) / (20.0 + 80.0 * p.brightness)));
    }
    for k in 0..48 {
        v.push(match k {
            0 => -200.0 + 100.0 * p.brightness,
            1 => 10.0 * p.density,
            _ => 0.0,
        });
    }
    v.extend(std::iter::repeat_n(20.0 + 5.0 * p.density, 7));
    v.extend(std::iter::repeat_n(0.0, 6));
    v.extend([
        cutoff / sample_rate as f64,
        3.0 - p.dynamics,
        0.4 * cutoff,
        0.5 * cutoff,
        cutoff,
        0.1 * cutoff,
    ]);
    v.into_iter().map(|x| x as f32).collect()
}

fn fmt(x: f64) -> String {
    format!("{x:.4}")
}

/// Writes `out/manifest.csv` and the SpotGenTrack-like copy under `out/spotgentrack/` for
/// songs whose audio is (or will be) at [`audio_path`]. The manifest's `path` column is
/// relative (`audio/<id>.wav`).
pub fn write_metadata(
    out: &Path,
    specs: &[SongSpec],
    options: &CorpusOptions,
) -> Result<(), CorpusError> {
    // manifest.csv
    let header: Vec<String> = [
        "path",
        "popularity",
        "id",
        "tempo_bpm",
        "key",
        "mode",
        "brightness",
        "density",
        "dynamics",
        "sections",
        "noise",
        "target",
    ]
    .map(String::from)
    .to_vec();
    let rows = specs
        .iter()
        .map(|s| {
            let p = &s.properties;
            let rel = audio_path(Path::new(""), s);
            vec![
                rel.to_string_lossy().replace('\\', "/"),
                format!("{}", s.popularity),
                s.id.clone(),
                fmt(p.tempo_bpm),
                p.key.to_string(),
                if p.major { "major" } else { "minor" }.to_string(),
                fmt(p.brightness),
                fmt(p.density),
                fmt(p.dynamics),
                p.sections.to_string(),
                fmt(p.noise),
                fmt(s.target),
            ]
        })
        .collect();
    write_all(&out.join("manifest.csv"), &header, rows)?;

    let root = spotgentrack_dir(out);
    let artist_pool = (specs.len() / 3).max(3);
    let artist_id = |k: usize| format!("artist{k:04}{:0>12}", options.seed % 1_000_000_000_000);
    let artists_of = |s: &SongSpec| -> Vec<usize> {
        let first = s.index % artist_pool;
        if s.index % 4 == 3 {
            vec![first, (first + 1) % artist_pool]
        } else {
            vec![first]
        }
    };
    let album_id = |s: &SongSpec| {
        format!(
            "album{:04}{:0>13}",
            s.index / 2,
            options.seed % 10_000_000_000_000
        )
    };

    // spotify_tracks.csv: the real column names and order, leading unnamed index column.
    let cols = [
        "",
        "acousticness",
        "album_id",
        "analysis_url",
        "artists_id",
        "available_markets",
        "country",
        "danceability",
        "disc_number",
        "duration_ms",
        "energy",
        "href",
        "id",
        "instrumentalness",
        "key",
        "liveness",
        "loudness",
        "lyrics",
        "mode",
        "name",
        "playlist",
        "popularity",
        "preview_url",
        "speechiness",
        "tempo",
        "time_signature",
        "track_href",
        "track_name_prev",
        "track_number",
        "uri",
        "valence",
        "type",
    ];
    let header: Vec<String> = cols.map(String::from).to_vec();
    let rows = specs
        .iter()
        .map(|s| {
            let p = &s.properties;
            let artists: Vec<String> = artists_of(s).into_iter().map(artist_id).collect();
            let lyrics = format!(
                "Synthetic song {}\nno words, only \"la la\", and commas\n\nend of song {}",
                s.index, s.index
            );
            let values: Vec<String> = vec![
                s.index.to_string(),
                fmt(1.0 - 0.8 * p.density),
                album_id(s),
                format!("synthetic://audio-analysis/{}", s.id),
                py_list(&artists),
                py_list(&["GB".to_string(), "US".to_string()]),
                "US".into(),
                fmt(0.5 * p.density + 0.5 * (1.0 - (p.tempo_bpm - 118.0).abs() / 60.0).max(0.0)),
                "1".into(),
                format!("{:.1}", options.seconds * 1000.0),
                fmt(p.density),
                format!("synthetic://tracks/{}", s.id),
                s.id.clone(),
                "0.9".into(),
                p.key.to_string(),
                "0.1".into(),
                fmt(-20.0 + 12.0 * p.density),
                lyrics,
                (p.major as u8).to_string(),
                format!("Synthetic song {}", s.index),
                "Generated corpus".into(),
                format!("{}", s.popularity),
                String::new(),
                "0.05".into(),
                fmt(p.tempo_bpm),
                "4".into(),
                format!("synthetic://tracks/{}", s.id),
                format!("track_{}", s.index + 1),
                "1".into(),
                format!("spotify:track:{}", s.id),
                fmt(p.brightness),
                "track".into(),
            ];
            debug_assert_eq!(values.len(), cols.len());
            values
        })
        .collect();
    write_all(&root.join(TRACKS_CSV), &header, rows)?;

    // spotify_albums.csv (minimal).
    let header: Vec<String> = [
        "",
        "album_type",
        "artist_id",
        "available_markets",
        "external_urls",
        "href",
        "id",
        "images",
        "name",
        "release_date",
        "release_date_precision",
        "total_tracks",
        "track_id",
        "type",
        "uri",
    ]
    .map(String::from)
    .to_vec();
    let rows = specs
        .iter()
        .map(|s| {
            let a = album_id(s);
            vec![
                s.index.to_string(),
                "album".into(),
                artist_id(artists_of(s)[0]),
                py_list(&["GB".to_string(), "US".to_string()]),
                format!("{{'spotify': 'synthetic://album/{a}'}}"),
                format!("synthetic://albums/{a}"),
                a.clone(),
                "[]".into(),
                format!("Synthetic album {}", s.index / 2),
                "2020-01-01".into(),
                "day".into(),
                "2".into(),
                s.id.clone(),
                "album".into(),
                format!("spotify:album:{a}"),
            ]
        })
        .collect();
    write_all(&root.join("Data Sources/spotify_albums.csv"), &header, rows)?;

    // spotify_artists.csv (minimal: one row per artist, with the first track it plays on).
    let header: Vec<String> = [
        "",
        "artist_popularity",
        "followers",
        "genres",
        "id",
        "name",
        "track_id",
        "track_name_prev",
        "type",
    ]
    .map(String::from)
    .to_vec();
    let mut rows = Vec::new();
    for k in 0..artist_pool {
        let Some(first) = specs.iter().find(|s| artists_of(s).contains(&k)) else {
            continue;
        };
        rows.push(vec![
            rows.len().to_string(),
            "50".into(),
            "1000.0".into(),
            py_list(&["synthetic".to_string()]),
            artist_id(k),
            format!("Synthetic artist {k}"),
            first.id.clone(),
            format!("track_{}", first.index + 1),
            "artist".into(),
        ]);
    }
    write_all(
        &root.join("Data Sources/spotify_artists.csv"),
        &header,
        rows,
    )?;

    // low_level_audio_features.csv: unnamed index, the 207 features, track_id last.
    let mut header = vec![String::new()];
    header.extend(low_level_feature_names());
    header.push("track_id".into());
    let rows = specs
        .iter()
        .map(|s| {
            let mut r = vec![s.index.to_string()];
            r.extend(
                placeholder_features(s, options.sample_rate)
                    .iter()
                    .map(|v| v.to_string()),
            );
            r.push(s.id.clone());
            r
        })
        .collect();
    write_all(&root.join(FEATURES_CSV), &header, rows)?;
    Ok(())
}
