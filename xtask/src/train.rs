//! `cargo xtask train`: train the study's model and HitMusicNet on a dataset's fixed split,
//! evaluate both against the random baseline on the test split, and write bundles and
//! reports (see `chorder_train::experiment`); `--alternatives` adds the alternative models
//! (`chorder_train::alternatives`). Resumable: re-running the same command after
//! an interruption continues from the last finished epoch.

use std::path::PathBuf;

use anyhow::Context;
use chorder_analysis::cache::file_sha256;
use chorder_analysis::{Embedder, FeatureCache};
use chorder_engine::dataset::{Dataset as TrackList, Split};
use chorder_models::bundle::Licence;
use chorder_train::alternatives::parse_alternatives;
use chorder_train::checkpoint::StageProgress;
use chorder_train::config::load_json;
use chorder_train::data::{Dataset, Sample};
use chorder_train::experiment::{run_experiment, ExperimentConfig};
use chorder_train::export::ExportInfo;
use chorder_train::synth::{synthetic, SynthConfig};
use chorder_train::trainer::{Control, EpochObserver};

use crate::models::load_embedding_bundle;

/// Train and evaluate the popularity models (resumable).
///
/// Reads the embeddings and features that `cargo xtask extract` cached for the dataset,
/// or, with `--synthetic N`, draws a synthetic set with a known answer (a smoke test).
#[derive(clap::Args)]
pub struct Args {
    /// The dataset file (dataset.json) whose songs were extracted.
    #[arg(long, required_unless_present_any = ["synthetic", "preset"])]
    pub dataset: Option<PathBuf>,
    /// `demo`: the built-in demo model, end to end: generate the corpus
    /// (`gen-corpus --songs 480 --seconds 12 --seed 7`), import it, extract it with the
    /// built-in musicnn, train, and copy the popularity bundle to
    /// `models/assets/demo_popularity.safetensors` (a demonstration, not a predictor of real
    /// popularity). Work files go to `target/demo/`.
    #[arg(long, value_parser = ["demo"], conflicts_with_all = ["dataset", "synthetic"])]
    pub preset: Option<String>,
    /// Embedding model bundle the cache was built with; default: the built-in MSD musicnn.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Cache folder (default: `cache/` next to the dataset file).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Use the cache of the clean feature definitions (as `extract --clean-features`).
    #[arg(long)]
    pub clean_features: bool,
    /// Experiment config (JSON, `chorder_train::experiment::ExperimentConfig`; missing
    /// fields take the study's defaults). Input sizes are always taken from the data.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output folder (run directories, bundles, report.json, report.txt, report.md and its
    /// PNG charts).
    #[arg(long, required_unless_present = "preset")]
    pub out: Option<PathBuf>,
    /// Train on N synthetic songs (70 / 15 / 15 split) instead of a dataset.
    #[arg(long)]
    pub synthetic: Option<usize>,
    /// Print one line per epoch.
    #[arg(long)]
    pub verbose: bool,
    /// Also train and evaluate alternative models on the same split: `all`, `none`, or a
    /// comma-separated list of `single-ae` (one autoencoder on embeddings and features
    /// together, then the regressor on its code), `lstm-regressor` (LSTM over the embeddings,
    /// features appended, straight into the regressor, trained end to end) and
    /// `hmn-embedding` (HitMusicNet on the features extended with the embeddings' mean and
    /// sd). They appear in every report next to chorder, hitmusicnet and random; their run
    /// directories are `alternatives/<name>/`. Overrides the config's
    /// `alternatives.enabled` (default: none).
    #[arg(long, value_name = "all|none|LIST")]
    pub alternatives: Option<String>,
}

/// Train / validation / test sets from the dataset's split and the feature cache.
pub(crate) fn load_split(
    dataset: &std::path::Path,
    cache_root: Option<&std::path::Path>,
    clean_features: bool,
    embedder: &Embedder,
) -> anyhow::Result<(Dataset, Dataset, Dataset, String)> {
    let tracks = TrackList::load(dataset)
        .with_context(|| format!("cannot load dataset {}", dataset.display()))?;
    let root = cache_root
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| crate::extract::default_cache_root(dataset));
    let cache = FeatureCache::new(&root, embedder.id(), !clean_features);
    let bar = indicatif::ProgressBar::new(tracks.tracks.len() as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "reading cache {bar:30} {pos}/{len} songs, {eta} left",
        )
        .expect("valid template"),
    );
    let mut sets: Option<[Dataset; 3]> = None;
    let mut missing = 0usize;
    for t in &tracks.tracks {
        bar.inc(1);
        let key =
            file_sha256(&t.audio).with_context(|| format!("cannot read {}", t.audio.display()))?;
        let Some(song) = cache
            .get(&key)
            .map_err(|e| anyhow::anyhow!("cache entry of {}: {e}", t.id))?
        else {
            missing += 1;
            continue;
        };
        if song.n_windows == 0 {
            missing += 1;
            continue;
        }
        let sets = sets.get_or_insert_with(|| {
            std::array::from_fn(|_| Dataset::new(song.dim, song.features.len()))
        });
        let i = match t.split {
            Split::Train => 0,
            Split::Validation => 1,
            Split::Test => 2,
        };
        let sample = Sample {
            embeddings: song.embeddings,
            n_steps: song.n_windows,
            features: song.features,
            target: t.popularity / 100.0,
        };
        sets[i]
            .push(sample)
            .map_err(|e| anyhow::anyhow!("track {}: {e}", t.id))?;
    }
    bar.finish_and_clear();
    if missing > 0 {
        eprintln!("train: {missing} song(s) have no cache entry; run `cargo xtask extract` first to include them");
    }
    let [train, val, test] =
        sets.context("no song of the dataset is in the cache; run `cargo xtask extract` first")?;
    anyhow::ensure!(
        !train.is_empty() && !val.is_empty() && !test.is_empty(),
        "empty split: train {}, validation {}, test {}",
        train.len(),
        val.len(),
        test.len()
    );
    Ok((train, val, test, tracks.source.clone()))
}

/// `--synthetic N`: N synthetic songs (seed 7) split 70 / 15 / 15 into train / validation /
/// test; the same N always gives the same sets (so `eval --synthetic N` sees `train`'s test
/// set).
pub(crate) fn synthetic_split(n: usize) -> (Dataset, Dataset, Dataset) {
    // 48 features, so HitMusicNet's n/2, n/3, n/5 widths are usable (24-16-9).
    let all = synthetic(&SynthConfig {
        n,
        seed: 7,
        feat_dim: 48,
        ..Default::default()
    });
    let (train, rest) = all.split_at(n * 70 / 100);
    let (val, test) = rest.split_at(n * 15 / 100);
    (train, val, test)
}

/// Songs, seconds and seed of the demo corpus.
const DEMO_CORPUS: (usize, f64, u64) = (480, 12.0, 7);

/// `--preset demo`: corpus → dataset → cache → training → `models/assets/`.
fn run_demo(args: Args) -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let work = root.join("target/demo");
    let corpus = work.join("corpus");
    let (songs, seconds, seed) = DEMO_CORPUS;
    if !corpus.join("manifest.csv").exists() {
        crate::gen_corpus::run(crate::gen_corpus::Args {
            songs,
            seconds,
            seed,
            sample_rate: 22_050,
            out: corpus.clone(),
            force: false,
        })?;
    }
    let dataset = corpus.join("dataset.json");
    crate::import::run(crate::import::Args {
        source: crate::import::Source::Manifest {
            manifest: corpus.join("manifest.csv"),
            common: crate::import::Common {
                out: dataset.clone(),
                seed: 0,
                split: "80/10/10".into(),
            },
        },
    })?;
    crate::extract::run(crate::extract::Args {
        dataset: dataset.clone(),
        model: None,
        cache: None,
        jobs: None,
        clean_features: false,
    })?;
    let out = work.join("train");
    let source = format!(
        "Chorder generated corpus (demo): gen-corpus --songs {songs} --seconds {seconds} --seed {seed}, split 80/10/10 seed 0"
    );
    run_with(
        Args {
            dataset: Some(dataset),
            preset: None,
            out: Some(out.clone()),
            ..args
        },
        Some(source),
    )?;
    let dest = root.join("models/assets/demo_popularity.safetensors");
    std::fs::copy(out.join("chorder_popularity.safetensors"), &dest)
        .with_context(|| format!("cannot write {}", dest.display()))?;
    std::fs::copy(
        out.join("report.txt"),
        root.join("models/assets/demo_popularity.report.txt"),
    )?;
    println!("demo model written to {}", dest.display());
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.preset.is_some() {
        return run_demo(args);
    }
    run_with(args, None)
}

fn run_with(args: Args, source_override: Option<String>) -> anyhow::Result<()> {
    let out = args.out.clone().context("give --out")?;
    let embedder = Embedder::shared(load_embedding_bundle(args.model.as_deref())?)?;
    let (train, val, test, source) = match (args.synthetic, &args.dataset) {
        (Some(n), _) => {
            let (train, val, test) = synthetic_split(n);
            (train, val, test, format!("synthetic ({n} songs)"))
        }
        (None, Some(dataset)) => {
            let (train, val, test, source) = load_split(
                dataset,
                args.cache.as_deref(),
                args.clean_features,
                &embedder,
            )?;
            (train, val, test, source_override.unwrap_or(source))
        }
        (None, None) => anyhow::bail!("give --dataset or --synthetic"),
    };
    let mut cfg: ExperimentConfig = match &args.config {
        Some(p) => load_json(p)?,
        None => ExperimentConfig::default(),
    };
    if let Some(list) = &args.alternatives {
        cfg.alternatives.enabled = parse_alternatives(list).map_err(anyhow::Error::msg)?;
    }
    cfg.fit_to_data(train.emb_dim, train.feat_dim);
    println!(
        "train: {} / {} / {} songs (D = {}, F = {}) from {source} into {}",
        train.len(),
        val.len(),
        test.len(),
        train.emb_dim,
        train.feat_dim,
        out.display()
    );
    let info = ExportInfo {
        source,
        source_sha256: String::new(),
        embedding_model: embedder.id().to_string(),
        converted_by: format!(
            "cargo xtask train (chorder-train {}), embeddings from {}",
            env!("CARGO_PKG_VERSION"),
            embedder.id()
        ),
        licence: Licence {
            spdx: "MIT OR Apache-2.0".into(),
            text:
                "Weights trained by Chorder; licensed like the Chorder source (MIT OR Apache-2.0)."
                    .into(),
        },
    };
    let mut control = Control {
        verbose: args.verbose,
        observer: Some(Box::new(EpochBar::default())),
        ..Default::default()
    };
    let report = run_experiment(
        &cfg,
        (&train, &val, &test),
        &out,
        embedder.front_end(),
        &info,
        &mut control,
    )?
    .context("training stopped before the end")?;
    print!("{}", report.eval.table());
    println!("reports and bundles in {}", out.display());
    Ok(())
}

/// One progress bar per training stage: epochs done of the limit, the last epoch's training
/// loss and monitored value, the best so far, and the time left at the current pace (an
/// upper bound: early stopping may end the stage sooner).
#[derive(Default)]
struct EpochBar {
    bar: Option<indicatif::ProgressBar>,
}

impl EpochObserver for EpochBar {
    fn stage_started(&mut self, progress: &StageProgress, max_epochs: usize) {
        let bar = indicatif::ProgressBar::new(max_epochs as u64).with_style(
            indicatif::ProgressStyle::with_template(
                "{prefix:>20} {bar:25} {pos:>3}/{len} epochs  {msg}  ≤{eta} left",
            )
            .expect("valid template"),
        );
        bar.set_prefix(progress.name.clone());
        bar.set_position(progress.epochs_done as u64);
        bar.reset_eta();
        self.bar = Some(bar);
    }

    fn epoch_done(&mut self, progress: &StageProgress, _max_epochs: usize) {
        let (Some(bar), Some(e)) = (&self.bar, progress.history.last()) else {
            return;
        };
        bar.set_position(progress.epochs_done as u64);
        bar.set_message(format!(
            "train {:.5}  monitored {:.5}  best {:.5} (epoch {})",
            e.train_loss,
            e.monitored,
            progress.best,
            progress.best_epoch + 1
        ));
    }

    fn stage_finished(&mut self, progress: &StageProgress) {
        if let Some(bar) = self.bar.take() {
            bar.finish_with_message(format!(
                "best {:.5} at epoch {}{}",
                progress.best,
                progress.best_epoch + 1,
                if progress.stopped_early {
                    ", stopped early"
                } else {
                    ""
                }
            ));
        }
    }
}
