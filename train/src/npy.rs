//! A [`Dataset`] as four `.npy` files, for reference implementations in other frameworks
//! (`scripts/torch_study.py` reads them) and for re-reading the exact same bytes in Rust.
//!
//! For a split named `s` in directory `dir` (all little-endian `<f4`, C order):
//!
//! | file | shape | contents |
//! |---|---|---|
//! | `s_embeddings.npy` | `[N, T_max, D]` | window embeddings, zero after each song's length |
//! | `s_lengths.npy` | `[N]` | valid windows per song (whole numbers stored as `f32`) |
//! | `s_features.npy` | `[N, F]` | raw low-level features |
//! | `s_targets.npy` | `[N]` | popularity in \[0, 1\] |

use crate::data::{Dataset, Sample};
use chorder_engine::npy::{read_f32, write_f32};
use std::io::{Error, ErrorKind, Result};
use std::path::Path;

/// Writes `ds` as split `name` under `dir` (which must exist); see the module doc.
pub fn write_dataset(ds: &Dataset, dir: &Path, name: &str) -> Result<()> {
    let n = ds.len();
    let t_max = ds.samples.iter().map(|s| s.n_steps).max().unwrap_or(1);
    let (d, f) = (ds.emb_dim, ds.feat_dim);
    let mut emb = vec![0f32; n * t_max * d];
    for (i, s) in ds.samples.iter().enumerate() {
        emb[i * t_max * d..i * t_max * d + s.embeddings.len()].copy_from_slice(&s.embeddings);
    }
    let lengths: Vec<f32> = ds.samples.iter().map(|s| s.n_steps as f32).collect();
    let feats: Vec<f32> = ds
        .samples
        .iter()
        .flat_map(|s| s.features.iter().copied())
        .collect();
    let path = |what: &str| dir.join(format!("{name}_{what}.npy"));
    write_f32(path("embeddings"), &[n, t_max, d], &emb)?;
    write_f32(path("lengths"), &[n], &lengths)?;
    write_f32(path("features"), &[n, f], &feats)?;
    write_f32(path("targets"), &[n], &ds.targets())
}

/// Reads split `name` from `dir` as written by [`write_dataset`]; shapes and values are
/// checked (lengths in `1..=T_max`, targets in \[0, 1\]).
pub fn read_dataset(dir: &Path, name: &str) -> Result<Dataset> {
    let bad = |msg: String| Error::new(ErrorKind::InvalidData, format!("{name}: {msg}"));
    let path = |what: &str| dir.join(format!("{name}_{what}.npy"));
    let (es, emb) = read_f32(path("embeddings"))?;
    let (ls, lengths) = read_f32(path("lengths"))?;
    let (fs, feats) = read_f32(path("features"))?;
    let (ts, targets) = read_f32(path("targets"))?;
    let [n, t_max, d] = es[..] else {
        return Err(bad(format!("embeddings have shape {es:?}, want [N, T, D]")));
    };
    let [_, f] = fs[..] else {
        return Err(bad(format!("features have shape {fs:?}, want [N, F]")));
    };
    if ls != [n] || ts != [n] || fs[0] != n {
        return Err(bad(format!(
            "inconsistent song counts: embeddings {es:?}, lengths {ls:?}, features {fs:?}, targets {ts:?}"
        )));
    }
    let mut ds = Dataset::new(d, f);
    for i in 0..n {
        let len = lengths[i];
        if len.fract() != 0.0 || len < 1.0 || len as usize > t_max {
            return Err(bad(format!("song {i}: length {len} outside 1..={t_max}")));
        }
        let len = len as usize;
        let start = i * t_max * d;
        ds.push(Sample {
            embeddings: emb[start..start + len * d].to_vec(),
            n_steps: len,
            features: feats[i * f..(i + 1) * f].to_vec(),
            target: targets[i],
        })
        .map_err(|e| bad(format!("song {i}: {e}")))?;
    }
    Ok(ds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{synthetic, SynthConfig};

    #[test]
    fn round_trip_is_exact_and_bad_files_are_rejected() {
        let ds = synthetic(&SynthConfig {
            n: 20,
            min_steps: 2,
            max_steps: 6,
            ..Default::default()
        });
        let dir = tempfile::tempdir().unwrap();
        write_dataset(&ds, dir.path(), "train").unwrap();
        let back = read_dataset(dir.path(), "train").unwrap();
        assert_eq!(back, ds);
        // Padding is zero.
        let (shape, emb) = read_f32(dir.path().join("train_embeddings.npy")).unwrap();
        let s0 = &ds.samples[0];
        let t_max = shape[1];
        if s0.n_steps < t_max {
            assert!(emb[s0.n_steps * ds.emb_dim..t_max * ds.emb_dim]
                .iter()
                .all(|&v| v == 0.0));
        }
        // A length beyond T_max is an error, not a panic.
        write_f32(dir.path().join("train_lengths.npy"), &[20], &[99.0; 20]).unwrap();
        let err = read_dataset(dir.path(), "train").unwrap_err();
        assert!(err.to_string().contains("length 99"), "{err}");
        assert!(read_dataset(dir.path(), "missing").is_err());
    }
}
