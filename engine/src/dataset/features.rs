//! The 207 SpotGenTrack low-level feature column names (`low_level_audio_features.csv`).
//!
//! Values are imported as given in the CSV; recomputing them from audio is the job of the
//! `features` module (see [`super::Dataset::recompute_low_level`]), which also owns the names.

use crate::features::{feature_names, Layout};

/// Number of low-level feature columns: 12 Chroma + 128 MEL + 48 MFCC + 7 spectral contrast
/// + 6 Tonnetz + 6 scalar features.
pub const LOW_LEVEL_FEATURE_COUNT: usize = Layout::COUNT;

/// The 207 column names in SpotGenTrack's grouping: `Chroma_1..12`, `MEL_1..128`,
/// `MFCC_1..48`, `Spectral_contrast_1..7`, `Tonnetz_1..6`, then `ZCR`, `entropy_energy`,
/// `spectral_bandwith` (sic), `spectral_centroid`, `spectral_rollOff_max`,
/// `spectral_rollOff_min` (the order of [`crate::features::FeatureVector`]). The importer
/// maps columns by these names, never by position.
pub fn low_level_feature_names() -> Vec<String> {
    feature_names().to_vec()
}
