//! The report page's "Run" section: what was run, against what, with which parameters
//! and models: the top level of `report.json` as a table.

use std::fmt::Write as _;

use super::svg::esc;
use crate::schema::Report;

/// Longest parameter value shown whole; longer ones are cut (report.json has them all).
const MAX_PARAM_CHARS: usize = 400;

/// `2026-12-07 22:10:12 UTC` from Unix milliseconds (the proleptic Gregorian calendar).
pub(crate) fn utc(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// A parameter's value as compact JSON (strings without quotes), cut when long.
fn param(v: &serde_json::Value) -> String {
    let text = match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > MAX_PARAM_CHARS {
        let cut: String = text.chars().take(MAX_PARAM_CHARS).collect();
        format!("{cut}… (cut; report.json has it whole)")
    } else {
        text
    }
}

/// The models the requests named, over all stages, in order of first appearance.
pub(crate) fn models(report: &Report) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for st in &report.stages {
        for m in st.models.keys() {
            if !out.contains(&m.as_str()) {
                out.push(m);
            }
        }
    }
    out
}

/// The "Run" table: scenario, target, model, parameters and the rest of the top level.
pub(crate) fn run_table(h: &mut String, report: &Report) {
    let s = &report.scenario;
    let mut rows: Vec<(String, String)> =
        vec![("scenario".into(), format!("{} {} ({})", s.info.name, s.info.version, s.source)), ("target".into(), report.target.clone())];
    let models = models(report);
    if !models.is_empty() {
        rows.push((if models.len() == 1 { "model" } else { "models" }.into(), models.join(", ")));
    }
    if !s.info.description.is_empty() {
        rows.push(("description".into(), s.info.description.clone()));
    }
    rows.push(("started".into(), utc(report.started_unix_ms)));
    rows.push(("duration".into(), format!("{:.1} s{}", report.duration_s, if report.interrupted { " (interrupted)" } else { "" })));
    rows.push(("seed".into(), report.seed.to_string()));
    if let Some(p) = &report.protocol {
        rows.push(("protocol".into(), p.clone()));
    }
    if let Some(t) = &report.tokenizer {
        rows.push(("tokenizer".into(), t.clone()));
    }
    for d in &report.datasets {
        rows.push(("dataset".into(), serde_json::to_value(d).map(|v| param(&v)).unwrap_or_default()));
    }
    if let Some(l) = &report.launch {
        rows.push(("launched".into(), l.command.clone()));
    }
    if let Some(m) = &report.merged {
        rows.push(("merged".into(), format!("{} of {} shards", m.shards.len(), m.count)));
    }
    if let Some(sh) = &report.shard {
        rows.push(("shard".into(), serde_json::to_value(sh).map(|v| param(&v)).unwrap_or_default()));
    }
    rows.push((
        "generator".into(),
        format!(
            "volley {} · peak RSS {:.0} MiB · report schema {}",
            report.volley_version, report.host.peak_rss_mib, report.schema_version
        ),
    ));
    h.push_str("<h2>Run</h2><table class=\"run\">");
    for (k, v) in rows {
        let _ = write!(h, "<tr><th>{}</th><td class=\"param\">{}</td></tr>", esc(&k), esc(&v));
    }
    h.push_str("</table>");
    // The parameters, as the run resolved them.
    match &report.params {
        serde_json::Value::Object(map) if !map.is_empty() => {
            h.push_str("<h2>Parameters</h2><table class=\"params\"><tr><th>parameter</th><th>value</th></tr>");
            for (k, v) in map {
                let _ = write!(h, "<tr><td>{}</td><td class=\"param\">{}</td></tr>", esc(k), esc(&param(v)));
            }
            h.push_str("</table>");
        }
        serde_json::Value::Object(_) | serde_json::Value::Null => {}
        other => {
            let _ = write!(h, "<h2>Parameters</h2><p class=\"param\">{}</p>", esc(&param(other)));
        }
    }
}

/// The "Thresholds" table: each verdict with the measured value and, for a bound against
/// `--baseline`, the baseline's value and the bound it gave, so a regression reads at a glance.
pub(crate) fn thresholds_table(h: &mut String, report: &Report) {
    if report.thresholds.is_empty() {
        return;
    }
    let against = report.thresholds.iter().any(|t| t.baseline.is_some());
    h.push_str("<h2>Thresholds</h2><table class=\"thresholds\"><tr><th>threshold</th><th>stage</th><th>verdict</th><th>value</th>");
    if against {
        h.push_str("<th>baseline</th><th>bound</th><th>change</th>");
    }
    h.push_str("</tr>");
    let num = |v: Option<f64>| v.map_or("no data".to_string(), volley_core::text::num);
    for t in &report.thresholds {
        let (class, verdict) = if t.passed { ("better", "pass") } else { ("worse", "FAIL") };
        let _ = write!(
            h,
            "<tr><td class=\"param\">{}</td><td>{}</td><td class=\"{class}\">{verdict}</td><td>{}</td>",
            esc(&t.threshold),
            esc(&t.stage),
            num(t.value)
        );
        if against {
            let change = match (t.value, t.baseline) {
                (Some(v), Some(b)) if b != 0.0 => format!("{:+.1} %", (v - b) / b * 100.0),
                _ => "-".into(),
            };
            let _ = write!(
                h,
                "<td>{}</td><td>{}</td><td>{change}</td>",
                t.baseline.map_or("-".to_string(), volley_core::text::num),
                t.bound.map_or("-".to_string(), volley_core::text::num)
            );
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_are_civil() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_796_681_412_000), "2026-12-07 22:10:12 UTC");
    }
}
