//! The standalone Chorder app (JACK, ALSA or a dummy backend; `--help` lists nice-plug's
//! options).
//!
//! Chorder's own options, taken out before nice-plug parses the rest:
//! - `--input FILE`: decode FILE (any format `chorder_engine` reads) and play it, looped,
//!   into the plugin's input. Unless `--sample-rate`/`-r` is given, the host runs at the
//!   file's rate; otherwise the clip is resampled to that rate. With `--backend dummy` no
//!   sound card is needed (the meter still runs in real time).
//! - `--screenshot FILE.png` (Linux/X11): after `--screenshot-after` seconds (default 8),
//!   write the editor window to FILE.png and exit. `cargo xtask screenshot` uses this under
//!   Xvfb.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chorder_plugin::player::{set_standalone_input, InputClip};

/// Chorder's own options and the arguments left for nice-plug.
struct Options {
    input: Option<PathBuf>,
    screenshot: Option<PathBuf>,
    screenshot_after: f64,
    rest: Vec<String>,
}

fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut o = Options {
        input: None,
        screenshot: None,
        screenshot_after: 8.0,
        rest: Vec::new(),
    };
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let (key, inline) = match a.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k.to_owned(), Some(v.to_owned())),
            _ => (a.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match key.as_str() {
            "--input" => o.input = Some(value("--input")?.into()),
            "--screenshot" => o.screenshot = Some(value("--screenshot")?.into()),
            "--screenshot-after" => {
                let v = value("--screenshot-after")?;
                o.screenshot_after = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| format!("--screenshot-after: not a number of seconds: {v}"))?;
            }
            _ => o.rest.push(a),
        }
    }
    Ok(o)
}

/// The value of `-r`/`--sample-rate` among nice-plug's arguments, if given.
fn requested_rate(rest: &[String]) -> Option<String> {
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        if a == "-r" || a == "--sample-rate" {
            return it.next().cloned();
        }
        if let Some(v) = a.strip_prefix("--sample-rate=") {
            return Some(v.to_owned());
        }
    }
    None
}

/// Decodes `path` to mono and brings it to the host rate (appending `--sample-rate` to
/// `rest` when none was asked for).
fn load_input(path: &PathBuf, rest: &mut Vec<String>) -> Result<InputClip, String> {
    let (samples, report) = chorder_engine::decode::decode_mono(path).map_err(|e| e.to_string())?;
    let file_rate = report.sample_rate;
    let Some(rate) = requested_rate(rest) else {
        rest.push("--sample-rate".into());
        rest.push(file_rate.to_string());
        return Ok(InputClip {
            samples,
            sample_rate: file_rate,
        });
    };
    let rate: u32 = rate
        .parse()
        .map_err(|_| format!("--sample-rate: not a rate in Hz: {rate}"))?;
    if rate == file_rate {
        return Ok(InputClip {
            samples,
            sample_rate: rate,
        });
    }
    let mut rs = chorder_engine::resample::StreamingResampler::new(file_rate, rate)
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    rs.push(&samples, &mut out);
    rs.finish(&mut out);
    Ok(InputClip {
        samples: out,
        sample_rate: rate,
    })
}

fn main() -> ExitCode {
    let opts = match parse(std::env::args()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if opts.rest.iter().any(|a| a == "-h" || a == "--help") {
        println!(
            "Chorder options (before nice-plug's below):\n  \
             --input <FILE>                play FILE, looped, into the plugin's input\n  \
             --screenshot <FILE.png>       write the editor window to FILE.png, then exit (X11)\n  \
             --screenshot-after <SECONDS>  when to take it [default: 8]\n"
        );
    }
    let mut rest = opts.rest;
    if let Some(path) = &opts.input {
        match load_input(path, &mut rest) {
            Ok(clip) => {
                eprintln!(
                    "playing {} ({:.1} s at {} Hz, looped)",
                    path.display(),
                    clip.samples.len() as f64 / clip.sample_rate as f64,
                    clip.sample_rate
                );
                set_standalone_input(clip);
            }
            Err(e) => {
                eprintln!("error: --input {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    if let Some(out) = opts.screenshot {
        let after = Duration::from_secs_f64(opts.screenshot_after);
        std::thread::spawn(move || {
            std::thread::sleep(after);
            let code = match screenshot::capture_window("Chorder", &out) {
                Ok((w, h)) => {
                    eprintln!("screenshot {w}x{h} written to {}", out.display());
                    0
                }
                Err(e) => {
                    eprintln!("error: screenshot: {e}");
                    1
                }
            };
            std::process::exit(code);
        });
    }
    if nice_plug::prelude::nice_export_standalone_with_args::<chorder_plugin::Chorder, _>(rest) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(target_os = "linux")]
mod screenshot {
    //! Grabs a top-level X11 window by title (core protocol `GetImage`, through the x11rb
    //! connection baseview already links) and writes it as an 8-bit RGB PNG.

    use std::path::Path;

    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::{ConnectionExt, ImageFormat, Window};
    use x11rb::rust_connection::RustConnection;

    /// Writes the largest viewable window whose title contains `title` (or, if none has
    /// it, the whole screen) to `out`; returns its size in pixels.
    pub fn capture_window(title: &str, out: &Path) -> Result<(u32, u32), String> {
        let (conn, screen_num) = RustConnection::connect(None).map_err(|e| e.to_string())?;
        let screen = &conn.setup().roots[screen_num];
        let root = screen.root;
        let window = find(&conn, root, title)?.unwrap_or(root);
        let geo = conn
            .get_geometry(window)
            .map_err(|e| e.to_string())?
            .reply()
            .map_err(|e| e.to_string())?;
        let (w, h) = (geo.width, geo.height);
        let img = conn
            .get_image(ImageFormat::Z_PIXMAP, window, 0, 0, w, h, !0)
            .map_err(|e| e.to_string())?
            .reply()
            .map_err(|e| e.to_string())?;
        let (w, h) = (w as usize, h as usize);
        if img.depth != 24 && img.depth != 32 {
            return Err(format!("unsupported window depth {}", img.depth));
        }
        if img.data.len() < w * h * 4 {
            return Err(format!("short image: {} bytes for {w}x{h}", img.data.len()));
        }
        // 32 bits per pixel, little-endian 0x00RRGGBB (X servers on x86/ARM; Xvfb).
        let mut rgb = Vec::with_capacity(w * h * 3);
        for px in img.data.chunks_exact(4).take(w * h) {
            rgb.extend_from_slice(&[px[2], px[1], px[0]]);
        }
        let file = std::fs::File::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
        let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w as u32, h as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header()
            .and_then(|mut wr| wr.write_image_data(&rgb))
            .map_err(|e| format!("{}: {e}", out.display()))?;
        Ok((w as u32, h as u32))
    }

    /// The viewable window under `root` with the largest area whose WM_NAME contains
    /// `title`.
    fn find(conn: &RustConnection, root: Window, title: &str) -> Result<Option<Window>, String> {
        let mut best: Option<(u32, Window)> = None;
        let mut stack = vec![root];
        while let Some(w) = stack.pop() {
            let tree = conn
                .query_tree(w)
                .map_err(|e| e.to_string())?
                .reply()
                .map_err(|e| e.to_string())?;
            stack.extend(tree.children);
            if w == root {
                continue;
            }
            let name = conn
                .get_property(
                    false,
                    w,
                    x11rb::protocol::xproto::AtomEnum::WM_NAME,
                    x11rb::protocol::xproto::AtomEnum::ANY,
                    0,
                    256,
                )
                .map_err(|e| e.to_string())?
                .reply()
                .map_err(|e| e.to_string())?;
            if !String::from_utf8_lossy(&name.value).contains(title) {
                continue;
            }
            let attrs = conn
                .get_window_attributes(w)
                .map_err(|e| e.to_string())?
                .reply()
                .map_err(|e| e.to_string())?;
            if attrs.map_state != x11rb::protocol::xproto::MapState::VIEWABLE {
                continue;
            }
            let geo = conn
                .get_geometry(w)
                .map_err(|e| e.to_string())?
                .reply()
                .map_err(|e| e.to_string())?;
            let area = geo.width as u32 * geo.height as u32;
            if best.is_none_or(|(a, _)| area > a) {
                best = Some((area, w));
            }
        }
        Ok(best.map(|(_, w)| w))
    }
}

#[cfg(not(target_os = "linux"))]
mod screenshot {
    /// Screenshots need X11; elsewhere this says so.
    pub fn capture_window(_title: &str, _out: &std::path::Path) -> Result<(u32, u32), String> {
        Err("screenshots are only implemented for X11 (Linux)".into())
    }
}
