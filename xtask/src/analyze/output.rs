//! The tables `analyze` prints and writes: a Markdown table for people, CSV rows, errors.

use std::io::Write;

use chorder_analysis::offline::SongResult;
use chorder_analysis::percentile::Reference;

use super::Report;

fn fmt_opt(e: Option<f32>) -> String {
    e.map_or_else(|| "n/a".into(), |v| format!("{v:.1}"))
}

fn fmt_interval(i: Option<[f32; 2]>) -> String {
    i.map_or_else(String::new, |[lo, hi]| format!(" [{lo:.1}, {hi:.1}]"))
}

/// The report as a Markdown table (one row per song), the timeline of a single song, and
/// the errors table.
pub(super) fn write_table(
    out: &mut impl Write,
    r: &Report,
    reference: Option<&Reference>,
) -> anyhow::Result<()> {
    match r.popularity_model {
        Some(m) => writeln!(
            out,
            "popularity model: {m}{}",
            if r.demo_model {
                " (DEMO: trained on the generated corpus, not a predictor of real popularity)"
            } else {
                ""
            }
        )?,
        None => writeln!(
            out,
            "popularity model: none (--no-model); showing what the embedding model hears"
        )?,
    }
    writeln!(out, "embedding model: {}", r.embedding_model)?;
    if let Some(reference) = reference {
        writeln!(
            out,
            "percentiles within a reference catalog of {} songs",
            reference.len()
        )?;
    }
    writeln!(out)?;
    let pct_head = if reference.is_some() {
        " percentile |"
    } else {
        ""
    };
    let interval_head = r
        .songs
        .iter()
        .find_map(|s| s.coverage)
        .map_or_else(String::new, |c| format!(" [{:.0} % interval]", c * 100.0));
    writeln!(
        out,
        "| song | seconds | windows | estimate (0-100){interval_head} |{pct_head} top tags |"
    )?;
    writeln!(
        out,
        "|---|---:|---:|---:|{}---|",
        if reference.is_some() { "---:|" } else { "" }
    )?;
    for s in r.songs {
        let tags: Vec<String> = s
            .top_tags
            .iter()
            .map(|(n, p)| format!("{n} {p:.2}"))
            .collect();
        let pct = if reference.is_some() {
            format!(" {} |", fmt_opt(s.percentile))
        } else {
            String::new()
        };
        writeln!(
            out,
            "| {} | {:.1} | {} | {}{} |{pct} {} |",
            s.file,
            s.seconds,
            s.windows,
            fmt_opt(s.estimate),
            fmt_interval(s.interval),
            tags.join(", ")
        )?;
        for w in &s.warnings {
            writeln!(out, "|   warning: {w} | | | | |")?;
        }
    }
    if r.songs.len() == 1 && r.popularity_model.is_some() {
        writeln!(
            out,
            "\ntimeline of {}: t (s) momentary integrated",
            r.songs[0].file
        )?;
        writeln!(
            out,
            "  (as the plugin computes it live: low-level features enter every {:.0} s of audio, \
             the training mean before that; the table's estimate uses the whole song's features)",
            chorder_analysis::live::SEGMENT_SECONDS
        )?;
        for p in &r.songs[0].timeline {
            writeln!(
                out,
                "  {:7.2} {:>6} {:>6}",
                p.t,
                fmt_opt(p.momentary),
                fmt_opt(p.integrated)
            )?;
        }
        let (up, down) = chorder_analysis::explain::strongest(&r.songs[0].explanation, 3);
        for (what, list) in [("raised", up), ("lowered", down)] {
            let ranges: Vec<String> = list
                .iter()
                .map(|s| format!("{:.1}-{:.1} s ({:+.2})", s.start, s.end, s.change))
                .collect();
            if !ranges.is_empty() {
                writeln!(
                    out,
                    "sections that {what} the estimate: {}",
                    ranges.join(", ")
                )?;
            }
        }
    }
    if !r.errors.is_empty() {
        writeln!(
            out,
            "\n{} song(s) failed:\n| song | error |\n|---|---|",
            r.errors.len()
        )?;
        for (f, e) in r.errors {
            writeln!(out, "| {f} | {e} |")?;
        }
    }
    Ok(())
}

/// Column names of the CSV (and Parquet) results, in order.
pub(super) const CSV_COLUMNS: [&str; 10] = [
    "file",
    "sha256",
    "seconds",
    "windows",
    "estimate",
    "interval_low",
    "interval_high",
    "coverage",
    "percentile",
    "top_tags",
];

fn opt3(x: Option<f32>) -> String {
    x.map_or_else(String::new, |v| format!("{v:.3}"))
}

/// One CSV row per song ([`CSV_COLUMNS`]); tags as `name:prob;...`, empty cells for absent
/// values.
pub(super) fn write_csv(out: &mut impl Write, songs: &[SongResult]) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(CSV_COLUMNS)?;
    for s in songs {
        let tags: Vec<String> = s
            .top_tags
            .iter()
            .map(|(n, p)| format!("{n}:{p:.3}"))
            .collect();
        w.write_record([
            s.file.clone(),
            s.sha256.clone().unwrap_or_default(),
            format!("{:.3}", s.seconds),
            s.windows.to_string(),
            opt3(s.estimate),
            opt3(s.interval.map(|i| i[0])),
            opt3(s.interval.map(|i| i[1])),
            opt3(s.coverage),
            opt3(s.percentile),
            tags.join(";"),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// The errors table as CSV (`file,error`).
pub(super) fn write_errors_csv(
    out: &mut impl Write,
    errors: &[(String, String)],
) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(["file", "error"])?;
    for (f, e) in errors {
        w.write_record([f, e])?;
    }
    w.flush()?;
    Ok(())
}

/// Two songs side by side: overall estimates, then per window `t`, A's and B's integrated
/// estimates and `B - A` (windows up to the shorter song).
pub(super) fn write_compare(
    out: &mut impl Write,
    a: &SongResult,
    b: &SongResult,
) -> anyhow::Result<()> {
    writeln!(out, "A: {}  estimate {}", a.file, fmt_opt(a.estimate))?;
    writeln!(out, "B: {}  estimate {}", b.file, fmt_opt(b.estimate))?;
    if let (Some(x), Some(y)) = (a.estimate, b.estimate) {
        writeln!(out, "B - A: {:+.1}", y - x)?;
    }
    writeln!(
        out,
        "\n| t (s) | A integrated | B integrated | B - A |\n|---:|---:|---:|---:|"
    )?;
    for (p, q) in a.timeline.iter().zip(&b.timeline) {
        let d = match (p.integrated, q.integrated) {
            (Some(x), Some(y)) => format!("{:+.1}", y - x),
            _ => "n/a".into(),
        };
        writeln!(
            out,
            "| {:.2} | {} | {} | {d} |",
            p.t,
            fmt_opt(p.integrated),
            fmt_opt(q.integrated)
        )?;
    }
    Ok(())
}
