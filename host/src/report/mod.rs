//! The run's report: `report.json` (schema below, versioned by `schema_version`), the
//! console summary ([`console`]), `report.html` ([`html`]), and two runs side by side
//! ([`compare`]).

pub mod compare;
pub mod console;
pub mod html;
mod svg;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::dataset::DatasetInfo;
use crate::load::StageWindow;
use crate::metrics::histogram::Summary;
use crate::metrics::stage::{Breakdown, GroupStats, LengthTally, StageStats};
use crate::metrics::tokens::ChunkTokenSource;
use crate::probe::prometheus::{Scrapes, SeriesWindow};
use crate::probe::triton::TritonStats;
use crate::model::{Slo, Info, Load, Stage};
use crate::util::serialize_opt_duration_s;

/// Bumped on any incompatible change to the JSON layout.
pub const SCHEMA_VERSION: u32 = 4;

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
    /// The `--tokenizer` file, if any.
    pub tokenizer: Option<String>,
    pub datasets: Vec<DatasetInfo>,
    pub host: HostReport,
    /// The server's Prometheus series, when `--server-metrics` was given.
    pub server_metrics: Option<Scrapes>,
    /// The server Volley launched (`--launch`); all times of the run are then from its
    /// process start.
    pub launch: Option<LaunchReport>,
    pub stages: Vec<StageReport>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LaunchReport {
    pub command: String,
    /// When sending began: process, port or ready.
    pub at: String,
    pub port_open_ms: Option<f64>,
    pub ready_ms: Option<f64>,
    /// SIGTERM until the server's process group was gone.
    pub stop_ms: Option<f64>,
}

/// The load generator's own footprint.
#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    /// Peak resident memory of the volley process.
    pub peak_rss_mib: f64,
}

impl HostReport {
    pub fn measure() -> Self {
        HostReport { peak_rss_mib: crate::util::peak_rss_bytes() as f64 / (1 << 20) as f64 }
    }
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
    /// Warm-up and cool-down windows: their requests are in requests.jsonl (marked
    /// `excluded`) but in none of these statistics.
    #[serde(serialize_with = "serialize_opt_duration_s")]
    pub warmup_s: Option<std::time::Duration>,
    #[serde(serialize_with = "serialize_opt_duration_s")]
    pub cooldown_s: Option<std::time::Duration>,
    pub excluded: u64,
    /// Measured requests (warm-up and cool-down excluded).
    pub requests: RequestCounts,
    /// From the stage's start to its last completion.
    pub elapsed_s: f64,
    /// From the stage's start to its last send.
    pub sending_s: f64,
    /// The rate the load aimed at (open-loop loads), requests/s.
    pub target_rps: Option<f64>,
    /// Sends per second over the sending window (over the measured window when the
    /// stage has warm-up or cool-down).
    pub offered_rps: f64,
    /// Successful requests per second over `elapsed_s` (or the measured window).
    pub achieved_rps: f64,
    /// The stage's per-request objective; requests/s meeting it; the fraction meeting it.
    pub slo: Option<Slo>,
    pub goodput_rps: Option<f64>,
    pub slo_attainment: Option<f64>,
    /// Loud notes: the generator fell behind its target, sends ran late.
    pub warnings: Vec<String>,
    pub output_tokens_per_s: f64,
    pub output_tokens: TokenReport,
    pub prompt_tokens: PromptReport,
    pub ttft_ms: Option<Summary>,
    /// Gaps between chunks that carried text.
    pub itl_ms: Option<Summary>,
    /// The same gaps divided among the tokens of each chunk.
    pub itl_per_token_ms: Option<Summary>,
    /// How tokens per chunk were known: by the tokenizer, or an even spread of the
    /// output count (requests per source).
    pub itl_per_token_source: BTreeMap<ChunkTokenSource, u64>,
    pub tpot_ms: Option<Summary>,
    pub latency_ms: Option<Summary>,
    /// From the planned send to the last byte: latency corrected for coordinated
    /// omission (a late send does not hide the wait).
    pub latency_from_planned_ms: Option<Summary>,
    pub schedule_lag_ms: Option<Summary>,
    /// Inferences of successful requests per second (a KServe batch of 16 counts 16).
    pub inferences_per_s: f64,
    /// Per-tag breakdown (tags the scenario set on its requests).
    pub tags: BTreeMap<String, GroupReport>,
    /// Per-model breakdown (model or LoRA adapter named in the request).
    pub models: BTreeMap<String, GroupReport>,
    /// The server's series over this stage: first, last, delta, min, max, mean.
    pub server_metrics: BTreeMap<String, SeriesWindow>,
    /// Triton's statistics over this stage, per `--triton-stats` model.
    pub triton: Vec<TritonStats>,
    /// Probes that failed during this stage.
    pub probe_errors: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupReport {
    pub requests: u64,
    pub ok: u64,
    pub failed: u64,
    pub output_tokens: u64,
    pub ttft_ms: Option<Summary>,
    pub itl_ms: Option<Summary>,
    pub latency_ms: Option<Summary>,
}

impl From<&GroupStats> for GroupReport {
    fn from(t: &GroupStats) -> Self {
        GroupReport {
            requests: t.requests,
            ok: t.ok,
            failed: t.requests - t.ok,
            output_tokens: t.output_tokens,
            ttft_ms: t.ttft.summary(),
            itl_ms: t.itl.summary(),
            latency_ms: t.latency.summary(),
        }
    }
}

/// Intended prompt lengths against the server's counts (requests that had both).
#[derive(Debug, Clone, Serialize)]
pub struct PromptReport {
    pub compared: u64,
    pub requested_mean: Option<f64>,
    pub received_mean: Option<f64>,
    pub mismatched: u64,
    /// Prompt tokens the server said it served from its prefix cache.
    pub cached_total: u64,
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
    /// How many requests' counts came from `usage`, the tokenizer, counting chunks, or
    /// nothing.
    pub source: BTreeMap<&'static str, u64>,
    /// Requests with a `max_tokens` and a count, compared.
    pub compared: u64,
    pub requested_mean: Option<f64>,
    pub received_mean: Option<f64>,
    /// Of those, how many received fewer tokens than requested.
    pub short: u64,
}

fn mean(sum: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| round3(sum as f64 / n as f64))
}

impl PromptReport {
    fn from(l: &LengthTally) -> Self {
        PromptReport {
            compared: l.prompt_compared,
            requested_mean: mean(l.prompt_requested_sum, l.prompt_compared),
            received_mean: mean(l.prompt_received_sum, l.prompt_compared),
            mismatched: l.prompt_mismatched,
            cached_total: l.cached_prompt_tokens,
        }
    }
}

/// Whether the generator kept up: sends at the target rate (within what chance allows
/// for the number sent) and on time. A lagging generator hides server latency, so this
/// is said loudly rather than left in the numbers.
fn generator_warnings(load: &Load, offered: f64, sent: u64, stats: &StageStats) -> Vec<String> {
    let mut w = Vec::new();
    if let Some(target) = load.target_rate()
        && sent >= 50
    {
        // Poisson counts vary by about 1/sqrt(n); allow four of those, and at least 5 %.
        let tolerance = (4.0 / (sent as f64).sqrt()).max(0.05);
        if offered < target * (1.0 - tolerance) {
            w.push(format!(
                "the generator fell behind: it sent {offered:.1} requests/s of the {target} planned ({:.0} %); \
                 latency_from_planned_ms shows what the delay cost",
                100.0 * offered / target
            ));
        }
    }
    let lag_p99 = stats.schedule_lag.percentile_ms(99.0);
    // A burst's lag is the time to start all of it, not a clock running late.
    if stats.requests >= 20 && lag_p99 > LAG_WARN_MS && !matches!(load, Load::Burst { .. }) {
        w.push(format!("sends ran late: schedule lag p99 {lag_p99:.1} ms (over {LAG_WARN_MS} ms)"));
    }
    w
}

/// Schedule lag p99 above this is reported as the generator falling behind.
pub const LAG_WARN_MS: f64 = 10.0;

impl StageReport {
    pub fn build(stage: &Stage, stats: &StageStats, window: &StageWindow) -> Self {
        let mut elapsed = window.finished.saturating_duration_since(window.started).as_secs_f64();
        let sending = window.sending_ended.saturating_duration_since(window.started).as_secs_f64();
        let per_s = |x: f64, secs: f64| if secs > 0.0 { round3(x / secs) } else { 0.0 };
        let tokens = &stats.output_tokens;
        // With warm-up or cool-down, rates are over the measured part of the duration.
        let trimmed = stage.warmup.is_some() || stage.cooldown.is_some();
        let (offered_count, offered_window) = if trimmed {
            let measured = stage.duration.map_or(sending, |d| d.as_secs_f64())
                - stage.warmup.map_or(0.0, |w| w.as_secs_f64())
                - stage.cooldown.map_or(0.0, |c| c.as_secs_f64());
            elapsed = measured.max(0.0);
            (stats.requests as f64, elapsed)
        } else {
            (window.sent as f64, sending)
        };
        let measured_n = stats.requests;
        let slo_attainment = stats.slo.map(|_| if measured_n == 0 { 0.0 } else { round3(stats.slo_met as f64 / measured_n as f64) });
        let target_rps = stage.load.target_rate();
        let offered_rps = per_s(offered_count, offered_window);
        StageReport {
            name: stage.name.clone(),
            load: stage.load,
            planned_duration: stage.duration,
            max_requests: stage.max_requests,
            warmup_s: stage.warmup,
            cooldown_s: stage.cooldown,
            excluded: stats.excluded,
            sending_s: round3(sending),
            target_rps,
            slo: stage.slo,
            goodput_rps: stats.slo.map(|_| per_s(stats.slo_met as f64, elapsed)),
            slo_attainment,
            warnings: generator_warnings(&stage.load, offered_rps, window.sent, stats),
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
            offered_rps,
            achieved_rps: per_s(stats.ok as f64, elapsed),
            output_tokens_per_s: per_s(stats.output_tokens_total as f64, elapsed),
            output_tokens: TokenReport {
                total: stats.output_tokens_total,
                mean: if tokens.is_empty() { 0.0 } else { round3(tokens.mean()) },
                p50: if tokens.is_empty() { 0 } else { tokens.value_at_quantile(0.5) },
                max: if tokens.is_empty() { 0 } else { tokens.max() },
                source: stats.token_sources.clone(),
                compared: stats.lengths.output_compared,
                requested_mean: mean(stats.lengths.output_requested_sum, stats.lengths.output_compared),
                received_mean: mean(stats.lengths.output_received_sum, stats.lengths.output_compared),
                short: stats.lengths.output_short,
            },
            prompt_tokens: PromptReport::from(&stats.lengths),
            ttft_ms: stats.ttft.summary(),
            itl_ms: stats.itl.summary(),
            itl_per_token_ms: stats.itl_per_token.summary(),
            itl_per_token_source: stats.itl_per_token_source.clone(),
            tpot_ms: stats.tpot.summary(),
            latency_ms: stats.latency.summary(),
            latency_from_planned_ms: stats.latency_from_planned.summary(),
            schedule_lag_ms: stats.schedule_lag.summary(),
            inferences_per_s: per_s(stats.inferences as f64, elapsed),
            tags: groups(&stats.tags),
            models: groups(&stats.models),
            server_metrics: BTreeMap::new(),
            triton: Vec::new(),
            probe_errors: Vec::new(),
        }
    }
}

fn groups(b: &Breakdown) -> BTreeMap<String, GroupReport> {
    b.groups.iter().map(|(k, g)| (k.clone(), GroupReport::from(g))).collect()
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod generator_tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::metrics::record::RequestRecord;
    use crate::model::Api;

    fn stats_with_lag(n: u64, lag: Duration) -> StageStats {
        let mut stats = StageStats::new();
        let t0 = Instant::now();
        for seq in 0..n {
            let mut r = RequestRecord::new(0, seq, Api::Completions, false, t0);
            r.sent = Some(t0 + lag);
            r.done = t0 + lag + Duration::from_millis(1);
            stats.record(&r);
        }
        stats
    }

    #[test]
    fn a_generator_behind_its_target_is_warned_about() {
        let load = Load::Poisson { rate: 1000.0 };
        let on_time = stats_with_lag(1000, Duration::from_micros(100));
        assert!(generator_warnings(&load, 990.0, 1000, &on_time).is_empty(), "within chance");
        let w = generator_warnings(&load, 800.0, 1000, &on_time);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("fell behind") && w[0].contains("80 %"), "{w:?}");
        let late = stats_with_lag(1000, Duration::from_millis(25));
        assert!(generator_warnings(&load, 1000.0, 1000, &late).iter().any(|w| w.contains("schedule lag p99")));
        // A burst's lag is not a late clock; closed loops have no target.
        assert!(generator_warnings(&Load::Burst { n: 1000 }, 0.0, 1000, &late).is_empty());
        assert!(generator_warnings(&Load::Concurrency { n: 4 }, 10.0, 1000, &on_time).is_empty());
    }
}
