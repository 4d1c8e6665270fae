//! [`FeatureCache`]: what [`crate::song::SongAnalyzer`] computed for a song, on disk, so
//! re-runs and interrupted runs skip finished songs.
//!
//! Key: sha256 of the audio file's bytes, under a folder named by the embedding model id
//! (kind + bundle hash) and the feature setting, so a different model or setting never
//! reads stale entries. Each entry is one safetensors file (`embeddings` `[n_windows, dim]`,
//! `features` `[207]`, `mean_tags` `[n_tags]`, f32; `seconds` in the metadata), written to
//! a temporary name and renamed, so a killed run leaves no half-written entry.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use sha2::{Digest, Sha256};

use crate::song::SongSummary;

/// A cache entry.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedSong {
    /// Row-major `[n_windows, dim]` window embeddings.
    pub embeddings: Vec<f32>,
    /// Embedding size.
    pub dim: usize,
    /// Number of windows.
    pub n_windows: usize,
    /// The 207 low-level features in SpotGenTrack column order.
    pub features: Vec<f32>,
    /// Mean tag probabilities over the song.
    pub mean_tags: Vec<f32>,
    /// Duration, seconds.
    pub seconds: f64,
}

impl From<&SongSummary> for CachedSong {
    fn from(s: &SongSummary) -> Self {
        Self {
            embeddings: s.embeddings.clone(),
            dim: s.dim,
            n_windows: s.n_windows,
            features: s.features.values.to_vec(),
            mean_tags: s.mean_tags.clone(),
            seconds: s.seconds,
        }
    }
}

/// A folder of cached songs for one embedding model and feature setting.
#[derive(Debug, Clone)]
pub struct FeatureCache {
    dir: PathBuf,
}

/// sha256 of a file's bytes, lower-case hex (read in 64 KiB blocks).
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

impl FeatureCache {
    /// The cache under `root` for the embedding model `model_id` and feature setting.
    pub fn new(root: impl AsRef<Path>, model_id: &str, compat_features: bool) -> Self {
        let setting = if compat_features { "compat" } else { "clean" };
        Self {
            dir: root.as_ref().join(format!("{model_id}-{setting}")),
        }
    }

    /// The folder holding this cache's entries.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the entry for audio with this content hash lives.
    pub fn entry_path(&self, audio_sha256: &str) -> PathBuf {
        let shard = audio_sha256.get(..2).unwrap_or("xx");
        self.dir
            .join(shard)
            .join(format!("{audio_sha256}.safetensors"))
    }

    /// The entry, if present. A damaged entry is an error naming its file.
    pub fn get(&self, audio_sha256: &str) -> Result<Option<CachedSong>, String> {
        let path = self.entry_path(audio_sha256);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        decode_entry(&bytes)
            .map(Some)
            .map_err(|e| format!("{}: damaged cache entry: {e}", path.display()))
    }

    /// Stores an entry atomically (temporary file, then rename).
    pub fn put(&self, audio_sha256: &str, song: &CachedSong) -> std::io::Result<()> {
        let path = self.entry_path(audio_sha256);
        std::fs::create_dir_all(path.parent().expect("entry has a parent"))?;
        let bytes = encode_entry(song).map_err(std::io::Error::other)?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)
    }
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn encode_entry(song: &CachedSong) -> Result<Vec<u8>, String> {
    if song.embeddings.len() != song.n_windows * song.dim {
        return Err("embeddings do not match n_windows x dim".into());
    }
    let (e, f, t) = (
        f32_bytes(&song.embeddings),
        f32_bytes(&song.features),
        f32_bytes(&song.mean_tags),
    );
    let views = [
        (
            "embeddings",
            TensorView::new(Dtype::F32, vec![song.n_windows, song.dim], &e),
        ),
        (
            "features",
            TensorView::new(Dtype::F32, vec![song.features.len()], &f),
        ),
        (
            "mean_tags",
            TensorView::new(Dtype::F32, vec![song.mean_tags.len()], &t),
        ),
    ];
    let views: Vec<(&str, TensorView)> = views
        .into_iter()
        .map(|(n, v)| v.map(|v| (n, v)).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let meta = HashMap::from([("seconds".to_string(), song.seconds.to_string())]);
    safetensors::serialize(views, Some(meta)).map_err(|e| e.to_string())
}

fn decode_entry(bytes: &[u8]) -> Result<CachedSong, String> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    let read = |name: &str| -> Result<(Vec<usize>, Vec<f32>), String> {
        let t = st.tensor(name).map_err(|e| e.to_string())?;
        if t.dtype() != Dtype::F32 {
            return Err(format!("{name} is not f32"));
        }
        let v = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok((t.shape().to_vec(), v))
    };
    let (eshape, embeddings) = read("embeddings")?;
    let (_, features) = read("features")?;
    let (_, mean_tags) = read("mean_tags")?;
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
    let seconds = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get("seconds"))
        .and_then(|s| s.parse().ok())
        .ok_or("no `seconds` in metadata")?;
    let [n_windows, dim] = eshape[..] else {
        return Err(format!("embeddings have shape {eshape:?}, want 2-D"));
    };
    Ok(CachedSong {
        embeddings,
        dim,
        n_windows,
        features,
        mean_tags,
        seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_damage_is_reported() {
        let root = std::env::temp_dir().join(format!("chorder-cache-{}", std::process::id()));
        let cache = FeatureCache::new(&root, "musicnn-test", true);
        let song = CachedSong {
            embeddings: (0..6).map(|i| i as f32 * 0.25).collect(),
            dim: 3,
            n_windows: 2,
            features: vec![1.0, -2.0, 3.5],
            mean_tags: vec![0.1, 0.9],
            seconds: 1.92,
        };
        let key = "ab12cd";
        assert_eq!(cache.get(key).unwrap(), None);
        cache.put(key, &song).unwrap();
        assert_eq!(cache.get(key).unwrap(), Some(song));
        // A different model id is a different folder: no stale hits.
        assert_eq!(
            FeatureCache::new(&root, "musicnn-other", true)
                .get(key)
                .unwrap(),
            None
        );
        std::fs::write(cache.entry_path(key), b"not safetensors").unwrap();
        let err = cache.get(key).unwrap_err();
        assert!(
            err.contains("damaged cache entry") && err.contains(key),
            "{err}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
