//! Small self-contained SVG line plots (no fonts or files needed to view them):
//! linear or logarithmic axes, one polyline with point markers per series, a legend.

use std::fmt::Write as _;

/// One line of a plot.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    /// (x, y) points; drawn in the given order. Non-finite points, and non-positive
    /// ones on a log axis, are left out.
    pub points: Vec<(f64, f64)>,
}

/// How an axis labels its ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TickFormat {
    /// 3 significant digits with a decimal SI suffix (k, M, G, T).
    Si,
    /// Token counts: 1K, 64K, 1M for multiples of 1024; plain otherwise.
    Tokens,
    /// Plain number (3 significant digits).
    Plain,
}

/// A line plot.
#[derive(Clone, Debug, PartialEq)]
pub struct Plot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_log: bool,
    pub y_log: bool,
    pub x_format: TickFormat,
    pub y_format: TickFormat,
    pub series: Vec<Series>,
}

/// Width of the plot area plus its left margin; the legend adds its own width.
const PLOT_W: f64 = 560.0;
const H: f64 = 440.0;
const LEFT: f64 = 78.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 58.0;
const COLORS: [&str; 10] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

/// Escapes text for XML.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// "0.500" -> "0.5", "2.00" -> "2", "2.50M" -> "2.5M".
fn trim_zeros(s: String) -> String {
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    if num.contains('.') && !suffix.starts_with('e') {
        format!("{}{suffix}", num.trim_end_matches('0').trim_end_matches('.'))
    } else {
        s
    }
}

fn fmt_tick(v: f64, f: TickFormat) -> String {
    let integral = v.fract() == 0.0;
    match f {
        TickFormat::Tokens if integral && v >= 1024.0 && (v as u64).is_multiple_of(1024) => {
            let n = v as u64;
            if n.is_multiple_of(1 << 20) {
                format!("{}M", n >> 20)
            } else {
                format!("{}K", n >> 10)
            }
        }
        TickFormat::Tokens if integral && v.abs() < 10_000.0 => format!("{}", v as i64),
        TickFormat::Si | TickFormat::Tokens => trim_zeros(crate::bench::si(v).replace(' ', "")),
        TickFormat::Plain if integral && v.abs() < 1e6 => format!("{}", v as i64),
        TickFormat::Plain => trim_zeros(crate::bench::sig3(v)),
    }
}

/// An axis: data range -> pixel range.
struct Axis {
    log: bool,
    lo: f64,
    hi: f64,
    p0: f64,
    p1: f64,
}

impl Axis {
    fn new(log: bool, min: f64, max: f64, p0: f64, p1: f64) -> Axis {
        let (mut lo, mut hi) = if log { (min.log10(), max.log10()) } else { (min, max) };
        if !log {
            // Linear axes start at zero when the data are all positive (speedups, times).
            if lo > 0.0 {
                lo = 0.0;
            }
        }
        if hi - lo < 1e-12 {
            let pad = if log { 0.5 } else { hi.abs().max(1.0) * 0.5 };
            lo -= pad;
            hi += pad;
        } else {
            let pad = (hi - lo) * 0.05;
            hi += pad;
            if log {
                lo -= pad;
            }
        }
        Axis { log, lo, hi, p0, p1 }
    }
    fn map(&self, v: f64) -> f64 {
        let t = if self.log { v.log10() } else { v };
        self.p0 + (t - self.lo) / (self.hi - self.lo) * (self.p1 - self.p0)
    }
    /// Tick values: powers of 10 (and 2x, 5x when the range is short) on log axes,
    /// 1/2/5 steps on linear ones; `data` values are preferred when there are few.
    fn ticks(&self, data: &[f64]) -> Vec<f64> {
        let inside = |v: f64| {
            let t = if self.log { v.log10() } else { v };
            t >= self.lo - 1e-9 && t <= self.hi + 1e-9
        };
        let mut d: Vec<f64> = data.to_vec();
        d.sort_by(|a, b| a.total_cmp(b));
        d.dedup();
        // Few data values (sequence lengths, device counts): label exactly those.
        if (2..=9).contains(&d.len()) && (self.log || d.iter().all(|x| x.fract() == 0.0)) {
            return d;
        }
        if self.log {
            let mut v = Vec::new();
            let span = self.hi - self.lo;
            let mults: &[f64] = if span < 1.5 { &[1.0, 2.0, 5.0] } else { &[1.0] };
            let step = if span > 8.0 { 2 } else { 1 };
            let mut e = self.lo.floor() as i32;
            while (e as f64) <= self.hi.ceil() {
                for m in mults {
                    let x = m * 10f64.powi(e);
                    if inside(x) {
                        v.push(x);
                    }
                }
                e += step;
            }
            v
        } else {
            let range = self.hi - self.lo;
            let raw = range / 6.0;
            let mag = 10f64.powf(raw.log10().floor());
            let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| range / s <= 7.0).unwrap_or(10.0 * mag);
            let mut v = Vec::new();
            let mut x = (self.lo / step).ceil() * step;
            while x <= self.hi + 1e-9 {
                v.push(if x.abs() < step * 1e-9 { 0.0 } else { x });
                x += step;
            }
            v
        }
    }
}

impl Plot {
    /// Whether any series has a point to draw.
    pub fn has_data(&self) -> bool {
        self.series.iter().any(|s| s.points.iter().any(|p| self.usable(*p)))
    }

    fn usable(&self, (x, y): (f64, f64)) -> bool {
        x.is_finite() && y.is_finite() && (!self.x_log || x > 0.0) && (!self.y_log || y > 0.0)
    }

    /// The SVG document.
    pub fn to_svg(&self) -> String {
        let pts: Vec<(f64, f64)> = self.series.iter().flat_map(|s| s.points.iter().copied()).filter(|p| self.usable(*p)).collect();
        let xs: Vec<f64> = pts.iter().map(|p| p.0).collect();
        let ys: Vec<f64> = pts.iter().map(|p| p.1).collect();
        let (xmin, xmax) = xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        let (ymin, ymax) = ys.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        let (xmin, xmax) = if xs.is_empty() { (1.0, 10.0) } else { (xmin, xmax) };
        let (ymin, ymax) = if ys.is_empty() { (1.0, 10.0) } else { (ymin, ymax) };
        let legend_chars = self.series.iter().map(|s| s.name.chars().count()).max().unwrap_or(0) as f64;
        let right = 48.0 + 7.4 * legend_chars;
        let w = PLOT_W + right;
        let xa = Axis::new(self.x_log, xmin, xmax, LEFT, PLOT_W);
        let ya = Axis::new(self.y_log, ymin, ymax, H - BOTTOM, TOP);
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{H}" viewBox="0 0 {w} {H}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(s, r#"<rect x="0" y="0" width="{w}" height="{H}" fill="white"/>"#);
        let _ = writeln!(s, r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#, (LEFT + PLOT_W) / 2.0, escape(&self.title));
        // Grid and ticks.
        for t in xa.ticks(&xs) {
            let x = xa.map(t);
            let _ = writeln!(s, r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#e5e5e5"/>"##, H - BOTTOM);
            let _ =
                writeln!(s, r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#, H - BOTTOM + 16.0, escape(&fmt_tick(t, self.x_format)));
        }
        for t in ya.ticks(&[]) {
            let y = ya.map(t);
            let _ = writeln!(s, r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e5e5e5"/>"##, PLOT_W);
            let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#, LEFT - 6.0, y + 4.0, escape(&fmt_tick(t, self.y_format)));
        }
        let _ =
            writeln!(s, r#"<rect x="{LEFT}" y="{TOP}" width="{:.1}" height="{:.1}" fill="none" stroke="black"/>"#, PLOT_W - LEFT, H - BOTTOM - TOP);
        let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#, (LEFT + PLOT_W) / 2.0, H - 16.0, escape(&self.x_label));
        let _ = writeln!(
            s,
            r#"<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">{}</text>"#,
            (TOP + H - BOTTOM) / 2.0,
            (TOP + H - BOTTOM) / 2.0,
            escape(&self.y_label)
        );
        // Series and legend.
        for (i, ser) in self.series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            // Past ten series the colours repeat: tell them apart by dashes.
            let dash = ["", " stroke-dasharray=\"6 3\"", " stroke-dasharray=\"2 2\"", " stroke-dasharray=\"8 3 2 3\""][(i / COLORS.len()) % 4];
            let p: Vec<(f64, f64)> = ser.points.iter().copied().filter(|p| self.usable(*p)).map(|(x, y)| (xa.map(x), ya.map(y))).collect();
            if p.len() > 1 {
                let path: Vec<String> = p.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
                let _ = writeln!(s, r#"<polyline fill="none" stroke="{color}" stroke-width="2"{dash} points="{}"/>"#, path.join(" "));
            }
            for (x, y) in &p {
                let _ = writeln!(s, r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{color}"/>"#);
            }
            let ly = TOP + 8.0 + 18.0 * i as f64;
            let lx = PLOT_W + 14.0;
            let _ = writeln!(s, r#"<line x1="{lx}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="2"{dash}/>"#, lx + 18.0);
            let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}">{}</text>"#, lx + 24.0, ly + 4.0, escape(&ser.name));
        }
        if pts.is_empty() {
            let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">no data</text>"#, (LEFT + PLOT_W) / 2.0, (TOP + H - BOTTOM) / 2.0);
        }
        s.push_str("</svg>\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_series_and_ticks() {
        let p = Plot {
            title: "throughput <test>".into(),
            x_label: "N".into(),
            y_label: "tokens/s".into(),
            x_log: true,
            y_log: true,
            x_format: TickFormat::Tokens,
            y_format: TickFormat::Si,
            series: vec![
                Series { name: "a".into(), points: vec![(1024.0, 1e6), (4096.0, 2e6), (65536.0, 3e6)] },
                Series { name: "b & c".into(), points: vec![(1024.0, 5e5), (0.0, 1.0), (4096.0, f64::NAN)] },
            ],
        };
        assert!(p.has_data());
        let svg = p.to_svg();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 1, "b has a single usable point");
        assert_eq!(svg.matches("<circle").count(), 4);
        assert!(svg.contains("throughput &lt;test&gt;") && svg.contains("b &amp; c"));
        assert!(svg.contains(">1K<") && svg.contains(">64K<"), "data values label the N axis");
        let empty = Plot { series: vec![], ..p };
        assert!(!empty.has_data());
        assert!(empty.to_svg().contains("no data"));
    }

    #[test]
    fn tick_formats() {
        assert_eq!(fmt_tick(1_048_576.0, TickFormat::Tokens), "1M");
        assert_eq!(fmt_tick(100_000.0, TickFormat::Tokens), "100k");
        assert_eq!(fmt_tick(2.5e6, TickFormat::Si), "2.5M");
        assert_eq!(fmt_tick(48.0, TickFormat::Tokens), "48");
        assert_eq!(fmt_tick(0.5, TickFormat::Plain), "0.5");
        assert_eq!(fmt_tick(2.0, TickFormat::Plain), "2");
        let a = Axis::new(false, 0.5, 3.7, 0.0, 100.0);
        let t = a.ticks(&[]);
        assert_eq!(t.first(), Some(&0.0));
        assert!(t.windows(2).all(|w| w[1] > w[0]) && t.len() >= 3);
    }
}
