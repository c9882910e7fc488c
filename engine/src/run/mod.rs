//! One benchmark run, as a library call: a [`Run`] is built with typed options, a
//! [`Workload`] (Wasm or native) and the [`Sink`]s its outputs go to; `execute` drives
//! every stage against the target and returns a [`RunOutcome`] — the report in memory,
//! and the workload's fault if it stopped the run (the partial report is kept).
//!
//! A run prints nothing itself (the console is a sink like any other) and works on any
//! tokio runtime, a current-thread one included: everything that blocks runs on a
//! thread of its own.

mod clock;
mod execute;
mod finish;
mod prepare;
mod probes;
mod report;
mod stages;
mod start;
mod stopped;

use std::sync::Arc;
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use volley_core::{Cancel, Policy, Workload, WorkloadError};
use volley_data::Tokenizer;
use volley_net::Target;
use volley_report::threshold::Threshold;
use volley_report::{Report, Sink, SinkError};

pub use crate::launch::{Launch, LaunchAt};
pub use crate::probe::triton::ModelRef;

/// `--server-metrics`: the server's Prometheus endpoint, scraped during the run.
#[derive(Debug, Clone)]
pub struct ServerMetrics {
    pub url: String,
    pub interval: Duration,
    /// Metric name prefixes to keep; empty: the defaults (`vllm:`, `tgi_`, …).
    pub prefixes: Vec<String>,
}

/// A benchmark run, ready to execute.
pub struct Run {
    workload: Box<dyn Workload>,
    /// Where its events and report go, in the order attached.
    sinks: Vec<Box<dyn Sink>>,
    hooks: Vec<volley_core::hooks::ServerHook>,
    options: Options,
}

/// What the builder set besides the workload, its outputs and its hooks: read by each
/// phase of the run (`execute.rs`).
pub(super) struct Options {
    pub(super) target: Target,
    pub(super) params: serde_json::Value,
    pub(super) seed: u64,
    pub(super) model: Option<String>,
    pub(super) headers: Vec<(HeaderName, HeaderValue)>,
    pub(super) session_header: Option<HeaderName>,
    pub(super) request_timeout: Duration,
    pub(super) tokenizer: Option<Arc<Tokenizer>>,
    pub(super) record_text: bool,
    pub(super) server_metrics: Option<ServerMetrics>,
    pub(super) triton_stats: Vec<ModelRef>,
    pub(super) launch: Option<Launch>,
    pub(super) cancel: Arc<Cancel>,
    pub(super) run_id: Option<String>,
    pub(super) policy: Arc<Policy>,
    pub(super) thresholds: Vec<Threshold>,
    /// The stages of the run thresholds' `baseline` bounds read.
    pub(super) baseline: Option<Vec<volley_report::schema::StageReport>>,
    pub(super) abort_on_fail: bool,
    pub(super) gpu_interval: Option<Duration>,
    pub(super) h2_prior_knowledge: bool,
    /// The local addresses connections come from, in turn (`--source-addr`).
    pub(super) source_addrs: Vec<std::net::IpAddr>,
    pub(super) lanes: usize,
    pub(super) start_at: Option<std::time::SystemTime>,
    pub(super) shard: Option<volley_core::Shard>,
    pub(super) server_kind: Option<volley_core::hooks::ServerKind>,
}

/// What a run leaves: its report, and why it stopped early if its workload faulted.
pub struct RunOutcome {
    /// Every stage run so far, also when the run was interrupted or faulted.
    pub report: Report,
    /// Why the run stopped early: the workload failed, the policy refused what it asked
    /// for, or an internal failure. `None` when it ran its plan (or was interrupted).
    pub fault: Option<crate::Fault>,
    /// Records handed to the sinks.
    pub records: u64,
    /// Connections the send path opened.
    pub connections_opened: u64,
    /// Requests retried on a new connection after the server had closed an idle one.
    pub stale_retries: u64,
    /// Sinks that failed, each dropped at its first failure.
    pub sink_errors: Vec<SinkError>,
}

/// Why a run could not start, in one line; nothing was sent to the target.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// An option the run cannot use.
    #[error("{0}")]
    Options(String),
    /// The target is not usable or not reachable.
    #[error(transparent)]
    Target(#[from] volley_net::NetError),
    /// A probe the operator asked for does not answer.
    #[error("{0}")]
    Probe(String),
    /// The server given with `--launch` did not come up.
    #[error("{0}")]
    Launch(String),
    /// The workload refused its parameters or failed while setting up.
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    /// Something of the engine's own failed.
    #[error("{0}")]
    Internal(String),
}

impl Run {
    /// A run of `workload` against `target`, with default options: parameters `{}`,
    /// seed 1, a 300 s request timeout, the target's first model, no outputs.
    pub fn new(target: Target, workload: impl Workload + 'static) -> Run {
        Run::boxed(target, Box::new(workload))
    }

    /// [`Run::new`] for a workload already boxed.
    pub fn boxed(target: Target, workload: Box<dyn Workload>) -> Run {
        Run {
            workload,
            sinks: Vec::new(),
            hooks: Vec::new(),
            options: Options {
                target,
                params: serde_json::json!({}),
                seed: 1,
                model: None,
                headers: Vec::new(),
                session_header: None,
                request_timeout: Duration::from_secs(300),
                tokenizer: None,
                record_text: false,
                server_metrics: None,
                triton_stats: Vec::new(),
                launch: None,
                cancel: Arc::new(Cancel::new()),
                run_id: None,
                policy: Arc::new(Policy::default()),
                thresholds: Vec::new(),
                baseline: None,
                abort_on_fail: false,
                gpu_interval: None,
                h2_prior_knowledge: false,
                source_addrs: Vec::new(),
                lanes: crate::lanes::default_count(),
                start_at: None,
                shard: None,
                server_kind: None,
            },
        }
    }

    /// A server hook: a call to the server at a moment of the run (reset its prefix
    /// cache before each stage, start its profiler before the run, ...). Its status and
    /// time are in the report; a failed call is a warning.
    pub fn hook(mut self, hook: volley_core::hooks::ServerHook) -> Self {
        self.hooks.push(hook);
        self
    }

    /// Which server the built-in hook actions call (vLLM, SGLang, llama.cpp).
    pub fn server_kind(mut self, kind: volley_core::hooks::ServerKind) -> Self {
        self.options.server_kind = Some(kind);
        self
    }

    /// The operator's policy the run must keep within (default: the built-in one).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.options.policy = Arc::new(policy);
        self
    }

    /// The workload's parameters (a JSON object, given to `configure`).
    pub fn params(mut self, params: serde_json::Value) -> Self {
        self.options.params = params;
        self
    }

    /// Seed of every random choice: the workload's streams and the arrival clocks.
    pub fn seed(mut self, seed: u64) -> Self {
        self.options.seed = seed;
        self
    }

    /// Model for requests that name none (else the target's first from `/v1/models`).
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.options.model = Some(model.into());
        self
    }

    /// A header added to every request (credentials belong here, never in a workload).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.options.headers.push((name, value));
        self
    }

    /// Session affinity: every request of a session carries the session's id in header
    /// `name` (for prefix-aware routers such as llm-d's gateway). The operator's, like
    /// [`header`](Self::header): a workload cannot set it.
    pub fn session_header(mut self, name: HeaderName) -> Self {
        self.options.session_header = Some(name);
        self
    }

    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.options.request_timeout = timeout;
        self
    }

    /// Counts the tokens a server does not report, and tokens per chunk.
    pub fn tokenizer(mut self, tokenizer: Arc<Tokenizer>) -> Self {
        self.options.tokenizer = Some(tokenizer);
        self
    }

    /// Keep request bodies and response texts in the records (`--record-text`).
    pub fn record_text(mut self, yes: bool) -> Self {
        self.options.record_text = yes;
        self
    }

    pub fn server_metrics(mut self, metrics: ServerMetrics) -> Self {
        self.options.server_metrics = Some(metrics);
        self
    }

    /// Read Triton's statistics of this model before and after each stage.
    pub fn triton_stats(mut self, model: ModelRef) -> Self {
        self.options.triton_stats.push(model);
        self
    }

    /// Start the server with this command and run against it (scale from zero).
    pub fn launch(mut self, launch: Launch) -> Self {
        self.options.launch = Some(launch);
        self
    }

    /// Another output of the run's records and results.
    pub fn sink(mut self, sink: impl Sink + 'static) -> Self {
        self.sinks.push(Box::new(sink));
        self
    }

    /// [`Run::sink`] for a sink already boxed.
    pub fn boxed_sink(mut self, sink: Box<dyn Sink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// The signal that stops the run early (it still reports what it measured).
    pub fn cancel(mut self, cancel: Arc<Cancel>) -> Self {
        self.options.cancel = cancel;
        self
    }

    /// A name for this run, for exporters' labels (default: label, time and pid).
    pub fn run_id(mut self, id: impl Into<String>) -> Self {
        self.options.run_id = Some(id.into());
        self
    }

    /// A pass/fail condition on each stage's metrics; its verdicts are in the report's
    /// `thresholds` (see [`Report::thresholds_failed`]).
    pub fn threshold(mut self, threshold: Threshold) -> Self {
        self.options.thresholds.push(threshold);
        self
    }

    /// The run a threshold's `baseline` bound compares with (its report's stages, matched
    /// by name).
    pub fn baseline(mut self, stages: Vec<volley_report::schema::StageReport>) -> Self {
        self.options.baseline = Some(stages);
        self
    }

    /// Stop sending once a threshold has failed for good (a maximum over its bound
    /// mid-stage, or any verdict at a stage's end); the report names it in `aborted_by`.
    pub fn abort_on_fail(mut self, yes: bool) -> Self {
        self.options.abort_on_fail = yes;
        self
    }

    /// Sample this machine's GPUs at this interval during the run (utilisation, memory,
    /// power, SM clock; per stage energy and tokens per joule), or say why there are none.
    pub fn gpu_metrics(mut self, interval: Duration) -> Self {
        self.options.gpu_interval = Some(interval);
        self
    }

    /// Speak HTTP/2 to a plain-http target without asking (h2c with prior knowledge);
    /// over https, HTTP/2 is what the server chooses by ALPN from what [`volley_net::Tls`]
    /// offers.
    pub fn http2_prior_knowledge(mut self, yes: bool) -> Self {
        self.options.h2_prior_knowledge = yes;
        self
    }

    /// Bind each new connection to the next of these local addresses in turn (each has
    /// its own ~28,000 ephemeral ports to the target); each must be of the target's
    /// family and an address of this host, checked before anything is sent.
    pub fn source_addrs(mut self, addrs: Vec<std::net::IpAddr>) -> Self {
        self.options.source_addrs = addrs;
        self
    }

    /// Send on `n` threads, each a single-threaded runtime with its own connections
    /// (default: one per core this process may run on).
    pub fn threads(mut self, n: usize) -> Self {
        self.options.lanes = n.max(1);
        self
    }

    /// Start the first stage's clock at this wall-clock instant (shards started together
    /// on many machines); set-up happens before it, and the report records the skew.
    pub fn start_at(mut self, at: std::time::SystemTime) -> Self {
        self.options.start_at = Some(at);
        self
    }

    /// Run as one shard of many ([`volley_core::shard`]): this process takes its share
    /// of the plan, and its report can be merged with the others'.
    pub fn shard(mut self, shard: volley_core::Shard) -> Self {
        self.options.shard = Some(shard);
        self
    }

    /// Runs every stage and returns the report. `Err` only when the run could not
    /// start; once it has, interruptions and workload faults come back in the outcome.
    pub async fn execute(self) -> Result<RunOutcome, RunError> {
        execute::execute(self).await
    }
}

/// `LABEL-YYYYmmdd-HHMMSS-PID`, a run's default identity.
pub fn default_run_id(label: &str) -> String {
    format!("{label}-{}-{}", volley_core::time::utc_stamp(std::time::SystemTime::now()), std::process::id())
}
