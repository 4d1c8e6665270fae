//! Seeded random streams: ChaCha8 keyed by SHA-256 of a domain tag, the seed and an index,
//! so each song's draws are independent of every other song's and of the order songs are
//! made in.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

/// 32 bytes of SHA-256(`tag` ‖ 0 ‖ seed LE ‖ index LE).
pub fn digest(tag: &str, seed: u64, index: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(tag.as_bytes());
    h.update([0u8]);
    h.update(seed.to_le_bytes());
    h.update(index.to_le_bytes());
    h.finalize().into()
}

/// A deterministic random stream.
pub struct Rng(ChaCha8Rng);

impl Rng {
    /// The stream for (`tag`, `seed`, `index`).
    pub fn new(tag: &str, seed: u64, index: u64) -> Self {
        Rng(ChaCha8Rng::from_seed(digest(tag, seed, index)))
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in `lo..=hi`.
    pub fn int(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (self.0.next_u64() % u64::from(hi - lo + 1)) as u32
    }

    /// Standard normal (Box–Muller with the deterministic `sin`/`exp`-free log below).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit(); // (0, 1]
        let u2 = self.unit();
        (-2.0 * ln(u1)).sqrt() * super::detmath::sin_cycles(u2 + 0.25)
    }
}

/// Natural log from basic arithmetic (`x > 0`): exponent split plus atanh series.
fn ln(x: f64) -> f64 {
    let bits = x.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | (1023u64 << 52)); // [1, 2)
    let y = (m - 1.0) / (m + 1.0);
    let y2 = y * y;
    let mut term = y;
    let mut sum = 0.0;
    let mut k = 1.0;
    for _ in 0..30 {
        sum += term / k;
        term *= y2;
        k += 2.0;
    }
    2.0 * sum + e as f64 * std::f64::consts::LN_2
}

#[cfg(test)]
mod tests {
    #[test]
    fn ln_matches_std() {
        for x in [1e-9, 0.001, 0.3, 1.0, 1.5, 2.0, 7.25, 1e6] {
            assert!(
                (super::ln(x) - f64::ln(x)).abs() < 1e-12 * (1.0 + f64::ln(x).abs()),
                "{x}"
            );
        }
    }
}
