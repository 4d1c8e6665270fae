//! Tonal centroid features (Harte et al. 2006), librosa 0.6 `tonnetz`: each chroma frame is
//! L1-normalised and projected on 6 axes (fifths x/y, minor thirds x/y, major thirds x/y).

use super::chroma::N_CHROMA;

/// Tonnetz dimensions.
pub const N_TONNETZ: usize = 6;

/// The projection `phi[6][12]`: `r_d cos(pi v_d c)` with `v = (7/6, 7/6, 3/2, 3/2, 2/3,
/// 2/3) * c`, minus 1/2 on the even rows, radii `(1, 1, 1, 1, 0.5, 0.5)`.
pub fn tonnetz_matrix() -> [[f64; N_CHROMA]; N_TONNETZ] {
    let scale = [7.0 / 6.0, 7.0 / 6.0, 1.5, 1.5, 2.0 / 3.0, 2.0 / 3.0];
    let radius = [1.0, 1.0, 1.0, 1.0, 0.5, 0.5];
    let mut phi = [[0.0; N_CHROMA]; N_TONNETZ];
    for d in 0..N_TONNETZ {
        for c in 0..N_CHROMA {
            let mut v = scale[d] * c as f64;
            if d % 2 == 0 {
                v -= 0.5;
            }
            phi[d][c] = radius[d] * (std::f64::consts::PI * v).cos();
        }
    }
    phi
}

/// Tonnetz of one chroma frame (any non-negative scale; it is L1-normalised here).
pub fn tonnetz_frame(
    phi: &[[f64; N_CHROMA]; N_TONNETZ],
    chroma: &[f64; N_CHROMA],
) -> [f64; N_TONNETZ] {
    let l1: f64 = chroma.iter().map(|v| v.abs()).sum();
    let norm = if l1 >= f64::MIN_POSITIVE { l1 } else { 1.0 };
    let mut out = [0.0; N_TONNETZ];
    for (o, row) in out.iter_mut().zip(phi) {
        *o = row.iter().zip(chroma).map(|(p, c)| p * c / norm).sum();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_major_triad_sits_on_the_major_third_circle() {
        let phi = tonnetz_matrix();
        // Single pitch class C: fifths axis x = cos(-pi/2) = 0, y = cos(0) = 1.
        let mut c = [0.0; N_CHROMA];
        c[0] = 1.0;
        let t = tonnetz_frame(&phi, &c);
        assert!(t[0].abs() < 1e-12 && (t[1] - 1.0).abs() < 1e-12, "{t:?}");
        assert!((t[5] - 0.5).abs() < 1e-12);
        // Scale invariance.
        let mut c2 = c;
        c2[7] = 1.0;
        let a = tonnetz_frame(&phi, &c2);
        let c3: [f64; 12] = c2.map(|v| v * 7.0);
        let b = tonnetz_frame(&phi, &c3);
        assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-12));
    }
}
