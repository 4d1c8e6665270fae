//! Each chart kind writes a PNG of the requested size whose data pixels are drawn: the
//! series' exact colours appear in the image (and do not when the data is absent).

use chorder_plots::{
    grouped_bars, heatmap, line_panels, lines, palette, scatter, viridis, Bars, Frame, Heatmap,
    Panel, Series, BACKGROUND,
};
use std::path::Path;

/// Decodes an RGB(A) PNG into `(width, height, rgb pixels)`.
fn read_png(path: &Path) -> (u32, u32, Vec<(u8, u8, u8)>) {
    let decoder = png::Decoder::new(std::fs::File::open(path).expect("png written"));
    let mut reader = decoder.read_info().expect("valid png header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("valid png data");
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected colour type {other:?}"),
    };
    let px = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|c| (c[0], c[1], c[2]))
        .collect();
    (info.width, info.height, px)
}

fn count(px: &[(u8, u8, u8)], c: (u8, u8, u8)) -> usize {
    px.iter().filter(|&&p| p == c).count()
}

#[test]
fn scatter_draws_points_and_identity_line() {
    let dir = tempfile::tempdir().unwrap();
    let truth: Vec<f32> = (0..200).map(|i| i as f32 / 200.0).collect();
    let pred: Vec<f32> = truth.iter().map(|t| 0.8 * t + 0.1).collect();
    let frame = Frame::new("predicted vs true", "true", "predicted").size(640, 480);
    let full = dir.path().join("scatter.png");
    scatter(&full, &frame, &[Series::new("model", &truth, &pred)], true).unwrap();
    let (w, h, px) = read_png(&full);
    assert_eq!((w, h), (640, 480));
    let with_data = count(&px, palette(0));
    let line = count(&px, (120, 120, 120));
    assert!(px[0] == BACKGROUND, "corner is background");
    // Without points only the legend marker has the series colour.
    let empty = dir.path().join("empty.png");
    scatter(&empty, &frame, &[Series::new("model", &[], &[])], true).unwrap();
    let (_, _, px0) = read_png(&empty);
    let without = count(&px0, palette(0));
    assert!(
        with_data > without + 1000,
        "points drawn: {with_data} series pixels vs {without} without data"
    );
    assert!(line > 300, "identity line drawn: {line} pixels");
}

#[test]
fn grouped_bars_draw_one_bar_per_series_and_group() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bars.png");
    let groups = ["<0.2", "0.2-0.4", "0.4-0.6", ">0.6"];
    let a = [10.0, 5.0, 4.0, 12.0];
    let b = [8.0, 6.0, 5.0, 9.0];
    let frame = Frame::new("error by band", "band", "MAE").size(500, 400);
    grouped_bars(
        &path,
        &frame,
        &groups,
        &[
            Bars {
                name: "chorder",
                values: &a,
            },
            Bars {
                name: "hitmusicnet",
                values: &b,
            },
        ],
    )
    .unwrap();
    let (w, h, px) = read_png(&path);
    assert_eq!((w, h), (500, 400));
    let (ca, cb) = (count(&px, palette(0)), count(&px, palette(1)));
    // Series A's bars are taller in total (31 vs 28 units): more pixels.
    assert!(ca > 2000 && cb > 2000, "bars drawn: {ca}, {cb}");
    assert!(ca > cb, "taller bars cover more pixels: {ca} vs {cb}");
    // Inconsistent input is an error, not a panic.
    let bad = grouped_bars(
        &path,
        &frame,
        &groups,
        &[Bars {
            name: "x",
            values: &a[..2],
        }],
    );
    assert!(bad.is_err());
}

#[test]
fn lines_draw_series_over_heatmap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lines.png");
    let x: Vec<f32> = (0..100).map(|i| i as f32 * 0.1).collect();
    let y1: Vec<f32> = x.iter().map(|x| 0.5 + 0.4 * (x * 0.7).sin()).collect();
    let mut y2: Vec<f32> = x.iter().map(|x| 0.3 + 0.02 * x).collect();
    y2[50] = f32::NAN; // a gap
    let frame = Frame::new("timeline", "time (s)", "popularity")
        .size(700, 300)
        .y_range(0.0, 1.0);
    let series = [Series::new("a", &x, &y1), Series::new("b", &x, &y2)];
    lines(&path, &frame, &series, None).unwrap();
    let (w, h, px) = read_png(&path);
    assert_eq!((w, h), (700, 300));
    assert!(count(&px, palette(0)) > 500 && count(&px, palette(1)) > 500);

    // The same lines over a log-mel-like gradient (dark at the bottom, bright at the top).
    let (n_x, n_y) = (40, 16);
    let values: Vec<f32> = (0..n_x * n_y).map(|i| (i % n_y) as f32).collect();
    let map = Heatmap {
        values: &values,
        n_x,
        n_y,
        x_range: (0.0, 9.9),
        y_range: (0.0, 1.0),
        value_range: None,
    };
    let over = dir.path().join("over.png");
    lines(&over, &frame, &series, Some(&map)).unwrap();
    let (_, _, px) = read_png(&over);
    assert!(count(&px, viridis(0.0)) > 1000, "lowest band drawn dark");
    assert!(count(&px, viridis(1.0)) > 1000, "highest band drawn bright");
    assert!(count(&px, palette(0)) > 500, "lines drawn over the heatmap");
}

#[test]
fn heatmap_alone_fills_plot_area_and_rejects_bad_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("heat.png");
    let values: Vec<f32> = (0..20 * 10).map(|i| (i / 10) as f32).collect(); // grows along x
    let map = Heatmap {
        values: &values,
        n_x: 20,
        n_y: 10,
        x_range: (0.0, 2.0),
        y_range: (0.0, 128.0),
        value_range: Some((0.0, 19.0)),
    };
    let frame = Frame::new("log-mel", "time (s)", "mel band").size(400, 300);
    heatmap(&path, &frame, &map).unwrap();
    let (w, h, px) = read_png(&path);
    assert_eq!((w, h), (400, 300));
    let dark = count(&px, viridis(0.0));
    let bright = count(&px, viridis(1.0));
    assert!(
        dark > 500 && bright > 500,
        "ends of the colour map: {dark}, {bright}"
    );
    let background = count(&px, BACKGROUND);
    assert!(
        background < px.len() / 2,
        "most of the image is the heatmap"
    );
    let bad = Heatmap { n_x: 3, ..map };
    assert!(heatmap(&path, &frame, &bad).is_err());
    assert!(heatmap(&path, &frame.clone().size(10, 10), &map).is_err());
}

#[test]
fn line_panels_fill_a_grid_row_by_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("panels.png");
    let x: Vec<f32> = (0..50).map(|i| i as f32).collect();
    // Three panels on very different scales, each with a "train" and a "validation" line.
    let ys: Vec<(Vec<f32>, Vec<f32>)> = [1.0f32, 1e-3, 50.0]
        .iter()
        .map(|&k| {
            (
                x.iter().map(|x| k * (1.0 + 1.0 / (1.0 + x))).collect(),
                x.iter().map(|x| k * (1.2 + 1.0 / (1.0 + x))).collect(),
            )
        })
        .collect();
    let panels: Vec<Panel> = ys
        .iter()
        .map(|(t, v)| Panel {
            frame: Frame::new("stage", "epoch", "loss"),
            series: vec![
                Series::new("train", &x, t),
                Series::new("validation", &x, v),
            ],
        })
        .collect();
    line_panels(&path, "Training", (800, 600), 2, &panels).unwrap();
    let (w, h, px) = read_png(&path);
    assert_eq!((w, h), (800, 600));
    // Pixels of the series colours per quadrant (row-major: panels 0, 1 on top, 2 below).
    let quadrant = |qx: u32, qy: u32, c| {
        let mut n = 0;
        for y in qy * h / 2..(qy + 1) * h / 2 {
            for x in qx * w / 2..(qx + 1) * w / 2 {
                n += usize::from(px[(y * w + x) as usize] == c);
            }
        }
        n
    };
    for (qx, qy) in [(0, 0), (1, 0), (0, 1)] {
        for c in [palette(0), palette(1)] {
            let n = quadrant(qx, qy, c);
            assert!(n > 150, "panel ({qx}, {qy}) draws colour {c:?}: {n} px");
        }
    }
    // The fourth cell has no panel: no series colour there.
    assert_eq!(quadrant(1, 1, palette(0)) + quadrant(1, 1, palette(1)), 0);
    assert!(line_panels(&path, "t", (800, 600), 2, &[]).is_err());
    assert!(line_panels(&path, "t", (800, 600), 0, &panels).is_err());
}

#[test]
fn lines_draw_bands_under_lines_and_markers_on_top() {
    let dir = tempfile::tempdir().unwrap();
    let x: Vec<f32> = (0..10).map(|i| i as f32).collect();
    let y: Vec<f32> = x.iter().map(|_| 0.5).collect();
    let low: Vec<f32> = x.iter().map(|_| 0.3).collect();
    let high: Vec<f32> = x.iter().map(|_| 0.7).collect();
    let frame = Frame::new("", "t", "v")
        .size(400, 300)
        .x_range(-1.0, 10.0)
        .y_range(0.0, 1.0);
    let (band_rgb, mark_rgb) = ((200, 0, 0), (0, 0, 200));
    // A bold red line with a red band, and on the SAME values blue rings without a line.
    let series = [
        Series::new("bold", &x, &y)
            .width(3)
            .color(band_rgb)
            .band("interval", &low, &high),
        Series::new("rings", &x, &y)
            .width(0)
            .markers(6)
            .color(mark_rgb),
    ];
    let path = dir.path().join("styled.png");
    lines(&path, &frame, &series, None).unwrap();
    let (_, _, px) = read_png(&path);
    // The band: red at 25 % over white ≈ (241, 191, 191); allow rounding.
    let near = |p: &(u8, u8, u8), c: (u8, u8, u8)| {
        (p.0 as i32 - c.0 as i32).abs() <= 3
            && (p.1 as i32 - c.1 as i32).abs() <= 3
            && (p.2 as i32 - c.2 as i32).abs() <= 3
    };
    let band_px = px.iter().filter(|p| near(p, (241, 191, 191))).count();
    // The band spans ≈ 275 × 90 px (9/11 of the plot width, 0.4 of its height), about half
    // of which the light grid lines cross; the legend sample alone is ≈ 160 px.
    assert!(band_px > 8_000, "band pixels {band_px}");
    assert!(
        count(&px, band_rgb) > 500,
        "the bold line drawn over the band"
    );
    assert!(
        count(&px, mark_rgb) > 200,
        "the rings drawn over the bold line"
    );

    // Without markers and with width 0 the second series leaves no pixel.
    let hidden = [
        series[0],
        Series::new("none", &x, &y).width(0).color(mark_rgb),
    ];
    lines(&path, &frame, &hidden, None).unwrap();
    let (_, _, px) = read_png(&path);
    assert!(
        count(&px, mark_rgb) < 50,
        "only its legend sample may remain"
    );

    // A band whose length differs from x is refused.
    let bad = [Series::new("b", &x, &y).band("i", &low[..3], &high)];
    assert!(lines(&path, &frame, &bad, None).is_err());
}
