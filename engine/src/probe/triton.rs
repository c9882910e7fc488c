//! Triton's per-model statistics (`/v2/models/{m}/versions/{v}/stats`), read before
//! and after a stage: how many inferences and executions it served, and how many
//! batches of each size its dynamic batcher executed — the Triton tutorial's batching
//! check. The answer is read through the bounded reader ([`super::answer`]): at most
//! [`TRITON_STATS_BYTES`], only the first model's counts and at most
//! [`MAX_BATCH_SIZES`] batch sizes kept.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use volley_core::text::printable;
use volley_net::Checked;
use volley_report::server::TritonStats;

use super::answer::{self, Bounded, Count, First, TRITON_STATS_BYTES};

/// Most batch sizes one answer may list (Triton lists one per size it executed; a
/// model's largest batch is rarely above a few hundred).
pub const MAX_BATCH_SIZES: usize = 4096;
/// How long one read may take.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

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

    /// The statistics' path below the target's API root.
    pub fn stats_path(&self) -> String {
        format!("/v2/models/{}/versions/{}/stats", self.model, self.version)
    }
}

#[derive(Deserialize)]
struct Statistics {
    #[serde(default)]
    model_stats: First<ModelStatistics>,
}

#[derive(Deserialize)]
struct ModelStatistics {
    #[serde(default)]
    inference_count: Count,
    #[serde(default)]
    execution_count: Count,
    #[serde(default)]
    batch_stats: Bounded<BatchStatistics, MAX_BATCH_SIZES>,
}

#[derive(Deserialize)]
struct BatchStatistics {
    #[serde(default)]
    batch_size: Count,
    #[serde(default)]
    compute_infer: Executions,
}

#[derive(Deserialize, Default)]
struct Executions {
    #[serde(default)]
    count: Count,
}

/// Reads the statistics of `m` at `to` (the target's stats path for it); one line if
/// they cannot be read.
pub async fn read(to: &Checked, m: &ModelRef) -> Result<TritonStats, String> {
    let url = printable(&to.to_string(), 200);
    let (status, body) = answer::fetch(to, READ_TIMEOUT, TRITON_STATS_BYTES).await?;
    if status != 200 {
        let head = String::from_utf8_lossy(body.get(..200).unwrap_or(&body)).into_owned();
        return Err(format!("{url} answered HTTP {status}: {}", printable(&head, 200)));
    }
    parse(&body, m).map_err(|e| format!("{url}: {e}"))
}

fn parse(body: &[u8], m: &ModelRef) -> Result<TritonStats, String> {
    let stats: Statistics = answer::json(body).map_err(|e| format!("the answer is {e}"))?;
    let s = stats.model_stats.0.ok_or_else(|| format!("no model_stats for {}", printable(&m.model, 128)))?;
    let mut batch_sizes = BTreeMap::new();
    for b in s.batch_stats.0 {
        if b.batch_size.0 > 0 && b.compute_infer.count.0 > 0 {
            batch_sizes.insert(b.batch_size.0, b.compute_infer.count.0);
        }
    }
    Ok(TritonStats {
        model: m.model.clone(),
        version: m.version.clone(),
        inference_count: s.inference_count.0,
        execution_count: s.execution_count.0,
        batch_sizes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_json(v: serde_json::Value, m: &ModelRef) -> TritonStats {
        parse(v.to_string().as_bytes(), m).unwrap()
    }

    #[test]
    fn parses_and_diffs() {
        let before = serde_json::json!({"model_stats": [{"name": "sum_fp32", "inference_count": 10, "execution_count": 10,
            "batch_stats": [{"batch_size": 1, "compute_infer": {"count": 10, "ns": 5}}]}]});
        let after = serde_json::json!({"model_stats": [{"name": "sum_fp32", "inference_count": "50", "execution_count": 22,
            "batch_stats": [{"batch_size": 1, "compute_infer": {"count": 14}}, {"batch_size": 4, "compute_infer": {"count": 9}}]}]});
        let m = ModelRef::parse("sum_fp32");
        let d = parse_json(after, &m).since(&parse_json(before, &m));
        assert_eq!((d.inference_count, d.execution_count), (40, 12));
        assert_eq!(d.batch_sizes, BTreeMap::from([(1, 4), (4, 9)]));
        assert_eq!(ModelRef::parse("m:3").version, "3");
        assert_eq!(ModelRef::parse("m:3").stats_path(), "/v2/models/m/versions/3/stats");
    }

    #[test]
    fn hostile_answers_are_refused_or_skipped() {
        let m = ModelRef::parse("m");
        // The issue's answer: an array of zeros.
        let zeros = format!("[{}0]", "0,".repeat(1_000_000));
        assert!(parse(zeros.as_bytes(), &m).unwrap_err().contains("not the expected JSON"));
        assert!(parse(br#"{"model_stats": []}"#, &m).unwrap_err().contains("no model_stats for m"));
        let too_many = serde_json::json!({"model_stats": [{"batch_stats": vec![serde_json::json!({}); MAX_BATCH_SIZES + 1]}]});
        assert!(parse(too_many.to_string().as_bytes(), &m).unwrap_err().contains("more than 4096 elements"));
        // Huge unread fields and a second model cost nothing.
        let mut body = String::from(r#"{"model_stats": [{"inference_count": 3, "junk": ["#);
        body.push_str(&"0,".repeat(500_000));
        body.push_str(r#"0]}, {"inference_count": 9}]}"#);
        assert_eq!(parse(body.as_bytes(), &m).unwrap().inference_count, 3);
    }
}
