//! `dataset.json`: the saved form of a [`Dataset`].
//!
//! ```json
//! { "format": "chorder-dataset", "version": 1, "source": "…",
//!   "split": { "seed": 0, "train": 0.8, "validation": 0.1 },
//!   "feature_names": ["Chroma_1", …],
//!   "tracks": [ { "id": "…", "audio": "audio/x.wav", "popularity": 57.0,
//!                 "low_level": [ … ] | null, "split": "train", "extra": { … } }, … ] }
//! ```
//! Audio paths inside the dataset file's folder are stored relative to it (so a dataset
//! folder can be moved); others are stored as given. Loading resolves relative paths against
//! the file's folder.

use std::path::{Path, PathBuf};

use super::{Dataset, DatasetError};

const FORMAT: &str = "chorder-dataset";
const VERSION: u32 = 1;

#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    format: String,
    version: u32,
    #[serde(flatten)]
    dataset: Dataset,
}

fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl Dataset {
    /// Writes the dataset as pretty-printed JSON to `path` (conventionally `dataset.json`),
    /// after [`Dataset::validate`]. Audio paths under the file's folder become relative.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), DatasetError> {
        let path = path.as_ref();
        self.validate()?;
        let dir = folder_of(path);
        let abs_dir = std::path::absolute(&dir).unwrap_or(dir.clone());
        let mut copy = self.clone();
        for t in &mut copy.tracks {
            let abs = std::path::absolute(&t.audio).unwrap_or(t.audio.clone());
            if let Ok(rel) = abs.strip_prefix(&abs_dir) {
                t.audio = rel.to_path_buf();
            }
        }
        let stored = Stored {
            format: FORMAT.into(),
            version: VERSION,
            dataset: copy,
        };
        let io = |source| DatasetError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::create(path).map_err(io)?;
        let mut w = std::io::BufWriter::new(file);
        serde_json::to_writer_pretty(&mut w, &stored).map_err(|source| DatasetError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        std::io::Write::flush(&mut w).map_err(io)?;
        Ok(())
    }

    /// Reads a dataset written by [`Dataset::save`], resolves relative audio paths against
    /// the file's folder and checks [`Dataset::validate`]. Audio files are not opened.
    pub fn load(path: impl AsRef<Path>) -> Result<Dataset, DatasetError> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(DatasetError::MissingFile {
                path: path.to_path_buf(),
                what: "dataset file",
            });
        }
        let file = std::fs::File::open(path).map_err(|source| DatasetError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let stored: Stored =
            serde_json::from_reader(std::io::BufReader::new(file)).map_err(|source| {
                DatasetError::Json {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
        if stored.format != FORMAT || stored.version != VERSION {
            return Err(DatasetError::Invalid {
                detail: format!(
                    "{}: format {:?} version {} (expected {FORMAT:?} version {VERSION})",
                    path.display(),
                    stored.format,
                    stored.version
                ),
            });
        }
        let mut ds = stored.dataset;
        let dir = folder_of(path);
        for t in &mut ds.tracks {
            if t.audio.is_relative() {
                t.audio = dir.join(&t.audio);
            }
        }
        ds.validate()?;
        Ok(ds)
    }
}
