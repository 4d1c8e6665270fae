//! The standalone app starts under a virtual X server (Xvfb), analyses a generated input
//! file with the dummy audio backend (no sound card) and renders its editor: the window it
//! writes with `--screenshot` has the editor's size, is not blank or uniform, and shows the
//! meter's accent colour (text and bars were drawn, fonts included).
//!
//! Skipped, with a message, when `Xvfb` is not installed; `.ci/run` installs it (packages
//! `xvfb xauth libgl1-mesa-dri`), so CI runs it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chorder_plugin::editor::EDITOR_SIZE;

struct Xvfb(Child);

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Xvfb on the first free display from :140 (the screenshot command uses :90 up), or
/// `None` when Xvfb is not installed.
fn start_xvfb() -> Option<(Xvfb, String)> {
    for n in 140..180 {
        if Path::new(&format!("/tmp/.X{n}-lock")).exists() {
            continue;
        }
        let display = format!(":{n}");
        let child = match Command::new("Xvfb")
            .args([
                display.as_str(),
                "-screen",
                "0",
                &format!("{}x{}x24", EDITOR_SIZE.0, EDITOR_SIZE.1),
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(_) => return None,
        };
        let mut x = Xvfb(child);
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
                return Some((x, display));
            }
            if x.0.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("Xvfb is installed but no display between :140 and :179 could be started");
}

/// 6 s of a 16-bit mono WAV at 22.05 kHz: a chord with a pulsing envelope.
fn write_input(path: &Path) {
    let sr = 22_050u32;
    let n = 6 * sr as usize;
    let mut data = Vec::with_capacity(44 + 2 * n);
    let push32 = |d: &mut Vec<u8>, v: u32| d.extend_from_slice(&v.to_le_bytes());
    data.extend_from_slice(b"RIFF");
    push32(&mut data, 36 + 2 * n as u32);
    data.extend_from_slice(b"WAVEfmt ");
    push32(&mut data, 16);
    data.extend_from_slice(&1u16.to_le_bytes()); // PCM
    data.extend_from_slice(&1u16.to_le_bytes()); // mono
    push32(&mut data, sr);
    push32(&mut data, 2 * sr);
    data.extend_from_slice(&2u16.to_le_bytes());
    data.extend_from_slice(&16u16.to_le_bytes());
    data.extend_from_slice(b"data");
    push32(&mut data, 2 * n as u32);
    for i in 0..n {
        let t = i as f32 / sr as f32;
        let env = 0.5 + 0.5 * (std::f32::consts::TAU * 2.0 * t).sin().max(0.0);
        let x: f32 = [220.0f32, 277.2, 329.6]
            .iter()
            .map(|f| (std::f32::consts::TAU * f * t).sin())
            .sum::<f32>()
            * 0.2
            * env;
        data.extend_from_slice(&((x * 32767.0) as i16).to_le_bytes());
    }
    std::fs::write(path, data).unwrap();
}

#[test]
fn standalone_app_renders_its_editor_under_xvfb() {
    let Some((_xvfb, display)) = start_xvfb() else {
        eprintln!("SKIPPED: Xvfb is not installed (apt-get install xvfb xauth libgl1-mesa-dri)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("chorder-xvfb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let wav = dir.join("input.wav");
    write_input(&wav);
    let png: PathBuf = dir.join("shot.png");
    let out = Command::new(env!("CARGO_BIN_EXE_chorder_plugin"))
        .env("DISPLAY", &display)
        .arg("--input")
        .arg(&wav)
        .arg("--screenshot")
        .arg(&png)
        .args(["--screenshot-after", "8", "--backend", "dummy"])
        .output()
        .expect("start the standalone app");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "app failed ({}):\n{log}", out.status);
    assert!(log.contains("22050 Hz"), "input not played:\n{log}");

    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), EDITOR_SIZE);
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let rgb: Vec<[u8; 3]> = pixels[..info.buffer_size()]
        .chunks_exact(3)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    let mut colours = rgb.clone();
    colours.sort_unstable();
    colours.dedup();
    assert!(
        colours.len() > 100,
        "only {} distinct colours: the editor did not render",
        colours.len()
    );
    // The accent orange (0xe0 0x9a 0x2b) of the title, read-out and bar.
    let accent = rgb
        .iter()
        .filter(|p| p[0] > 200 && (130..170).contains(&p[1]) && p[2] < 80)
        .count();
    assert!(accent > 500, "only {accent} accent pixels");
    let _ = std::fs::remove_dir_all(&dir);
}
