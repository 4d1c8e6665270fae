//! The human-readable evaluation report: `report.md` with its PNG charts, written next to
//! `report.json` by `cargo xtask train` and `cargo xtask eval`.
//!
//! Files written into the output folder:
//! - `report.md`: split sizes, the metrics table (MAE, MSE, R² on the 0–100 scale for each
//!   model and the random baseline), MAE by popularity band, the per-song win rate of the
//!   first model against the second, per-stage training summaries, and the charts below;
//! - `scatter.png`: predicted vs true popularity (0–100) of every model, with `y = x`;
//! - `bands.png`: MAE by band (`<0.2`, `0.2–0.4`, `0.4–0.6`, `>0.6`), one bar per model;
//! - `training.png`: one panel per training stage (only when training history is given):
//!   per-epoch training loss, the monitored value and the best epoch, log10 scale.

use crate::checkpoint::StageProgress;
use crate::metrics::{EvalReport, BANDS};
use chorder_plots::{grouped_bars, line_panels, scatter, Bars, Corner, Frame, Panel, Series};
use std::fmt::Write as _;
use std::path::Path;

/// What [`write_markdown_report`] needs besides the [`EvalReport`].
pub struct ReportInputs<'a> {
    /// Title line of the report.
    pub title: &'a str,
    /// Songs in train / validation / test (`None` when unknown, e.g. for `eval`).
    pub sizes: Option<[usize; 3]>,
    /// Test targets, 0–1, one per song.
    pub truth: &'a [f32],
    /// Predictions per model (name, 0–1 per song), in the report's model order; the random
    /// baseline is not repeated here.
    pub predictions: &'a [(&'a str, &'a [f32])],
    /// Training history per model (name, its stages); may be empty.
    pub stages: &'a [(&'a str, &'a [StageProgress])],
}

fn band_name(lo: f64, hi: f64) -> String {
    if lo <= 0.0 {
        format!("<{hi:.1}")
    } else if hi >= 1.0 {
        format!(">{lo:.1}")
    } else {
        format!("{lo:.1}-{hi:.1}")
    }
}

/// Writes `report.md`, `scatter.png`, `bands.png` and (with history) `training.png` into
/// `out` (see the module doc). Returns the Markdown text.
pub fn write_markdown_report(
    out: &Path,
    eval: &EvalReport,
    inputs: &ReportInputs,
) -> anyhow::Result<String> {
    std::fs::create_dir_all(out)?;
    // Charts first, so the Markdown only links to files that exist.
    let scaled: Vec<(String, Vec<f32>)> = inputs
        .predictions
        .iter()
        .map(|(n, p)| (n.to_string(), p.iter().map(|v| v * 100.0).collect()))
        .collect();
    let truth100: Vec<f32> = inputs.truth.iter().map(|v| v * 100.0).collect();
    let series: Vec<Series> = scaled
        .iter()
        .map(|(n, p)| Series::new(n, &truth100, p))
        .collect();
    scatter(
        &out.join("scatter.png"),
        &Frame::new(
            "Predicted vs true popularity (test set)",
            "true",
            "predicted",
        )
        .size(700, 600),
        &series,
        true,
    )?;
    let groups: Vec<String> = BANDS.iter().map(|&(lo, hi)| band_name(lo, hi)).collect();
    let group_refs: Vec<&str> = groups.iter().map(String::as_str).collect();
    let band_values: Vec<(String, Vec<f32>)> = eval
        .models
        .iter()
        .map(|m| {
            (
                m.name.clone(),
                m.bands.iter().map(|b| b.mae as f32).collect(),
            )
        })
        .collect();
    let bars: Vec<Bars> = band_values
        .iter()
        .map(|(n, v)| Bars { name: n, values: v })
        .collect();
    grouped_bars(
        &out.join("bands.png"),
        &Frame::new(
            "Error by popularity band (test set)",
            "true popularity band",
            "MAE (points)",
        )
        .size(700, 450),
        &group_refs,
        &bars,
    )?;
    // One panel per stage (their losses live on different scales): the training loss, the
    // monitored value and a vertical mark at the best epoch, log10 so decades stay readable.
    let log10 = |v: f64| {
        if v > 0.0 {
            (v as f32).log10()
        } else {
            f32::NAN
        }
    };
    let mut curves: Vec<(String, [Vec<f32>; 4], [f32; 2])> = Vec::new();
    for (model, stages) in inputs.stages {
        for st in stages.iter().filter(|st| !st.history.is_empty()) {
            let x: Vec<f32> = st.history.iter().map(|e| e.epoch as f32).collect();
            let loss: Vec<f32> = st.history.iter().map(|e| log10(e.train_loss)).collect();
            let mon: Vec<f32> = st.history.iter().map(|e| log10(e.monitored)).collect();
            let finite = loss.iter().chain(&mon).copied().filter(|v| v.is_finite());
            let lo = finite.clone().fold(f32::INFINITY, f32::min);
            let hi = finite.fold(f32::NEG_INFINITY, f32::max);
            let best = st.best_epoch as f32;
            curves.push((
                format!("{model} / {}", st.name),
                [x, loss, mon, vec![best, best]],
                [lo, hi],
            ));
        }
    }
    if !curves.is_empty() {
        let panels: Vec<Panel> = curves
            .iter()
            .map(|(title, [x, loss, mon, best_x], best_y)| Panel {
                // Falling curves start top left: the legend goes top right.
                frame: Frame::new(title, "epoch", "log10 value").legend(Corner::UpperRight),
                series: vec![
                    Series::new("train loss", x, loss),
                    Series::new("monitored (early stopping)", x, mon),
                    Series::new("best epoch", best_x, best_y),
                ],
            })
            .collect();
        let columns = if panels.len() > 4 {
            3
        } else {
            panels.len().min(2)
        };
        let rows = panels.len().div_ceil(columns) as u32;
        line_panels(
            &out.join("training.png"),
            "Training curves per stage",
            (420 * columns as u32, 40 + 300 * rows),
            columns,
            &panels,
        )?;
    }

    let mut md = String::new();
    writeln!(md, "# {}\n", inputs.title)?;
    if let Some([a, b, c]) = inputs.sizes {
        writeln!(md, "Songs: {a} train, {b} validation, {c} test.\n")?;
    } else {
        writeln!(md, "Songs in the test set: {}.\n", inputs.truth.len())?;
    }
    writeln!(md, "## Test-set metrics (popularity 0–100)\n")?;
    writeln!(md, "| model | n | MAE | MSE | R² |")?;
    writeln!(md, "|---|---:|---:|---:|---:|")?;
    for m in &eval.models {
        let x = m.metrics;
        writeln!(
            md,
            "| {} | {} | {:.2} | {:.2} | {:.3} |",
            m.name, x.n, x.mae, x.mse, x.r2
        )?;
    }
    writeln!(
        md,
        "\n`random` draws each prediction from N(mean, sd) of the training targets.\n"
    )?;
    if inputs.predictions.len() >= 2 && eval.models.len() >= 2 {
        // Ours against the reference, then every added model (the alternatives) against it.
        let ours = std::iter::once((eval.models[0].name.as_str(), &eval.win_rate));
        let others = (eval.other_win_rates.iter()).map(|o| (o.name.as_str(), &o.win_rate));
        for (name, w) in ours.chain(others) {
            writeln!(
                md,
                "**Win rate:** {} has the smaller absolute error on {} of {} songs ({:.1} %), the larger on {}, equal on {} (against {}).\n",
                name,
                w.wins,
                w.wins + w.losses + w.ties,
                100.0 * w.rate,
                w.losses,
                w.ties,
                eval.models[1].name
            )?;
        }
    }
    writeln!(
        md,
        "## MAE by true popularity band (points; songs in band)\n"
    )?;
    write!(md, "| model |")?;
    for g in &groups {
        write!(md, " {g} |")?;
    }
    writeln!(md)?;
    writeln!(md, "|---|{}", "---:|".repeat(groups.len()))?;
    for m in &eval.models {
        write!(md, "| {} |", m.name)?;
        for b in &m.bands {
            write!(md, " {:.2} ({}) |", b.mae, b.n)?;
        }
        writeln!(md)?;
    }
    writeln!(md, "\n![error by band](bands.png)\n")?;
    writeln!(
        md,
        "## Predicted vs true\n\n![predicted vs true](scatter.png)\n"
    )?;
    if !curves.is_empty() {
        writeln!(md, "## Training\n")?;
        writeln!(
            md,
            "| stage | epochs | best epoch | best monitored | stopped early | s/epoch |"
        )?;
        writeln!(md, "|---|---:|---:|---:|---|---:|")?;
        for (model, stages) in inputs.stages {
            for st in stages.iter() {
                let secs: f64 = st.history.iter().map(|e| e.seconds).sum();
                writeln!(
                    md,
                    "| {model}/{} | {} | {} | {:.6} | {} | {:.2} |",
                    st.name,
                    st.epochs_done,
                    st.best_epoch,
                    st.best,
                    if st.stopped_early { "yes" } else { "no" },
                    secs / st.history.len().max(1) as f64
                )?;
            }
        }
        writeln!(md, "\n![training curves](training.png)")?;
    }
    std::fs::write(out.join("report.md"), &md)?;
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::EpochLog;

    #[test]
    fn writes_markdown_and_charts() {
        let dir = tempfile::tempdir().unwrap();
        let truth: Vec<f32> = (0..40).map(|i| i as f32 / 40.0).collect();
        let a: Vec<f32> = truth.iter().map(|t| t * 0.9 + 0.05).collect();
        let b: Vec<f32> = vec![0.4; 40];
        let eval = EvalReport::new(("chorder", &a), ("hitmusicnet", &b), &truth, (0.4, 0.2), 3);
        let history: Vec<EpochLog> = (0..5)
            .map(|e| EpochLog {
                epoch: e,
                train_loss: 1.0 / (e + 1) as f64,
                monitored: 0.5 / (e + 1) as f64,
                seconds: 0.1,
            })
            .collect();
        let stage = StageProgress {
            name: "regressor".into(),
            epochs_done: 5,
            best: 0.1,
            best_bits: 0.1f64.to_bits(),
            best_epoch: 4,
            bad_epochs: 0,
            stopped_early: false,
            optimizer_steps: 50,
            history,
        };
        let stages = [stage];
        let md = write_markdown_report(
            dir.path(),
            &eval,
            &ReportInputs {
                title: "test",
                sizes: Some([100, 20, 40]),
                truth: &truth,
                predictions: &[("chorder", &a), ("hitmusicnet", &b)],
                stages: &[("chorder", &stages)],
            },
        )
        .unwrap();
        for f in ["report.md", "scatter.png", "bands.png", "training.png"] {
            assert!(dir.path().join(f).exists(), "{f} written");
        }
        assert!(md.contains("| chorder | 40 |"), "{md}");
        assert!(md.contains("| random |"));
        assert!(md.contains("![error by band](bands.png)"));
        // Ours beats the constant 0.4 on all but the songs near 0.4.
        assert!(eval.win_rate.wins > 30, "{:?}", eval.win_rate);
        assert!(md.contains(&format!("on {} of 40 songs", eval.win_rate.wins)));
    }
}
