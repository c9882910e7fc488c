//! Small inline-SVG charts for the HTML pages: lines, scatter points, bars and
//! histograms, with round ticks ([`super::axis`]) and a legend on rows of its own between
//! the title and the plot (it never covers the title or the data). Every point, line
//! vertex and bar carries its value in an SVG `<title>`, which a browser shows on hover
//! without any script (the page's small inline script shows it at once, too). No external
//! file, so a page opens anywhere, offline.

use std::fmt::Write as _;

use super::axis;

const W: f64 = 640.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 16.0;
/// The plot's height; the figure's grows with the legend's rows and long group labels.
const PLOT_H: f64 = 196.0;
const BOTTOM: f64 = 36.0;
/// The title's baseline, and the first legend row's.
const TITLE_Y: f64 = 18.0;
const LEGEND_Y: f64 = 34.0;
const LEGEND_ROW: f64 = 15.0;
pub(crate) const COLORS: &[&str] = &["#2b6cb0", "#dd6b20", "#2f855a", "#c53030", "#6b46c1", "#b7791f", "#0987a0", "#97266d"];

pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

pub enum Kind {
    Line,
    Scatter,
}

/// HTML/XML escaping for text and attribute values.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Where a value lands along an axis, as a fraction of its length.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scale {
    Linear { lo: f64, hi: f64 },
    Log { lo: f64, hi: f64 },
}

impl Scale {
    fn frac(&self, v: f64) -> f64 {
        match *self {
            Scale::Linear { lo, hi } => (v - lo) / (hi - lo),
            Scale::Log { lo, hi } => (v.max(lo).ln() - lo.ln()) / (hi.ln() - lo.ln()),
        }
    }
}

/// An axis: its scale and its labelled ticks.
struct Axis {
    scale: Scale,
    ticks: Vec<(f64, String)>,
}

impl Axis {
    /// Round ticks over `[lo, hi]`, the axis widened to the outer ticks.
    fn linear(lo: f64, hi: f64, max_ticks: usize) -> Axis {
        let t = axis::nice_ticks(lo, hi, max_ticks);
        Axis { scale: Scale::Linear { lo: t.lo, hi: t.hi }, ticks: t.values.iter().map(|v| (*v, axis::label(*v, t.step))).collect() }
    }

    /// From 0 to a round value at or above `hi`.
    fn from_zero(hi: f64) -> Axis {
        Axis::linear(0.0, if hi.is_finite() && hi > 0.0 { hi } else { 1.0 }, 6)
    }

    /// Exactly `[lo, hi]` (a histogram's own range), labelled at the round values inside.
    fn exact(lo: f64, hi: f64, log: bool) -> Axis {
        if log {
            let ticks = axis::log_ticks(lo, hi).into_iter().map(|v| (v, axis::log_label(v))).collect();
            return Axis { scale: Scale::Log { lo, hi }, ticks };
        }
        let t = axis::nice_ticks(lo, hi, 7);
        let inside = t.values.iter().filter(|v| **v >= lo - t.step * 1e-9 && **v <= hi + t.step * 1e-9);
        Axis { scale: Scale::Linear { lo, hi }, ticks: inside.map(|v| (*v, axis::label(*v, t.step))).collect() }
    }
}

/// A figure's geometry: the plot's top (below title and legend) and its axes.
struct Frame {
    top: f64,
    x: Option<Axis>,
    y: Axis,
}

impl Frame {
    fn pw(&self) -> f64 {
        W - LEFT - RIGHT
    }
    fn px(&self, v: f64) -> f64 {
        LEFT + self.pw() * self.x.as_ref().map_or(0.0, |a| a.scale.frac(v))
    }
    fn py(&self, v: f64) -> f64 {
        self.top + PLOT_H * (1.0 - self.y.scale.frac(v).clamp(0.0, 1.0))
    }
}

/// The legend's entries laid out in rows that fit the width: (row, x) of each.
fn legend_layout(names: &[&str]) -> Vec<(usize, f64)> {
    let width = |n: &str| 20.0 + 6.0 * n.chars().count().min(40) as f64;
    let (mut row, mut x) = (0, LEFT);
    names
        .iter()
        .map(|n| {
            let w = width(n);
            if x > LEFT && x + w > W - RIGHT {
                row += 1;
                x = LEFT;
            }
            let at = (row, x);
            x += w;
            at
        })
        .collect()
}

/// Opens a figure: title, legend rows, plot area, grid, ticks and axis labels.
fn open(
    out: &mut String,
    title: &str,
    (x_label, y_label): (&str, &str),
    legend: &[&str],
    x: Option<Axis>,
    y: Axis,
    extra_bottom: f64,
) -> Frame {
    let layout = legend_layout(legend);
    let rows = layout.last().map_or(0, |(r, _)| r + 1);
    let top = if rows == 0 { 28.0 } else { LEGEND_Y + LEGEND_ROW * (rows - 1) as f64 + 10.0 };
    let height = top + PLOT_H + BOTTOM + extra_bottom;
    let frame = Frame { top, x, y };
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {W} {height}\" role=\"img\" aria-label=\"{t}\"><text x=\"{LEFT}\" y=\"{TITLE_Y}\" class=\"title\">{t}</text>",
        t = esc(title)
    );
    for (i, (name, (row, lx))) in legend.iter().zip(&layout).enumerate() {
        let ly = LEGEND_Y + LEGEND_ROW * *row as f64;
        let shown: String = name.chars().take(40).collect();
        let _ = write!(
            out,
            "<g class=\"legend-entry\"><rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{ly:.1}\" class=\"legend\">{}</text><title>{}</title></g>",
            ly - 9.0,
            COLORS[i % COLORS.len()],
            lx + 14.0,
            esc(&shown),
            esc(name)
        );
    }
    let pw = frame.pw();
    let _ = write!(out, "<rect x=\"{LEFT}\" y=\"{top}\" width=\"{pw}\" height=\"{PLOT_H}\" class=\"plot\"/>");
    for (v, label) in &frame.y.ticks {
        let y = frame.py(*v);
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" class=\"grid\"/><text x=\"{}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            LEFT - 4.0,
            y + 4.0,
            esc(label)
        );
    }
    if let Some(x) = &frame.x {
        for (v, label) in &x.ticks {
            let px = frame.px(*v);
            let _ = write!(
                out,
                "<line x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{top}\" y2=\"{:.1}\" class=\"grid\"/><text x=\"{px:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"middle\">{}</text>",
                top + PLOT_H,
                top + PLOT_H + 14.0,
                esc(label)
            );
        }
    }
    let mid = top + PLOT_H / 2.0;
    let _ = write!(
        out,
        "<text x=\"{}\" y=\"{}\" class=\"axis\" text-anchor=\"middle\">{}</text>\
         <text x=\"12\" y=\"{mid}\" class=\"axis\" transform=\"rotate(-90 12 {mid})\" text-anchor=\"middle\">{}</text>",
        LEFT + pw / 2.0,
        height - 4.0,
        esc(x_label),
        esc(y_label)
    );
    frame
}

fn figure(points: usize, body: &str) -> String {
    format!("<figure class=\"chart\" data-points=\"{points}\">{body}</svg></figure>")
}

/// A line or scatter chart of several series; y from 0. Every point and vertex has its
/// values in a `<title>` ("series: x label 12, y label 34").
pub fn xy(title: &str, x_label: &str, y_label: &str, series: &[Series], kind: Kind) -> String {
    let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let all = || series.iter().flat_map(|s| s.points.iter()).filter(finite);
    let n = all().count();
    let (x0, x1) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (x, _)| (lo.min(*x), hi.max(*x)));
    let (x0, x1) = if n == 0 { (0.0, 1.0) } else { (x0, x1) };
    let y1 = all().map(|(_, y)| *y).fold(0.0, f64::max);
    let names: Vec<&str> = if series.len() > 1 { series.iter().map(|s| s.name.as_str()).collect() } else { Vec::new() };
    let mut out = String::new();
    let f = open(&mut out, title, (x_label, y_label), &names, Some(Axis::linear(x0, x1, 8)), Axis::from_zero(y1), 0.0);
    let r = if matches!(kind, Kind::Line) { 2.6 } else { 2.0 };
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<&(f64, f64)> = s.points.iter().filter(finite).collect();
        let _ = write!(out, "<g class=\"series\" data-series=\"{}\">", esc(&s.name));
        if matches!(kind, Kind::Line) && pts.len() > 1 {
            let d: Vec<String> = pts.iter().map(|(x, y)| format!("{:.1},{:.1}", f.px(*x), f.py(*y))).collect();
            let _ = write!(out, "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>", d.join(" "));
        }
        for (x, y) in pts {
            let _ = write!(
                out,
                "<circle class=\"point\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"{r}\" fill=\"{color}\" data-y=\"{y}\"><title>{}: {} {}, {} {}</title></circle>",
                f.px(*x),
                f.py(*y),
                esc(&s.name),
                esc(x_label),
                axis::value(*x),
                esc(y_label),
                axis::value(*y),
            );
        }
        out.push_str("</g>");
    }
    figure(n, &out)
}

/// Grouped bars: for each group (a stage), one bar per label (p50, p90, p99).
pub fn bars(title: &str, y_label: &str, groups: &[(String, Vec<(String, f64)>)]) -> String {
    let n: usize = groups.iter().map(|(_, b)| b.len()).sum();
    let y1 = groups.iter().flat_map(|(_, b)| b.iter().map(|(_, v)| *v)).filter(|v| v.is_finite()).fold(0.0, f64::max);
    // The first group's labels name the colours (every group has the same labels).
    let mut labels: Vec<&str> = Vec::new();
    for (_, values) in groups {
        for (label, _) in values {
            if !labels.contains(&label.as_str()) {
                labels.push(label);
            }
        }
    }
    // Many groups: their names turn aside to fit under the bars.
    let slanted = groups.len() > 6 || groups.iter().any(|(g, _)| g.chars().count() * 6 > (W as usize - 80) / groups.len().max(1));
    let extra = if slanted { 60.0 } else { 0.0 };
    let mut out = String::new();
    let legend: Vec<&str> = if labels.len() > 1 { labels.clone() } else { Vec::new() };
    let f = open(&mut out, title, ("", y_label), &legend, None, Axis::from_zero(y1), extra);
    let pw = f.pw();
    let slot = pw / groups.len().max(1) as f64;
    for (g, (group, values)) in groups.iter().enumerate() {
        let bw = slot * 0.8 / values.len().max(1) as f64;
        for (i, (label, v)) in values.iter().enumerate() {
            let colour = labels.iter().position(|l| l == label).unwrap_or(i);
            let top = f.py(*v);
            let h = f.top + PLOT_H - top;
            let x = LEFT + slot * g as f64 + slot * 0.1 + bw * i as f64;
            let _ = write!(
                out,
                "<rect class=\"bar\" x=\"{x:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\" data-y=\"{v}\"><title>{} {}: {} {}</title></rect>",
                bw * 0.9,
                COLORS[colour % COLORS.len()],
                esc(group),
                esc(label),
                axis::value(*v),
                esc(y_label)
            );
        }
        let (cx, cy) = (LEFT + slot * (g as f64 + 0.5), f.top + PLOT_H + 14.0);
        let shown: String = group.chars().take(if slanted { 24 } else { 60 }).collect();
        if slanted {
            let _ = write!(
                out,
                "<text x=\"{cx:.1}\" y=\"{cy:.1}\" class=\"tick\" text-anchor=\"end\" transform=\"rotate(-35 {cx:.1} {cy:.1})\">{}<title>{}</title></text>",
                esc(&shown),
                esc(group)
            );
        } else {
            let _ = write!(out, "<text x=\"{cx:.1}\" y=\"{cy:.1}\" class=\"tick\" text-anchor=\"middle\">{}</text>", esc(&shown));
        }
    }
    figure(n, &out)
}

/// A histogram's bins over the data's own range: `[lo, hi]` cut into equal bins, equal
/// in the logarithm when the values span more than [`LOG_RATIO`] (and are all above 0).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bins {
    pub lo: f64,
    pub hi: f64,
    pub log: bool,
    pub counts: Vec<usize>,
}

/// Above this max / min a histogram's bins are logarithmic.
pub(crate) const LOG_RATIO: f64 = 20.0;

impl Bins {
    pub(crate) fn of(values: &[f64], bins: usize) -> Bins {
        let bins = bins.max(1);
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (lo, hi) = if finite.is_empty() {
            (0.0, 1.0)
        } else if hi > lo {
            (lo, hi)
        } else {
            // One value: a bin around it.
            let half = if lo == 0.0 { 0.5 } else { lo.abs() * 0.05 };
            (lo - half, hi + half)
        };
        let log = lo > 0.0 && hi / lo > LOG_RATIO;
        let mut counts = vec![0usize; bins];
        let scale = if log { Scale::Log { lo, hi } } else { Scale::Linear { lo, hi } };
        for v in &finite {
            let b = (scale.frac(*v) * bins as f64).floor().clamp(0.0, bins as f64 - 1.0) as usize;
            counts[b] += 1;
        }
        Bins { lo, hi, log, counts }
    }

    /// The edges of bin `i`.
    pub(crate) fn edges(&self, i: usize) -> (f64, f64) {
        let n = self.counts.len() as f64;
        let at = |k: f64| {
            if self.log { self.lo * (self.hi / self.lo).powf(k / n) } else { self.lo + (self.hi - self.lo) * k / n }
        };
        (at(i as f64), at(i as f64 + 1.0))
    }
}

/// A histogram of values in `bins` bins over their own range (log-spaced when wide).
pub fn histogram(title: &str, x_label: &str, values: &[f64], bins: usize) -> String {
    let b = Bins::of(values, bins);
    let n: usize = b.counts.iter().sum();
    let y1 = *b.counts.iter().max().unwrap_or(&0) as f64;
    let x_label = if b.log { format!("{x_label} (log scale)") } else { x_label.to_string() };
    let mut out = String::new();
    let f = open(&mut out, title, (&x_label, "requests"), &[], Some(Axis::exact(b.lo, b.hi, b.log)), Axis::from_zero(y1.max(1.0)), 0.0);
    for (i, c) in b.counts.iter().enumerate() {
        let (from, to) = b.edges(i);
        let (x0, x1) = (f.px(from), f.px(to));
        let top = f.py(*c as f64);
        let _ = write!(
            out,
            "<rect class=\"bar\" x=\"{x0:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\" data-y=\"{c}\"><title>{}–{} {}: {c} requests</title></rect>",
            ((x1 - x0) * 0.95).max(0.5),
            f.top + PLOT_H - top,
            COLORS[0],
            axis::value(from),
            axis::value(to),
            esc(x_label.trim_end_matches(" (log scale)")),
        );
    }
    figure(n, &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_spans_the_data_not_zero() {
        // TTFTs all between 100 and 130 ms: no bin below 100 is drawn.
        let values: Vec<f64> = (0..300).map(|i| 100.0 + f64::from(i % 31)).collect();
        let b = Bins::of(&values, 30);
        assert_eq!((b.lo, b.hi, b.log), (100.0, 130.0, false));
        assert_eq!(b.counts.iter().sum::<usize>(), 300);
        assert!(b.counts.iter().filter(|c| **c > 0).count() >= 25, "spread over the bins: {:?}", b.counts);
        assert_eq!(b.edges(0), (100.0, 101.0));
    }

    #[test]
    fn a_wide_histogram_is_logarithmic() {
        let values = [1.0, 2.0, 5.0, 10.0, 100.0, 1000.0];
        let b = Bins::of(&values, 3);
        assert!(b.log);
        assert_eq!(b.counts, [3, 1, 2], "decades 1–10, 10–100, 100–1000");
        let (lo, hi) = b.edges(1);
        assert!((lo - 10.0).abs() < 1e-9 && (hi - 100.0).abs() < 1e-9, "{lo} {hi}");
        // Zero in the data: no logarithm, linear from 0.
        assert!(!Bins::of(&[0.0, 1000.0], 3).log);
    }

    #[test]
    fn one_value_and_no_value_still_make_a_histogram() {
        let b = Bins::of(&[42.0; 5], 10);
        assert!(b.lo < 42.0 && b.hi > 42.0);
        assert_eq!(b.counts.iter().sum::<usize>(), 5);
        assert_eq!(Bins::of(&[], 4).counts, [0, 0, 0, 0]);
    }

    #[test]
    fn every_point_bar_and_vertex_has_a_hover_title() {
        let s = [Series { name: "run a".into(), points: vec![(1.0, 10.0), (2.0, 20.5)] }];
        let svg = xy("t", "offered requests/s", "ms", &s, Kind::Line);
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("<title>run a: offered requests/s 2, ms 20.5</title>"), "{svg}");
        let svg = bars("t", "ms", &[("stage".into(), vec![("p50".into(), 3.0), ("p99".into(), 7.0)])]);
        assert!(svg.contains("<title>stage p99: 7 ms</title>"), "{svg}");
        let svg = histogram("t", "ms", &[100.0, 110.0], 2);
        assert!(svg.contains("<title>100–105 ms: 1 requests</title>"), "{svg}");
    }

    #[test]
    fn a_long_legend_wraps_onto_rows_below_the_title() {
        let names: Vec<String> = (0..12).map(|i| format!("constant {i}0/s stage")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let layout = legend_layout(&refs);
        let rows = layout.last().unwrap().0 + 1;
        assert!(rows >= 2, "{layout:?}");
        assert!(layout.iter().all(|(_, x)| *x >= LEFT && *x < W - RIGHT));
        // The plot starts below the last row: the legend never covers title or data.
        let series: Vec<Series> = names.iter().map(|n| Series { name: n.clone(), points: vec![(0.0, 1.0)] }).collect();
        let svg = xy("t", "x", "y", &series, Kind::Scatter);
        let plot_top = LEGEND_Y + LEGEND_ROW * (rows - 1) as f64 + 10.0;
        assert!(svg.contains(&format!("height=\"{PLOT_H}\" class=\"plot\"")) && svg.contains(&format!("y=\"{plot_top}\"")), "{svg}");
    }
}
