//! The training data set: per song, a sequence of window embeddings, a low-level feature
//! vector and a popularity target in \[0, 1\] (Spotify popularity / 100).

use candle_core::{Device, Result, Tensor};

/// One song.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Window embeddings, row-major `[n_steps, emb_dim]` (e.g. one musicnn/VGGish vector per
    /// window, in stream order).
    pub embeddings: Vec<f32>,
    /// Number of windows `T_i ≥ 1`.
    pub n_steps: usize,
    /// Raw (unscaled) low-level features `[feat_dim]`; models scale them themselves.
    pub features: Vec<f32>,
    /// Popularity in \[0, 1\].
    pub target: f32,
}

/// A set of songs with common embedding and feature sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Embedding size `D`.
    pub emb_dim: usize,
    /// Feature vector size `F`.
    pub feat_dim: usize,
    /// The songs.
    pub samples: Vec<Sample>,
}

/// A padded mini-batch.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `[B, T_max, D]`, zero after each sequence's length.
    pub embeddings: Tensor,
    /// Valid steps per sequence, `[B]`.
    pub lengths: Vec<usize>,
    /// `[B, F]`.
    pub features: Tensor,
    /// `[B]` in \[0, 1\].
    pub targets: Tensor,
}

impl Dataset {
    /// An empty set with the given sizes.
    pub fn new(emb_dim: usize, feat_dim: usize) -> Self {
        Self {
            emb_dim,
            feat_dim,
            samples: Vec::new(),
        }
    }

    /// Adds a sample after checking its sizes and target range.
    pub fn push(&mut self, s: Sample) -> std::result::Result<(), String> {
        if s.n_steps == 0 || s.embeddings.len() != s.n_steps * self.emb_dim {
            return Err(format!(
                "embeddings: {} values for {} steps × {}",
                s.embeddings.len(),
                s.n_steps,
                self.emb_dim
            ));
        }
        if s.features.len() != self.feat_dim {
            return Err(format!(
                "features: {} values, expected {}",
                s.features.len(),
                self.feat_dim
            ));
        }
        if !(0.0..=1.0).contains(&s.target) {
            return Err(format!("target {} outside [0, 1]", s.target));
        }
        self.samples.push(s);
        Ok(())
    }

    /// Number of songs.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether there is no song.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// All targets, in order.
    pub fn targets(&self) -> Vec<f32> {
        self.samples.iter().map(|s| s.target).collect()
    }

    /// Population mean and sd of the targets.
    pub fn target_mean_sd(&self) -> (f64, f64) {
        mean_sd(self.samples.iter().map(|s| s.target as f64))
    }

    /// The songs at `idx`, as a new set.
    pub fn subset(&self, idx: &[usize]) -> Self {
        Self {
            emb_dim: self.emb_dim,
            feat_dim: self.feat_dim,
            samples: idx.iter().map(|&i| self.samples[i].clone()).collect(),
        }
    }

    /// Splits into `(first n, rest)`.
    pub fn split_at(&self, n: usize) -> (Self, Self) {
        let n = n.min(self.len());
        let a: Vec<usize> = (0..n).collect();
        let b: Vec<usize> = (n..self.len()).collect();
        (self.subset(&a), self.subset(&b))
    }

    /// Feature rows, for fitting normalisers.
    pub fn feature_rows(&self) -> Vec<&[f32]> {
        self.samples.iter().map(|s| s.features.as_slice()).collect()
    }

    /// All embedding windows of all songs, for fitting the embedding normaliser.
    pub fn embedding_rows(&self) -> Vec<&[f32]> {
        self.samples
            .iter()
            .flat_map(|s| s.embeddings.chunks(self.emb_dim))
            .collect()
    }

    /// The padded batch of songs `idx` (in that order).
    pub fn batch(&self, idx: &[usize], device: &Device) -> Result<Batch> {
        let b = idx.len();
        let t_max = idx
            .iter()
            .map(|&i| self.samples[i].n_steps)
            .max()
            .unwrap_or(1);
        let (d, f) = (self.emb_dim, self.feat_dim);
        let mut emb = vec![0f32; b * t_max * d];
        let mut feats = Vec::with_capacity(b * f);
        let mut targets = Vec::with_capacity(b);
        let mut lengths = Vec::with_capacity(b);
        for (row, &i) in idx.iter().enumerate() {
            let s = &self.samples[i];
            emb[row * t_max * d..row * t_max * d + s.embeddings.len()]
                .copy_from_slice(&s.embeddings);
            feats.extend_from_slice(&s.features);
            targets.push(s.target);
            lengths.push(s.n_steps);
        }
        Ok(Batch {
            embeddings: Tensor::from_vec(emb, (b, t_max, d), device)?,
            lengths,
            features: Tensor::from_vec(feats, (b, f), device)?,
            targets: Tensor::from_vec(targets, b, device)?,
        })
    }
}

/// Population mean and sd of a sequence.
pub fn mean_sd(xs: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = xs.clone().count().max(1) as f64;
    let mean = xs.clone().sum::<f64>() / n;
    let var = xs.map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_pads_and_rejects_bad_samples() {
        let mut ds = Dataset::new(2, 1);
        ds.push(Sample {
            embeddings: vec![1.0, 2.0, 3.0, 4.0],
            n_steps: 2,
            features: vec![5.0],
            target: 0.5,
        })
        .unwrap();
        ds.push(Sample {
            embeddings: vec![7.0, 8.0],
            n_steps: 1,
            features: vec![6.0],
            target: 0.2,
        })
        .unwrap();
        assert!(ds
            .push(Sample {
                embeddings: vec![1.0],
                n_steps: 1,
                features: vec![0.0],
                target: 0.2
            })
            .is_err());
        assert!(ds
            .push(Sample {
                embeddings: vec![1.0, 1.0],
                n_steps: 1,
                features: vec![0.0],
                target: 1.5
            })
            .is_err());
        let b = ds.batch(&[1, 0], &Device::Cpu).unwrap();
        assert_eq!(b.lengths, vec![1, 2]);
        let e: Vec<Vec<Vec<f32>>> = b.embeddings.to_vec3().unwrap();
        assert_eq!(
            e,
            vec![
                vec![vec![7.0, 8.0], vec![0.0, 0.0]],
                vec![vec![1.0, 2.0], vec![3.0, 4.0]]
            ]
        );
        assert_eq!(b.targets.to_vec1::<f32>().unwrap(), vec![0.2, 0.5]);
        let (m, sd) = ds.target_mean_sd();
        assert!((m - 0.35).abs() < 1e-7 && (sd - 0.15).abs() < 1e-7);
        assert_eq!(ds.embedding_rows().len(), 3);
    }
}
