//! Deterministic train/validation/test assignment by a seeded hash of the track id.

use sha2::{Digest, Sha256};

use super::DatasetError;

/// The part of a dataset a track belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Used to fit model parameters.
    Train,
    /// Used for early stopping and model selection.
    Validation,
    /// Held out; only for the final evaluation.
    Test,
}

impl Split {
    /// `"train"`, `"validation"` or `"test"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How tracks are split: a seed and the train and validation fractions (the test share is
/// the rest). Default: seed 0, 80/10/10.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SplitConfig {
    /// Seed mixed into the hash; a different seed gives an independent assignment.
    pub seed: u64,
    /// Fraction of tracks in the training set, in `0..=1`.
    pub train: f64,
    /// Fraction of tracks in the validation set; `train + validation <= 1`.
    pub validation: f64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            seed: 0,
            train: 0.8,
            validation: 0.1,
        }
    }
}

impl SplitConfig {
    /// The test fraction, `1 - train - validation`.
    pub fn test(&self) -> f64 {
        1.0 - self.train - self.validation
    }

    /// Checks that the fractions are finite, non-negative and sum to at most 1.
    pub fn validate(&self) -> Result<(), DatasetError> {
        let ok = |x: f64| x.is_finite() && x >= 0.0;
        if !ok(self.train) || !ok(self.validation) || self.train + self.validation > 1.0 + 1e-9 {
            return Err(DatasetError::InvalidSplit {
                detail: format!(
                    "train {} and validation {} must be >= 0 and sum to <= 1",
                    self.train, self.validation
                ),
            });
        }
        Ok(())
    }

    /// Parses `"80/10/10"` (percent, or fractions like `"0.8/0.1/0.1"`) into fractions;
    /// the three parts must sum to 100 (or 1).
    pub fn parse_fractions(text: &str, seed: u64) -> Result<Self, DatasetError> {
        let bad = |d: &str| DatasetError::InvalidSplit {
            detail: format!("{text:?}: {d} (expected e.g. 80/10/10)"),
        };
        let parts: Vec<f64> = text
            .split('/')
            .map(|p| p.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad("not three numbers"))?;
        let [a, b, c] = parts[..] else {
            return Err(bad("not three numbers"));
        };
        let sum = a + b + c;
        let scale = if (sum - 100.0).abs() < 1e-6 {
            100.0
        } else if (sum - 1.0).abs() < 1e-9 {
            1.0
        } else {
            return Err(bad("parts must sum to 100 or 1"));
        };
        let cfg = SplitConfig {
            seed,
            train: a / scale,
            validation: b / scale,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// The split of track `id` under `config`: `u = first 8 bytes (big-endian) of
/// SHA-256("chorder-split-v1\0" ‖ seed as 8 little-endian bytes ‖ id as UTF-8) / 2^64`;
/// train when `u < train`, validation when `u < train + validation`, else test. The same
/// on every run, platform and build.
pub fn assign_split(id: &str, config: &SplitConfig) -> Split {
    let mut h = Sha256::new();
    h.update(b"chorder-split-v1\0");
    h.update(config.seed.to_le_bytes());
    h.update(id.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let u = u64::from_be_bytes(first) as f64 / 18_446_744_073_709_551_616.0;
    if u < config.train {
        Split::Train
    } else if u < config.train + config.validation {
        Split::Validation
    } else {
        Split::Test
    }
}
