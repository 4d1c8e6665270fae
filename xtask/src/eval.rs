//! `cargo xtask eval`: evaluate a trained popularity bundle (and optionally a HitMusicNet
//! bundle as the reference) on a dataset's held-out test split, against the random
//! baseline; writes `report.json`, `report.md` and its PNG charts (see
//! `chorder_train::report`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use chorder_analysis::Embedder;
use chorder_models::bundle::ModelBundle;
use chorder_models::hitmusicnet::HitMusicNet;
use chorder_models::regressor::PopularityModel;
use chorder_train::data::Dataset;
use chorder_train::metrics::EvalReport;
use chorder_train::report::{write_markdown_report, ReportInputs};
use chorder_train::trainer::{predict_hmn, predict_study};

use crate::models::load_embedding_bundle;

/// Evaluate a popularity model bundle on the test split of a dataset.
///
/// Reports MAE, MSE and R² on the 0–100 scale for the model, the reference (with
/// `--baseline`) and the random baseline N(mean, sd) of the training targets; the per-song
/// win rate of the model against the reference; and MAE by true popularity band (<0.2,
/// 0.2–0.4, 0.4–0.6, >0.6). Writes report.json, report.md, scatter.png and bands.png into
/// --out.
///
/// Example: `cargo xtask eval --model out/chorder_popularity.safetensors
/// --baseline out/hitmusicnet.safetensors --dataset corpus/dataset.json --out eval/`
#[derive(clap::Args)]
pub struct Args {
    /// The popularity bundle to evaluate (`chorder_popularity`, as written by `train`).
    #[arg(long)]
    pub model: PathBuf,
    /// A HitMusicNet bundle (`hitmusicnet`, as written by `train`) to compare against.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// The dataset file (dataset.json) whose songs were extracted; its test split is used.
    #[arg(long, required_unless_present = "synthetic")]
    pub dataset: Option<PathBuf>,
    /// Where the dataset's extracted songs are cached.
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Evaluate on the test set of `train --synthetic N` instead of a dataset.
    #[arg(long, conflicts_with = "dataset")]
    pub synthetic: Option<usize>,
    /// Seed of the random baseline's draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder for report.json, report.md and the PNG charts.
    #[arg(long)]
    pub out: PathBuf,
}

/// The cache a dataset's songs were extracted to (`eval`, `calibrate`).
#[derive(clap::Args)]
pub struct CacheArgs {
    /// Cache folder (default: `cache/` next to the dataset file).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Embedding model bundle the cache was built with; default: the built-in MSD musicnn.
    #[arg(long)]
    pub embedder: Option<PathBuf>,
    /// Use the cache of the clean feature definitions (as `extract --clean-features`).
    #[arg(long)]
    pub clean_features: bool,
}

/// The train, validation and test splits and the data set's name: with `synthetic = Some(n)`
/// those of `train --synthetic n`, else the songs of `dataset` (a dataset.json) read from
/// the cache `extract` wrote, as `cache` says.
pub(crate) fn load_sets(
    synthetic: Option<usize>,
    dataset: Option<&Path>,
    cache: &CacheArgs,
) -> anyhow::Result<(Dataset, Dataset, Dataset, String)> {
    match (synthetic, dataset) {
        (Some(n), _) => {
            let (a, b, c) = crate::train::synthetic_split(n);
            Ok((a, b, c, format!("synthetic ({n} songs)")))
        }
        (None, Some(dataset)) => {
            let embedder = Embedder::shared(load_embedding_bundle(cache.embedder.as_deref())?)?;
            crate::train::load_split(
                dataset,
                cache.cache.as_deref(),
                cache.clean_features,
                &embedder,
            )
        }
        (None, None) => anyhow::bail!("give --dataset or --synthetic"),
    }
}

/// The study model's predictions (0-1) for every song of `ds`, after checking that the
/// model reads `ds`'s embedding size `D` and feature count `F`.
pub(crate) fn predict_popularity(
    model: &PopularityModel,
    ds: &Dataset,
) -> anyhow::Result<Vec<f32>> {
    anyhow::ensure!(
        model.config().seq.emb_dim == ds.emb_dim
            && model.config().features.input_dim == ds.feat_dim,
        "the model expects D = {}, F = {} but the data has D = {}, F = {}",
        model.config().seq.emb_dim,
        model.config().features.input_dim,
        ds.emb_dim,
        ds.feat_dim
    );
    Ok(predict_study(model, ds)?)
}

/// HitMusicNet's predictions (0-1) for every song of `ds`, after checking that it reads
/// `ds`'s feature count; `who` names it in the error ("the model", "the baseline").
pub(crate) fn predict_hitmusicnet(
    model: &HitMusicNet,
    ds: &Dataset,
    who: &str,
) -> anyhow::Result<Vec<f32>> {
    anyhow::ensure!(
        model.config().input_dim == ds.feat_dim,
        "{who} expects {} features, the data has {}",
        model.config().input_dim,
        ds.feat_dim
    );
    Ok(predict_hmn(model, ds)?)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let (train, val, test, source) =
        load_sets(args.synthetic, args.dataset.as_deref(), &args.cache)?;
    let bundle = ModelBundle::load_file(&args.model)
        .with_context(|| format!("cannot load {}", args.model.display()))?;
    let model = PopularityModel::from_bundle(&bundle)?;
    let pred = predict_popularity(&model, &test)?;
    let truth = test.targets();
    let reference = match &args.baseline {
        Some(p) => {
            let b = ModelBundle::load_file(p)
                .with_context(|| format!("cannot load {}", p.display()))?;
            let hmn = HitMusicNet::from_bundle(&b)?;
            Some(predict_hitmusicnet(&hmn, &test, "the baseline")?)
        }
        None => None,
    };
    // Without a reference, the model is compared with itself (win rate: all ties), and the
    // report lists only the model and the random baseline.
    let mut eval = EvalReport::new(
        ("chorder", &pred),
        ("hitmusicnet", reference.as_deref().unwrap_or(&pred)),
        &truth,
        train.target_mean_sd(),
        args.seed,
    );
    let mut predictions: Vec<(&str, &[f32])> = vec![("chorder", &pred)];
    match &reference {
        Some(r) => predictions.push(("hitmusicnet", r)),
        None => {
            eval.models.remove(1);
        }
    }
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(
        args.out.join("report.json"),
        serde_json::to_string_pretty(&eval)?,
    )?;
    write_markdown_report(
        &args.out,
        &eval,
        &ReportInputs {
            title: &format!("Evaluation of {} on {source}", args.model.display()),
            sizes: Some([train.len(), val.len(), test.len()]),
            truth: &truth,
            predictions: &predictions,
            stages: &[],
        },
    )?;
    print!("{}", eval_table(&eval, reference.is_some()));
    println!(
        "report.md, report.json and charts in {}",
        args.out.display()
    );
    Ok(())
}

/// The plain-text table, without the win-rate line when there is no reference.
fn eval_table(eval: &EvalReport, with_reference: bool) -> String {
    let t = eval.table();
    if with_reference {
        t
    } else {
        t.lines()
            .filter(|l| !l.contains(" better than "))
            .map(|l| format!("{l}\n"))
            .collect()
    }
}
