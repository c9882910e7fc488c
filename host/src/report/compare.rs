//! `volley compare A/report.json B/report.json`: two runs side by side, stage by stage
//! (matched by name, else by position), with B's change against A.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// (label, JSON pointer inside a stage, lower is better)
const ROWS: &[(&str, &str, bool)] = &[
    ("requests ok", "/requests/ok", false),
    ("requests failed", "/requests/failed", true),
    ("achieved req/s", "/achieved_rps", false),
    ("output tok/s", "/output_tokens_per_s", false),
    ("TTFT p50 ms", "/ttft_ms/p50", true),
    ("TTFT p99 ms", "/ttft_ms/p99", true),
    ("ITL p50 ms", "/itl_ms/p50", true),
    ("ITL p99 ms", "/itl_ms/p99", true),
    ("ITL/token p50 ms", "/itl_per_token_ms/p50", true),
    ("TPOT p50 ms", "/tpot_ms/p50", true),
    ("latency p50 ms", "/latency_ms/p50", true),
    ("latency p99 ms", "/latency_ms/p99", true),
    ("sched lag p99 ms", "/schedule_lag_ms/p99", true),
];

fn load(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let v: Value = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    if v.get("stages").and_then(Value::as_array).is_none() {
        bail!("{} is not a Volley report.json (no stages)", path.display());
    }
    Ok(v)
}

pub fn compare(a_path: &Path, b_path: &Path) -> Result<String> {
    let (a, b) = (load(a_path)?, load(b_path)?);
    let mut out = String::new();
    let name = |r: &Value| format!("{} {}", r["scenario"]["name"].as_str().unwrap_or("?"), r["target"].as_str().unwrap_or(""));
    let _ = writeln!(out, "A: {} ({})\nB: {} ({})", a_path.display(), name(&a), b_path.display(), name(&b));
    let empty = Vec::new();
    let b_stages = b["stages"].as_array().unwrap_or(&empty);
    for (i, sa) in a["stages"].as_array().unwrap_or(&empty).iter().enumerate() {
        let stage_name = sa["name"].as_str().unwrap_or("");
        let Some(sb) = b_stages.iter().find(|s| s["name"] == sa["name"]).or_else(|| b_stages.get(i)) else {
            let _ = writeln!(out, "\nstage '{stage_name}': only in A");
            continue;
        };
        let _ = writeln!(out, "\nstage '{stage_name}' ({} vs {})", load_name(sa), load_name(sb));
        let _ = writeln!(out, "  {:<20}{:>14}{:>14}{:>10}", "", "A", "B", "B vs A");
        for (label, pointer, lower_better) in ROWS {
            let (va, vb) = (sa.pointer(pointer).and_then(Value::as_f64), sb.pointer(pointer).and_then(Value::as_f64));
            if va.is_none() && vb.is_none() {
                continue;
            }
            let cell = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
            let change = match (va, vb) {
                (Some(x), Some(y)) if x != 0.0 => {
                    let pct = (y - x) / x * 100.0;
                    let better = if *lower_better { pct < 0.0 } else { pct > 0.0 };
                    let mark = if pct.abs() < 0.5 { "" } else if better { " +" } else { " -" };
                    format!("{pct:+.1}%{mark}")
                }
                _ => "".into(),
            };
            let _ = writeln!(out, "  {:<20}{:>14}{:>14}{:>10}", label, cell(va), cell(vb), change);
        }
    }
    let _ = writeln!(out, "\n(+ better, - worse: lower is better for latencies and failures)");
    Ok(out)
}

fn load_name(stage: &Value) -> String {
    let l = &stage["load"];
    match l["type"].as_str() {
        Some(t) => {
            let rest: Vec<String> = l
                .as_object()
                .map(|o| o.iter().filter(|(k, _)| *k != "type").map(|(k, v)| format!("{k} {v}")).collect())
                .unwrap_or_default();
            format!("{t} {}", rest.join(" "))
        }
        None => "?".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_by_side() {
        let dir = std::env::temp_dir().join(format!("volley-cmp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let stage = |ttft: f64, ok: u64| {
            serde_json::json!({"name": "s", "load": {"type": "poisson", "rate": 5.0},
                "requests": {"ok": ok, "failed": 0}, "achieved_rps": 1.0, "ttft_ms": {"p50": ttft, "p99": ttft}})
        };
        let a = serde_json::json!({"scenario": {"name": "x"}, "target": "t", "stages": [stage(100.0, 10)]});
        let b = serde_json::json!({"scenario": {"name": "x"}, "target": "t", "stages": [stage(80.0, 10)]});
        std::fs::write(dir.join("a.json"), a.to_string()).unwrap();
        std::fs::write(dir.join("b.json"), b.to_string()).unwrap();
        let text = compare(&dir.join("a.json"), &dir.join("b.json")).unwrap();
        assert!(text.contains("TTFT p50 ms") && text.contains("-20.0% +"), "{text}");
        assert!(compare(&dir.join("a.json"), &dir.join("nope.json")).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
