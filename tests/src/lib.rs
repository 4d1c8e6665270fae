//! Helpers shared by the end-to-end tests in `tests/tests/`: paths of the committed
//! fixtures.

use std::path::PathBuf;

/// The repository's `fixtures/` folder.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("fixtures")
}

/// A file under `fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    fixtures_dir().join(rel)
}
