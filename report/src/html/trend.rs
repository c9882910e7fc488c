//! The trend page of `volley runs trend METRIC --html`: one metric of the stored runs,
//! oldest first, as a line (a value on hover for every run) and as a table naming each
//! run, its start, stage and labels.

use std::fmt::Write as _;

use super::svg::{self, Kind, Series, esc};
use super::{CHECK_SCRIPT, STYLE};

/// One run's value of the trended metric.
pub struct TrendPoint {
    pub id: String,
    pub started_unix_ms: u64,
    pub stage: String,
    /// None when the stage had no sample of the metric.
    pub value: Option<f64>,
    pub labels: Vec<(String, String)>,
}

/// The page for `metric` over `points` (oldest first).
pub fn render(metric: &str, points: &[TrendPoint]) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Volley trend: {m}</title><style>{STYLE}</style></head><body>\
         <h1>Volley trend: {m}</h1><p class=\"meta\">{} runs, oldest first; x is the run's place in that order (the table gives its start)</p>",
        points.len(),
        m = esc(metric)
    );
    // One line per stage name, so runs of different shapes do not join across stages.
    let mut series: Vec<Series> = Vec::new();
    for (i, p) in points.iter().enumerate() {
        let Some(v) = p.value else { continue };
        let at = (i + 1) as f64;
        match series.iter_mut().find(|s| s.name == p.stage) {
            Some(s) => s.points.push((at, v)),
            None => series.push(Series { name: p.stage.clone(), points: vec![(at, v)] }),
        }
    }
    h.push_str("<div class=\"charts\" id=\"trend\">");
    if series.is_empty() {
        h.push_str("<p class=\"meta\">No run has a value of this metric: nothing to draw.</p>");
    } else {
        h.push_str(&svg::xy(&format!("{metric} per run"), "run", metric, &series, Kind::Line));
    }
    h.push_str("</div><h2>Runs</h2><table class=\"runs\"><tr><th>run</th><th>id</th><th>started</th><th>stage</th><th>value</th><th>labels</th></tr>");
    for (i, p) in points.iter().enumerate() {
        let labels: Vec<String> = p.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"param\">{}</td></tr>",
            i + 1,
            esc(&p.id),
            super::run::utc(p.started_unix_ms),
            esc(&p.stage),
            p.value.map_or("no data".to_string(), volley_core::text::num),
            esc(&labels.join(", "))
        );
    }
    h.push_str("</table>");
    h.push_str(CHECK_SCRIPT);
    h.push_str("</body></html>");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_run_is_a_vertex_with_its_value_and_a_row() {
        let p = |id: &str, v: Option<f64>| TrendPoint {
            id: id.into(),
            started_unix_ms: 1_700_000_000_000,
            stage: "main".into(),
            value: v,
            labels: vec![("sha".into(), "<b>".into())],
        };
        let page = render("ttft_ms.p99", &[p("a", Some(10.0)), p("b", None), p("c", Some(12.5))]);
        assert_eq!(page.matches("<circle").count(), 2, "a run without a value draws no point");
        assert!(page.contains("ttft_ms.p99 12.5"), "the value on hover");
        assert_eq!(page.matches("<tr><td>").count(), 3, "every run has its row");
        assert!(page.contains("sha=&lt;b&gt;") && !page.contains("<b>"), "labels escaped");
    }
}
