//! Importer for a plain manifest CSV: `path,popularity[,id][,extra…]`.
//!
//! - `path`: audio file; relative paths resolve against the manifest's folder.
//! - `popularity`: number in 0–100.
//! - `id` (optional): track id; without the column the id is `path` as written.
//! - every other column is kept as text in [`Track::extra`].
//!
//! Each row is checked in this order and skipped at the first failure, with its line
//! number: malformed row (field count, UTF-8, empty path or id) → popularity not a number in
//! 0–100 → id already kept from an earlier row → audio file missing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::csvio::{self, parse_popularity};
use super::report::{ImportReport, Skip, SkipReason};
use super::split::{assign_split, SplitConfig};
use super::{Dataset, DatasetError, Track};

/// Options of [`import_manifest`].
#[derive(Debug, Clone, Default)]
pub struct ManifestOptions {
    /// How tracks are split into train/validation/test.
    pub split: SplitConfig,
}

/// Imports a manifest CSV. Returns the dataset (tracks in file order, split assigned, no
/// low-level features) and the report of every row read, kept and skipped. Errors: missing
/// or unreadable file, missing `path`/`popularity` column, no track kept
/// ([`DatasetError::Empty`]).
pub fn import_manifest(
    manifest: impl AsRef<Path>,
    options: &ManifestOptions,
) -> Result<(Dataset, ImportReport), DatasetError> {
    let manifest = manifest.as_ref();
    options.split.validate()?;
    let mut csv = csvio::open(manifest, "manifest CSV")?;
    let path_col = csv.require(manifest, &["path"])?;
    let pop_col = csv.require(manifest, &["popularity"])?;
    let id_col = csv.column(&["id"]);
    let extra_cols: Vec<(String, usize)> = csv
        .header
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != path_col && *i != pop_col && Some(*i) != id_col)
        .map(|(i, h)| (h.clone(), i))
        .collect();
    let base: PathBuf = match manifest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut report = ImportReport {
        source: format!("manifest:{}", manifest.display()),
        ..Default::default()
    };
    let mut tracks = Vec::new();
    let mut kept_lines: HashMap<String, u64> = HashMap::new();
    let mut record = csv::StringRecord::new();
    while let Some(row) = csv.next_row(manifest, &mut record)? {
        report.rows_read += 1;
        let line = match row {
            Ok(line) => line,
            Err(skip) => {
                report.skips.push(skip);
                continue;
            }
        };
        let written = record[path_col].trim().to_string();
        let id = match id_col {
            Some(c) => record[c].trim().to_string(),
            None => written.clone(),
        };
        let checked = (|| {
            if written.is_empty() {
                return Err(SkipReason::MalformedRow {
                    detail: "empty path".into(),
                });
            }
            if id.is_empty() {
                return Err(SkipReason::MalformedRow {
                    detail: "empty id".into(),
                });
            }
            let popularity =
                parse_popularity(&record[pop_col]).ok_or_else(|| SkipReason::BadPopularity {
                    value: record[pop_col].to_string(),
                })?;
            if let Some(&first_line) = kept_lines.get(&id) {
                return Err(SkipReason::DuplicateId { first_line });
            }
            let audio = base.join(&written);
            if !audio.is_file() {
                return Err(SkipReason::MissingAudio {
                    expected: audio.display().to_string(),
                });
            }
            let extra: BTreeMap<String, String> = extra_cols
                .iter()
                .map(|(name, c)| (name.clone(), record[*c].to_string()))
                .collect();
            Ok(Track {
                split: assign_split(&id, &options.split),
                id: id.clone(),
                audio,
                popularity,
                low_level: None,
                extra,
            })
        })();
        match checked {
            Ok(track) => {
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
    if tracks.is_empty() {
        return Err(DatasetError::Empty {
            source_name: report.source.clone(),
            rows_read: report.rows_read,
            report: Box::new(report),
        });
    }
    let dataset = Dataset {
        source: report.source.clone(),
        split: options.split,
        feature_names: Vec::new(),
        tracks,
    };
    dataset.validate()?;
    Ok((dataset, report))
}
