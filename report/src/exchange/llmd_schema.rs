//! llm-d-benchmark's benchmark report, version 0.2, as typed structs: the subset Volley
//! fills. Field names, nesting and units follow `schema_v0_2.py` (and its JSON Schema
//! `br_v0_2_json_schema.json`) in llm-d/llm-d-benchmark,
//! `llmdbenchmark/analysis/benchmark_report/`. Every optional field is left out when
//! absent (the schema forbids unknown fields, and `null` is not a value it documents).
//! Every 0.2 report is also a valid 0.2.1 report.

use serde::{Deserialize, Serialize};

/// The schema version written.
pub const VERSION: &str = "0.2";

/// One benchmark report: one stage of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkReport {
    pub version: String,
    pub run: Run,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<Scenario>,
    pub results: Results,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Unique to this report (`<run id>-<stage index>`).
    pub uid: String,
    /// Common to the reports of one experiment: the stored run's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<RunTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keywords: Option<Vec<String>>,
}

/// ISO-8601 instants and duration (`PT12.5S`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunTime {
    pub start: String,
    pub end: String,
    pub duration: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<Vec<Component>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<Load>,
}

/// A part of the system measured (the inference server at the target).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    pub metadata: ComponentMetadata,
    pub standardized: GenericComponent,
    pub native: Native,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentMetadata {
    pub schema_version: String,
    pub label: String,
    /// SHA-256 of the component's native configuration (its JSON).
    pub cfg_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `kind: generic`: the schema's component for what it has no standard form of (its
/// `inference_engine` needs the server's accelerators, which a client cannot know).
/// Generic components may carry extra fields: the model and the target URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenericComponent {
    pub kind: String,
    pub tool: String,
    pub tool_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// A component's or load's configuration in its own format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Native {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Load {
    pub metadata: LoadMetadata,
    pub standardized: LoadStandardized,
    pub native: Native,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadMetadata {
    pub schema_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cfg_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadStandardized {
    pub tool: String,
    pub tool_version: String,
    /// Load generators (a merged run's shards).
    pub parallelism: u64,
    /// `random`, `sampled` or `unknown`.
    pub source: String,
    /// The stage's index in the run.
    pub stage: u64,
    pub input_seq_len: SequenceLength,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_seq_len: Option<SequenceLength>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_qps: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u64>,
}

/// A length: `distribution` is `fixed`, `gaussian`, `uniform` or `other`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceLength {
    pub distribution: String,
    pub value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub request_performance: RequestPerformance,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestPerformance {
    pub aggregate: Aggregate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    pub requests: Requests,
    pub latency: Latency,
    pub throughput: Throughput,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Requests {
    /// Requests sent (measured: warm-up and cool-down excluded).
    pub total: u64,
    /// Of those, the ones that failed.
    pub failures: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_length: Option<Statistics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_length: Option<Statistics>,
}

/// The schema's latency figures (its own definitions, which are the peers' variants:
/// docs/metrics.md maps each to Volley's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_first_token: Option<Statistics>,
    /// Including the first token (latency / output tokens, per request): not derivable
    /// from Volley's statistics, so never written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalized_time_per_output_token: Option<Statistics>,
    /// Excluding the first token: (latency − TTFT) / (output tokens − 1), per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_per_output_token: Option<Statistics>,
    /// Gaps between streamed chunks after the first, pooled over requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inter_token_latency: Option<Statistics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_latency: Option<Statistics>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_token_rate: Option<Statistics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_rate: Option<Statistics>,
}

/// The schema's units (the ones Volley writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Units {
    #[serde(rename = "count")]
    Count,
    #[serde(rename = "ms")]
    Ms,
    #[serde(rename = "ms/token")]
    MsPerToken,
    #[serde(rename = "tokens/s")]
    TokensPerS,
    #[serde(rename = "queries/s")]
    QueriesPerS,
}

/// A distribution (or, for a rate, its one value as `mean`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statistics {
    pub units: Units,
    pub mean: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stddev: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p0p1: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p1: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p5: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p10: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p25: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p75: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99p9: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl Statistics {
    /// Only a mean (a rate, or a mean length).
    pub fn mean(units: Units, mean: f64) -> Self {
        Statistics {
            units,
            mean,
            stddev: None,
            min: None,
            p0p1: None,
            p1: None,
            p5: None,
            p10: None,
            p25: None,
            p50: None,
            p75: None,
            p90: None,
            p95: None,
            p99: None,
            p99p9: None,
            max: None,
        }
    }
}
