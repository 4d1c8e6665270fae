//! `cargo xtask import`: build a `dataset.json` (tracks, popularity, low-level features,
//! train/validation/test split) from the SpotGenTrack layout or a manifest CSV, printing the
//! import report (rows read, kept, skipped by reason).

use std::path::{Path, PathBuf};

use anyhow::Context;
use chorder_engine::dataset::{
    import_manifest, import_spotgentrack, Dataset, FeatureSource, ImportReport, ManifestOptions,
    SplitConfig, SpotGenTrackOptions,
};

/// Import a dataset and write it as dataset.json with a fixed, seeded split.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub source: Source,
}

/// Options shared by both sources.
#[derive(clap::Args)]
pub struct Common {
    /// Output dataset file (its folder is created if missing). Every skipped row is also
    /// written to `<out stem>.skips.csv` beside it.
    #[arg(long, default_value = "dataset.json")]
    pub out: PathBuf,
    /// Split seed: the same seed and ids always give the same split.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Train/validation/test shares, in percent or fractions.
    #[arg(long, default_value = "80/10/10")]
    pub split: String,
}

#[derive(clap::Subcommand)]
pub enum Source {
    /// The SpotGenTrack Popularity Dataset folder (with `Data Sources/` and `Features
    /// Extracted/`) plus a folder of previews named `<track id>.<ext>`.
    Spotgentrack {
        /// The unpacked dataset folder.
        root: PathBuf,
        /// Folder of preview audio named by track id (mp3, wav, flac, ogg, m4a, …).
        #[arg(long)]
        audio: PathBuf,
        /// Do not read the low-level feature CSV (features to be recomputed from audio).
        #[arg(long)]
        no_features: bool,
        #[command(flatten)]
        common: Common,
    },
    /// A CSV with `path,popularity` columns (optional `id`, extra columns kept as text);
    /// relative paths resolve against the manifest's folder.
    Manifest {
        /// The manifest CSV.
        manifest: PathBuf,
        #[command(flatten)]
        common: Common,
    },
}

fn write_outputs(dataset: &Dataset, report: &ImportReport, out: &Path) -> anyhow::Result<()> {
    print!("{report}");
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if !report.skips.is_empty() || !report.feature_skips.is_empty() {
        let stem = out
            .file_stem()
            .map_or("dataset".into(), |s| s.to_string_lossy());
        let skips = out.with_file_name(format!("{stem}.skips.csv"));
        let file = std::fs::File::create(&skips)
            .with_context(|| format!("creating {}", skips.display()))?;
        report
            .write_skips_csv(file)
            .with_context(|| format!("writing {}", skips.display()))?;
        println!("every skipped row: {}", skips.display());
    }
    dataset.save(out)?;
    let (train, validation, test) = dataset.split_counts();
    println!(
        "{} tracks (train {train}, validation {validation}, test {test}; seed {}), {} feature columns -> {}",
        dataset.len(),
        dataset.split.seed,
        dataset.feature_names.len(),
        out.display()
    );
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.source {
        Source::Spotgentrack {
            root,
            audio,
            no_features,
            common,
        } => {
            let options = SpotGenTrackOptions {
                audio_dir: audio,
                features: if no_features {
                    FeatureSource::None
                } else {
                    FeatureSource::Csv
                },
                split: SplitConfig::parse_fractions(&common.split, common.seed)?,
            };
            let (dataset, report) = import_spotgentrack(&root, &options)?;
            write_outputs(&dataset, &report, &common.out)
        }
        Source::Manifest { manifest, common } => {
            let options = ManifestOptions {
                split: SplitConfig::parse_fractions(&common.split, common.seed)?,
            };
            let (dataset, report) = import_manifest(&manifest, &options)?;
            write_outputs(&dataset, &report, &common.out)
        }
    }
}
