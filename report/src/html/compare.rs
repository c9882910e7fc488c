//! `volley compare A B … --html FILE`: one self-contained page comparing two or more
//! single runs. Each stage of a run is a point (x: its offered requests/s, or its
//! concurrency when every stage of every run is closed-loop); each run is a line in its
//! own colour, labelled by its directory's name. Charts: TTFT and end-to-end latency
//! (p50 and p99) and achieved requests/s against offered load, and the
//! throughput-versus-interactivity frontier (x: output tokens/s per user, 1000 / TPOT
//! p50; y: the stage's total output tokens/s). Then, for each run after the first, a
//! per-stage delta table against the first, where a difference is marked a change only
//! where it exceeds the noise ([`crate::compare::deltas`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use volley_core::Load;

use super::svg::{self, Kind, Series, esc};
use super::{CHECK_SCRIPT, STYLE, axis};
use crate::compare::{Call, Figure, ReadError, deltas, open_run};
use crate::schema::{Report, StageReport};

/// A run's label: its directory's name (the directory holding a `report.json` named).
pub(crate) fn label(path: &Path) -> String {
    let dir = if path.is_dir() { path } else { path.parent().unwrap_or(path) };
    let name = std::fs::canonicalize(dir).ok().and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    name.unwrap_or_else(|| dir.display().to_string())
}

/// Reads each run and renders the page; labels made unique with their position.
pub fn page(paths: &[PathBuf]) -> Result<String, ReadError> {
    let mut runs: Vec<(String, Report)> = Vec::new();
    for p in paths {
        let report = open_run(p)?;
        let mut name = label(p);
        if runs.iter().any(|(l, _)| *l == name) {
            name = format!("{name} ({})", runs.len() + 1);
        }
        runs.push((name, report));
    }
    Ok(render(&runs))
}

/// A closed-loop stage's concurrency.
fn concurrency(load: &Load) -> Option<f64> {
    match *load {
        Load::Concurrency { n } | Load::Sessions { n } => Some(f64::from(n)),
        Load::ConcurrencyRamp { from, to } => Some((f64::from(from) + f64::from(to)) / 2.0),
        _ => None,
    }
}

/// Where a stage sits on the load axis.
#[derive(Clone, Copy)]
enum LoadAxis {
    Offered,
    Concurrency,
}

impl LoadAxis {
    fn of(runs: &[(String, Report)]) -> LoadAxis {
        let closed = runs.iter().flat_map(|(_, r)| &r.stages).all(|s| concurrency(&s.load).is_some());
        if closed { LoadAxis::Concurrency } else { LoadAxis::Offered }
    }

    fn x(self, s: &StageReport) -> Option<f64> {
        match self {
            LoadAxis::Offered => Some(s.offered_rps),
            LoadAxis::Concurrency => concurrency(&s.load),
        }
    }

    fn label(self) -> &'static str {
        match self {
            LoadAxis::Offered => "offered requests/s",
            LoadAxis::Concurrency => "concurrency",
        }
    }
}

/// One series per run: `(x, y)` of each of its stages that has both, sorted by x.
fn per_run(runs: &[(String, Report)], x: impl Fn(&StageReport) -> Option<f64>, y: impl Fn(&StageReport) -> Option<f64>) -> Vec<Series> {
    runs.iter()
        .map(|(name, r)| {
            let mut points: Vec<(f64, f64)> =
                r.stages.iter().filter_map(|s| Some((x(s)?, y(s)?))).filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series { name: name.clone(), points }
        })
        .collect()
}

/// Output tokens per second one user sees: 1000 / TPOT p50 (ms).
fn per_user_tokens_per_s(s: &StageReport) -> Option<f64> {
    s.tpot_ms.map(|t| t.p50).filter(|t| *t > 0.0).map(|t| 1000.0 / t)
}

/// The comparison page of `runs` (label, report), the first the baseline.
pub fn render(runs: &[(String, Report)]) -> String {
    let mut h = String::new();
    let title = runs.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>().join(" vs ");
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Volley comparison: {t}</title><style>{STYLE}</style></head><body>\
         <h1>Volley comparison: {t}</h1><p class=\"meta\">{} runs · the first ({}) is the baseline of the delta tables</p>",
        runs.len(),
        esc(runs.first().map_or("", |(l, _)| l.as_str())),
        t = esc(&title)
    );
    runs_table(&mut h, runs);
    let load = LoadAxis::of(runs);
    let x = |s: &StageReport| load.x(s);
    let _ = write!(
        h,
        "<h2>Against {}</h2><p class=\"meta\">Each point is a stage; each line a run.</p><div class=\"charts\" id=\"overlay\">",
        load.label()
    );
    type Pick = fn(&StageReport) -> Option<f64>;
    let charts: [(&str, &str, Pick); 5] = [
        ("TTFT p50", "TTFT p50 ms", |s| s.ttft_ms.map(|t| t.p50)),
        ("TTFT p99", "TTFT p99 ms", |s| s.ttft_ms.map(|t| t.p99)),
        ("Latency p50", "latency p50 ms", |s| s.latency_ms.map(|t| t.p50)),
        ("Latency p99", "latency p99 ms", |s| s.latency_ms.map(|t| t.p99)),
        ("Achieved requests/s", "achieved requests/s", |s| Some(s.achieved_rps)),
    ];
    for (what, y_label, pick) in charts {
        let series = per_run(runs, x, pick);
        if series.iter().any(|s| !s.points.is_empty()) {
            h.push_str(&svg::xy(&format!("{what} vs {}", load.label()), load.label(), y_label, &series, Kind::Line));
        }
    }
    h.push_str("</div>");
    let frontier = per_run(runs, per_user_tokens_per_s, |s| Some(s.output_tokens_per_s));
    h.push_str("<h2>Throughput vs interactivity</h2>");
    if frontier.iter().any(|s| !s.points.is_empty()) {
        h.push_str(
            "<p class=\"meta\">Per stage: x is what one user sees (1000 / TPOT p50), y the whole stage's output tokens/s. \
             Up and to the right is better.</p><div class=\"charts\" id=\"frontier\">",
        );
        h.push_str(&svg::xy(
            "Total output tokens/s vs output tokens/s per user",
            "output tokens/s per user",
            "total output tokens/s",
            &frontier,
            Kind::Line,
        ));
        h.push_str("</div>");
    } else {
        h.push_str("<p class=\"meta\">No stage has a TPOT (requests of two output tokens or more): no frontier to draw.</p>");
    }
    if let Some((base_label, base)) = runs.first() {
        for (label, run) in &runs[1..] {
            delta_table(&mut h, base_label, base, label, run);
        }
    }
    h.push_str(
        "<p class=\"meta\">Intervals: 95 %, each from its own run's sample (percentiles from the order statistics of the run's \
         histogram, counts and rates as Poisson counts, the error rate as a binomial fraction). A difference is a change \
         (better or worse) only where the two intervals do not overlap; drift between runs is not in them (<code>--repeat N</code> \
         and the console's <code>volley compare</code> of two --repeat directories measure it).</p>",
    );
    h.push_str(CHECK_SCRIPT);
    h.push_str("</body></html>");
    h
}

fn runs_table(h: &mut String, runs: &[(String, Report)]) {
    h.push_str(
        "<h2>Runs</h2><table class=\"runs\"><tr><th>run</th><th>scenario</th><th>target</th><th>model</th><th>started</th>\
         <th>stages</th><th>parameters</th></tr>",
    );
    for (i, (label, r)) in runs.iter().enumerate() {
        let params = match &r.params {
            serde_json::Value::Object(m) if m.is_empty() => "-".to_string(),
            v => v.to_string(),
        };
        let params: String = if params.chars().count() > 300 { params.chars().take(300).chain("…".chars()).collect() } else { params };
        let _ = write!(
            h,
            "<tr><td><span style=\"color:{}\">■</span> {}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"param\">{}</td></tr>",
            svg::COLORS[i % svg::COLORS.len()],
            esc(label),
            esc(&r.scenario.info.name),
            esc(&r.scenario.info.version),
            esc(&r.target),
            esc(&super::run::models(r).join(", ")),
            super::run::utc(r.started_unix_ms),
            r.stages.len(),
            esc(&params)
        );
    }
    h.push_str("</table>");
}

fn figure_cell(f: &Option<Figure>) -> String {
    match f {
        None => "-".into(),
        Some(Figure { value, interval: Some((lo, hi)) }) => {
            let hi = if hi.is_finite() { axis::value(*hi) } else { "∞".into() };
            format!("{} <span class=\"noise\">[{}, {hi}]</span>", axis::value(*value), axis::value(*lo))
        }
        Some(Figure { value, interval: None }) => axis::value(*value),
    }
}

fn delta_table(h: &mut String, a_label: &str, a: &Report, b_label: &str, b: &Report) {
    let d = deltas(a, b);
    let _ = write!(h, "<h2>{} against {}</h2>", esc(b_label), esc(a_label));
    if !d.only_a.is_empty() {
        let _ = write!(h, "<p class=\"meta\">Stages only in {}, not compared: {}</p>", esc(a_label), esc(&d.only_a.join(", ")));
    }
    if !d.only_b.is_empty() {
        let _ = write!(h, "<p class=\"meta\">Stages only in {}, not compared: {}</p>", esc(b_label), esc(&d.only_b.join(", ")));
    }
    if d.stages.is_empty() {
        h.push_str("<p class=\"warn\">No stage has a partner of the same name: nothing to compare.</p>");
        return;
    }
    let _ = write!(
        h,
        "<table class=\"deltas\"><tr><th>stage</th><th>metric</th><th>{} [95 %]</th><th>{} [95 %]</th><th>change</th><th>verdict</th></tr>",
        esc(a_label),
        esc(b_label)
    );
    for st in &d.stages {
        for row in &st.rows {
            let class = match row.call {
                Call::Better => "better",
                Call::Worse => "worse",
                Call::WithinNoise | Call::CannotTell(_) => "noise",
            };
            let change = row.change_pct.map_or("-".to_string(), |p| format!("{p:+.1} %"));
            let _ = write!(
                h,
                "<tr class=\"{class}\" data-change=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{}</td><td class=\"{class}\">{}</td></tr>",
                matches!(row.call, Call::Better | Call::Worse),
                esc(&st.stage),
                esc(row.label),
                figure_cell(&row.a),
                figure_cell(&row.b),
                change,
                row.call
            );
        }
    }
    h.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{one_run, stage_with_ttfts};

    #[test]
    fn every_run_is_a_line_with_hover_values_and_a_change_is_marked_only_past_noise() {
        let base: Vec<u64> = (0..200).map(|i| 20 + i % 10).collect();
        let slow: Vec<u64> = base.iter().map(|t| t * 10).collect();
        let runs = vec![
            ("fast".to_string(), one_run(vec![stage_with_ttfts("s", &base)])),
            ("fast again".to_string(), one_run(vec![stage_with_ttfts("s", &base)])),
            ("slow".to_string(), one_run(vec![stage_with_ttfts("s", &slow)])),
        ];
        let page = render(&runs);
        let p50 = runs[2].1.stages[0].ttft_ms.unwrap().p50;
        let x = runs[2].1.stages[0].offered_rps;
        let want = format!("<title>slow: offered requests/s {}, TTFT p50 ms {}</title>", axis::value(x), axis::value(p50));
        assert!(page.contains(&want), "{want}");
        assert_eq!(page.matches("data-series=\"fast again\"").count(), 6, "one line per run on the five overlays and the frontier");
        // Against itself nothing changes; ten times slower is worse.
        let (again, slow) = page.split_once("<h2>slow against fast</h2>").unwrap();
        assert!(!again.split("<h2>fast again against fast</h2>").nth(1).unwrap().contains("data-change=\"true\""));
        assert!(slow.contains("<td class=\"worse\">worse</td>"), "{slow}");
    }
}
