//! The console summary: one block per stage with counts, rates and a percentile table.

use std::fmt::Write as _;

use super::{Report, StageReport};
use crate::metrics::histogram::Summary;

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let s = &report.scenario;
    let _ = writeln!(
        out,
        "\n{} {} against {} (seed {}){}",
        s.info.name,
        s.info.version,
        report.target,
        report.seed,
        if report.interrupted { " — INTERRUPTED" } else { "" }
    );
    for stage in &report.stages {
        render_stage(&mut out, stage);
    }
    out
}

fn render_stage(out: &mut String, st: &StageReport) {
    let r = &st.requests;
    let _ = writeln!(
        out,
        "\nstage '{}' ({}): {} sent, {} ok, {} failed in {:.2} s — {:.2} req/s ok, {:.1} output tok/s",
        st.name, st.load, r.sent, r.ok, r.failed, st.elapsed_s, st.achieved_rps, st.output_tokens_per_s
    );
    for (class, e) in &r.errors {
        let _ = writeln!(out, "  {class}: {} (e.g. {})", e.count, e.example);
    }
    let rows: [(&str, &Option<Summary>); 5] = [
        ("TTFT", &st.ttft_ms),
        ("ITL", &st.itl_ms),
        ("TPOT", &st.tpot_ms),
        ("latency", &st.latency_ms),
        ("sched lag", &st.schedule_lag_ms),
    ];
    let _ = writeln!(
        out,
        "  {:<12}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}",
        "ms", "p50", "p90", "p99", "p99.9", "mean", "count"
    );
    for (name, summary) in rows {
        match summary {
            Some(s) => {
                let _ = writeln!(
                    out,
                    "  {:<12}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}",
                    name,
                    fmt(s.p50),
                    fmt(s.p90),
                    fmt(s.p99),
                    fmt(s.p99_9),
                    fmt(s.mean),
                    s.count
                );
            }
            None => {
                let _ = writeln!(out, "  {:<12}{:>10}", name, "-");
            }
        }
    }
    let t = &st.output_tokens;
    let sources: Vec<String> = t.source.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let _ = writeln!(
        out,
        "  output tokens: {} total, {:.1} mean, {} max (counted from {})",
        t.total,
        t.mean,
        t.max,
        if sources.is_empty() { "-".to_string() } else { sources.join(", ") }
    );
}

fn fmt(ms: f64) -> String {
    if ms >= 100.0 { format!("{ms:.1}") } else { format!("{ms:.3}") }
}
