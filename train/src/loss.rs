//! The regression loss: plain MSE, or the study's target-weighted MSE.
//!
//! "Autoen-chorder" (`shared/study/autoen-chorder-blog.txt`, "Additional Model
//! Considerations") multiplies each sample's loss by
//! `w_i = exp(((y_i − mean) / (α · sd))² / β)` so that rare, far-from-the-mean targets count
//! more; α = β = 2 in the study. We apply it to the squared error and average:
//! `L = (1/N) Σ_i w_i (p_i − y_i)²`, with `mean`, `sd` the training targets' statistics
//! unless the config fixes them (the study's grid also tried a fixed mean 0.33–0.45).

use candle_core::{Result, Tensor};
use serde::{Deserialize, Serialize};

/// Which loss the regressor trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// `(1/N) Σ (p − y)²`.
    Mse,
    /// `(1/N) Σ w(y) (p − y)²` (see the module doc).
    Weighted,
}

/// Loss settings of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LossConfig {
    /// Plain or weighted MSE.
    pub kind: LossKind,
    /// α: the weight's width in target sds (study: 2).
    pub alpha: f64,
    /// β: the exponent's divisor (study: 2).
    pub beta: f64,
    /// Centre of the weighting on the 0–1 scale; `None` = mean of the training targets.
    pub mean: Option<f64>,
    /// Spread of the weighting; `None` = sd of the training targets.
    pub sd: Option<f64>,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self {
            kind: LossKind::Weighted,
            alpha: 2.0,
            beta: 2.0,
            mean: None,
            sd: None,
        }
    }
}

/// A resolved loss (statistics filled in).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegressionLoss {
    /// Plain or weighted.
    pub kind: LossKind,
    /// Centre, 0–1 scale.
    pub mean: f64,
    /// Spread, 0–1 scale (> 0).
    pub sd: f64,
    /// α.
    pub alpha: f64,
    /// β.
    pub beta: f64,
}

impl RegressionLoss {
    /// Resolves `cfg` against the training targets' `(mean, sd)`.
    pub fn new(cfg: &LossConfig, target_mean: f64, target_sd: f64) -> Self {
        Self {
            kind: cfg.kind,
            mean: cfg.mean.unwrap_or(target_mean),
            sd: cfg.sd.unwrap_or(target_sd).max(1e-6),
            alpha: cfg.alpha,
            beta: cfg.beta,
        }
    }

    /// Per-sample weight of a target `y` (1 for plain MSE).
    pub fn weight(&self, y: f64) -> f64 {
        match self.kind {
            LossKind::Mse => 1.0,
            LossKind::Weighted => {
                (((y - self.mean) / (self.alpha * self.sd)).powi(2) / self.beta).exp()
            }
        }
    }

    /// Per-sample weights `[N]` of targets `[N]` (constants: no gradient flows into them).
    pub fn weights(&self, targets: &Tensor) -> Result<Tensor> {
        match self.kind {
            LossKind::Mse => targets.ones_like(),
            LossKind::Weighted => {
                let z = targets.detach().affine(
                    1.0 / (self.alpha * self.sd),
                    -self.mean / (self.alpha * self.sd),
                )?;
                z.sqr()?.affine(1.0 / self.beta, 0.0)?.exp()
            }
        }
    }

    /// Scalar loss of predictions `[N]` against targets `[N]`.
    pub fn loss(&self, pred: &Tensor, targets: &Tensor) -> Result<Tensor> {
        let se = (pred - targets)?.sqr()?;
        match self.kind {
            LossKind::Mse => se.mean_all(),
            LossKind::Weighted => (se * self.weights(targets)?)?.mean_all(),
        }
    }

    /// The same loss on plain slices, in f64 (for evaluation and tests).
    pub fn loss_f64(&self, pred: &[f64], targets: &[f64]) -> f64 {
        let n = pred.len().max(1) as f64;
        pred.iter()
            .zip(targets)
            .map(|(p, y)| self.weight(*y) * (p - y).powi(2))
            .sum::<f64>()
            / n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn loss() -> RegressionLoss {
        RegressionLoss::new(&LossConfig::default(), 0.4, 0.17)
    }

    #[test]
    fn weight_formula() {
        let l = loss();
        assert!((l.weight(0.4) - 1.0).abs() < 1e-12);
        // One α·sd away: exp(1/β) = exp(0.5).
        assert!((l.weight(0.4 + 2.0 * 0.17) - 0.5f64.exp()).abs() < 1e-12);
        assert!(l.weight(0.9) > l.weight(0.6));
        let mse = RegressionLoss {
            kind: LossKind::Mse,
            ..l
        };
        assert_eq!(mse.weight(0.9), 1.0);
    }

    /// The analytic gradient from candle's backprop matches central finite differences of
    /// the loss, for both the prediction and (through a linear model) its parameters.
    #[test]
    fn weighted_loss_gradient_matches_finite_differences() {
        let dev = Device::Cpu;
        let l = loss();
        let y = [0.05f64, 0.3, 0.42, 0.77, 0.95];
        let p0 = [0.2f64, 0.25, 0.5, 0.6, 0.99];
        let pred = Var::from_vec(p0.to_vec(), 5, &dev).unwrap();
        let targets = Tensor::from_vec(y.to_vec(), 5, &dev).unwrap();
        let out = l.loss(pred.as_tensor(), &targets).unwrap();
        // The tensor loss equals the f64 reference.
        let v: f64 = out.to_scalar().unwrap();
        assert!((v - l.loss_f64(&p0, &y)).abs() < 1e-12);
        let grads = out.backward().unwrap();
        let g: Vec<f64> = grads.get(pred.as_tensor()).unwrap().to_vec1().unwrap();
        let h = 1e-6;
        for i in 0..5 {
            let mut plus = p0;
            let mut minus = p0;
            plus[i] += h;
            minus[i] -= h;
            let fd = (l.loss_f64(&plus, &y) - l.loss_f64(&minus, &y)) / (2.0 * h);
            assert!(
                (fd - g[i]).abs() < 1e-7 * (1.0 + fd.abs()),
                "sample {i}: fd {fd} vs backprop {}",
                g[i]
            );
            // And the closed form 2 w (p − y) / N.
            let closed = 2.0 * l.weight(y[i]) * (p0[i] - y[i]) / 5.0;
            assert!((closed - g[i]).abs() < 1e-12);
        }
        // Through parameters: p = sigmoid(x·w), gradient w.r.t. w.
        let x = Tensor::from_vec(
            vec![0.3f64, -1.2, 0.8, 2.0, -0.5, 0.1, 1.5, -0.7, 0.0, 0.9],
            (5, 2),
            &dev,
        )
        .unwrap();
        let w0 = [0.4f64, -0.3];
        let w = Var::from_vec(w0.to_vec(), (2, 1), &dev).unwrap();
        let f = |w: &Tensor| -> Tensor {
            let p = candle_nn::ops::sigmoid(&x.matmul(w).unwrap())
                .unwrap()
                .squeeze(1)
                .unwrap();
            l.loss(&p, &targets).unwrap()
        };
        let gw: Vec<f64> = f(w.as_tensor())
            .backward()
            .unwrap()
            .get(w.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        for j in 0..2 {
            let mut plus = w0;
            let mut minus = w0;
            plus[j] += h;
            minus[j] -= h;
            let lp: f64 = f(&Tensor::from_vec(plus.to_vec(), (2, 1), &dev).unwrap())
                .to_scalar()
                .unwrap();
            let lm: f64 = f(&Tensor::from_vec(minus.to_vec(), (2, 1), &dev).unwrap())
                .to_scalar()
                .unwrap();
            let fd = (lp - lm) / (2.0 * h);
            assert!(
                (fd - gw[j]).abs() < 1e-7 * (1.0 + fd.abs()),
                "w{j}: fd {fd} vs {}",
                gw[j]
            );
        }
        // The weights are constants: no gradient reaches the targets.
        let yv = Var::from_vec(y.to_vec(), 5, &dev).unwrap();
        let w_only = l.weights(yv.as_tensor()).unwrap().sum_all().unwrap();
        let gs = w_only.backward().unwrap();
        assert!(gs.get(yv.as_tensor()).is_none());
    }
}
