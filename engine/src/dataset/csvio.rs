//! CSV reading shared by the importers: header lookup by name, per-row error handling.

use std::fs::File;
use std::path::Path;

use super::report::{Skip, SkipReason};
use super::DatasetError;

/// An open CSV file with its (trimmed, BOM-stripped) header names.
pub(crate) struct CsvFile {
    pub reader: csv::Reader<File>,
    pub header: Vec<String>,
    pub name: String,
}

/// Opens `path` as a comma-separated file with a header row; quoted fields may span lines.
pub(crate) fn open(path: &Path, what: &'static str) -> Result<CsvFile, DatasetError> {
    if !path.is_file() {
        return Err(DatasetError::MissingFile {
            path: path.to_path_buf(),
            what,
        });
    }
    let file = File::open(path).map_err(|source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(file);
    let header = reader
        .headers()
        .map_err(|source| DatasetError::Csv {
            path: path.to_path_buf(),
            source,
        })?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
        .collect();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    Ok(CsvFile {
        reader,
        header,
        name,
    })
}

impl CsvFile {
    /// Index of the first header equal to one of `names`.
    pub fn column(&self, names: &[&str]) -> Option<usize> {
        self.header.iter().position(|h| names.contains(&h.as_str()))
    }

    /// Like [`CsvFile::column`], but a missing column is an error naming `names[0]`.
    pub fn require(&self, path: &Path, names: &[&str]) -> Result<usize, DatasetError> {
        self.column(names)
            .ok_or_else(|| DatasetError::MissingColumns {
                path: path.to_path_buf(),
                missing: vec![names.join(" or ")],
                header: self.header.clone(),
            })
    }

    /// Reads the next data row: `Ok(Some(Ok((line, record))))`, or `Ok(Some(Err(skip)))` for a
    /// row that cannot be parsed (wrong field count, bad UTF-8), `Ok(None)` at the end, and
    /// `Err` for an I/O failure that makes the rest of the file unreadable.
    pub fn next_row(
        &mut self,
        path: &Path,
        record: &mut csv::StringRecord,
    ) -> Result<Option<Result<u64, Skip>>, DatasetError> {
        match self.reader.read_record(record) {
            Ok(false) => Ok(None),
            Ok(true) => Ok(Some(Ok(record.position().map_or(0, |p| p.line())))),
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => Ok(Some(Err(Skip {
                        file: self.name.clone(),
                        line,
                        id: None,
                        reason: SkipReason::MalformedRow {
                            detail: format!("{len} fields where the header has {expected_len}"),
                        },
                    }))),
                    csv::ErrorKind::Utf8 { .. } => Ok(Some(Err(Skip {
                        file: self.name.clone(),
                        line,
                        id: None,
                        reason: SkipReason::MalformedRow {
                            detail: "not valid UTF-8".into(),
                        },
                    }))),
                    _ => Err(DatasetError::Csv {
                        path: path.to_path_buf(),
                        source: e,
                    }),
                }
            }
        }
    }
}

/// Parses a popularity field: a finite number in `0..=100` (integers or decimals).
pub(crate) fn parse_popularity(field: &str) -> Option<f32> {
    let v: f32 = field.trim().parse().ok()?;
    (v.is_finite() && (0.0..=100.0).contains(&v)).then_some(v)
}
