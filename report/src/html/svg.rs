//! Small inline-SVG charts for the HTML report: lines, scatter points, bars and
//! histograms, with axes and ticks. No script and no external file, so a report opens
//! anywhere, offline.

use std::fmt::Write as _;

const W: f64 = 640.0;
const H: f64 = 260.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 36.0;
const COLORS: &[&str] = &["#2b6cb0", "#dd6b20", "#2f855a", "#c53030", "#6b46c1", "#b7791f", "#0987a0", "#97266d"];

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

fn nice_max(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|m| *m >= v).unwrap_or(v)
}

fn fmt_tick(v: f64) -> String {
    if v >= 100.0 || v == 0.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// Opens a figure: title, axes and ticks for [x0, x1] × [0, y1]; returns the mappers.
fn frame(out: &mut String, title: &str, (x_label, y_label): (&str, &str), (x0, x1, y1): (f64, f64, f64), points: usize) {
    let _ = write!(
        out,
        "<figure class=\"chart\" data-points=\"{points}\"><svg viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{t}\">\
         <text x=\"{LEFT}\" y=\"18\" class=\"title\">{t}</text>",
        t = esc(title)
    );
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let _ = write!(out, "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{pw}\" height=\"{ph}\" class=\"plot\"/>");
    for i in 0..=4 {
        let f = f64::from(i) / 4.0;
        let y = TOP + ph * (1.0 - f);
        let x = LEFT + pw * f;
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" class=\"grid\"/>\
             <text x=\"{}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            LEFT - 4.0,
            y + 4.0,
            fmt_tick(y1 * f),
        );
        // Bar charts (no x label) name their groups instead of numbering the axis.
        if !x_label.is_empty() {
            let _ = write!(
                out,
                "<text x=\"{x:.1}\" y=\"{}\" class=\"tick\" text-anchor=\"middle\">{}</text>",
                H - BOTTOM + 14.0,
                fmt_tick(x0 + (x1 - x0) * f)
            );
        }
    }
    let _ = write!(
        out,
        "<text x=\"{}\" y=\"{}\" class=\"axis\" text-anchor=\"middle\">{}</text>\
         <text x=\"12\" y=\"{}\" class=\"axis\" transform=\"rotate(-90 12 {})\" text-anchor=\"middle\">{}</text>",
        LEFT + pw / 2.0,
        H - 4.0,
        esc(x_label),
        TOP + ph / 2.0,
        TOP + ph / 2.0,
        esc(y_label)
    );
}

/// A legend on the title row, right-aligned, one entry after another.
fn legend(out: &mut String, names: &[&str]) {
    let width = |n: &str| 18.0 + 6.0 * n.chars().count().min(28) as f64;
    let mut x = W - RIGHT - names.iter().map(|n| width(n)).sum::<f64>();
    let y = 18.0;
    for (i, name) in names.iter().enumerate() {
        let _ = write!(
            out,
            "<rect x=\"{x}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"{y:.1}\" class=\"legend\">{}</text>",
            y - 9.0,
            COLORS[i % COLORS.len()],
            x + 14.0,
            esc(name)
        );
        x += width(name);
    }
}

/// A line or scatter chart of several series.
pub fn xy(title: &str, x_label: &str, y_label: &str, series: &[Series], kind: Kind) -> String {
    let all = || series.iter().flat_map(|s| s.points.iter()).filter(|(x, y)| x.is_finite() && y.is_finite());
    let n = all().count();
    let (x0, x1) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (x, _)| (lo.min(*x), hi.max(*x)));
    let (x0, x1) = if n == 0 {
        (0.0, 1.0)
    } else if x1 > x0 {
        (x0, x1)
    } else {
        (x0 - 1.0, x1 + 1.0)
    };
    let y1 = nice_max(all().map(|(_, y)| *y).fold(0.0, f64::max));
    let mut out = String::new();
    frame(&mut out, title, (x_label, y_label), (x0, x1, y1), n);
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let px = |x: f64| LEFT + (x - x0) / (x1 - x0) * pw;
    let py = |y: f64| TOP + ph * (1.0 - (y / y1).clamp(0.0, 1.0));
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        match kind {
            Kind::Line => {
                let d: Vec<String> = s.points.iter().map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y))).collect();
                if !d.is_empty() {
                    let _ = write!(
                        out,
                        "<polyline class=\"series\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>",
                        d.join(" ")
                    );
                }
            }
            Kind::Scatter => {
                for (x, y) in &s.points {
                    let _ = write!(out, "<circle class=\"point\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"1.8\" fill=\"{color}\"/>", px(*x), py(*y));
                }
            }
        }
    }
    if series.len() > 1 {
        legend(&mut out, &series.iter().map(|s| s.name.as_str()).collect::<Vec<_>>());
    }
    out.push_str("</svg></figure>");
    out
}

/// Grouped bars: for each group (a stage), one bar per label (p50, p90, p99).
pub fn bars(title: &str, y_label: &str, groups: &[(String, Vec<(String, f64)>)]) -> String {
    let n: usize = groups.iter().map(|(_, b)| b.len()).sum();
    let y1 = nice_max(groups.iter().flat_map(|(_, b)| b.iter().map(|(_, v)| *v)).fold(0.0, f64::max));
    let mut out = String::new();
    frame(&mut out, title, ("", y_label), (0.0, groups.len() as f64, y1), n);
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let slot = pw / groups.len().max(1) as f64;
    let mut labels = Vec::new();
    for (g, (group, values)) in groups.iter().enumerate() {
        let bw = slot * 0.8 / values.len().max(1) as f64;
        for (i, (label, v)) in values.iter().enumerate() {
            let h = ph * (v / y1).clamp(0.0, 1.0);
            let x = LEFT + slot * g as f64 + slot * 0.1 + bw * i as f64;
            let _ = write!(
                out,
                "<rect class=\"bar\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{} {}: {v:.3}</title></rect>",
                TOP + ph - h,
                bw * 0.9,
                COLORS[i % COLORS.len()],
                esc(group),
                esc(label)
            );
            if g == 0 {
                labels.push(label.as_str());
            }
        }
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{}\" class=\"tick\" text-anchor=\"middle\">{}</text>",
            LEFT + slot * (g as f64 + 0.5),
            TOP + ph + 26.0,
            esc(group)
        );
    }
    legend(&mut out, &labels);
    out.push_str("</svg></figure>");
    out
}

/// A histogram of values in `bins` equal bins.
pub fn histogram(title: &str, x_label: &str, values: &[f64], bins: usize) -> String {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let hi = finite.iter().copied().fold(0.0, f64::max);
    let hi = if hi > 0.0 { hi } else { 1.0 };
    let mut counts = vec![0usize; bins.max(1)];
    for v in &finite {
        let b = ((v / hi) * bins as f64).floor().min(bins as f64 - 1.0).max(0.0) as usize;
        counts[b] += 1;
    }
    let y1 = nice_max(*counts.iter().max().unwrap_or(&0) as f64);
    let mut out = String::new();
    frame(&mut out, title, (x_label, "requests"), (0.0, hi, y1), finite.len());
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let bw = pw / bins as f64;
    for (i, c) in counts.iter().enumerate() {
        let h = ph * (*c as f64 / y1);
        let _ = write!(
            out,
            "<rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\"/>",
            LEFT + bw * i as f64,
            TOP + ph - h,
            bw * 0.95,
            COLORS[0]
        );
    }
    out.push_str("</svg></figure>");
    out
}
