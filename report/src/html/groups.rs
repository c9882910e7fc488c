//! The report page's breakdowns: per tag and per model (a stage's `tags` and `models`
//! groups) and per named check (`checks`), each a table and a chart, shown only when the
//! report has them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use volley_core::Summary;

use super::svg::{self, esc};
use crate::schema::{GroupReport, StageReport};

/// Most groups charted (the table lists them all).
const MAX_CHARTED: usize = 24;

fn ms(s: &Option<Summary>, f: fn(&Summary) -> f64) -> String {
    s.as_ref().map_or("-".to_string(), |s| format!("{:.1}", f(s)))
}

/// A group's name in a chart: with its stage when the run has several.
fn charted(stages: usize, stage: &str, group: &str) -> String {
    if stages > 1 { format!("{stage} · {group}") } else { group.to_string() }
}

/// One table (and a TTFT/latency chart) of the groups `pick` gives of each stage.
fn group_section(h: &mut String, stages: &[StageReport], what: &str, pick: fn(&StageReport) -> &BTreeMap<String, GroupReport>) {
    if stages.iter().all(|st| pick(st).is_empty()) {
        return;
    }
    let _ = write!(
        h,
        "<h2>Per {what}</h2><table class=\"per-{what}\"><tr><th>stage</th><th>{what}</th><th>requests</th><th>ok</th><th>failed</th>\
         <th>output tokens</th><th>TTFT p50</th><th>TTFT p99</th><th>ITL p50</th><th>latency p50</th><th>latency p99</th><th>cache hit</th></tr>"
    );
    for st in stages {
        for (name, g) in pick(st) {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&st.name),
                esc(name),
                g.requests,
                g.ok,
                g.failed,
                g.output_tokens,
                ms(&g.ttft_ms, |s| s.p50),
                ms(&g.ttft_ms, |s| s.p99),
                ms(&g.itl_ms, |s| s.p50),
                ms(&g.latency_ms, |s| s.p50),
                ms(&g.latency_ms, |s| s.p99),
                g.prefix_cache.hit_ratio.map_or("-".to_string(), |r| format!("{:.0} %", r * 100.0)),
            );
        }
    }
    h.push_str("</table>");
    let chart = |f: fn(&GroupReport) -> &Option<Summary>| -> Vec<(String, Vec<(String, f64)>)> {
        stages
            .iter()
            .flat_map(|st| {
                pick(st).iter().filter_map(move |(name, g)| {
                    let s = f(g).as_ref()?;
                    Some((charted(stages.len(), &st.name, name), vec![("p50".to_string(), s.p50), ("p99".to_string(), s.p99)]))
                })
            })
            .take(MAX_CHARTED)
            .collect()
    };
    // One name only (every request the same model): the stage charts say it all.
    let mut names = stages.iter().flat_map(|st| pick(st).keys());
    let first = names.next();
    if names.all(|n| Some(n) == first) {
        return;
    }
    let (ttft, latency) = (chart(|g| &g.ttft_ms), chart(|g| &g.latency_ms));
    if ttft.is_empty() && latency.is_empty() {
        return;
    }
    h.push_str("<div class=\"charts\">");
    if !ttft.is_empty() {
        h.push_str(&svg::bars(&format!("TTFT by {what} (ms)"), "ms", &ttft));
    }
    if !latency.is_empty() {
        h.push_str(&svg::bars(&format!("Latency by {what} (ms)"), "ms", &latency));
    }
    h.push_str("</div>");
}

/// Per tag and per model, when the stages have them.
pub(crate) fn tags_and_models(h: &mut String, stages: &[StageReport]) {
    group_section(h, stages, "tag", |st| &st.tags);
    group_section(h, stages, "model", |st| &st.models);
}

/// The scenario's named checks: passes, fails and pass rate per stage, and a chart of
/// the pass rates.
pub(crate) fn checks(h: &mut String, stages: &[StageReport]) {
    if stages.iter().all(|st| st.checks.is_empty()) {
        return;
    }
    h.push_str(
        "<h2>Checks</h2><table class=\"checks\"><tr><th>stage</th><th>check</th><th>passes</th><th>fails</th><th>pass rate</th></tr>",
    );
    for st in stages {
        for (name, c) in &st.checks {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td{}>{:.1} %</td></tr>",
                esc(&st.name),
                esc(name),
                c.passes,
                c.fails,
                if c.fails > 0 { " class=\"warn\"" } else { "" },
                c.rate * 100.0
            );
        }
    }
    h.push_str("</table>");
    // One group per check, one bar per stage.
    let mut names: Vec<&str> = Vec::new();
    for st in stages {
        for name in st.checks.keys() {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
    }
    let groups: Vec<(String, Vec<(String, f64)>)> = names
        .iter()
        .take(MAX_CHARTED)
        .map(|name| {
            let bars = stages.iter().filter_map(|st| Some((st.name.clone(), st.checks.get(*name)?.rate * 100.0))).collect();
            (name.to_string(), bars)
        })
        .collect();
    h.push_str("<div class=\"charts\">");
    h.push_str(&svg::bars("Check pass rate (%)", "% passed", &groups));
    h.push_str("</div>");
}
