//! `report.json`: the run's report, versioned by `schema_version` (docs/report.md).
//! Every type both serializes and deserializes, so reports can be read back (`volley
//! compare`, merging); fields added later default when absent.
//!
//! Read back, a report is someone else's file (`read.rs`): fields that serde would
//! buffer as a generic value (the parameters, the flattened scenario, the tagged loads)
//! are taken as raw text of a bounded size first, and lists and maps of small elements
//! have a bound on their length well above what a run writes
//! ([`volley_core::foreign_file::bounded`]), so the memory a report takes stays a small
//! multiple of its size.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use volley_core::foreign_file::bounded::{map_at_most, raw_at_most, vec_at_most};
use volley_core::stats::ChunkTokenSource;
use volley_core::time::{deserialize_opt_duration_s, serialize_opt_duration_s};
use volley_core::{DatasetInfo, Info, Load, Slo, Summary};

use crate::server::{Scrapes, SeriesWindow, TritonStats};

/// Largest parameters read back (a run file, which may hold them, is at most 1 MiB).
const MAX_PARAMS_BYTES: usize = 1 << 20;
/// Largest scenario description read back (name, version, description, source).
const MAX_SCENARIO_BYTES: usize = 256 << 10;
/// Largest load read back (a load is a few numbers).
const MAX_LOAD_BYTES: usize = 4 << 10;
/// Most warnings of a run (a merge adds a few per shard and stage) and of a stage.
const MAX_RUN_WARNINGS: usize = 1_000_000;
const MAX_STAGE_WARNINGS: usize = 10_000;
/// Most probe errors of a stage (one a second for a week is 604,800).
const MAX_PROBE_ERRORS: usize = 1_000_000;
/// Most entries of a map of names counted (token and reasoning sources, error classes).
const MAX_NAMES: usize = 64;
/// Most tags or models of a stage, and most server series (runs keep far fewer).
const MAX_GROUPS: usize = 1_000_000;
const MAX_SERIES: usize = 100_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub volley_version: String,
    #[serde(deserialize_with = "raw_at_most::<_, _, MAX_SCENARIO_BYTES>")]
    pub scenario: ScenarioReport,
    pub target: String,
    pub seed: u64,
    #[serde(deserialize_with = "raw_at_most::<_, _, MAX_PARAMS_BYTES>")]
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
    /// GPU telemetry during the run (`--gpu-metrics`), or why there was none.
    #[serde(default)]
    pub gpu: Option<crate::gpu::GpuReport>,
    pub stages: Vec<StageReport>,
    /// Each `--threshold`'s verdict on each stage it is about.
    #[serde(default)]
    pub thresholds: Vec<ThresholdResult>,
    /// With `--abort-on-fail`: the threshold that stopped the run.
    #[serde(default)]
    pub aborted_by: Option<String>,
    /// With `--start-at`: the instant asked for, when the first stage's clock started,
    /// and the difference.
    #[serde(default)]
    pub start: Option<StartReport>,
    /// `--shard I/N`: this report is one shard's; `volley merge` joins them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<volley_core::Shard>,
    /// `volley merge`: the shards this report joins, and what each contributed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<MergeReport>,
    /// The HTTP version the send path spoke: `http/1.1` or `h2` (null: no connection).
    #[serde(default)]
    pub protocol: Option<String>,
    /// What makes this run's numbers or safety weaker than they look (certificates not
    /// verified).
    #[serde(default, deserialize_with = "vec_at_most::<_, _, MAX_RUN_WARNINGS>")]
    pub warnings: Vec<String>,
    /// The server hooks' calls (`--hook`), in the order made.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "vec_at_most::<_, _, MAX_RUN_WARNINGS>")]
    pub hooks: Vec<HookReport>,
    /// The run's context: what the server said of itself, the launch command, the
    /// load generator's machine (docs/report.md).
    #[serde(default)]
    pub metadata: crate::metadata::Metadata,
}

/// One call of a server hook (`--hook`): what, where, how it went and how long it took.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HookReport {
    /// `before-run`, `before-stage` or `after-run`.
    pub when: String,
    /// `reset-prefix-cache`, `start-profile`, `stop-profile`, or `METHOD TO` as given.
    pub action: String,
    /// The stage about to start (`before-stage`).
    pub stage: Option<u32>,
    pub method: String,
    pub url: String,
    /// The server's HTTP status; none when no answer came.
    pub status: Option<u16>,
    /// From sending the call to its whole answer.
    pub ms: f64,
    /// When it was sent, from the run's start (none: before the run's clock started).
    pub at_ms: Option<f64>,
    /// Why it failed (not 2xx, or no answer).
    pub error: Option<String>,
}

/// `--start-at` against what happened, in Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartReport {
    pub requested_unix_ms: f64,
    pub actual_unix_ms: f64,
    /// actual − requested: how late (positive) this process started its clock.
    pub skew_ms: f64,
}

/// A threshold's verdict on one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// The expression as given.
    pub threshold: String,
    pub stage: String,
    /// The measured value; None when the stage had no sample of the metric.
    pub value: Option<f64>,
    pub passed: bool,
    /// A threshold against the baseline (`--baseline`): the baseline's value of the same
    /// stage and metric, and the bound it gave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound: Option<f64>,
}

/// What every run's report says of the run itself; the rest of a [`Report`] is what
/// the run measured, added as it ends.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub scenario: ScenarioReport,
    pub target: String,
    pub seed: u64,
    pub params: serde_json::Value,
    /// Wall-clock start, milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    pub duration_s: f64,
    pub interrupted: bool,
    pub datasets: Vec<DatasetInfo>,
    pub host: HostReport,
}

impl Report {
    /// The report of `run` with no stages and nothing measured yet, of this schema and
    /// Volley version: the one place a report's fields are listed, for the engine, the
    /// tests and anything else that makes one (a merge starts from a shard's).
    pub fn new(run: RunInfo) -> Report {
        let RunInfo { scenario, target, seed, params, started_unix_ms, duration_s, interrupted, datasets, host } = run;
        Report {
            schema_version: crate::SCHEMA_VERSION,
            volley_version: env!("CARGO_PKG_VERSION").to_string(),
            scenario,
            target,
            seed,
            params,
            started_unix_ms,
            duration_s,
            interrupted,
            tokenizer: None,
            datasets,
            host,
            server_metrics: None,
            launch: None,
            gpu: None,
            stages: Vec::new(),
            thresholds: Vec::new(),
            aborted_by: None,
            start: None,
            shard: None,
            merged: None,
            protocol: None,
            warnings: Vec::new(),
            hooks: Vec::new(),
            metadata: Default::default(),
        }
    }

    /// Whether any threshold failed (a run that should fail CI).
    pub fn thresholds_failed(&self) -> bool {
        self.thresholds.iter().any(|t| !t.passed)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostReport {
    /// Peak resident memory of the volley process.
    pub peak_rss_mib: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioReport {
    #[serde(flatten)]
    pub info: Info,
    /// How the operator named it: a path, `builtin:NAME`, `oci://…` or `native:NAME`.
    pub source: String,
    /// `sha256:` digest of the component (`null` for a native workload).
    pub digest: Option<String>,
    /// The `volley:scenario` WIT version it was built against (`null` for native).
    pub wit: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageReport {
    pub name: String,
    #[serde(deserialize_with = "raw_at_most::<_, _, MAX_LOAD_BYTES>")]
    pub load: Load,
    #[serde(serialize_with = "serialize_opt_duration_s", deserialize_with = "deserialize_opt_duration_s", rename = "planned_duration_s")]
    pub planned_duration: Option<Duration>,
    pub max_requests: Option<u64>,
    /// Warm-up and cool-down windows: their requests are in requests.jsonl (marked
    /// `excluded`) but in none of these statistics.
    #[serde(serialize_with = "serialize_opt_duration_s", deserialize_with = "deserialize_opt_duration_s", default)]
    pub warmup_s: Option<Duration>,
    #[serde(serialize_with = "serialize_opt_duration_s", deserialize_with = "deserialize_opt_duration_s", default)]
    pub cooldown_s: Option<Duration>,
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
    #[serde(deserialize_with = "vec_at_most::<_, _, MAX_STAGE_WARNINGS>")]
    pub warnings: Vec<String>,
    pub output_tokens_per_s: f64,
    pub output_tokens: TokenReport,
    pub prompt_tokens: PromptReport,
    /// Reasoning against answer tokens (docs/report.md gives each definition).
    #[serde(default)]
    pub reasoning: ReasoningReport,
    /// Tool calls of successful requests.
    #[serde(default)]
    pub tool_calls: ToolCallReport,
    /// Prefix-cache hits over the requests whose server reported them.
    #[serde(default)]
    pub prefix_cache: PrefixCacheReport,
    /// Where successful requests' time went before the first token.
    #[serde(default)]
    pub timing: TimingReport,
    /// Time to the first output of any kind (answer, reasoning or tool call).
    pub ttft_ms: Option<Summary>,
    /// Time to the first answer output: reasoning excluded.
    #[serde(default)]
    pub ttfo_ms: Option<Summary>,
    /// Time to the event that carried the second output token.
    #[serde(default)]
    pub ttst_ms: Option<Summary>,
    /// Gaps between chunks that carried output.
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
    #[serde(deserialize_with = "map_at_most::<_, _, _, MAX_GROUPS>")]
    pub tags: BTreeMap<String, GroupReport>,
    /// Per-model breakdown (model or LoRA adapter named in the request).
    #[serde(deserialize_with = "map_at_most::<_, _, _, MAX_GROUPS>")]
    pub models: BTreeMap<String, GroupReport>,
    /// The server's series over this stage: first, last, delta, min, max, mean.
    #[serde(deserialize_with = "map_at_most::<_, _, _, MAX_SERIES>")]
    pub server_metrics: BTreeMap<String, SeriesWindow>,
    /// Triton's statistics over this stage, per `--triton-stats` model.
    pub triton: Vec<TritonStats>,
    /// Probes that failed during this stage.
    #[serde(deserialize_with = "vec_at_most::<_, _, MAX_PROBE_ERRORS>")]
    pub probe_errors: Vec<String>,
    /// Each GPU over this stage (`--gpu-metrics`).
    #[serde(default)]
    pub gpu: Vec<crate::gpu::StageGpu>,
    /// Output tokens per joule of GPU energy, when the energy is known.
    #[serde(default)]
    pub output_tokens_per_joule: Option<f64>,
    /// The scenario's named checks (`check(name, passed)`) in this stage, by name.
    #[serde(default)]
    pub checks: BTreeMap<String, CheckReport>,
    /// A stage whose sessions are tasks (its scenario reacts to outcomes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<TaskReport>,
    /// A shard's report: the whole stage it ran its share of (`load` above is its share).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_of: Option<WholeStage>,
    /// When the stage ran, on the wall clock: what `volley merge` aligns shards by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowReport>,
    /// CPU seconds (user + system) the volley process spent while the stage ran: with
    /// the requests, what the generator paid per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_cpu_s: Option<f64>,
    /// Every histogram and counter of the stage, lossless (histograms in HdrHistogram's
    /// compressed V2 format, base64): `volley merge` adds these up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mergeable: Option<volley_core::stats::StatsWire>,
}

/// The stage a shard took its share of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WholeStage {
    #[serde(deserialize_with = "raw_at_most::<_, _, MAX_LOAD_BYTES>")]
    pub load: Load,
    pub max_requests: Option<u64>,
}

/// A shard's row in the merged report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardRow {
    pub index: u32,
    pub dir: String,
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    /// Its clock's start against `--start-at`, ms (null without it).
    pub start_skew_ms: Option<f64>,
    /// Worst schedule-lag p99 over its stages, ms.
    pub lag_p99_ms: Option<f64>,
    /// Successful requests per second over its stages' elapsed time.
    pub achieved_rps: f64,
}

/// What the merged report adds to a run's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MergeReport {
    pub count: u32,
    pub shards: Vec<ShardRow>,
    /// Shard indices absent from the set (with `--allow-missing`).
    pub missing: Vec<u32>,
}

impl WindowReport {
    /// `w` with its start unknown (0): the caller places it on the wall clock.
    pub fn of(w: &volley_core::StageWindow) -> Self {
        let ms = |t: std::time::Instant| (t.saturating_duration_since(w.started).as_secs_f64() * 1e6).round() / 1e3;
        WindowReport { started_unix_ms: 0.0, started_ms: 0.0, sending_ms: ms(w.sending_ended), finished_ms: ms(w.finished), sent: w.sent }
    }
}

/// A stage's window: its start (Unix ms, µs precision) and, from it, when sending
/// ended and the last request finished; and the requests it sent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WindowReport {
    pub started_unix_ms: f64,
    /// The start on the run's clock (what `requests.jsonl`'s `planned_ms` counts from).
    #[serde(default)]
    pub started_ms: f64,
    pub sending_ms: f64,
    pub finished_ms: f64,
    pub sent: u64,
}

/// How often one named check passed in a stage; `rate` is passes over all calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    pub passes: u64,
    pub fails: u64,
    pub rate: f64,
}

impl CheckReport {
    pub fn new(passes: u64, fails: u64) -> Self {
        // Counts read back from a file are foreign: saturate rather than wrap.
        let total = passes.saturating_add(fails);
        CheckReport { passes, fails, rate: if total == 0 { 0.0 } else { passes as f64 / total as f64 } }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupReport {
    pub requests: u64,
    pub ok: u64,
    pub failed: u64,
    pub output_tokens: u64,
    pub ttft_ms: Option<Summary>,
    pub itl_ms: Option<Summary>,
    pub latency_ms: Option<Summary>,
    #[serde(default)]
    pub prefix_cache: PrefixCacheReport,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReasoningReport {
    /// Successful requests whose reasoning count is known; of those, how many reasoned.
    pub counted: u64,
    pub requests_reasoning: u64,
    pub reasoning_tokens: u64,
    pub answer_tokens: u64,
    /// Requests per source of the count: `usage`, `tokenizer`, `chunks`, `none` (no
    /// reasoning was streamed and the server said nothing).
    #[serde(deserialize_with = "map_at_most::<_, _, _, MAX_NAMES>")]
    pub source: BTreeMap<String, u64>,
}

/// The request-timing breakdown of a stage's successful requests.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TimingReport {
    /// Requests that opened their connection: only they paid `connect_ms` (and `tls_ms`).
    pub new_connections: u64,
    pub connect_ms: Option<Summary>,
    pub tls_ms: Option<Summary>,
    /// From the send: the request's last byte written, the first byte of the answer, the
    /// response headers parsed (the first token is `ttft_ms`).
    pub request_written_ms: Option<Summary>,
    pub first_byte_ms: Option<Summary>,
    pub response_headers_ms: Option<Summary>,
}

/// A stage whose sessions are tasks (an agent's whole job): how many started, ended and
/// how, how long the completed ones took, and what each needed. Counts per task
/// (`turns`, `tool_calls`, tokens) are summaries in their own units.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskReport {
    pub started: u64,
    pub completed: u64,
    pub failed: u64,
    /// Still open when the stage ended.
    pub unfinished: u64,
    /// Sessions past the bound on open tasks, not tracked.
    #[serde(default)]
    pub untracked: u64,
    /// Completed tasks per second over the stage.
    pub tasks_per_s: f64,
    /// Completed tasks: first send to last completion.
    pub latency_ms: Option<Summary>,
    /// Ended tasks (completed or failed): requests, tool calls and tokens per task.
    pub turns: Option<Summary>,
    pub tool_calls: Option<Summary>,
    pub input_tokens: Option<Summary>,
    pub output_tokens: Option<Summary>,
    /// Ended tasks: the delays (tool plus think time) waited per task, and in all.
    pub waited_ms: Option<Summary>,
    pub tool_wait_s: f64,
    pub think_wait_s: f64,
    /// Every follow-up's schedule lag: how much later than its asked delay it was sent.
    pub follow_up_lag_ms: Option<Summary>,
    /// Per task whose server reported cached tokens: cached over prompt tokens.
    pub prefix_cache_hit_ratio: Option<Summary>,
    /// TTFT of successful requests by turn (a session's n-th request, the last bucket
    /// holding every later turn) and by prompt length (from `prompt_tokens`).
    #[serde(deserialize_with = "vec_at_most::<_, _, 64>")]
    pub ttft_by_turn: Vec<TtftBucket>,
    #[serde(deserialize_with = "vec_at_most::<_, _, 16>")]
    pub ttft_by_prompt_tokens: Vec<TtftBucket>,
}

/// TTFT of one turn number, or of one prompt-length bucket (from `from` tokens).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TtftBucket {
    pub from: u32,
    pub ttft_ms: Summary,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ToolCallReport {
    pub requests: u64,
    pub calls: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PrefixCacheReport {
    /// Cached over prompt tokens, over the requests that reported both.
    pub hit_ratio: Option<f64>,
    pub cached_tokens: u64,
    pub prompt_tokens: u64,
    /// Requests that reported a cached count, and their share of successful requests.
    pub reported: u64,
    pub reported_share: Option<f64>,
}

/// Intended prompt lengths against the server's counts (requests that had both).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PromptReport {
    pub compared: u64,
    pub requested_mean: Option<f64>,
    pub received_mean: Option<f64>,
    pub mismatched: u64,
    /// Prompt tokens the server said it served from its prefix cache.
    pub cached_total: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestCounts {
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    #[serde(deserialize_with = "map_at_most::<_, _, _, MAX_NAMES>")]
    pub errors: BTreeMap<String, ErrorReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorReport {
    pub count: u64,
    pub example: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenReport {
    pub total: u64,
    pub mean: f64,
    pub p50: u64,
    pub max: u64,
    /// How many requests' counts came from `usage`, the tokenizer, counting chunks, or
    /// nothing.
    #[serde(deserialize_with = "map_at_most::<_, _, _, MAX_NAMES>")]
    pub source: BTreeMap<String, u64>,
    /// Requests with a `max_tokens` and a count, compared.
    pub compared: u64,
    pub requested_mean: Option<f64>,
    pub received_mean: Option<f64>,
    /// Of those, how many received fewer tokens than requested.
    pub short: u64,
}
