//! Chorder's charts, written as PNG files: the project's one place for plots.
//!
//! Five chart kinds, each a function that takes plain slices, a [`Frame`] (title, axis
//! labels, pixel size, optional axis ranges) and an output path, and returns
//! `Result<(), PlotError>`:
//! - [`scatter`]: point series, optionally with the identity line `y = x` (predicted vs
//!   true);
//! - [`grouped_bars`]: one bar per series in each group (error by popularity band, several
//!   models);
//! - [`lines`]: several line series over a shared x axis (training curves, timelines,
//!   percentiles, A/B comparisons), each with its width, opacity, markers and an optional
//!   shaded band (an interval), optionally over a [`Heatmap`] layer (a log-mel spectrogram
//!   under a timeline);
//! - [`line_panels`]: a grid of such line charts with their own axes in one image (training
//!   curves, one panel per stage);
//! - [`heatmap`]: a heatmap layer alone.
//!
//! Rendering uses plotters' bitmap backend; text is drawn with the embedded DejaVu Sans
//! font (`assets/DejaVuSans.ttf`, Bitstream Vera licence in
//! `assets/DejaVuSans-LICENSE.txt`), so no system font or fontconfig is needed. Series
//! colours come from [`palette`], heatmap colours from the viridis map ([`viridis`]).
//! Non-finite values are skipped (a line breaks at them).

#![warn(missing_docs)]

use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;
use std::path::Path;
use std::sync::OnceLock;

/// The embedded font (DejaVu Sans 2.37, TrueType).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
/// Family name under which [`FONT`] is registered with plotters.
const FAMILY: &str = "sans-serif";
/// Background colour of every chart.
pub const BACKGROUND: (u8, u8, u8) = (255, 255, 255);

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The input data is inconsistent (lengths differ, empty image, bad size).
    #[error("bad plot input: {0}")]
    Input(String),
    /// plotters failed to draw or to write the file.
    #[error("drawing failed: {0}")]
    Draw(String),
}

fn draw_err<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// Registers the embedded font once per process.
fn ensure_font() -> Result<(), PlotError> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok()
            && plotters::style::register_font(FAMILY, FontStyle::Bold, FONT).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(PlotError::Draw(
            "the embedded font could not be read".into(),
        ))
    }
}

/// Colour of series `i` (cycles through 8 distinct colours), as RGB bytes.
pub fn palette(i: usize) -> (u8, u8, u8) {
    const P: [(u8, u8, u8); 8] = [
        (31, 119, 180),
        (214, 39, 40),
        (44, 160, 44),
        (255, 127, 14),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (23, 190, 207),
    ];
    P[i % P.len()]
}

/// Viridis colour of `t` in \[0, 1\] (clamped), as RGB bytes: dark purple at 0, yellow at 1.
pub fn viridis(t: f32) -> (u8, u8, u8) {
    let c = ViridisRGB::get_color_normalized(t.clamp(0.0, 1.0), 0.0, 1.0);
    (c.0, c.1, c.2)
}

fn rgb((r, g, b): (u8, u8, u8)) -> RGBColor {
    RGBColor(r, g, b)
}

/// Title, axis labels, size and optional fixed axis ranges of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame<'a> {
    /// Caption above the chart (may be empty).
    pub title: &'a str,
    /// Label of the horizontal axis.
    pub x_label: &'a str,
    /// Label of the vertical axis.
    pub y_label: &'a str,
    /// Image width and height in pixels (each at least 64).
    pub size: (u32, u32),
    /// Fixed x range `(min, max)`; `None` fits the data with a 5 % margin.
    pub x_range: Option<(f32, f32)>,
    /// Fixed y range `(min, max)`; `None` fits the data with a 5 % margin.
    pub y_range: Option<(f32, f32)>,
    /// Corner of the plot area that holds the legend (default: upper left).
    pub legend: Corner,
}

/// A corner of the plot area (where the legend goes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Corner {
    /// Top left (the default).
    #[default]
    UpperLeft,
    /// Top right (e.g. for falling curves, which start top left).
    UpperRight,
    /// Bottom left.
    LowerLeft,
    /// Bottom right.
    LowerRight,
}

impl<'a> Frame<'a> {
    /// A 800 × 600 frame with automatic ranges.
    pub fn new(title: &'a str, x_label: &'a str, y_label: &'a str) -> Self {
        Self {
            title,
            x_label,
            y_label,
            size: (800, 600),
            x_range: None,
            y_range: None,
            legend: Corner::UpperLeft,
        }
    }

    /// The same frame with the legend in another corner.
    pub fn legend(mut self, corner: Corner) -> Self {
        self.legend = corner;
        self
    }

    /// The same frame with another pixel size.
    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.size = (width, height);
        self
    }

    /// The same frame with a fixed x range.
    pub fn x_range(mut self, min: f32, max: f32) -> Self {
        self.x_range = Some((min, max));
        self
    }

    /// The same frame with a fixed y range.
    pub fn y_range(mut self, min: f32, max: f32) -> Self {
        self.y_range = Some((min, max));
        self
    }

    fn check(&self) -> Result<(), PlotError> {
        if self.size.0 < 64 || self.size.1 < 64 {
            return Err(PlotError::Input(format!(
                "image size {:?} is below 64 × 64",
                self.size
            )));
        }
        for r in [self.x_range, self.y_range].into_iter().flatten() {
            if !(r.0.is_finite() && r.1.is_finite() && r.0 < r.1) {
                return Err(PlotError::Input(format!("axis range {r:?} is empty")));
            }
        }
        Ok(())
    }
}

/// One named series of `(x[i], y[i])` pairs, for [`scatter`] and [`lines`], with how
/// [`lines`] draws it (line width, opacity, markers, colour, an optional band); [`scatter`]
/// uses only the coordinates and the colour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Series<'a> {
    /// Legend entry (an empty name adds no legend entry).
    pub name: &'a str,
    /// Horizontal coordinates.
    pub x: &'a [f32],
    /// Vertical coordinates, same length as `x`.
    pub y: &'a [f32],
    /// Line width in pixels (0: no line); default 2.
    pub width: u32,
    /// Opacity of line and markers, 0 (invisible) to 1 (default).
    pub opacity: f64,
    /// Radius in pixels of a hollow circle drawn at every point (0: none, the default).
    pub marker: u32,
    /// Colour as RGB bytes; default [`palette`] of the series' index.
    pub color: Option<(u8, u8, u8)>,
    /// A shaded band around the series, drawn under every line.
    pub band: Option<Band<'a>>,
}

/// A shaded band from `low[i]` to `high[i]` at `x[i]` of its [`Series`] (an uncertainty
/// interval), in the series' colour at [`Band::opacity`]; non-finite bounds break it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band<'a> {
    /// Legend entry (empty: none).
    pub name: &'a str,
    /// Lower edge, one value per x.
    pub low: &'a [f32],
    /// Upper edge, one value per x.
    pub high: &'a [f32],
    /// Fill opacity, 0-1.
    pub opacity: f64,
}

impl<'a> Series<'a> {
    /// A series from its name and coordinates: a 2 px opaque line in its palette colour.
    pub fn new(name: &'a str, x: &'a [f32], y: &'a [f32]) -> Self {
        Self {
            name,
            x,
            y,
            width: 2,
            opacity: 1.0,
            marker: 0,
            color: None,
            band: None,
        }
    }

    /// The same series with line width `px` (0: markers only).
    pub fn width(mut self, px: u32) -> Self {
        self.width = px;
        self
    }

    /// The same series drawn with opacity `alpha` (0-1).
    pub fn opacity(mut self, alpha: f64) -> Self {
        self.opacity = alpha.clamp(0.0, 1.0);
        self
    }

    /// The same series with a hollow circle of radius `px` at every point.
    pub fn markers(mut self, px: u32) -> Self {
        self.marker = px;
        self
    }

    /// The same series in colour `rgb` instead of its palette colour.
    pub fn color(mut self, rgb: (u8, u8, u8)) -> Self {
        self.color = Some(rgb);
        self
    }

    /// The same series with a shaded band from `low` to `high` (25 % opacity) named `name`.
    pub fn band(mut self, name: &'a str, low: &'a [f32], high: &'a [f32]) -> Self {
        self.band = Some(Band {
            name,
            low,
            high,
            opacity: 0.25,
        });
        self
    }

    fn check(&self) -> Result<(), PlotError> {
        if self.x.len() != self.y.len() {
            return Err(PlotError::Input(format!(
                "series {:?}: {} x values but {} y values",
                self.name,
                self.x.len(),
                self.y.len()
            )));
        }
        if let Some(b) = &self.band {
            if b.low.len() != self.x.len() || b.high.len() != self.x.len() {
                return Err(PlotError::Input(format!(
                    "band of series {:?}: {} low and {} high values for {} x values",
                    self.name,
                    b.low.len(),
                    b.high.len(),
                    self.x.len()
                )));
            }
        }
        Ok(())
    }
}

/// Runs of consecutive points whose values are all finite (a gap breaks a run).
fn finite_runs<const N: usize>(points: impl Iterator<Item = [f32; N]>) -> Vec<Vec<[f32; N]>> {
    let mut runs: Vec<Vec<[f32; N]>> = vec![Vec::new()];
    for p in points {
        if p.iter().all(|v| v.is_finite()) {
            runs.last_mut().expect("never empty").push(p);
        } else if !runs.last().expect("never empty").is_empty() {
            runs.push(Vec::new());
        }
    }
    runs.retain(|r| !r.is_empty());
    runs
}

/// One named bar series for [`grouped_bars`]: one value per group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bars<'a> {
    /// Legend entry.
    pub name: &'a str,
    /// Bar heights, one per group (non-finite values draw no bar).
    pub values: &'a [f32],
}

/// A heatmap layer: a grid of `n_x × n_y` cells with values `values[ix * n_y + iy]`
/// (x-major, so a log-mel spectrogram `[frames, mel bands]` fits as is), drawn over the
/// chart rectangle `x_range × y_range` with row `iy = 0` at the bottom, coloured with
/// viridis from `value_range.0` (dark) to `value_range.1` (yellow).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Heatmap<'a> {
    /// Cell values, `n_x * n_y` of them, x-major.
    pub values: &'a [f32],
    /// Cells along x (e.g. frames).
    pub n_x: usize,
    /// Cells along y (e.g. mel bands).
    pub n_y: usize,
    /// Chart x coordinates of the left edge of cell 0 and the right edge of cell `n_x - 1`
    /// (e.g. seconds).
    pub x_range: (f32, f32),
    /// Chart y coordinates of the bottom and the top edge of the grid (to show it under a
    /// 0–1 timeline, pass the timeline's y range).
    pub y_range: (f32, f32),
    /// Values mapped to the ends of the colour map; `None` uses the finite min and max.
    pub value_range: Option<(f32, f32)>,
}

impl Heatmap<'_> {
    fn check(&self) -> Result<(), PlotError> {
        if self.n_x == 0 || self.n_y == 0 || self.values.len() != self.n_x * self.n_y {
            return Err(PlotError::Input(format!(
                "heatmap of {} × {} cells needs {} values, got {}",
                self.n_x,
                self.n_y,
                self.n_x * self.n_y,
                self.values.len()
            )));
        }
        for r in [self.x_range, self.y_range] {
            if !(r.0.is_finite() && r.1.is_finite() && r.0 < r.1) {
                return Err(PlotError::Input(format!("heatmap range {r:?} is empty")));
            }
        }
        Ok(())
    }
}

/// `(min, max)` of the finite values, widened by 5 % (or by ±0.5 when all are equal);
/// `(0, 1)` when there are none.
fn fit_range(values: impl Iterator<Item = f32>) -> (f32, f32) {
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = 0.05 * (hi - lo);
    (lo - pad, hi + pad)
}

fn title_font(frame: &Frame) -> (&'static str, u32) {
    (FAMILY, (frame.size.1 / 25).clamp(12, 28))
}

fn label_size(frame: &Frame) -> u32 {
    (frame.size.1 / 40).clamp(10, 18)
}

/// Scatter plot of the `series` (one colour each, [`palette`] order), with the identity
/// line `y = x` in grey when `identity` is true (then both axes share one range unless the
/// frame fixes them). Writes a PNG of `frame.size` pixels to `path`.
pub fn scatter(
    path: &Path,
    frame: &Frame,
    series: &[Series],
    identity: bool,
) -> Result<(), PlotError> {
    frame.check()?;
    ensure_font()?;
    for s in series {
        s.check()?;
    }
    let xs = series.iter().flat_map(|s| s.x.iter().copied());
    let ys = series.iter().flat_map(|s| s.y.iter().copied());
    let (xr, yr) = if identity {
        let both = fit_range(xs.chain(ys));
        (frame.x_range.unwrap_or(both), frame.y_range.unwrap_or(both))
    } else {
        (
            frame.x_range.unwrap_or_else(|| fit_range(xs)),
            frame.y_range.unwrap_or_else(|| fit_range(ys)),
        )
    };
    let root = BitMapBackend::new(path, frame.size).into_drawing_area();
    root.fill(&rgb(BACKGROUND)).map_err(draw_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(frame.title, title_font(frame))
        .margin(12)
        .x_label_area_size(label_size(frame) * 3)
        .y_label_area_size(label_size(frame) * 4)
        .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_desc(frame.x_label)
        .y_desc(frame.y_label)
        .label_style((FAMILY, label_size(frame)))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(draw_err)?;
    if identity {
        let lo = xr.0.max(yr.0);
        let hi = xr.1.min(yr.1);
        if lo < hi {
            chart
                .draw_series(LineSeries::new(
                    [(lo, lo), (hi, hi)],
                    RGBColor(120, 120, 120).stroke_width(2),
                ))
                .map_err(draw_err)?
                .label("y = x")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RGBColor(120, 120, 120)));
        }
    }
    let radius = (frame.size.1 / 200).clamp(2, 5) as i32;
    for (i, s) in series.iter().enumerate() {
        let color = rgb(s.color.unwrap_or(palette(i)));
        let points =
            s.x.iter()
                .zip(s.y)
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .map(|(&x, &y)| Circle::new((x, y), radius, color.filled()));
        let drawn = chart.draw_series(points).map_err(draw_err)?;
        if !s.name.is_empty() {
            drawn
                .label(s.name)
                .legend(move |(x, y)| Circle::new((x + 8, y), radius, color.filled()));
        }
    }
    finish_legend(&mut chart, frame)?;
    root.present().map_err(draw_err)
}

fn finish_legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<
        'a,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf32, plotters::coord::types::RangedCoordf32>,
    >,
    frame: &Frame,
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(match frame.legend {
            Corner::UpperLeft => SeriesLabelPosition::UpperLeft,
            Corner::UpperRight => SeriesLabelPosition::UpperRight,
            Corner::LowerLeft => SeriesLabelPosition::LowerLeft,
            Corner::LowerRight => SeriesLabelPosition::LowerRight,
        })
        .label_font((FAMILY, label_size(frame)))
        .background_style(RGBColor(255, 255, 255).mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .draw()
        .map_err(draw_err)
}

/// Grouped bar chart: for each of the `groups` (x axis, labelled with their names), one bar
/// per entry of `series` side by side ([`palette`] colours), heights from
/// `series[k].values[group]`. Every series needs one value per group. The y axis starts at 0
/// (or below, for negative values) unless the frame fixes it. Writes a PNG to `path`.
pub fn grouped_bars(
    path: &Path,
    frame: &Frame,
    groups: &[&str],
    series: &[Bars],
) -> Result<(), PlotError> {
    frame.check()?;
    ensure_font()?;
    if groups.is_empty() || series.is_empty() {
        return Err(PlotError::Input(
            "a bar chart needs groups and series".into(),
        ));
    }
    for s in series {
        if s.values.len() != groups.len() {
            return Err(PlotError::Input(format!(
                "bar series {:?} has {} values for {} groups",
                s.name,
                s.values.len(),
                groups.len()
            )));
        }
    }
    let yr = frame.y_range.unwrap_or_else(|| {
        let (lo, hi) = fit_range(
            series
                .iter()
                .flat_map(|s| s.values.iter().copied())
                .chain([0.0]),
        );
        // Head room for the legend in the upper right corner.
        (
            lo.min(0.0),
            hi + 0.12 * series.len() as f32 * (hi - lo.min(0.0)),
        )
    });
    let root = BitMapBackend::new(path, frame.size).into_drawing_area();
    root.fill(&rgb(BACKGROUND)).map_err(draw_err)?;
    let n_groups = groups.len();
    // Group g occupies x in [g, g + 1]; its name is written under the centre g + 0.5.
    let mut chart = ChartBuilder::on(&root)
        .caption(frame.title, title_font(frame))
        .margin(12)
        .x_label_area_size(label_size(frame) * 3)
        .y_label_area_size(label_size(frame) * 4)
        .build_cartesian_2d(0f32..n_groups as f32, yr.0..yr.1)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc(frame.x_label)
        .y_desc(frame.y_label)
        .label_style((FAMILY, label_size(frame)))
        .light_line_style(RGBColor(235, 235, 235))
        .x_labels(0)
        .draw()
        .map_err(draw_err)?;
    // Bars fill 80 % of each group's slot, side by side.
    let k = series.len() as f32;
    let base = 0f32.clamp(yr.0, yr.1);
    for (si, s) in series.iter().enumerate() {
        let color = rgb(palette(si));
        let bars = s
            .values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(gi, &v)| {
                let x0 = gi as f32 + 0.1 + 0.8 * si as f32 / k;
                let x1 = gi as f32 + 0.1 + 0.8 * (si as f32 + 1.0) / k;
                Rectangle::new([(x0, base), (x1, v.clamp(yr.0, yr.1))], color.filled())
            });
        chart.draw_series(bars).map_err(draw_err)?;
    }
    let area = chart.plotting_area();
    let pixel_area = root.strip_coord_spec();
    let name_style = TextStyle::from((FAMILY, label_size(frame)).into_font()).pos(
        plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Top,
        ),
    );
    for (g, name) in groups.iter().enumerate() {
        let (x, y) = area.map_coordinate(&(g as f32 + 0.5, yr.0));
        pixel_area
            .draw(&Text::new(name.to_string(), (x, y + 6), name_style.clone()))
            .map_err(draw_err)?;
    }
    // Legend: drawn by hand in the upper right corner of the plotting area.
    let (px, py) = area.get_pixel_range();
    let size = label_size(frame) as i32;
    let pixel_area = root.strip_coord_spec();
    for (si, s) in series.iter().enumerate() {
        let x = px.end - 8 - size * 10;
        let y = py.start + 8 + si as i32 * (size + 6);
        pixel_area
            .draw(&Rectangle::new(
                [(x, y), (x + size, y + size)],
                rgb(palette(si)).filled(),
            ))
            .map_err(draw_err)?;
        pixel_area
            .draw(&Text::new(
                s.name.to_string(),
                (x + size + 6, y),
                (FAMILY, label_size(frame)),
            ))
            .map_err(draw_err)?;
    }
    root.present().map_err(draw_err)
}

/// Line chart of the `series` (by default [`palette`] colours, 2 px wide; see [`Series`] for
/// width, opacity, markers, colour and bands), drawn in order (later series on top; all bands
/// under all lines) over `background` when given (see [`Heatmap`]; the axes then cover at
/// least the heatmap's rectangle).
/// Writes a PNG to `path`.
pub fn lines(
    path: &Path,
    frame: &Frame,
    series: &[Series],
    background: Option<&Heatmap>,
) -> Result<(), PlotError> {
    frame.check()?;
    ensure_font()?;
    for s in series {
        s.check()?;
    }
    if let Some(h) = background {
        h.check()?;
    }
    let root = BitMapBackend::new(path, frame.size).into_drawing_area();
    root.fill(&rgb(BACKGROUND)).map_err(draw_err)?;
    draw_lines(&root, frame, series, background)?;
    root.present().map_err(draw_err)
}

/// One panel of [`line_panels`]: its frame (title, axis labels, optional ranges; the size
/// is ignored, panels share the image evenly) and its line series.
pub struct Panel<'a> {
    /// Caption, axis labels and ranges of this panel.
    pub frame: Frame<'a>,
    /// The panel's series; colours restart at [`palette`]`(0)` in every panel, so the same
    /// role (e.g. "train", "validation") has the same colour everywhere.
    pub series: Vec<Series<'a>>,
}

/// A grid of line charts in one PNG of `size` pixels: `panels` fill `columns` columns row
/// by row, each with its own axes and ranges (e.g. one panel per training stage, whose
/// losses live on different scales), under an overall `title`.
pub fn line_panels(
    path: &Path,
    title: &str,
    size: (u32, u32),
    columns: usize,
    panels: &[Panel],
) -> Result<(), PlotError> {
    if panels.is_empty() || columns == 0 {
        return Err(PlotError::Input("no panels or no columns".into()));
    }
    let columns = columns.min(panels.len());
    let rows = panels.len().div_ceil(columns);
    let whole = Frame::new(title, "", "").size(size.0, size.1);
    whole.check()?;
    ensure_font()?;
    for p in panels {
        for s in &p.series {
            s.check()?;
        }
    }
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&rgb(BACKGROUND)).map_err(draw_err)?;
    let body = root.titled(title, title_font(&whole)).map_err(draw_err)?;
    let cells = body.split_evenly((rows, columns));
    for (cell, p) in cells.iter().zip(panels) {
        let (w, h) = cell.dim_in_pixel();
        let mut frame = p.frame.clone();
        frame.size = (w.max(64), h.max(64));
        draw_lines(cell, &frame, &p.series, None)?;
    }
    root.present().map_err(draw_err)
}

/// Draws [`lines`]' chart into `root` (already filled with the background).
fn draw_lines<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    frame: &Frame,
    series: &[Series],
    background: Option<&Heatmap>,
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    let hx = background.map(|h| [h.x_range.0, h.x_range.1]);
    let hy = background.map(|h| [h.y_range.0, h.y_range.1]);
    let xr = frame.x_range.unwrap_or_else(|| match hx {
        Some(r) if series.iter().all(|s| s.x.is_empty()) => (r[0], r[1]),
        _ => fit_range(
            series
                .iter()
                .flat_map(|s| s.x.iter().copied())
                .chain(hx.into_iter().flatten()),
        ),
    });
    let yr = frame.y_range.unwrap_or_else(|| match hy {
        Some(r) if series.iter().all(|s| s.y.is_empty()) => (r[0], r[1]),
        _ => fit_range(
            series
                .iter()
                .flat_map(|s| s.y.iter().copied())
                .chain(hy.into_iter().flatten()),
        ),
    });
    let mut chart = ChartBuilder::on(root)
        .caption(frame.title, title_font(frame))
        .margin(12)
        .x_label_area_size(label_size(frame) * 3)
        .y_label_area_size(label_size(frame) * 4)
        .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
        .map_err(draw_err)?;
    if let Some(h) = background {
        let (lo, hi) = h.value_range.unwrap_or_else(|| {
            let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
            for &v in h.values.iter().filter(|v| v.is_finite()) {
                lo = lo.min(v);
                hi = hi.max(v);
            }
            if lo > hi {
                (0.0, 1.0)
            } else {
                (lo, hi)
            }
        });
        let span = if hi > lo { hi - lo } else { 1.0 };
        let dx = (h.x_range.1 - h.x_range.0) / h.n_x as f32;
        let dy = (h.y_range.1 - h.y_range.0) / h.n_y as f32;
        let cells = (0..h.n_x).flat_map(|ix| {
            (0..h.n_y).filter_map(move |iy| {
                let v = h.values[ix * h.n_y + iy];
                v.is_finite().then(|| {
                    let x0 = h.x_range.0 + ix as f32 * dx;
                    let y0 = h.y_range.0 + iy as f32 * dy;
                    Rectangle::new(
                        [(x0, y0), (x0 + dx, y0 + dy)],
                        rgb(viridis((v - lo) / span)).filled(),
                    )
                })
            })
        });
        chart.draw_series(cells).map_err(draw_err)?;
    }
    chart
        .configure_mesh()
        .x_desc(frame.x_label)
        .y_desc(frame.y_label)
        .label_style((FAMILY, label_size(frame)))
        .light_line_style(RGBColor(235, 235, 235).mix(if background.is_some() { 0.0 } else { 1.0 }))
        .bold_line_style(RGBColor(200, 200, 200).mix(if background.is_some() { 0.3 } else { 1.0 }))
        .draw()
        .map_err(draw_err)?;
    // Bands first, under every line.
    for (i, s) in series.iter().enumerate() {
        let Some(b) = &s.band else { continue };
        let color = rgb(s.color.unwrap_or(palette(i))).mix(b.opacity);
        let runs = finite_runs(
            (0..s.x.len()).map(|k| [s.x[k], b.low[k].min(b.high[k]), b.low[k].max(b.high[k])]),
        );
        let polygons = runs.iter().map(|run| {
            let lower = run.iter().map(|p| (p[0], p[1]));
            let upper = run.iter().rev().map(|p| (p[0], p[2]));
            Polygon::new(lower.chain(upper).collect::<Vec<_>>(), color.filled())
        });
        let drawn = chart.draw_series(polygons).map_err(draw_err)?;
        if !b.name.is_empty() && !runs.is_empty() {
            drawn.label(b.name).legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 16, y + 5)], color.filled())
            });
        }
    }
    for (i, s) in series.iter().enumerate() {
        let color = rgb(s.color.unwrap_or(palette(i))).mix(s.opacity);
        // Split at non-finite values so a gap shows as a break in the line.
        let runs = finite_runs(s.x.iter().zip(s.y).map(|(&x, &y)| [x, y]));
        if s.width > 0 {
            for run in &runs {
                chart
                    .draw_series(LineSeries::new(
                        run.iter().map(|p| (p[0], p[1])),
                        color.stroke_width(s.width),
                    ))
                    .map_err(draw_err)?;
            }
        }
        let radius = s.marker as i32;
        if radius > 0 {
            let rings = runs
                .iter()
                .flatten()
                .map(|p| Circle::new((p[0], p[1]), radius, color.stroke_width(2)));
            chart.draw_series(rings).map_err(draw_err)?;
        }
        if !s.name.is_empty() && !runs.is_empty() {
            // The legend sample: the line (if any) with the marker (if any) in its middle.
            let line = color.mix(if s.width > 0 { s.opacity } else { 0.0 });
            let ring = color.mix(if radius > 0 { s.opacity } else { 0.0 });
            let width = s.width.max(1);
            chart
                .draw_series(std::iter::empty::<Circle<(f32, f32), i32>>())
                .map_err(draw_err)?
                .label(s.name)
                .legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + PathElement::new([(0, 0), (16, 0)], line.stroke_width(width))
                        + Circle::new((8, 0), radius.max(1), ring.stroke_width(2))
                });
        }
    }
    if series.iter().any(|s| {
        (!s.name.is_empty() || s.band.is_some_and(|b| !b.name.is_empty())) && !s.x.is_empty()
    }) {
        finish_legend(&mut chart, frame)?;
    }
    Ok(())
}

/// A heatmap layer alone (see [`Heatmap`]), e.g. a log-mel spectrogram with time on x.
/// Writes a PNG to `path`.
pub fn heatmap(path: &Path, frame: &Frame, map: &Heatmap) -> Result<(), PlotError> {
    lines(path, frame, &[], Some(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_range_pads_and_handles_degenerate_input() {
        assert_eq!(fit_range([0.0, 10.0].into_iter()), (-0.5, 10.5));
        assert_eq!(fit_range([3.0, 3.0].into_iter()), (2.5, 3.5));
        assert_eq!(fit_range([f32::NAN].into_iter()), (0.0, 1.0));
    }

    #[test]
    fn viridis_ends() {
        assert_eq!(viridis(0.0), (68, 1, 84));
        assert_eq!(viridis(1.0), (254, 232, 37));
        assert_eq!(viridis(7.0), viridis(1.0));
    }
}
