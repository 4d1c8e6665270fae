//! Importer for the SpotGenTrack Popularity Dataset layout.
//!
//! Reads `Data Sources/spotify_tracks.csv` and (optionally)
//! `Features Extracted/low_level_audio_features.csv` under a root folder, by header name,
//! and joins them on the track id (`id` in the tracks file, `track_id` or `id` in the
//! feature file). Audio comes from a separate folder of previews named by track id:
//! `<id>.<ext>` or HitMusicNet's `track_<id>.<ext>`, for any extension in
//! [`AUDIO_EXTENSIONS`].
//!
//! Each track row is checked in this order and skipped at the first failure, with its line
//! number: malformed row (field count, UTF-8, empty id, unparsable `artists_id` list) →
//! popularity not a number in 0–100 → id already kept from an earlier row → no audio file →
//! no usable feature row (only with [`FeatureSource::Csv`]).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::csvio::{self, parse_popularity};
use super::features::low_level_feature_names;
use super::pylist::parse_python_list;
use super::report::{ImportReport, Skip, SkipReason};
use super::split::{assign_split, SplitConfig};
use super::{Dataset, DatasetError, Track};

/// Path of the tracks table under the dataset root.
pub const TRACKS_CSV: &str = "Data Sources/spotify_tracks.csv";
/// Path of the low-level feature table under the dataset root.
pub const FEATURES_CSV: &str = "Features Extracted/low_level_audio_features.csv";
/// File extensions (lower case) recognised as audio in the preview folder; all decodable by
/// [`crate::decode`].
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "mp3", "wav", "wave", "flac", "ogg", "oga", "m4a", "mp4", "aac",
];

/// Where the low-level feature rows come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FeatureSource {
    /// Read [`FEATURES_CSV`] as given; a track without a usable row is skipped
    /// ([`SkipReason::MissingFeatures`]). The file must exist.
    #[default]
    Csv,
    /// Import no features (every [`Track::low_level`] is `None`), e.g. to recompute them
    /// from audio afterwards with [`Dataset::recompute_low_level`].
    None,
}

/// Options of [`import_spotgentrack`].
#[derive(Debug, Clone)]
pub struct SpotGenTrackOptions {
    /// Folder of preview audio files named by track id.
    pub audio_dir: PathBuf,
    /// Where feature rows come from.
    pub features: FeatureSource,
    /// How tracks are split into train/validation/test.
    pub split: SplitConfig,
}

impl SpotGenTrackOptions {
    /// Features from the CSV, default 80/10/10 split with seed 0.
    pub fn new(audio_dir: impl Into<PathBuf>) -> Self {
        SpotGenTrackOptions {
            audio_dir: audio_dir.into(),
            features: FeatureSource::Csv,
            split: SplitConfig::default(),
        }
    }
}

/// Indexes the audio files of a folder (not recursive) by track id: the file stem, and for
/// `track_<id>.<ext>` also `<id>`. Only extensions in [`AUDIO_EXTENSIONS`] count (case
/// insensitive). When two files give the same id, the first by file name wins and a warning
/// is returned.
pub fn find_audio_files(
    dir: &Path,
) -> Result<(HashMap<String, PathBuf>, Vec<String>), DatasetError> {
    if !dir.is_dir() {
        return Err(DatasetError::MissingFile {
            path: dir.to_path_buf(),
            what: "audio folder",
        });
    }
    let io = |source| DatasetError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let is_audio = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
        if is_audio && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    let mut map: HashMap<String, PathBuf> = HashMap::new();
    let mut warnings = Vec::new();
    for path in files {
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            warnings.push(format!(
                "{}: file name is not UTF-8, ignored",
                path.display()
            ));
            continue;
        };
        let mut keys = vec![stem.to_string()];
        if let Some(rest) = stem.strip_prefix("track_") {
            keys.push(rest.to_string());
        }
        for key in keys {
            if let Some(first) = map.get(&key) {
                warnings.push(format!(
                    "id {key}: several audio files, using {} and not {}",
                    first.display(),
                    path.display()
                ));
            } else {
                map.insert(key, path.clone());
            }
        }
    }
    Ok((map, warnings))
}

/// Feature rows by track id: `(line, values in low_level_feature_names() order)`.
type FeatureRows = HashMap<String, (u64, Vec<f32>)>;

fn read_features(path: &Path, report: &mut ImportReport) -> Result<FeatureRows, DatasetError> {
    let mut csv = csvio::open(path, "low-level feature CSV")?;
    let id_col = csv.require(path, &["track_id", "id"])?;
    let names = low_level_feature_names();
    let mut cols = Vec::with_capacity(names.len());
    let mut missing = Vec::new();
    for n in &names {
        match csv.column(&[n.as_str()]) {
            Some(i) => cols.push(i),
            None => missing.push(n.clone()),
        }
    }
    if !missing.is_empty() {
        return Err(DatasetError::MissingColumns {
            path: path.to_path_buf(),
            missing,
            header: csv.header.clone(),
        });
    }
    let ignored: Vec<&str> = csv
        .header
        .iter()
        .enumerate()
        .filter(|(i, h)| {
            *i != id_col
                && !cols.contains(i)
                && !h.is_empty()
                && !h.starts_with("Unnamed")
                && h.as_str() != "index"
        })
        .map(|(_, h)| h.as_str())
        .collect();
    if !ignored.is_empty() {
        report.warnings.push(format!(
            "{}: ignored column(s) {}",
            csv.name,
            ignored.join(", ")
        ));
    }
    let mut rows: FeatureRows = HashMap::new();
    let mut record = csv::StringRecord::new();
    while let Some(row) = csv.next_row(path, &mut record)? {
        report.feature_rows_read += 1;
        let line = match row {
            Ok(line) => line,
            Err(mut skip) => {
                let detail = skip.reason.to_string();
                skip.reason = SkipReason::MalformedFeatureRow { detail };
                report.feature_skips.push(skip);
                continue;
            }
        };
        let id = record[id_col].trim().to_string();
        let skip = |id: Option<String>, reason| Skip {
            file: csv.name.clone(),
            line,
            id,
            reason,
        };
        if id.is_empty() {
            report.feature_skips.push(skip(
                None,
                SkipReason::MalformedFeatureRow {
                    detail: "empty track id".into(),
                },
            ));
            continue;
        }
        let mut values = Vec::with_capacity(cols.len());
        let mut bad = None;
        for (k, &c) in cols.iter().enumerate() {
            match record[c].trim().parse::<f32>() {
                Ok(v) if v.is_finite() => values.push(v),
                _ => {
                    bad = Some(format!(
                        "{} = {:?} is not a finite number",
                        names[k], &record[c]
                    ));
                    break;
                }
            }
        }
        if let Some(detail) = bad {
            report
                .feature_skips
                .push(skip(Some(id), SkipReason::MalformedFeatureRow { detail }));
            continue;
        }
        if let Some((first_line, _)) = rows.get(&id) {
            let first_line = *first_line;
            report.feature_skips.push(skip(
                Some(id),
                SkipReason::DuplicateFeatureRow { first_line },
            ));
            continue;
        }
        rows.insert(id, (line, values));
    }
    Ok(rows)
}

/// Extra text columns of `spotify_tracks.csv` kept in [`Track::extra`] when present.
const KEPT_COLUMNS: &[&str] = &["name", "album_id", "playlist", "country", "preview_url"];

/// Imports a SpotGenTrack folder (`root` holds `Data Sources/` and `Features Extracted/`)
/// with the preview audio in `options.audio_dir`. Returns the dataset (tracks in file order,
/// split assigned) and the report of every row read, kept and skipped. Errors: missing
/// files or folders, missing required columns (`id`, `popularity`; `track_id`/`id` and the
/// 207 feature names in the feature file), unreadable CSV, and no track kept
/// ([`DatasetError::Empty`]).
pub fn import_spotgentrack(
    root: impl AsRef<Path>,
    options: &SpotGenTrackOptions,
) -> Result<(Dataset, ImportReport), DatasetError> {
    let root = root.as_ref();
    options.split.validate()?;
    if !root.is_dir() {
        return Err(DatasetError::MissingFile {
            path: root.to_path_buf(),
            what: "SpotGenTrack folder",
        });
    }
    let tracks_path = root.join(TRACKS_CSV);
    let mut csv = csvio::open(&tracks_path, "SpotGenTrack tracks CSV")?;
    let id_col = csv.require(&tracks_path, &["id"])?;
    let pop_col = csv.require(&tracks_path, &["popularity"])?;
    let artists_col = csv.column(&["artists_id"]);
    let kept_cols: Vec<(&str, usize)> = KEPT_COLUMNS
        .iter()
        .filter_map(|n| csv.column(&[n]).map(|i| (*n, i)))
        .collect();
    let (audio, audio_warnings) = find_audio_files(&options.audio_dir)?;

    let mut report = ImportReport {
        source: format!("spotgentrack:{}", root.display()),
        warnings: audio_warnings,
        ..Default::default()
    };
    let mut features = match options.features {
        FeatureSource::Csv => Some(read_features(&root.join(FEATURES_CSV), &mut report)?),
        FeatureSource::None => None,
    };

    let mut tracks = Vec::new();
    let mut kept_lines: HashMap<String, u64> = HashMap::new();
    let mut record = csv::StringRecord::new();
    while let Some(row) = csv.next_row(&tracks_path, &mut record)? {
        report.rows_read += 1;
        let line = match row {
            Ok(line) => line,
            Err(skip) => {
                report.skips.push(skip);
                continue;
            }
        };
        let id = record[id_col].trim().to_string();
        let checked = (|| {
            if id.is_empty() {
                return Err(SkipReason::MalformedRow {
                    detail: "empty id".into(),
                });
            }
            let mut extra = BTreeMap::new();
            if let Some(c) = artists_col {
                let list = parse_python_list(&record[c]).map_err(|e| SkipReason::MalformedRow {
                    detail: format!("artists_id: {e}"),
                })?;
                extra.insert("artists_id".to_string(), list.join(";"));
            }
            let popularity =
                parse_popularity(&record[pop_col]).ok_or_else(|| SkipReason::BadPopularity {
                    value: record[pop_col].to_string(),
                })?;
            if let Some(&first_line) = kept_lines.get(&id) {
                return Err(SkipReason::DuplicateId { first_line });
            }
            let audio_path = audio.get(&id).ok_or_else(|| SkipReason::MissingAudio {
                expected: format!(
                    "{}/{id}.<{}> (or track_{id}.*)",
                    options.audio_dir.display(),
                    AUDIO_EXTENSIONS.join("|")
                ),
            })?;
            let low_level = match &mut features {
                Some(rows) => {
                    let (_, values) = rows.remove(&id).ok_or(SkipReason::MissingFeatures)?;
                    Some(values)
                }
                None => None,
            };
            for (name, c) in &kept_cols {
                extra.insert(name.to_string(), record[*c].to_string());
            }
            Ok(Track {
                split: assign_split(&id, &options.split),
                id: id.clone(),
                audio: audio_path.clone(),
                popularity,
                low_level,
                extra,
            })
        })();
        match checked {
            Ok(track) => {
                if track.low_level.is_some() {
                    report.feature_rows_used += 1;
                }
                kept_lines.insert(track.id.clone(), line);
                tracks.push(track);
            }
            Err(reason) => report.skips.push(Skip {
                file: csv.name.clone(),
                line,
                id: (!id.is_empty()).then(|| id.clone()),
                reason,
            }),
        }
    }
    report.rows_kept = tracks.len();
    if let Some(rows) = &features {
        if !rows.is_empty() {
            report.warnings.push(format!(
                "{} feature row(s) match no kept track (their tracks were skipped or absent)",
                rows.len()
            ));
        }
    }
    if tracks.is_empty() {
        return Err(DatasetError::Empty {
            source_name: report.source.clone(),
            rows_read: report.rows_read,
            report: Box::new(report),
        });
    }
    let feature_names = match options.features {
        FeatureSource::Csv => low_level_feature_names(),
        FeatureSource::None => Vec::new(),
    };
    let dataset = Dataset {
        source: report.source.clone(),
        split: options.split,
        feature_names,
        tracks,
    };
    dataset.validate()?;
    Ok((dataset, report))
}
