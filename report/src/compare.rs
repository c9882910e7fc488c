//! `volley compare A/report.json B/report.json`: two runs side by side, stage by stage
//! (matched by name, else by position), with B's change against A.

use std::fmt::Write as _;
use std::path::Path;

use crate::schema::{Report, StageReport};

/// (label, the figure in a stage, lower is better)
type Row = (&'static str, fn(&StageReport) -> Option<f64>, bool);

const ROWS: &[Row] = &[
    ("requests ok", |s| Some(s.requests.ok as f64), false),
    ("requests failed", |s| Some(s.requests.failed as f64), true),
    ("achieved req/s", |s| Some(s.achieved_rps), false),
    ("output tok/s", |s| Some(s.output_tokens_per_s), false),
    ("TTFT p50 ms", |s| s.ttft_ms.map(|x| x.p50), true),
    ("TTFT p99 ms", |s| s.ttft_ms.map(|x| x.p99), true),
    ("ITL p50 ms", |s| s.itl_ms.map(|x| x.p50), true),
    ("ITL p99 ms", |s| s.itl_ms.map(|x| x.p99), true),
    ("ITL/token p50 ms", |s| s.itl_per_token_ms.map(|x| x.p50), true),
    ("TPOT p50 ms", |s| s.tpot_ms.map(|x| x.p50), true),
    ("latency p50 ms", |s| s.latency_ms.map(|x| x.p50), true),
    ("latency p99 ms", |s| s.latency_ms.map(|x| x.p99), true),
    ("sched lag p99 ms", |s| s.schedule_lag_ms.map(|x| x.p99), true),
];

/// Why a report could not be read, in one line.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path} is not a Volley report.json: {message}")]
    NotAReport { path: String, message: String },
}

/// Reads a `report.json`.
pub fn read(path: &Path) -> Result<Report, ReadError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ReadError::Io { path: shown.clone(), source })?;
    serde_json::from_str(&text).map_err(|e| ReadError::NotAReport { path: shown, message: e.to_string() })
}

/// The side-by-side table of two reports.
pub fn compare(a_path: &Path, b_path: &Path) -> Result<String, ReadError> {
    let (a, b) = (read(a_path)?, read(b_path)?);
    Ok(table(&a, a_path, &b, b_path))
}

fn table(a: &Report, a_path: &Path, b: &Report, b_path: &Path) -> String {
    let mut out = String::new();
    let name = |r: &Report| format!("{} {}", r.scenario.info.name, r.target);
    let _ = writeln!(out, "A: {} ({})\nB: {} ({})", a_path.display(), name(a), b_path.display(), name(b));
    for (i, sa) in a.stages.iter().enumerate() {
        let Some(sb) = b.stages.iter().find(|s| s.name == sa.name).or_else(|| b.stages.get(i)) else {
            let _ = writeln!(out, "\nstage '{}': only in A", sa.name);
            continue;
        };
        let _ = writeln!(out, "\nstage '{}' ({} vs {})", sa.name, sa.load, sb.load);
        let _ = writeln!(out, "  {:<20}{:>14}{:>14}{:>10}", "", "A", "B", "B vs A");
        for (label, figure, lower_better) in ROWS {
            let (va, vb) = (figure(sa), figure(sb));
            if va.is_none() && vb.is_none() {
                continue;
            }
            let cell = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
            let change = match (va, vb) {
                (Some(x), Some(y)) if x != 0.0 => {
                    let pct = (y - x) / x * 100.0;
                    let better = if *lower_better { pct < 0.0 } else { pct > 0.0 };
                    let mark = if pct.abs() < 0.5 {
                        ""
                    } else if better {
                        " +"
                    } else {
                        " -"
                    };
                    format!("{pct:+.1}%{mark}")
                }
                _ => "".into(),
            };
            let _ = writeln!(out, "  {:<20}{:>14}{:>14}{:>10}", label, cell(va), cell(vb), change);
        }
    }
    let _ = writeln!(out, "\n(+ better, - worse: lower is better for latencies and failures)");
    out
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use volley_core::{Api, Info, Load, RequestRecord, Stage, StageStats, StageWindow};

    use super::*;
    use crate::schema::{HostReport, ScenarioReport};

    fn report(ttft_ms: u64, ok: u64) -> Report {
        let stage = Stage::new("s", Load::Poisson { rate: 5.0 }, Some(Duration::from_secs(1)), None);
        let mut stats = StageStats::new();
        let t0 = Instant::now();
        for seq in 0..ok {
            let mut r = RequestRecord::new(0, seq, Api::Completions, true, t0);
            r.sent = Some(t0);
            r.first_token = Some(t0 + Duration::from_millis(ttft_ms));
            r.done = t0 + Duration::from_millis(ttft_ms + 1);
            stats.record(&r);
        }
        let window = StageWindow { started: t0, sending_ended: t0, finished: t0 + Duration::from_secs(1), sent: ok };
        Report {
            schema_version: crate::SCHEMA_VERSION,
            volley_version: "test".into(),
            scenario: ScenarioReport {
                info: Info { name: "x".into(), version: "1".into(), description: String::new() },
                source: "native:x".into(),
                digest: None,
                wit: None,
            },
            target: "t".into(),
            seed: 1,
            params: serde_json::json!({}),
            started_unix_ms: 0,
            duration_s: 1.0,
            interrupted: false,
            tokenizer: None,
            datasets: Vec::new(),
            host: HostReport { peak_rss_mib: 1.0 },
            server_metrics: None,
            launch: None,
            gpu: None,
            stages: vec![StageReport::build(&stage, &stats, &window)],
            thresholds: Vec::new(),
            aborted_by: None,
            start: None,
            shard: None,
            merged: None,
            protocol: None,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn side_by_side() {
        let dir = std::env::temp_dir().join(format!("volley-cmp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.json"), serde_json::to_string(&report(100, 10)).unwrap()).unwrap();
        std::fs::write(dir.join("b.json"), serde_json::to_string(&report(80, 10)).unwrap()).unwrap();
        let text = compare(&dir.join("a.json"), &dir.join("b.json")).unwrap();
        assert!(text.contains("TTFT p50 ms") && text.contains("-20.0% +"), "{text}");
        assert!(compare(&dir.join("a.json"), &dir.join("nope.json")).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
