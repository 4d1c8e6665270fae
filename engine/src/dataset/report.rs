//! The import report: every row read is either kept or skipped with a reason.

use std::collections::BTreeMap;
use std::fmt;

/// Why one input row was not turned into a track.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum SkipReason {
    /// The row could not be parsed (wrong number of fields, bad UTF-8, empty id or path, …).
    MalformedRow { detail: String },
    /// `popularity` is not a number, or not in `0..=100`; `value` is the field as written.
    BadPopularity { value: String },
    /// The id was already used by an earlier row (the first row wins); `first_line` is that
    /// row's line in the same file.
    DuplicateId { first_line: u64 },
    /// No audio file was found for the track; `expected` says where it was looked for.
    MissingAudio { expected: String },
    /// The track has no usable row in the low-level feature CSV.
    MissingFeatures,
    /// A row of the low-level feature CSV itself could not be used (bad value, no id).
    MalformedFeatureRow { detail: String },
    /// A low-level feature row repeats a `track_id` (the first row wins).
    DuplicateFeatureRow { first_line: u64 },
}

impl SkipReason {
    /// Short label used to count skips by reason in the report table.
    pub fn label(&self) -> &'static str {
        match self {
            SkipReason::MalformedRow { .. } => "malformed row",
            SkipReason::BadPopularity { .. } => "popularity not a number or outside 0-100",
            SkipReason::DuplicateId { .. } => "duplicated id",
            SkipReason::MissingAudio { .. } => "missing audio",
            SkipReason::MissingFeatures => "missing feature row",
            SkipReason::MalformedFeatureRow { .. } => "malformed feature row",
            SkipReason::DuplicateFeatureRow { .. } => "duplicated feature row",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::MalformedRow { detail } => write!(f, "malformed row: {detail}"),
            SkipReason::BadPopularity { value } => {
                write!(f, "popularity {value:?} is not a number in 0-100")
            }
            SkipReason::DuplicateId { first_line } => {
                write!(f, "duplicated id (first seen on line {first_line})")
            }
            SkipReason::MissingAudio { expected } => write!(f, "missing audio: {expected}"),
            SkipReason::MissingFeatures => write!(f, "no row in the low-level feature CSV"),
            SkipReason::MalformedFeatureRow { detail } => {
                write!(f, "malformed feature row: {detail}")
            }
            SkipReason::DuplicateFeatureRow { first_line } => {
                write!(
                    f,
                    "duplicated feature row (first seen on line {first_line})"
                )
            }
        }
    }
}

/// One skipped row: which file, which line (1-based line where the record starts), the id
/// when one could be read, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Skip {
    /// File name the row came from (e.g. `spotify_tracks.csv`).
    pub file: String,
    /// 1-based line of the row's first line in that file (0 when unknown).
    pub line: u64,
    /// The row's id, when it could be read.
    pub id: Option<String>,
    /// Why the row was skipped.
    pub reason: SkipReason,
}

/// What an import did: counts of rows read and kept, and every skipped row with its reason.
///
/// For the track rows `rows_read == rows_kept + skips.len()` always holds. Feature-CSV rows
/// are counted separately (`feature_rows_*`, `feature_skips`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImportReport {
    /// What was imported, in words.
    pub source: String,
    /// Track rows read (data rows, header excluded).
    pub rows_read: usize,
    /// Track rows that became tracks.
    pub rows_kept: usize,
    /// Every skipped track row.
    pub skips: Vec<Skip>,
    /// Rows read from the low-level feature CSV (0 when none was read).
    pub feature_rows_read: usize,
    /// Feature rows joined to a kept track.
    pub feature_rows_used: usize,
    /// Feature rows skipped (malformed or duplicated); tracks that needed them are then
    /// skipped as [`SkipReason::MissingFeatures`].
    pub feature_skips: Vec<Skip>,
    /// Non-fatal remarks (ignored columns, ambiguous audio files, …).
    pub warnings: Vec<String>,
}

impl ImportReport {
    /// Number of skipped track rows by [`SkipReason::label`].
    pub fn skip_counts(&self) -> BTreeMap<&'static str, usize> {
        let mut m = BTreeMap::new();
        for s in &self.skips {
            *m.entry(s.reason.label()).or_insert(0) += 1;
        }
        m
    }

    /// Number of skipped track rows with this label (see [`SkipReason::label`]).
    pub fn skipped(&self, label: &str) -> usize {
        self.skips
            .iter()
            .filter(|s| s.reason.label() == label)
            .count()
    }

    /// Writes every skip (track rows, then feature rows) as CSV:
    /// `file,line,id,reason,detail`.
    pub fn write_skips_csv<W: std::io::Write>(&self, w: W) -> Result<(), csv::Error> {
        let mut out = csv::Writer::from_writer(w);
        out.write_record(["file", "line", "id", "reason", "detail"])?;
        for s in self.skips.iter().chain(&self.feature_skips) {
            out.write_record([
                s.file.as_str(),
                &s.line.to_string(),
                s.id.as_deref().unwrap_or(""),
                s.reason.label(),
                &s.reason.to_string(),
            ])?;
        }
        out.flush()?;
        Ok(())
    }
}

/// How many individual skips [`ImportReport`]'s `Display` lists before summarising.
const LISTED: usize = 20;

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "import report: {}", self.source)?;
        writeln!(f, "  {:<44} {:>9}", "rows read", self.rows_read)?;
        writeln!(f, "  {:<44} {:>9}", "rows kept", self.rows_kept)?;
        writeln!(f, "  {:<44} {:>9}", "rows skipped", self.skips.len())?;
        for (label, n) in self.skip_counts() {
            writeln!(f, "    {:<42} {:>9}", label, n)?;
        }
        if self.feature_rows_read > 0 || !self.feature_skips.is_empty() {
            writeln!(
                f,
                "  {:<44} {:>9}",
                "feature rows read", self.feature_rows_read
            )?;
            writeln!(
                f,
                "  {:<44} {:>9}",
                "feature rows used", self.feature_rows_used
            )?;
            let mut m: BTreeMap<&str, usize> = BTreeMap::new();
            for s in &self.feature_skips {
                *m.entry(s.reason.label()).or_insert(0) += 1;
            }
            for (label, n) in m {
                writeln!(f, "    {:<42} {:>9}", label, n)?;
            }
        }
        let all: Vec<&Skip> = self.skips.iter().chain(&self.feature_skips).collect();
        if !all.is_empty() {
            writeln!(f, "  skipped rows:")?;
            for s in all.iter().take(LISTED) {
                writeln!(
                    f,
                    "    {}:{} {} {}",
                    s.file,
                    s.line,
                    s.id.as_deref().unwrap_or("-"),
                    s.reason
                )?;
            }
            if all.len() > LISTED {
                writeln!(f, "    … and {} more", all.len() - LISTED)?;
            }
        }
        for w in &self.warnings {
            writeln!(f, "  warning: {w}")?;
        }
        Ok(())
    }
}
