//! `cargo xtask bench <suite>`: the project's benchmarks, one subcommand per suite.
//!
//! Criterion suites (`features`, `frontend`, `models`, `plugin`) are run through
//! `cargo bench`; suites that need a generated dataset or a whole pipeline have their own
//! module here and print ratios against a reference measured in the same run.

use std::process::Command;

use anyhow::{bail, Context};

mod analyze;
mod train;

/// Run one benchmark suite.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    suite: Suite,
}

#[derive(clap::Subcommand)]
enum Suite {
    /// Low-level features (207 SpotGenTrack columns) per 30 s clip: criterion, chorder-engine.
    Features(CriterionArgs),
    /// Log-mel front ends (VGGish, musicnn) per 30 s of audio: criterion, chorder-engine.
    Frontend(CriterionArgs),
    /// Embedding networks per patch: criterion, chorder-models.
    Models(CriterionArgs),
    /// Plugin audio-thread `process()` and worker cost: criterion, chorder-plugin.
    Plugin(CriterionArgs),
    /// Seconds per epoch of the study's model next to PyTorch (or `--parity`: held-out R²).
    Train(train::TrainArgs),
    /// Songs per minute of `analyze` on 30 s clips, one core and all cores, next to Python.
    Analyze(analyze::AnalyzeArgs),
}

/// Options passed through to a criterion suite.
#[derive(clap::Args)]
struct CriterionArgs {
    /// Extra arguments for criterion (e.g. a benchmark name filter).
    #[arg(last = true)]
    rest: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.suite {
        Suite::Features(a) => criterion("chorder-engine", Some("features"), &a.rest),
        Suite::Frontend(a) => criterion("chorder-engine", Some("frontend"), &a.rest),
        Suite::Models(a) => criterion("chorder-models", None, &a.rest),
        Suite::Plugin(a) => criterion("chorder-plugin", None, &a.rest),
        Suite::Train(a) => train::run(a),
        Suite::Analyze(a) => analyze::run(a),
    }
}

/// Runs `cargo bench -p <package> [--bench <name>] -- <rest>`.
fn criterion(package: &str, bench: Option<&str>, rest: &[String]) -> anyhow::Result<()> {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["bench", "-p", package]);
    if let Some(name) = bench {
        cmd.args(["--bench", name]);
    }
    if !rest.is_empty() {
        cmd.arg("--").args(rest);
    }
    let status = cmd.status().context("running cargo bench")?;
    if !status.success() {
        bail!("cargo bench -p {package} failed ({status})");
    }
    Ok(())
}
