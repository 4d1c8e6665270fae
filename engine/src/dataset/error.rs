//! Typed errors of the dataset importers and the `dataset.json` store.

use std::path::PathBuf;

use super::report::ImportReport;

/// Why a dataset could not be imported, loaded or saved. Row-level problems are not errors:
/// they are counted as skips in the [`ImportReport`]; only problems that make the whole
/// input unusable (a missing file, a missing column, nothing left) are.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// A required file or folder does not exist.
    #[error("{}: {what} not found", path.display())]
    MissingFile { path: PathBuf, what: &'static str },
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A CSV file could not be read at all (bad header, I/O failure mid-file).
    #[error("{}: unreadable CSV: {source}", path.display())]
    Csv { path: PathBuf, source: csv::Error },
    /// A CSV header lacks required columns (names listed).
    #[error("{}: missing column(s) {}; header has: {}", path.display(), missing.join(", "), header.join(", "))]
    MissingColumns {
        path: PathBuf,
        missing: Vec<String>,
        header: Vec<String>,
    },
    /// Every row was skipped (or the input had none); the report says why.
    #[error("no usable tracks in {source_name}: {rows_read} row(s) read, all skipped\n{report}")]
    Empty {
        source_name: String,
        rows_read: usize,
        report: Box<ImportReport>,
    },
    /// Split fractions that are negative, not finite or do not leave a valid test share.
    #[error("invalid split: {detail}")]
    InvalidSplit { detail: String },
    /// `dataset.json` is not valid JSON of the expected shape.
    #[error("{}: not a dataset file: {source}", path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// A dataset breaks an invariant (see [`super::Dataset::validate`]).
    #[error("invalid dataset: {detail}")]
    Invalid { detail: String },
}
