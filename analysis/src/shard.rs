//! [`Shard`]: a deterministic slice of a catalog for batch schedulers (`--shard i/n`).
//!
//! The inputs are ranked by their path (byte order of the path as given), and shard `i` of
//! `n` keeps the inputs whose rank is `i` modulo `n`. The slices of `0/n .. (n-1)/n` are
//! disjoint and together hold every input exactly once, whatever order the manifest lists
//! them in, so a Slurm array or a Kubernetes Job can run them independently.

use std::path::PathBuf;
use std::str::FromStr;

/// Shard `index` (0-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which slice, `0..count`.
    pub index: usize,
    /// How many slices.
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;

    /// Parses `"i/n"` with `0 <= i < n`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("shard `{s}`: want i/n with 0 <= i < n, e.g. 0/3");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// The inputs of this shard, in their original order.
    pub fn select(&self, inputs: &[PathBuf]) -> Vec<PathBuf> {
        let mut rank: Vec<usize> = (0..inputs.len()).collect();
        rank.sort_by(|&a, &b| {
            inputs[a]
                .as_os_str()
                .as_encoded_bytes()
                .cmp(inputs[b].as_os_str().as_encoded_bytes())
                .then(a.cmp(&b))
        });
        let mut keep = vec![false; inputs.len()];
        for (r, &i) in rank.iter().enumerate() {
            keep[i] = r % self.count == self.index;
        }
        inputs
            .iter()
            .zip(keep)
            .filter_map(|(p, k)| k.then(|| p.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!("2/3".parse(), Ok(Shard { index: 2, count: 3 }));
        assert!("3/3".parse::<Shard>().is_err());
        assert!("0/0".parse::<Shard>().is_err());
        assert!("1".parse::<Shard>().is_err());
    }

    #[test]
    fn shards_partition_the_inputs_whatever_their_order() {
        let a: Vec<PathBuf> = (0..10)
            .map(|i| PathBuf::from(format!("s{i:02}.wav")))
            .collect();
        let mut b = a.clone();
        b.reverse();
        for n in 1..5 {
            let mut union = Vec::new();
            for i in 0..n {
                let s = Shard { index: i, count: n };
                let (mut x, mut y) = (s.select(&a), s.select(&b));
                assert_eq!(x.len(), a.len() / n + usize::from(i < a.len() % n));
                x.sort();
                y.sort();
                assert_eq!(x, y, "shard {s} depends on input order");
                union.extend(x);
            }
            union.sort();
            assert_eq!(union, a);
        }
    }
}
