//! `cargo xtask bundle`: builds the plugin and packages it with nice-plug-xtask's bundler.
//!
//! Output (Linux): `target/bundled/Chorder.clap` (CLAP), `target/bundled/Chorder.vst3/`
//! (VST3 bundle directory) and `target/bundled/Chorder` (standalone app). The bundle name
//! comes from `bundler.toml` at the workspace root.

use std::path::PathBuf;

use anyhow::{bail, Context};

/// Package that holds the plugin.
const PACKAGE: &str = "chorder-plugin";
/// Bundle name (must match `bundler.toml`).
const BUNDLE: &str = "Chorder";

/// Build the CLAP/VST3 plugin and the standalone app into target/bundled/.
#[derive(clap::Args)]
pub struct Args {
    /// Build with the dev profile instead of release.
    #[arg(long)]
    debug: bool,
}

/// Builds and bundles; prints where the bundles are.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut bundler_args = vec!["bundle".to_owned(), PACKAGE.to_owned()];
    if !args.debug {
        bundler_args.push("--release".to_owned());
    }
    // Changes the working directory to the workspace root, runs `cargo build -p
    // chorder-plugin`, then copies the library and the binary into target/bundled/.
    nice_plug_xtask::main_with_args("cargo xtask", bundler_args)
        .context("nice-plug-xtask bundle failed")?;

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask has no parent directory")?
        .to_path_buf();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { root.join(t) })
        .unwrap_or_else(|| root.join("target"));
    let bundled = target.join("bundled");
    let outputs = [
        ("CLAP", bundled.join(format!("{BUNDLE}.clap"))),
        ("VST3", bundled.join(format!("{BUNDLE}.vst3"))),
        ("standalone", bundled.join(standalone_name())),
    ];
    let mut missing = Vec::new();
    for (kind, path) in &outputs {
        if path.exists() {
            println!("{kind:>10}: {}", path.display());
        } else {
            missing.push(format!("{kind} ({})", path.display()));
        }
    }
    if !missing.is_empty() {
        bail!("bundler did not produce: {}", missing.join(", "));
    }
    Ok(())
}

fn standalone_name() -> String {
    if cfg!(target_os = "windows") {
        format!("{BUNDLE}.exe")
    } else if cfg!(target_os = "macos") {
        format!("{BUNDLE}.app")
    } else {
        BUNDLE.to_owned()
    }
}
