//! `coldstart.html` (`volley coldstart`): phase medians per configuration and host RSS
//! while loading, drawn with the report's own charts.

use super::svg::{self, Kind, Series, esc};
use super::{CHECK_SCRIPT, STYLE};
use crate::coldstart::{ColdstartReport, Spread};

/// `coldstart.html`: phase medians per configuration and host RSS while loading.
pub fn render(report: &ColdstartReport) -> String {
    let mut h = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Volley cold starts</title><style>{STYLE}</style></head><body>\
         <h1>Volley cold starts</h1><p class=\"meta\">{} · readiness {}{}</p><div class=\"charts\">",
        esc(&report.address),
        esc(&report.ready_path),
        report.gpu.unavailable_reason.as_deref().map(|r| format!(" · GPU metrics unavailable: {}", esc(r))).unwrap_or_default()
    );
    let median = |s: &Option<Spread>| s.map(|s| s.median);
    let groups: Vec<(String, Vec<(String, f64)>)> = report
        .configs
        .iter()
        .map(|c| {
            let bars = [("port open", median(&c.port_ms)), ("ready", median(&c.ready_ms)), ("first token", median(&c.first_token_ms))];
            (c.name.clone(), bars.iter().filter_map(|(l, v)| Some((l.to_string(), (*v)?))).collect())
        })
        .collect();
    h.push_str(&svg::bars("Cold-start phases, median ms from process start", "ms", &groups));
    let rss: Vec<Series> = report
        .configs
        .iter()
        .filter_map(|c| {
            c.runs
                .first()
                .map(|r| Series { name: c.name.clone(), points: r.rss_series_mib.iter().map(|(t, m)| (t / 1000.0, *m)).collect() })
        })
        .collect();
    h.push_str(&svg::xy("Host RSS of the server's process tree (first run)", "seconds since process start", "MiB", &rss, Kind::Line));
    h.push_str("</div>");
    h.push_str(CHECK_SCRIPT);
    h.push_str("</body></html>");
    h
}
