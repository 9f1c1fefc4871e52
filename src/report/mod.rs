//! `ringattn report`: Markdown reports with SVG plots from results files
//! ([`crate::bench::BenchReport`], written by `ringattn bench`).
//!
//! One file gives a report per suite found in it: tables of every case, and plots of
//! throughput against N per preset (`compare`), memory per token against N with the
//! fitted scaling exponent (`memory`), speedup against devices (`ring`), and time
//! against mask density (`sparse`). Two
//! files (two adapters, or before/after a change) add a side-by-side table of the
//! cases both measured, with ratio columns.

pub mod svg;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::bench::{si, sig3, BenchReport, CaseResult, CaseStatus};
use crate::error::{Error, Result};
use crate::suite::{memory_series, series_label, Suite};
use svg::{Plot, Series, TickFormat};

/// A rendered report: the Markdown and the SVG files it links to (by file name).
#[derive(Clone, Debug)]
pub struct Rendered {
    pub markdown: String,
    /// (file name, SVG document).
    pub plots: Vec<(String, String)>,
}

impl Rendered {
    /// Writes `report.md` and the plots into `dir` (created if needed); returns the
    /// Markdown's path.
    pub fn write(&self, dir: &Path) -> Result<PathBuf> {
        let io = |p: &Path, e: std::io::Error| Error::Io { path: p.display().to_string(), message: e.to_string() };
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        for (name, svg) in &self.plots {
            let p = dir.join(name);
            std::fs::write(&p, svg).map_err(|e| io(&p, e))?;
        }
        let p = dir.join("report.md");
        std::fs::write(&p, &self.markdown).map_err(|e| io(&p, e))?;
        Ok(p)
    }
}

/// The suite a result belongs to (files from `ringattn bench --json` and the Python
/// baselines have none: kernels).
fn suite_of(r: &CaseResult) -> String {
    r.suite.clone().unwrap_or_else(|| Suite::Kernels.name().to_string())
}

/// Milliseconds of the time the throughput was computed from, and its source.
fn time_ms(r: &CaseResult) -> Option<(f64, &'static str)> {
    r.time_ms()
}

fn opt(x: Option<f64>, f: fn(f64) -> String) -> String {
    x.map_or_else(|| "-".to_string(), f)
}

fn mib(b: u64) -> String {
    sig3(b as f64 / (1u64 << 20) as f64)
}

fn engine(r: &CaseResult) -> String {
    r.preset.clone().unwrap_or_else(|| r.implementation.clone())
}

/// Time of the dense case (no mask) of each sparse series, keyed like [`series_key_no_density`].
fn dense_baselines(rows: &[&CaseResult]) -> BTreeMap<String, f64> {
    rows.iter()
        .filter(|r| r.status == CaseStatus::Ok && r.density.is_none())
        .filter_map(|r| Some((series_key_no_density(r), time_ms(r)?.0)))
        .collect()
}

fn series_key_no_density(r: &CaseResult) -> String {
    format!("{} {} {} {} {} {} {} {} {:?}", engine(r), r.dtype, r.batch, r.seq, r.heads, r.kv_heads(), r.head_dim, r.causal, r.devices)
}

fn status_cell(r: &CaseResult) -> String {
    match r.status {
        CaseStatus::Ok => String::new(),
        CaseStatus::Skipped => "skipped".into(),
        CaseStatus::Duplicate => "duplicate".into(),
        CaseStatus::Error => "error".into(),
    }
}

fn check_cell(r: &CaseResult) -> String {
    match &r.check {
        None => "-".into(),
        Some(c) if c.passed => format!("ok ({:.1e})", c.o_rel_error),
        Some(c) => format!("**FAIL** ({:.1e} > {:.0e})", c.o_rel_error, c.o_tolerance),
    }
}

/// The header block: adapter, driver, commit, date, settings.
fn header(out: &mut String, r: &BenchReport, name: &str) {
    let a = &r.adapter;
    let _ = writeln!(out, "| | {name} |\n|---|---|");
    let _ = writeln!(out, "| adapter | {} ({}, {}) |", a.name, a.backend, a.device_type);
    let _ = writeln!(out, "| driver | {} |", a.driver_line());
    let _ = writeln!(out, "| tool | {} |", r.version);
    let _ = writeln!(out, "| git commit | {} |", r.git_commit.as_deref().unwrap_or("not recorded"));
    let _ = writeln!(out, "| date (UTC) | {} |", r.date);
    if !r.suites.is_empty() {
        let _ = writeln!(out, "| suites | {} |", r.suites.join(", "));
    }
    let _ = writeln!(
        out,
        "| warm-up / reps | {} / {} (median){} |",
        r.warmup,
        r.reps,
        r.max_seconds.map_or_else(String::new, |s| format!(", at most {s} s per case"))
    );
    for d in &r.devices {
        let _ = writeln!(out, "| device | {d} |");
    }
    if r.complete == Some(false) {
        let _ = writeln!(out, "| **incomplete** | the run stopped before its last case (interrupted or killed) |");
    }
    if let Some(s) = &r.settings {
        let _ = writeln!(out, "| settings | `{}` |", s.to_string().replace('|', "\\|"));
    }
    out.push('\n');
}

/// What the speedup column of a table compares against.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Speedup {
    None,
    /// Over the same series on one device (ring suite).
    OverOneDevice,
    /// Over the same shape without a mask (sparse suite).
    OverDense,
}

/// A table of cases (a density column when any case has a mask).
fn case_table(out: &mut String, rows: &[&CaseResult], speedup: Speedup) {
    let base = match speedup {
        Speedup::None => None,
        Speedup::OverOneDevice => Some(ring_baselines(rows)),
        Speedup::OverDense => Some(dense_baselines(rows)),
    };
    let with_density = rows.iter().any(|r| r.density.is_some());
    let _ = write!(out, "| engine |");
    if with_density {
        out.push_str(" density |");
    }
    out.push_str(
        " tier | dtype | B | N | H | KV | D | causal | dev | time ms (median) | min | max | source | tokens/s | TFLOP/s | peak MiB/dev | KiB/token |",
    );
    if base.is_some() {
        out.push_str(if speedup == Speedup::OverDense { " speedup vs dense |" } else { " speedup |" });
    }
    out.push_str(" check | note |\n|---|");
    if with_density {
        out.push_str("---:|");
    }
    out.push_str("---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|");
    if base.is_some() {
        out.push_str("---:|");
    }
    out.push_str("---|---|\n");
    for r in rows {
        let t = time_ms(r);
        let minmax = |v: &[f64]| (v.iter().copied().reduce(f64::min), v.iter().copied().reduce(f64::max));
        let (mn, mx) = match t.map(|x| x.1) {
            Some("gpu") => (r.gpu_ms_min, r.gpu_ms_max),
            // CSV files keep only the ring median.
            Some("ring") => minmax(&r.ring_ms),
            _ => (r.wall_ms_min, r.wall_ms_max),
        };
        let time = if r.status == CaseStatus::Ok { opt(t.map(|x| x.0), sig3) } else { status_cell(r) };
        let _ = write!(out, "| {} |", engine(r));
        if with_density {
            let _ = write!(out, " {} |", r.density.map_or_else(|| "dense".to_string(), |d| format!("{d:.3}")));
        }
        let _ = write!(
            out,
            " {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.tier,
            r.dtype,
            r.batch,
            r.seq,
            r.heads,
            r.kv_heads(),
            r.head_dim,
            if r.causal { "yes" } else { "no" },
            r.devices.unwrap_or(1),
            time,
            opt(mn, sig3),
            opt(mx, sig3),
            t.map_or("-", |x| x.1),
            opt(r.tokens_per_s, si),
            opt(r.tflops, sig3),
            r.peak_bytes.map_or_else(|| "-".into(), mib),
            opt(r.bytes_per_token, |b| sig3(b / 1024.0)),
        );
        if let Some(base) = &base {
            let key = if speedup == Speedup::OverDense { series_key_no_density(r) } else { series_key_no_devices(r) };
            let s = base.get(&key).and_then(|b| Some(b / time_ms(r)?.0)).filter(|_| r.status == CaseStatus::Ok);
            let _ = write!(out, " {} |", opt(s, |x| format!("{x:.2}")));
        }
        let note = r.note.as_deref().unwrap_or("").replace('|', "\\|").replace('\n', " ");
        let _ = writeln!(out, " {} | {} |", check_cell(r), note);
    }
    out.push('\n');
}

/// Identity of a ring series without the device count.
fn series_key_no_devices(r: &CaseResult) -> String {
    format!("{} {} {} {} {} {} {} {}", engine(r), r.dtype, r.batch, r.seq, r.heads, r.kv_heads(), r.head_dim, r.causal)
}

/// Time of the 1-device case of each ring series.
fn ring_baselines(rows: &[&CaseResult]) -> BTreeMap<String, f64> {
    rows.iter()
        .filter(|r| r.status == CaseStatus::Ok && r.devices.unwrap_or(1) == 1)
        .filter_map(|r| Some((series_key_no_devices(r), time_ms(r)?.0)))
        .collect()
}

fn throughput_plot(rows: &[&CaseResult], title: &str) -> Plot {
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.status == CaseStatus::Ok) {
        if let Some(t) = r.tokens_per_s {
            series.entry(series_label(r)).or_default().push((r.seq as f64, t));
        }
    }
    Plot {
        title: title.into(),
        x_label: "sequence length N (tokens)".into(),
        y_label: "tokens/s".into(),
        x_log: true,
        y_log: true,
        x_format: TickFormat::Tokens,
        y_format: TickFormat::Si,
        series: sorted_series(series),
    }
}

fn sorted_series(m: BTreeMap<String, Vec<(f64, f64)>>) -> Vec<Series> {
    m.into_iter()
        .map(|(name, mut points)| {
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series { name, points }
        })
        .collect()
}

fn memory_plot(rows: &[&CaseResult]) -> Plot {
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.status == CaseStatus::Ok) {
        if let Some(b) = r.bytes_per_token {
            series.entry(series_label(r)).or_default().push((r.seq as f64, b / 1024.0));
        }
    }
    Plot {
        title: "GPU memory per token (peak, all devices)".into(),
        x_label: "sequence length N (tokens)".into(),
        y_label: "KiB per token".into(),
        x_log: true,
        y_log: false,
        x_format: TickFormat::Tokens,
        y_format: TickFormat::Plain,
        series: sorted_series(series),
    }
}

fn speedup_plot(rows: &[&CaseResult]) -> Plot {
    let base = ring_baselines(rows);
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.status == CaseStatus::Ok) {
        let (Some(b), Some((t, _))) = (base.get(&series_key_no_devices(r)), time_ms(r)) else { continue };
        let name = format!("{} {} N={}{}", engine(r), r.dtype, r.seq, if r.causal { " causal" } else { "" });
        series.entry(name).or_default().push((r.devices.unwrap_or(1) as f64, b / t));
    }
    Plot {
        title: "ring speedup over one device".into(),
        x_label: "devices".into(),
        y_label: "speedup (time on 1 device / time on n)".into(),
        x_log: false,
        y_log: false,
        x_format: TickFormat::Plain,
        y_format: TickFormat::Plain,
        series: sorted_series(series),
    }
}

/// Moves the words every series name shares into the title ("single f32 B=1 D=64",
/// "Standard f32 B=1 D=64" -> title "... (f32 B=1 D=64)", series "single", "Standard").
fn hoist_common_words(plot: &mut Plot) {
    if plot.series.len() < 2 {
        return;
    }
    let words: Vec<Vec<&str>> = plot.series.iter().map(|s| s.name.split(' ').collect()).collect();
    let common: Vec<&str> = words[0].iter().copied().filter(|w| words.iter().all(|ws| ws.contains(w))).collect();
    if common.is_empty() {
        return;
    }
    let names: Vec<String> = words.iter().map(|ws| ws.iter().copied().filter(|w| !common.contains(w)).collect::<Vec<_>>().join(" ")).collect();
    if names.iter().any(|n| n.is_empty()) {
        return;
    }
    plot.title = format!("{} ({})", plot.title, common.join(" "));
    for (s, n) in plot.series.iter_mut().zip(names) {
        s.name = n;
    }
}

fn density_plot(rows: &[&CaseResult]) -> Plot {
    let dense = dense_baselines(rows);
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.status == CaseStatus::Ok) {
        let Some((t, _)) = time_ms(r) else { continue };
        let kv = if r.kv_heads() != r.heads { format!("/{}", r.kv_heads()) } else { String::new() };
        let name = format!("N={} {} B={} H={}{kv} D={}{}", r.seq, r.dtype, r.batch, r.heads, r.head_dim, if r.causal { " causal" } else { "" });
        match r.density {
            Some(d) => series.entry(name).or_default().push((d, t)),
            // Dense at density 1 (every block).
            None if dense.contains_key(&series_key_no_density(r)) => series.entry(name).or_default().push((1.0, t)),
            None => {}
        }
    }
    Plot {
        title: "time vs mask density (dense at 1)".into(),
        x_label: "density (fraction of blocks computed)".into(),
        y_label: "time (ms, median)".into(),
        x_log: true,
        y_log: true,
        x_format: TickFormat::Plain,
        y_format: TickFormat::Plain,
        series: sorted_series(series),
    }
}

fn plot_into(rendered: &mut Rendered, out: &mut String, file: &str, mut plot: Plot) {
    hoist_common_words(&mut plot);
    if !plot.has_data() {
        let _ = writeln!(out, "_{}: no measured cases to plot._\n", plot.title);
        return;
    }
    let _ = writeln!(out, "![{}]({file})\n", plot.title);
    rendered.plots.push((file.to_string(), plot.to_svg()));
}

/// Renders the report of `a`, and of `b` beside it when given. `names` label the two
/// files in the comparison (e.g. their file names).
pub fn render(a: &BenchReport, b: Option<&BenchReport>, names: (&str, &str)) -> Rendered {
    let mut rendered = Rendered { markdown: String::new(), plots: Vec::new() };
    let mut out = String::new();
    let _ = writeln!(out, "# ringattn benchmark report\n");
    let _ = writeln!(
        out,
        "Generated by `ringattn report` from `{}`{}. Times are medians; \"gpu\" is timestamp-query time of the \
         attention pass (inputs resident), \"ring\" the host time of a ring call on GPU-resident shards (every \
         step, transfer and merge, outputs computed), \"wall\" the host time of a whole call (upload, compute, \
         readback). TFLOP/s counts 4·B·H·N²·D, halved when causal. Memory is the library's \
         own accounting of the GPU buffers of one call.\n",
        names.0,
        b.map_or_else(String::new, |_| format!(" and `{}`", names.1))
    );
    header(&mut out, a, names.0);
    if let Some(b) = b {
        header(&mut out, b, names.1);
    }

    let mut by_suite: BTreeMap<String, Vec<&CaseResult>> = BTreeMap::new();
    for r in &a.results {
        by_suite.entry(suite_of(r)).or_default().push(r);
    }
    let order: Vec<String> = Suite::ALL.iter().map(|s| s.name().to_string()).collect();
    let mut suites: Vec<&String> = by_suite.keys().collect();
    suites.sort_by_key(|s| order.iter().position(|o| o == *s).unwrap_or(usize::MAX));
    for s in suites {
        let rows = &by_suite[s];
        let ok = rows.iter().filter(|r| r.status == CaseStatus::Ok).count();
        let _ = writeln!(out, "## Suite `{s}` ({ok} of {} cases measured)\n", rows.len());
        match s.as_str() {
            "compare" => {
                plot_into(&mut rendered, &mut out, "compare-throughput.svg", throughput_plot(rows, "throughput vs N per preset"));
                case_table(&mut out, rows, Speedup::None);
            }
            "memory" => {
                plot_into(&mut rendered, &mut out, "memory-per-token.svg", memory_plot(rows));
                fit_table(&mut out, rows);
                case_table(&mut out, rows, Speedup::None);
            }
            "ring" => {
                plot_into(&mut rendered, &mut out, "ring-speedup.svg", speedup_plot(rows));
                case_table(&mut out, rows, Speedup::OverOneDevice);
            }
            "sparse" => {
                plot_into(&mut rendered, &mut out, "sparse-density.svg", density_plot(rows));
                case_table(&mut out, rows, Speedup::OverDense);
            }
            "kernels" => {
                plot_into(&mut rendered, &mut out, "kernels-throughput.svg", throughput_plot(rows, "kernel throughput vs N"));
                case_table(&mut out, rows, Speedup::None);
            }
            _ => case_table(&mut out, rows, Speedup::None),
        }
    }
    if let Some(b) = b {
        comparison(&mut rendered, &mut out, a, b, names);
    }
    rendered.markdown = out;
    rendered
}

/// The memory fits of `rows`: peak bytes of the busiest device = c·N^e per series.
fn fit_table(out: &mut String, rows: &[&CaseResult]) {
    let series: Vec<CaseResult> = rows.iter().map(|r| (*r).clone()).collect();
    let _ = writeln!(out, "Peak bytes of the busiest device fitted as c·N^e by least squares on log-log:\n");
    let _ = writeln!(out, "| series | exponent e | R² | points | KiB/token at smallest N | at largest N |\n|---|---:|---:|---:|---:|---:|");
    for m in memory_series(&series) {
        let per_tok = |&(n, _, t): &(usize, u64, u64)| {
            let b = rows.iter().find(|r| series_label(r) == m.label && r.seq == n).map_or(1, |r| r.batch);
            sig3(t as f64 / (n * b) as f64 / 1024.0)
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            m.label,
            m.fit.map_or_else(|| "-".into(), |f| format!("{:.3}", f.exponent)),
            m.fit.map_or_else(|| "-".into(), |f| format!("{:.4}", f.r2)),
            m.points.len(),
            m.points.first().map_or_else(|| "-".into(), per_tok),
            m.points.last().map_or_else(|| "-".into(), per_tok),
        );
    }
    out.push('\n');
}

/// One plot of both files' cases of `suite`, series prefixed "A:" and "B:".
fn paired_plot(a: &BenchReport, b: &BenchReport, suite: &str, make: impl Fn(&[&CaseResult]) -> Plot) -> Plot {
    fn pick<'r>(r: &'r BenchReport, suite: &str) -> Vec<&'r CaseResult> {
        r.results.iter().filter(|x| suite_of(x) == suite).collect()
    }
    let (pa, pb) = (make(&pick(a, suite)), make(&pick(b, suite)));
    let mut plot = Plot { title: format!("{} (A and B)", pa.title), series: Vec::new(), ..pa.clone() };
    for (tag, p) in [("A", pa), ("B", pb)] {
        plot.series.extend(p.series.into_iter().map(|s| Series { name: format!("{tag}: {}", s.name), points: s.points }));
    }
    plot
}

/// The identity of a case across files: suite, engine (or tier), dtype, shape, mask, devices.
fn join_key(r: &CaseResult) -> (String, String, String, usize, usize, usize, usize, usize, bool, usize) {
    let mut who = r.preset.clone().unwrap_or_else(|| r.tier.clone());
    // Masked single-device cases differ by density; a preset's mask is part of the preset.
    if let (Some(d), Some("single") | None) = (r.density, r.preset.as_deref()) {
        who = format!("{who} density {d:.4}");
    }
    (suite_of(r), who, r.dtype.clone(), r.batch, r.seq, r.heads, r.kv_heads(), r.head_dim, r.causal, r.devices.unwrap_or(1))
}

fn comparison(rendered: &mut Rendered, out: &mut String, a: &BenchReport, b: &BenchReport, names: (&str, &str)) {
    let _ = writeln!(out, "## Side by side: `{}` (A) and `{}` (B)\n", names.0, names.1);
    let has = |r: &BenchReport, s: &str| r.results.iter().any(|x| suite_of(x) == s && x.status == CaseStatus::Ok);
    if has(a, "compare") && has(b, "compare") {
        let p = paired_plot(a, b, "compare", |rows| throughput_plot(rows, "throughput vs N"));
        plot_into(rendered, out, "ab-compare-throughput.svg", p);
    }
    if has(a, "memory") && has(b, "memory") {
        plot_into(rendered, out, "ab-memory-per-token.svg", paired_plot(a, b, "memory", memory_plot));
        for (tag, r) in [("A", a), ("B", b)] {
            let _ = writeln!(out, "Memory scaling of {tag}:\n");
            let rows: Vec<&CaseResult> = r.results.iter().filter(|x| suite_of(x) == "memory").collect();
            fit_table(out, &rows);
        }
    }
    let bmap: BTreeMap<_, &CaseResult> = b.results.iter().filter(|r| r.status == CaseStatus::Ok).map(|r| (join_key(r), r)).collect();
    let mut matched = 0;
    let mut rows = String::new();
    for r in a.results.iter().filter(|r| r.status == CaseStatus::Ok) {
        let k = join_key(r);
        let Some(o) = bmap.get(&k) else { continue };
        let (Some((ta, sa)), Some((tb, sb))) = (time_ms(r), time_ms(o)) else { continue };
        matched += 1;
        let src = if sa == sb { sa.to_string() } else { format!("{sa}/{sb}") };
        let peak = match (r.peak_bytes, o.peak_bytes) {
            (Some(x), Some(y)) if x > 0 => format!("{} / {} ({:.2})", mib(x), mib(y), y as f64 / x as f64),
            _ => "-".into(),
        };
        let _ = writeln!(
            rows,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {} |",
            k.0,
            k.1,
            r.dtype,
            r.batch,
            r.seq,
            r.heads,
            r.head_dim,
            if r.causal { "yes" } else { "no" },
            k.9,
            src,
            sig3(ta),
            sig3(tb),
            ta / tb,
            peak
        );
    }
    let _ = writeln!(
        out,
        "{matched} cases measured in both files (matched on suite, preset or tier, dtype, shape, mask and devices); \
         speedup = A time / B time (> 1: B is faster).\n"
    );
    if matched > 0 {
        let _ = writeln!(
            out,
            "| suite | engine | dtype | B | N | H | D | causal | dev | source | A ms | B ms | speedup A/B | peak MiB A / B (ratio) |\n\
             |---|---|---|---:|---:|---:|---:|---|---:|---|---:|---:|---:|---|"
        );
        out.push_str(&rows);
        out.push('\n');
    }
    let only_a = a.results.iter().filter(|r| r.status == CaseStatus::Ok && !bmap.contains_key(&join_key(r))).count();
    let akeys: std::collections::BTreeSet<_> = a.results.iter().filter(|r| r.status == CaseStatus::Ok).map(join_key).collect();
    let only_b = b.results.iter().filter(|r| r.status == CaseStatus::Ok && !akeys.contains(&join_key(r))).count();
    if only_a + only_b > 0 {
        let _ = writeln!(out, "Measured in one file only: {only_a} in A, {only_b} in B.\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_words_move_to_the_title() {
        let mut p = Plot {
            title: "t".into(),
            x_label: String::new(),
            y_label: String::new(),
            x_log: false,
            y_log: false,
            x_format: TickFormat::Plain,
            y_format: TickFormat::Plain,
            series: vec![Series { name: "single f32 B=1".into(), points: vec![] }, Series { name: "Standard f32 B=1 x2".into(), points: vec![] }],
        };
        hoist_common_words(&mut p);
        assert_eq!(p.title, "t (f32 B=1)");
        assert_eq!(p.series[0].name, "single");
        assert_eq!(p.series[1].name, "Standard x2");
    }

    #[test]
    fn escapes_pipes_in_notes() {
        let c = crate::bench::Case { tier: None, dtype: crate::Dtype::F32, batch: 1, seq: 64, heads: 2, kv_heads: 2, head_dim: 32, causal: false };
        let mut r = CaseResult::new(&c, "portable".into(), &Default::default());
        r.note = Some("a | b".into());
        let mut s = String::new();
        case_table(&mut s, &[&r], Speedup::None);
        assert!(s.contains("a \\| b"));
        assert!(s.contains("| skipped |"));
    }
}
