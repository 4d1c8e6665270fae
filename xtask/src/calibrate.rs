//! `cargo xtask calibrate`: store a split-conformal calibration in an existing popularity
//! (or HitMusicNet) bundle, from its residuals on held-out songs of a dataset, so that
//! `analyze` reports intervals with it (`chorder_models::calibration`).

use std::path::PathBuf;

use anyhow::Context;
use chorder_models::bundle::ModelBundle;
use chorder_models::calibration::ConformalCalibration;
use chorder_models::hitmusicnet::{HitMusicNet, HITMUSICNET_KIND};
use chorder_models::regressor::{PopularityModel, POPULARITY_KIND};
use chorder_train::data::Dataset;
use chorder_train::export::{calibration_from_predictions, with_calibration};

use crate::eval::{load_sets, predict_hitmusicnet, predict_popularity, CacheArgs};

/// Held-out split to calibrate on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HeldOut {
    /// The validation split (`cargo xtask train` used it for early stopping only).
    Val,
    /// The test split.
    Test,
}

/// Calibrate a model bundle's intervals on held-out songs (split conformal).
///
/// Predicts the songs of one held-out split of a dataset (read from the cache `extract`
/// wrote, as `eval` does), and stores their absolute residuals (0-100 scale) with the
/// interval half-widths for coverages 0.5, 0.8, 0.9 and 0.95 in the bundle's metadata;
/// the tensors are unchanged. Then, for songs like those held-out songs, the true
/// popularity lies within ± the half-width of the estimate with at least the stated
/// probability. Prints the half-widths and, as a check, the share of the OTHER held-out
/// split that the intervals cover.
///
/// Example: `cargo xtask calibrate --model out/chorder_popularity.safetensors
/// --dataset corpus/dataset.json --split val --out calibrated.safetensors`
#[derive(clap::Args)]
pub struct Args {
    /// The bundle to calibrate (`chorder_popularity` or `hitmusicnet`, as `train` writes).
    #[arg(long)]
    pub model: PathBuf,
    /// The dataset file (dataset.json) whose songs were extracted.
    #[arg(long, required_unless_present = "synthetic")]
    pub dataset: Option<PathBuf>,
    /// Held-out split whose residuals calibrate the model.
    #[arg(long, value_enum, default_value = "val")]
    pub split: HeldOut,
    /// Where the dataset's extracted songs are cached.
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Use the held-out sets of `train --synthetic N` instead of a dataset.
    #[arg(long, conflicts_with = "dataset")]
    pub synthetic: Option<usize>,
    /// Where to write the calibrated bundle (default: rewrite --model in place).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// How to name the data set in the stored provenance (default: the dataset's source).
    #[arg(long)]
    pub source: Option<String>,
}

/// A bundle's predictions (0-1) on a data set, for either bundle kind.
fn predict(bundle: &ModelBundle, ds: &Dataset) -> anyhow::Result<Vec<f32>> {
    match bundle.meta().model_kind.as_str() {
        POPULARITY_KIND => predict_popularity(&PopularityModel::from_bundle(bundle)?, ds),
        HITMUSICNET_KIND => {
            predict_hitmusicnet(&HitMusicNet::from_bundle(bundle)?, ds, "the model")
        }
        other => anyhow::bail!(
            "a `{other}` bundle has no popularity output to calibrate (expected \
             `{POPULARITY_KIND}` or `{HITMUSICNET_KIND}`)"
        ),
    }
}

/// Share of `ds`'s songs whose true popularity lies in the interval at `coverage`.
fn empirical_coverage(
    cal: &ConformalCalibration,
    coverage: f32,
    pred: &[f32],
    ds: &Dataset,
) -> f64 {
    let Some(q) = cal.half_width(coverage) else {
        return f64::NAN;
    };
    let hits = pred
        .iter()
        .zip(ds.targets())
        .filter(|(p, t)| (100.0 * (*p - t)).abs() <= q)
        .count();
    hits as f64 / ds.len().max(1) as f64
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let (_, val, test, source) = load_sets(args.synthetic, args.dataset.as_deref(), &args.cache)?;
    let bytes = std::fs::read(&args.model)
        .with_context(|| format!("cannot read {}", args.model.display()))?;
    let bundle = ModelBundle::parse(&bytes)
        .with_context(|| format!("cannot load {}", args.model.display()))?;
    let (held, name, other, other_name) = match args.split {
        HeldOut::Val => (&val, "validation", &test, "test"),
        HeldOut::Test => (&test, "test", &val, "validation"),
    };
    let what = format!(
        "{name} split ({} songs) of {}, by cargo xtask calibrate{}",
        held.len(),
        args.source.as_deref().unwrap_or(&source),
        if args.split == HeldOut::Val {
            " (cargo xtask train uses this split for early stopping)"
        } else {
            ""
        }
    );
    let cal = calibration_from_predictions(&predict(&bundle, held)?, &held.targets(), &what)
        .map_err(anyhow::Error::msg)?;
    let pred_other = predict(&bundle, other)?;
    let out = args.out.as_ref().unwrap_or(&args.model);
    std::fs::write(out, with_calibration(&bytes, cal.clone())?)
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!("calibrated on the {what}");
    println!(
        "| coverage | half-width (points) | covered on the {other_name} split ({} songs) |",
        other.len()
    );
    println!("|---:|---:|---:|");
    for l in &cal.levels {
        println!(
            "| {:.2} | {:.2} | {:.3} |",
            l.coverage,
            l.half_width,
            empirical_coverage(&cal, l.coverage, &pred_other, other)
        );
    }
    println!("wrote {}", out.display());
    Ok(())
}
