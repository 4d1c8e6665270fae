//! Datasets of tracks with a popularity target, and the importers that build them.
//!
//! A [`Dataset`] is a list of [`Track`]s: an id, an audio file, a popularity on Spotify's
//! 0–100 scale, an optional row of the 207 SpotGenTrack low-level features, and the
//! train/validation/test [`Split`] the track belongs to. It is saved as `dataset.json`
//! ([`Dataset::save`], [`Dataset::load`]) so that every model is trained and evaluated on
//! the same songs.
//!
//! Importers (each returns the dataset together with an [`ImportReport`] that counts every
//! row read, kept and skipped, with the reason and the line number of every skip):
//! - [`import_spotgentrack`]: the SpotGenTrack Popularity Dataset folder layout
//!   (`Data Sources/spotify_tracks.csv` ⋈ `Features Extracted/low_level_audio_features.csv`)
//!   plus a folder of preview audio named by track id.
//! - [`import_manifest`]: a plain `path,popularity[,id][,extra…]` CSV.
//!
//! Splits are assigned by [`assign_split`]: a SHA-256 of a fixed tag, the seed and the track
//! id, so the assignment is the same on every run and every machine.

mod csvio;
mod error;
mod features;
mod manifest;
mod pylist;
mod report;
mod split;
mod spotgentrack;
mod store;

pub use error::DatasetError;
pub use features::{low_level_feature_names, LOW_LEVEL_FEATURE_COUNT};
pub use manifest::{import_manifest, ManifestOptions};
pub use pylist::parse_python_list;
pub use report::{ImportReport, Skip, SkipReason};
pub use split::{assign_split, Split, SplitConfig};
pub use spotgentrack::{
    find_audio_files, import_spotgentrack, FeatureSource, SpotGenTrackOptions, AUDIO_EXTENSIONS,
    FEATURES_CSV, TRACKS_CSV,
};

use std::collections::BTreeMap;
use std::path::PathBuf;

/// One track of a dataset.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Track {
    /// Unique id within the dataset (the Spotify track id for SpotGenTrack; the manifest's
    /// `id` column, or the audio path as written in the manifest, for manifests).
    pub id: String,
    /// Audio file of the track. Absolute, or relative to the current directory; relative to
    /// the `dataset.json` folder inside the saved file (see [`Dataset::save`]).
    pub audio: PathBuf,
    /// Popularity target on Spotify's scale: a finite value in `0.0..=100.0`.
    pub popularity: f32,
    /// The 207 low-level features in the order of [`Dataset::feature_names`], or `None`
    /// when the dataset carries no features for this track.
    #[serde(default)]
    pub low_level: Option<Vec<f32>>,
    /// Which part of the data the track belongs to.
    pub split: Split,
    /// Further per-track text fields kept from the source (for SpotGenTrack: `name`,
    /// `artists_id` as a `;`-joined list, …; for manifests: every extra column).
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

/// A list of tracks with a popularity target and a fixed train/validation/test split.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Dataset {
    /// Where the tracks came from, in words (e.g. `spotgentrack:/data/SPD`).
    pub source: String,
    /// The split rule the tracks' [`Track::split`] were assigned with.
    pub split: SplitConfig,
    /// Names of the low-level feature columns, in the order of every [`Track::low_level`]
    /// row; empty when no track has features.
    pub feature_names: Vec<String>,
    /// The tracks, in source order.
    pub tracks: Vec<Track>,
}

impl Dataset {
    /// Number of tracks.
    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    /// `true` when the dataset has no tracks (never the case for a dataset returned by an
    /// importer or by [`Dataset::load`]).
    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    /// The tracks of one split, in dataset order.
    pub fn tracks_in(&self, split: Split) -> impl Iterator<Item = &Track> {
        self.tracks.iter().filter(move |t| t.split == split)
    }

    /// Number of tracks in `(train, validation, test)`.
    pub fn split_counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for t in &self.tracks {
            match t.split {
                Split::Train => c.0 += 1,
                Split::Validation => c.1 += 1,
                Split::Test => c.2 += 1,
            }
        }
        c
    }

    /// The track with this id, if any.
    pub fn track(&self, id: &str) -> Option<&Track> {
        self.tracks.iter().find(|t| t.id == id)
    }

    /// One low-level feature value of a track by column name (e.g. `"MFCC_3"`), or `None`
    /// when the track has no feature row or the name is not a feature column.
    pub fn feature(&self, track: &Track, name: &str) -> Option<f32> {
        let i = self.feature_names.iter().position(|n| n == name)?;
        track.low_level.as_ref().map(|row| row[i])
    }

    /// A track's feature row as `name → value` (empty when it has none).
    pub fn feature_map(&self, track: &Track) -> BTreeMap<String, f32> {
        match &track.low_level {
            Some(row) => self
                .feature_names
                .iter()
                .cloned()
                .zip(row.iter().copied())
                .collect(),
            None => BTreeMap::new(),
        }
    }

    /// Hook for recomputing low-level features from audio (the `features` module's job):
    /// replaces every track's feature row with `compute(track)`, which must return exactly
    /// `names.len()` finite values; `names` become [`Dataset::feature_names`]. Stops at the
    /// first track whose computation fails and leaves the dataset unchanged in that case.
    pub fn recompute_low_level<E: std::fmt::Display>(
        &mut self,
        names: Vec<String>,
        mut compute: impl FnMut(&Track) -> Result<Vec<f32>, E>,
    ) -> Result<(), DatasetError> {
        let mut rows = Vec::with_capacity(self.tracks.len());
        for t in &self.tracks {
            let row = compute(t).map_err(|e| DatasetError::Invalid {
                detail: format!("track {}: feature computation failed: {e}", t.id),
            })?;
            if row.len() != names.len() {
                return Err(DatasetError::Invalid {
                    detail: format!(
                        "track {}: feature computation returned {} values for {} names",
                        t.id,
                        row.len(),
                        names.len()
                    ),
                });
            }
            if let Some(i) = row.iter().position(|v| !v.is_finite()) {
                return Err(DatasetError::Invalid {
                    detail: format!("track {}: feature {} is not finite", t.id, names[i]),
                });
            }
            rows.push(row);
        }
        for (t, row) in self.tracks.iter_mut().zip(rows) {
            t.low_level = Some(row);
        }
        self.feature_names = names;
        Ok(())
    }

    /// Checks the invariants every dataset keeps: at least one track, unique non-empty ids,
    /// popularity finite in `0..=100`, feature rows of `feature_names.len()` finite values.
    pub fn validate(&self) -> Result<(), DatasetError> {
        if self.tracks.is_empty() {
            return Err(DatasetError::Invalid {
                detail: "dataset has no tracks".into(),
            });
        }
        let mut seen = std::collections::HashSet::new();
        for (i, t) in self.tracks.iter().enumerate() {
            let bad = |detail: String| DatasetError::Invalid {
                detail: format!("track #{i} ({}): {detail}", t.id),
            };
            if t.id.is_empty() {
                return Err(bad("empty id".into()));
            }
            if !seen.insert(t.id.as_str()) {
                return Err(bad("duplicated id".into()));
            }
            if !(t.popularity.is_finite() && (0.0..=100.0).contains(&t.popularity)) {
                return Err(bad(format!("popularity {} outside 0..=100", t.popularity)));
            }
            if let Some(row) = &t.low_level {
                if row.len() != self.feature_names.len() {
                    return Err(bad(format!(
                        "{} feature values for {} feature names",
                        row.len(),
                        self.feature_names.len()
                    )));
                }
                if row.iter().any(|v| !v.is_finite()) {
                    return Err(bad("non-finite feature value".into()));
                }
            }
        }
        Ok(())
    }
}
