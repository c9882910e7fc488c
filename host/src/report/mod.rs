//! The run's report: `report.json` (schema below, versioned by `schema_version`) and
//! the console summary ([`console`]).

pub mod console;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::load::StageWindow;
use crate::metrics::histogram::Summary;
use crate::metrics::stage::StageStats;
use crate::model::{Info, Load, Stage};
use crate::util::serialize_opt_duration_s;

/// Bumped on any incompatible change to the JSON layout.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub volley_version: &'static str,
    pub scenario: ScenarioReport,
    pub target: String,
    pub seed: u64,
    pub params: serde_json::Value,
    /// Wall-clock start of the run, milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    pub duration_s: f64,
    /// The run was stopped early (Ctrl-C, SIGTERM or a scenario fault).
    pub interrupted: bool,
    pub stages: Vec<StageReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    #[serde(flatten)]
    pub info: Info,
    /// How the operator named it: a path or `builtin:NAME`.
    pub source: String,
    /// `sha256:` digest of the component.
    pub digest: String,
    /// The `volley:scenario` WIT version it was built against.
    pub wit: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    pub name: String,
    pub load: Load,
    #[serde(serialize_with = "serialize_opt_duration_s", rename = "planned_duration_s")]
    pub planned_duration: Option<std::time::Duration>,
    pub max_requests: Option<u64>,
    pub requests: RequestCounts,
    /// From the stage's start to its last completion.
    pub elapsed_s: f64,
    /// Sends per second over the sending window.
    pub offered_rps: f64,
    /// Successful requests per second over `elapsed_s`.
    pub achieved_rps: f64,
    pub output_tokens_per_s: f64,
    pub output_tokens: TokenReport,
    pub ttft_ms: Option<Summary>,
    pub itl_ms: Option<Summary>,
    pub tpot_ms: Option<Summary>,
    pub latency_ms: Option<Summary>,
    pub schedule_lag_ms: Option<Summary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RequestCounts {
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    pub errors: BTreeMap<&'static str, ErrorReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorReport {
    pub count: u64,
    pub example: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenReport {
    pub total: u64,
    pub mean: f64,
    pub p50: u64,
    pub max: u64,
    /// How many requests' counts came from `usage`, from counting chunks, or neither.
    pub source: BTreeMap<&'static str, u64>,
}

impl StageReport {
    pub fn build(stage: &Stage, stats: &StageStats, window: &StageWindow) -> Self {
        let elapsed = window.finished.saturating_duration_since(window.started).as_secs_f64();
        let sending = window.sending_ended.saturating_duration_since(window.started).as_secs_f64();
        let per_s = |x: f64, secs: f64| if secs > 0.0 { round3(x / secs) } else { 0.0 };
        let tokens = &stats.output_tokens;
        StageReport {
            name: stage.name.clone(),
            load: stage.load,
            planned_duration: stage.duration,
            max_requests: stage.max_requests,
            requests: RequestCounts {
                sent: stats.requests,
                ok: stats.ok,
                failed: stats.failed(),
                errors: stats
                    .errors
                    .iter()
                    .map(|(c, t)| (c.as_str(), ErrorReport { count: t.count, example: t.example.clone() }))
                    .collect(),
            },
            elapsed_s: round3(elapsed),
            offered_rps: per_s(window.sent as f64, sending),
            achieved_rps: per_s(stats.ok as f64, elapsed),
            output_tokens_per_s: per_s(stats.output_tokens_total as f64, elapsed),
            output_tokens: TokenReport {
                total: stats.output_tokens_total,
                mean: if tokens.is_empty() { 0.0 } else { round3(tokens.mean()) },
                p50: if tokens.is_empty() { 0 } else { tokens.value_at_quantile(0.5) },
                max: if tokens.is_empty() { 0 } else { tokens.max() },
                source: stats.token_sources.clone(),
            },
            ttft_ms: stats.ttft.summary(),
            itl_ms: stats.itl.summary(),
            tpot_ms: stats.tpot.summary(),
            latency_ms: stats.latency.summary(),
            schedule_lag_ms: stats.schedule_lag.summary(),
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
