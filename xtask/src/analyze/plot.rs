//! PNG pictures of `analyze`: one song's timeline over its log-mel spectrogram, and two
//! songs' timelines side by side with their difference (`--compare`).

use std::path::Path;

use chorder_analysis::offline::SongResult;
use chorder_analysis::uncertainty::Calibration;
use chorder_engine::{logmel_from_reader, AudioReader, FrontEndConfig};
use chorder_plots::{lines, Frame, Heatmap, Series};

/// Colour of the integrated estimate and its band (orange-red, visible on viridis).
const INTEGRATED: (u8, u8, u8) = (255, 90, 40);
/// Colour of the momentary estimate (white, visible on viridis and on the orange line).
const MOMENTARY: (u8, u8, u8) = (255, 255, 255);

fn series_of(
    song: &SongResult,
    get: impl Fn(&chorder_analysis::offline::TimelinePoint) -> Option<f32>,
) -> (Vec<f32>, Vec<f32>) {
    song.timeline
        .iter()
        .filter_map(|p| get(p).map(|y| (p.t as f32, y)))
        .unzip()
}

/// Draws `song`'s integrated (bold line) and momentary (thin line with rings, on top)
/// estimates (0-100) against time (s) over the log-mel spectrogram of the same audio
/// (re-read from `reader` with front end `fe`); with a `calibration`, a band of ± its
/// half-width around the integrated line. The title gives the overall estimate with its
/// interval and names the sections that raised and lowered the estimate most.
pub(super) fn timeline_png(
    path: &Path,
    song: &SongResult,
    calibration: Option<&Calibration>,
    reader: &mut AudioReader,
    fe: &FrontEndConfig,
) -> anyhow::Result<()> {
    let mel = logmel_from_reader(reader, fe)?;
    let n_frames = mel.frames.len() / mel.n_mels.max(1);
    let hop_s = fe.hop_length as f32 / fe.sample_rate as f32;
    let (tm, ym) = series_of(song, |p| p.momentary);
    let (ti, yi) = series_of(song, |p| p.integrated);
    let (up, down) = chorder_analysis::explain::strongest(&song.explanation, 1);
    let mut title = format!(
        "{}: estimate {}",
        song.file,
        song.estimate.map_or("n/a".into(), |e| format!("{e:.1}"))
    );
    if let (Some([lo, hi]), Some(c)) = (song.interval, song.coverage) {
        title += &format!(" [{lo:.1}, {hi:.1}] ({:.0} %)", c * 100.0);
    }
    if let Some(s) = up.first() {
        title += &format!("; up {:.1}-{:.1} s ({:+.1})", s.start, s.end, s.change);
    }
    if let Some(s) = down.first() {
        title += &format!("; down {:.1}-{:.1} s ({:+.1})", s.start, s.end, s.change);
    }
    let end = (n_frames as f32 * hop_s).max(song.seconds as f32);
    let frame = Frame::new(
        &title,
        "time (s)",
        "popularity estimate (0-100); log-mel below",
    )
    .size(900, 420)
    .x_range(0.0, end)
    .y_range(0.0, 100.0);
    let heat = Heatmap {
        values: &mel.frames[..n_frames * mel.n_mels],
        n_x: n_frames,
        n_y: mel.n_mels,
        x_range: (0.0, n_frames as f32 * hop_s),
        y_range: (0.0, 100.0),
        value_range: None,
    };
    // The interval around the running estimate: the overall estimate's half-width (its
    // coverage is stated for the overall estimate of songs like the calibration set).
    let (lo, hi): (Vec<f32>, Vec<f32>) = yi
        .iter()
        .map(|&y| calibration.map_or([y, y], |c| c.interval(y)))
        .map(|[l, h]| (l, h))
        .unzip();
    let band_name = calibration.map(|c| {
        format!(
            "{:.0} % interval (±{:.1})",
            c.coverage * 100.0,
            c.half_width
        )
    });
    let mut integrated = Series::new("integrated (song so far)", &ti, &yi)
        .width(3)
        .color(INTEGRATED);
    if let Some(name) = &band_name {
        integrated = integrated.band(name, &lo, &hi);
    }
    // Momentary on top, thin with a ring per window, so both stay visible where they agree.
    let momentary = Series::new("momentary (this window)", &tm, &ym)
        .width(1)
        .markers(4)
        .color(MOMENTARY);
    lines(
        path,
        &frame,
        &[integrated, momentary],
        (n_frames > 0).then_some(&heat),
    )?;
    Ok(())
}

/// Draws the integrated timelines of `a` and `b` and their difference `b - a` against time.
pub(super) fn compare_png(path: &Path, a: &SongResult, b: &SongResult) -> anyhow::Result<()> {
    let (ta, ya) = series_of(a, |p| p.integrated);
    let (tb, yb) = series_of(b, |p| p.integrated);
    let n = ya.len().min(yb.len());
    let diff: Vec<f32> = (0..n).map(|i| yb[i] - ya[i]).collect();
    let title = format!("A: {}  vs  B: {}", a.file, b.file);
    let frame = Frame::new(&title, "time (s)", "integrated estimate (0-100); B - A").size(900, 420);
    lines(
        path,
        &frame,
        &[
            Series::new("A", &ta, &ya),
            Series::new("B", &tb, &yb),
            Series::new("B - A", &ta[..n], &diff),
        ],
        None,
    )?;
    Ok(())
}
