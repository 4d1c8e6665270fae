//! `cargo xtask screenshot`: a PNG of the plugin's editor while it analyses real music.
//!
//! Builds the standalone app, starts a virtual X server (Xvfb, on the first free display
//! from :90) sized like the editor, runs the app there with the dummy audio backend (no
//! sound card) playing `--input` (default: the rock fixture, looped) into the plugin, and
//! lets the app write its own window to the PNG after `--after` seconds
//! (`chorder_plugin --screenshot`). Needs the `xvfb` package (and Mesa's software OpenGL,
//! `libgl1-mesa-dri`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Editor size in pixels (must match `chorder_plugin::editor::EDITOR_SIZE`).
const SCREEN: (u32, u32) = (560, 540);

/// Take a screenshot of the plugin's GUI (standalone app under Xvfb).
#[derive(clap::Args)]
pub struct Args {
    /// Where to write the PNG.
    #[arg(long, default_value = "docs/screenshot.png")]
    out: PathBuf,
    /// Audio played into the plugin (looped); default: fixtures/audio/rock.flac.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Seconds of analysis before the picture is taken.
    #[arg(long, default_value_t = 25.0)]
    after: f64,
}

/// A running Xvfb, killed on drop.
struct Xvfb {
    child: Child,
    display: String,
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts Xvfb on the first display from :90 whose lock file is absent; waits until its
/// socket exists.
fn start_xvfb() -> anyhow::Result<Xvfb> {
    for n in 90..130 {
        if Path::new(&format!("/tmp/.X{n}-lock")).exists() {
            continue;
        }
        let display = format!(":{n}");
        let child = Command::new("Xvfb")
            .args([
                display.as_str(),
                "-screen",
                "0",
                &format!("{}x{}x24", SCREEN.0, SCREEN.1),
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start Xvfb (install the xvfb package)")?;
        let mut x = Xvfb { child, display };
        let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if socket.exists() {
                return Ok(x);
            }
            if x.child.try_wait()?.is_some() {
                break; // display taken after all: try the next one
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(x);
    }
    bail!("no free X display between :90 and :129")
}

/// Builds the app, runs it under Xvfb and writes the PNG.
pub fn run(args: Args) -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask has no parent directory")?
        .to_path_buf();
    let input = args
        .input
        .unwrap_or_else(|| root.join("fixtures/audio/rock.flac"));
    let st = Command::new(env!("CARGO"))
        .current_dir(&root)
        .args(["build", "-p", "chorder-plugin", "--bin", "chorder_plugin"])
        .status()
        .context("cannot run cargo build")?;
    if !st.success() {
        bail!("building the standalone app failed ({st})");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { root.join(t) })
        .unwrap_or_else(|| root.join("target"));
    let app = target.join("debug").join("chorder_plugin");
    let out = if args.out.is_absolute() {
        args.out
    } else {
        std::env::current_dir()?.join(args.out)
    };
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let x = start_xvfb()?;
    println!(
        "Xvfb on {}; analysing {} for {} s",
        x.display,
        input.display(),
        args.after
    );
    let st = Command::new(&app)
        .env("DISPLAY", &x.display)
        .arg("--input")
        .arg(&input)
        .arg("--screenshot")
        .arg(&out)
        .args(["--screenshot-after", &args.after.to_string()])
        .args(["--backend", "dummy"])
        .status()
        .with_context(|| format!("cannot start {}", app.display()))?;
    drop(x);
    if !st.success() || !out.exists() {
        bail!("the standalone app did not write {} ({st})", out.display());
    }
    println!("wrote {}", out.display());
    Ok(())
}
