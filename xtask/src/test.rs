//! `cargo xtask test`: the whole test suite, as CI runs it.
//!
//! Checks the system packages the plugin crates need (ALSA, JACK, X11, OpenGL headers),
//! then runs every test of the workspace with cargo-nextest (or `cargo test` when nextest
//! is not installed) and the doc tests. Slow suites are opt-in with `--slow`.

use std::process::Command;

use anyhow::{bail, Context};

/// Debian packages the standalone app and editor link against.
pub const SYSTEM_PACKAGES: &[&str] = &[
    "libasound2-dev",
    "libjack-jackd2-dev",
    "libx11-dev",
    "libx11-xcb-dev",
    "libxcursor-dev",
    "libxcb1-dev",
    "libxcb-icccm4-dev",
    "libxcb-dri2-0-dev",
    "libgl-dev",
    "libglu1-mesa-dev",
    "pkg-config",
    // The standalone app's Xvfb test: virtual X server, Mesa software OpenGL.
    "xvfb",
    "xauth",
    "libgl1-mesa-dri",
];

/// Run the whole test suite (what CI runs).
#[derive(clap::Args)]
pub struct Args {
    /// Also run the slow suites (long training and full-length checks): sets CHORDER_SLOW=1.
    #[arg(long)]
    pub slow: bool,
    /// Extra arguments passed to the test runner (e.g. a filter).
    #[arg(last = true)]
    pub rest: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let missing = missing_packages();
    if !missing.is_empty() {
        println!(
            "note: system packages missing (needed by the plugin crates): {}\n      install them with: sudo apt-get install -y {}",
            missing.join(" "),
            missing.join(" ")
        );
    }
    let nextest = Command::new("cargo")
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    let mut cmd = Command::new("cargo");
    if nextest {
        cmd.args(["nextest", "run", "--workspace", "--no-fail-fast"]);
    } else {
        cmd.args(["test", "--workspace", "--no-fail-fast"]);
    }
    cmd.args(&args.rest);
    if args.slow {
        cmd.env("CHORDER_SLOW", "1");
    }
    status(cmd, "tests")?;
    if nextest {
        // nextest does not run doc tests.
        let mut doc = Command::new("cargo");
        doc.args(["test", "--workspace", "--doc"]);
        status(doc, "doc tests")?;
    }
    Ok(())
}

fn status(mut cmd: Command, what: &str) -> anyhow::Result<()> {
    let st = cmd
        .status()
        .with_context(|| format!("cannot start cargo for {what}"))?;
    if !st.success() {
        bail!("{what} failed ({st})");
    }
    Ok(())
}

/// Packages from [`SYSTEM_PACKAGES`] that dpkg does not report as installed (empty when
/// dpkg is not available, e.g. on other distributions).
fn missing_packages() -> Vec<&'static str> {
    SYSTEM_PACKAGES
        .iter()
        .copied()
        .filter(|p| {
            Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output()
                .is_ok_and(|o| !String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        })
        .collect()
}
