//! Triton's per-model statistics (`/v2/models/{m}/versions/{v}/stats`), read before
//! and after a stage: how many inferences and executions it served, and how many
//! batches of each size its dynamic batcher executed — the Triton tutorial's batching
//! check.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Result, anyhow};
use serde_json::Value;

use volley_net::http::get;
use volley_report::server::TritonStats;

/// A model named on the command line: `MODEL` or `MODEL:VERSION`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    pub model: String,
    pub version: String,
}

impl ModelRef {
    pub fn parse(spec: &str) -> ModelRef {
        match spec.split_once(':') {
            Some((m, v)) => ModelRef { model: m.to_string(), version: v.to_string() },
            None => ModelRef { model: spec.to_string(), version: "1".to_string() },
        }
    }
}

/// Reads the statistics of `m` from the server at `base` (e.g. `http://127.0.0.1:8000`).
pub async fn read(base: &str, m: &ModelRef) -> Result<TritonStats> {
    let url = format!("{}/v2/models/{}/versions/{}/stats", base.trim_end_matches('/'), m.model, m.version);
    let (status, body) = get(&url, Duration::from_secs(5)).await?;
    if status != 200 {
        return Err(anyhow!("{url} answered HTTP {status}: {}", String::from_utf8_lossy(&body).chars().take(200).collect::<String>()));
    }
    let v: Value = serde_json::from_slice(&body).map_err(|e| anyhow!("{url}: not JSON: {e}"))?;
    parse(&v, m).ok_or_else(|| anyhow!("{url}: no model_stats for {}", m.model))
}

fn parse(v: &Value, m: &ModelRef) -> Option<TritonStats> {
    let s = v.get("model_stats")?.as_array()?.first()?;
    let num = |v: Option<&Value>| v.and_then(|x| x.as_u64().or_else(|| x.as_str().and_then(|s| s.parse().ok()))).unwrap_or(0);
    let mut batch_sizes = BTreeMap::new();
    for b in s.get("batch_stats").and_then(Value::as_array).into_iter().flatten() {
        let size = num(b.get("batch_size"));
        let count = num(b.pointer("/compute_infer/count"));
        if size > 0 && count > 0 {
            batch_sizes.insert(size, count);
        }
    }
    Some(TritonStats {
        model: m.model.clone(),
        version: m.version.clone(),
        inference_count: num(s.get("inference_count")),
        execution_count: num(s.get("execution_count")),
        batch_sizes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_diffs() {
        let before = serde_json::json!({"model_stats": [{"name": "sum_fp32", "inference_count": 10, "execution_count": 10,
            "batch_stats": [{"batch_size": 1, "compute_infer": {"count": 10, "ns": 5}}]}]});
        let after = serde_json::json!({"model_stats": [{"name": "sum_fp32", "inference_count": "50", "execution_count": 22,
            "batch_stats": [{"batch_size": 1, "compute_infer": {"count": 14}}, {"batch_size": 4, "compute_infer": {"count": 9}}]}]});
        let m = ModelRef::parse("sum_fp32");
        let d = parse(&after, &m).unwrap().since(&parse(&before, &m).unwrap());
        assert_eq!((d.inference_count, d.execution_count), (40, 12));
        assert_eq!(d.batch_sizes, BTreeMap::from([(1, 4), (4, 9)]));
        assert_eq!(ModelRef::parse("m:3").version, "3");
    }
}
