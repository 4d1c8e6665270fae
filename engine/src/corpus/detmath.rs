//! `sin` and `exp` from IEEE basic arithmetic only, so that generated audio is bit-identical
//! on every platform (the platform `libm` may differ in the last bit).

const TAU: f64 = std::f64::consts::TAU;
const PI: f64 = std::f64::consts::PI;
const FRAC_PI_2: f64 = std::f64::consts::FRAC_PI_2;
const LN2: f64 = std::f64::consts::LN_2;

/// `sin(2π · cycles)`, absolute error below 1e-7 for any finite input.
pub fn sin_cycles(cycles: f64) -> f64 {
    let frac = cycles - cycles.round();
    let mut x = frac * TAU; // in [-π, π]
    if x > FRAC_PI_2 {
        x = PI - x;
    } else if x < -FRAC_PI_2 {
        x = -PI - x;
    }
    let x2 = x * x;
    // Taylor series to x^13 on [-π/2, π/2].
    let mut term = x;
    let mut sum = x;
    for k in 1..7 {
        let k = k as f64;
        term = -term * x2 / ((2.0 * k) * (2.0 * k + 1.0));
        sum += term;
    }
    sum
}

/// `e^x`, relative error below 1e-13; clamps `x` to `[-700, 700]`.
pub fn exp(x: f64) -> f64 {
    let x = x.clamp(-700.0, 700.0);
    let k = (x / LN2).round();
    let r = x - k * LN2;
    let mut term = 1.0;
    let mut sum = 1.0;
    for i in 1..14 {
        term = term * r / i as f64;
        sum += term;
    }
    let scale = f64::from_bits(((k as i64 + 1023) as u64) << 52);
    sum * scale
}

#[cfg(test)]
mod tests {
    #[test]
    fn close_to_std() {
        for i in -2000..2000 {
            let c = i as f64 * 0.00731;
            assert!(
                (super::sin_cycles(c) - (c * super::TAU).sin()).abs() < 1e-7,
                "{c}"
            );
            let x = i as f64 * 0.05;
            let rel = (super::exp(x) - x.exp()).abs() / x.exp();
            assert!(rel < 1e-12, "{x}: {rel}");
        }
    }
}
