//! Evaluation metrics: the one module every report, test and command uses.
//!
//! Predictions and targets come in on the 0–1 scale (popularity / 100); the metrics are
//! reported on the **0–100** scale, as in the study's tables (MAE in popularity points,
//! MSE in points², R² unit-free). Bands for the error breakdown are on the 0–1 target:
//! `< 0.2`, `0.2–0.4`, `0.4–0.6`, `≥ 0.6` (the study found HitMusicNet better below 0.2 and
//! above 0.6).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// MAE / MSE / R² of one model on one set, on the 0–100 scale.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Number of songs.
    pub n: usize,
    /// Mean absolute error, popularity points.
    pub mae: f64,
    /// Mean squared error, points².
    pub mse: f64,
    /// Coefficient of determination `1 − SS_res / SS_tot` (negative when worse than the
    /// targets' own mean).
    pub r2: f64,
}

/// Metrics of `pred` against `truth` (both 0–1, same length), on the 0–100 scale.
pub fn metrics(pred: &[f32], truth: &[f32]) -> Metrics {
    assert_eq!(
        pred.len(),
        truth.len(),
        "prediction and truth lengths differ"
    );
    let n = truth.len();
    if n == 0 {
        return Metrics {
            n,
            mae: f64::NAN,
            mse: f64::NAN,
            r2: f64::NAN,
        };
    }
    let nf = n as f64;
    let mean = truth.iter().map(|&y| y as f64 * 100.0).sum::<f64>() / nf;
    let (mut abs, mut sq, mut tot) = (0.0, 0.0, 0.0);
    for (&p, &y) in pred.iter().zip(truth) {
        let (p, y) = (p as f64 * 100.0, y as f64 * 100.0);
        abs += (p - y).abs();
        sq += (p - y).powi(2);
        tot += (y - mean).powi(2);
    }
    let r2 = if tot > 0.0 { 1.0 - sq / tot } else { f64::NAN };
    Metrics {
        n,
        mae: abs / nf,
        mse: sq / nf,
        r2,
    }
}

/// The study's random baseline: `n` draws from `N(mean, sd)` (0–1 scale; the study used
/// μ = 40.02, σ = 16.79 points, i.e. the targets' statistics), seeded. Not clipped.
pub fn random_baseline(mean: f64, sd: f64, n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            // Box–Muller.
            let u1: f64 = rng.random_range(f64::EPSILON..1.0);
            let u2: f64 = rng.random();
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            (mean + sd * z) as f32
        })
        .collect()
}

/// Per-song comparison of model A against model B.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WinRate {
    /// Songs where A's absolute error is smaller.
    pub wins: usize,
    /// Songs where B's is smaller.
    pub losses: usize,
    /// Equal errors.
    pub ties: usize,
    /// `wins / n` (the study: 919 / 1500 = 61.2 % against HitMusicNet).
    pub rate: f64,
}

/// How often `pred_a` is closer to `truth` than `pred_b`, song by song.
pub fn win_rate(pred_a: &[f32], pred_b: &[f32], truth: &[f32]) -> WinRate {
    assert!(
        pred_a.len() == truth.len() && pred_b.len() == truth.len(),
        "lengths differ"
    );
    let (mut wins, mut losses, mut ties) = (0, 0, 0);
    for ((&a, &b), &y) in pred_a.iter().zip(pred_b).zip(truth) {
        let (ea, eb) = ((a - y).abs(), (b - y).abs());
        match ea.partial_cmp(&eb) {
            Some(std::cmp::Ordering::Less) => wins += 1,
            Some(std::cmp::Ordering::Greater) => losses += 1,
            _ => ties += 1,
        }
    }
    let n = truth.len().max(1) as f64;
    WinRate {
        wins,
        losses,
        ties,
        rate: wins as f64 / n,
    }
}

/// Errors of the songs whose target lies in `[lo, hi)` (0–1 scale), on the 0–100 scale.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BandError {
    /// Lower bound (inclusive), 0–1.
    pub lo: f64,
    /// Upper bound (exclusive; the last band includes 1.0), 0–1.
    pub hi: f64,
    /// Songs in the band.
    pub n: usize,
    /// Mean absolute error, points (NaN when empty).
    pub mae: f64,
    /// Mean signed error `pred − truth`, points (negative = under-predicts).
    pub bias: f64,
}

/// Band edges on the 0–1 target scale.
pub const BANDS: [(f64, f64); 4] = [(0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 1.0)];

/// Error by target band ([`BANDS`]).
pub fn error_by_band(pred: &[f32], truth: &[f32]) -> Vec<BandError> {
    assert_eq!(pred.len(), truth.len(), "lengths differ");
    BANDS
        .iter()
        .enumerate()
        .map(|(i, &(lo, hi))| {
            let last = i + 1 == BANDS.len();
            let in_band = |y: f64| (y >= lo || i == 0) && (y < hi || last);
            let (mut n, mut abs, mut signed) = (0usize, 0.0, 0.0);
            for (&p, &y) in pred.iter().zip(truth) {
                if in_band(y as f64) {
                    n += 1;
                    let e = (p as f64 - y as f64) * 100.0;
                    abs += e.abs();
                    signed += e;
                }
            }
            let nf = if n == 0 { f64::NAN } else { n as f64 };
            BandError {
                lo,
                hi,
                n,
                mae: abs / nf,
                bias: signed / nf,
            }
        })
        .collect()
}

/// Everything we report about one model on one test set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelReport {
    /// Model name (`"chorder"`, `"hitmusicnet"`, `"random"`).
    pub name: String,
    /// Overall metrics.
    pub metrics: Metrics,
    /// Errors per target band.
    pub bands: Vec<BandError>,
}

impl ModelReport {
    /// Computes the report of `pred` against `truth`.
    pub fn new(name: &str, pred: &[f32], truth: &[f32]) -> Self {
        Self {
            name: name.to_string(),
            metrics: metrics(pred, truth),
            bands: error_by_band(pred, truth),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_on_known_values() {
        let truth = [0.1f32, 0.3, 0.5, 0.7];
        let m = metrics(&truth, &truth);
        assert_eq!((m.mae, m.mse, m.r2), (0.0, 0.0, 1.0));
        let pred = [0.2f32, 0.3, 0.4, 0.7];
        let m = metrics(&pred, &truth);
        assert!((m.mae - 5.0).abs() < 1e-4, "{m:?}"); // (10 + 0 + 10 + 0) / 4 points
        assert!((m.mse - 50.0).abs() < 1e-2);
        // SS_tot = 30² + 10² + 10² + 30² = 2000 points²; SS_res = 200 → R² = 0.9.
        assert!((m.r2 - 0.9).abs() < 1e-5);
        // Predicting the mean gives R² = 0.
        let m0 = metrics(&[0.4; 4], &truth);
        assert!(m0.r2.abs() < 1e-6);
    }

    #[test]
    fn random_baseline_statistics_and_negative_r2() {
        let b = random_baseline(0.40, 0.168, 20_000, 1);
        let (mean, sd) = crate::data::mean_sd(b.iter().map(|&x| x as f64));
        assert!(
            (mean - 0.40).abs() < 0.005 && (sd - 0.168).abs() < 0.005,
            "{mean} {sd}"
        );
        assert_eq!(b, random_baseline(0.40, 0.168, 20_000, 1));
        // Against independent targets of the same distribution, R² ≈ −1.
        let truth: Vec<f32> = random_baseline(0.40, 0.168, 20_000, 2);
        let r2 = metrics(&b, &truth).r2;
        assert!((r2 + 1.0).abs() < 0.1, "{r2}");
    }

    #[test]
    fn win_rate_and_bands() {
        let truth = [0.1f32, 0.3, 0.5, 0.9, 0.2];
        let a = [0.1f32, 0.35, 0.5, 0.5, 0.3];
        let b = [0.2f32, 0.3, 0.5, 0.8, 0.5];
        let w = win_rate(&a, &b, &truth);
        assert_eq!((w.wins, w.losses, w.ties), (2, 2, 1));
        assert!((w.rate - 0.4).abs() < 1e-12);
        let bands = error_by_band(&a, &truth);
        assert_eq!(
            bands.iter().map(|b| b.n).collect::<Vec<_>>(),
            vec![1, 2, 1, 1]
        );
        assert!(bands[0].mae.abs() < 1e-4);
        assert!((bands[1].mae - 7.5).abs() < 1e-3, "{:?}", bands[1]); // (5 + 10) / 2
        assert!((bands[3].bias + 40.0).abs() < 1e-3); // 0.5 vs 0.9
    }
}

/// The study's comparison on one test set: our model, the reference (HitMusicNet) and the
/// random baseline `N(mean, sd)` of the training targets, plus the per-song win rate of
/// ours against the reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Reports in the order ours, reference, random.
    pub models: Vec<ModelReport>,
    /// Ours against the reference, song by song.
    pub win_rate: WinRate,
    /// Every further model ([`EvalReport::add_model`], e.g. the alternatives) against the
    /// same reference, song by song, in the order of `models`; absent from JSON when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_win_rates: Vec<NamedWinRate>,
}

/// The win rate of the model `name` against the report's reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedWinRate {
    /// Model name.
    pub name: String,
    /// Its per-song comparison with the reference.
    #[serde(flatten)]
    pub win_rate: WinRate,
}

/// One line: `"{a} better than {b} on {wins} of {n} songs ({rate} %), worse on …"`.
fn win_line(a: &str, b: &str, w: &WinRate) -> String {
    format!(
        "{a} better than {b} on {} of {} songs ({:.1} %), worse on {}, equal on {}\n",
        w.wins,
        w.wins + w.losses + w.ties,
        100.0 * w.rate,
        w.losses,
        w.ties
    )
}

impl EvalReport {
    /// Builds the report; `train_mean_sd` are the training targets' statistics (0–1) for the
    /// random baseline, drawn with `seed`.
    pub fn new(
        ours: (&str, &[f32]),
        reference: (&str, &[f32]),
        truth: &[f32],
        train_mean_sd: (f64, f64),
        seed: u64,
    ) -> Self {
        let random = random_baseline(train_mean_sd.0, train_mean_sd.1, truth.len(), seed);
        Self {
            models: vec![
                ModelReport::new(ours.0, ours.1, truth),
                ModelReport::new(reference.0, reference.1, truth),
                ModelReport::new("random", &random, truth),
            ],
            win_rate: win_rate(ours.1, reference.1, truth),
            other_win_rates: vec![],
        }
    }

    /// Adds a further model's predictions `pred` (0–1 per song of `truth`): its report goes
    /// before the random baseline, its win rate against the reference, whose predictions
    /// `reference` the caller passes again, into [`Self::other_win_rates`].
    pub fn add_model(&mut self, name: &str, pred: &[f32], reference: &[f32], truth: &[f32]) {
        let at = match self.models.last() {
            Some(m) if m.name == "random" => self.models.len() - 1,
            _ => self.models.len(),
        };
        self.models.insert(at, ModelReport::new(name, pred, truth));
        self.other_win_rates.push(NamedWinRate {
            name: name.to_string(),
            win_rate: win_rate(pred, reference, truth),
        });
    }

    /// A plain-text table (0–100 scale), one row per model, then MAE per band and the win
    /// rate.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<14} {:>5} {:>7} {:>8} {:>7}",
            "model", "n", "MAE", "MSE", "R²"
        );
        for (lo, hi) in BANDS {
            s += &format!(" {:>9}", format!("MAE{:.1}-{:.1}", lo, hi));
        }
        s.push('\n');
        for m in &self.models {
            let x = m.metrics;
            s += &format!(
                "{:<14} {:>5} {:>7.2} {:>8.2} {:>7.3}",
                m.name, x.n, x.mae, x.mse, x.r2
            );
            for b in &m.bands {
                s += &format!(" {:>9.2}", b.mae);
            }
            s.push('\n');
        }
        let reference = &self.models[1].name;
        s += &win_line(&self.models[0].name, reference, &self.win_rate);
        for o in &self.other_win_rates {
            s += &win_line(&o.name, reference, &o.win_rate);
        }
        s
    }
}

#[cfg(test)]
mod report_tests {
    use super::*;

    #[test]
    fn eval_report_orders_and_prints() {
        let truth = [0.1f32, 0.3, 0.5, 0.7];
        let ours = [0.12f32, 0.3, 0.48, 0.69];
        let refm = [0.3f32, 0.3, 0.4, 0.5];
        let r = EvalReport::new(
            ("chorder", &ours),
            ("hitmusicnet", &refm),
            &truth,
            (0.4, 0.2),
            1,
        );
        assert_eq!(
            r.models.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
            ["chorder", "hitmusicnet", "random"]
        );
        assert!(r.models[0].metrics.r2 > r.models[1].metrics.r2);
        assert_eq!((r.win_rate.wins, r.win_rate.ties), (3, 1));
        let t = r.table();
        assert!(t.contains("chorder") && t.contains("3 of 4 songs"), "{t}");
        assert_eq!(t.lines().count(), 5);
        assert!(!serde_json::to_string(&r)
            .unwrap()
            .contains("other_win_rates"));
    }

    #[test]
    fn added_models_go_before_random_with_their_win_rate() {
        let truth = [0.1f32, 0.3, 0.5, 0.7];
        let ours = [0.12f32, 0.3, 0.48, 0.69];
        let refm = [0.3f32, 0.3, 0.4, 0.5];
        let alt = [0.1f32, 0.5, 0.5, 0.6];
        let mut r = EvalReport::new(
            ("chorder", &ours),
            ("hitmusicnet", &refm),
            &truth,
            (0.4, 0.2),
            1,
        );
        let random_before = r.models[2].clone();
        r.add_model("lstm-regressor", &alt, &refm, &truth);
        assert_eq!(
            r.models.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
            ["chorder", "hitmusicnet", "lstm-regressor", "random"]
        );
        assert_eq!(r.models[3], random_before);
        assert_eq!(r.models[2].metrics, metrics(&alt, &truth));
        // alt vs ref: 0.0 < 0.2 win, 0.2 > 0.0 loss, 0 < 0.1 win, 0.1 < 0.2 win.
        let w = r.other_win_rates[0].win_rate;
        assert_eq!((w.wins, w.losses, w.ties), (3, 1, 0));
        let t = r.table();
        assert!(
            t.contains("lstm-regressor better than hitmusicnet on 3 of 4 songs (75.0 %)"),
            "{t}"
        );
        assert_eq!(t.lines().count(), 7);
        let json = serde_json::to_string(&r).unwrap();
        assert!(
            json.contains(r#""name":"lstm-regressor","wins":3"#),
            "{json}"
        );
        let back: EvalReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back.other_win_rates, r.other_win_rates);
        assert_eq!(back.models.len(), 4);
    }
}
