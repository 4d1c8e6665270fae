//! `cargo xtask <command>`: the Chorder command line. Each command lives in its own module.

use clap::{Parser, Subcommand};

mod analyze;
mod bench;
mod bundle;
mod calibrate;
mod demo;
mod eval;
mod extract;
mod gen_corpus;
mod import;
mod import_weights;
mod logmel;
mod models;
mod screenshot;
mod tags;
mod test;
mod train;

/// Chorder: estimate how popular a piece of music is likely to be, from its audio alone.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Analyze(analyze::Args),
    /// Run a benchmark suite (criterion suites and whole-pipeline comparisons).
    Bench(bench::Args),
    /// Build the plugin bundles (CLAP, VST3, standalone) into target/bundled/.
    Bundle(bundle::Args),
    Calibrate(calibrate::Args),
    Eval(eval::Args),
    Extract(extract::Args),
    GenCorpus(gen_corpus::Args),
    Import(import::Args),
    Logmel(logmel::Args),
    /// Import pretrained weights (musicnn) into models/assets/ bundles.
    ImportWeights(import_weights::Args),
    /// Take a screenshot of the plugin's GUI (standalone app under Xvfb).
    Screenshot(screenshot::Args),
    /// Print musicnn tags for each 0.96 s window of an audio file.
    Tags(tags::Args),
    /// Run the whole test suite, as CI does.
    Test(test::Args),
    Train(train::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => analyze::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Bundle(args) => bundle::run(args),
        Command::Calibrate(args) => calibrate::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Extract(args) => extract::run(args),
        Command::GenCorpus(args) => gen_corpus::run(args),
        Command::Import(args) => import::run(args),
        Command::Logmel(args) => logmel::run(args),
        Command::ImportWeights(args) => import_weights::run(args),
        Command::Screenshot(args) => screenshot::run(args),
        Command::Tags(args) => tags::run(args),
        Command::Test(args) => test::run(args),
        Command::Train(args) => train::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
