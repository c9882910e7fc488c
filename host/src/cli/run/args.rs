//! `volley run`'s flags as the parser sees them (the low level: strings, numbers and
//! switches, grouped by topic for `--help`). Nothing here is checked beyond what clap
//! checks; [`super::options::RunOptions::resolve`] turns them into typed values once.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::super::policy::PolicyArg;

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Scenario: builtin:NAME (builtin:chat-poisson, ...), a .wasm component, a .volley
    /// package (verified) or oci://REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]
    pub scenario: String,
    /// A run file (TOML) holding these options but --launch, --prometheus-listen and
    /// --policy; flags given here override it. Its ${VAR} reads only the variables named in
    /// VOLLEY_RUN_FILE_ENV (docs/cluster.md)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// No progress lines on stderr
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten, next_help_heading = "Target and TLS")]
    pub server: TargetArgs,
    #[command(flatten, next_help_heading = "Scenario and load")]
    pub load: LoadArgs,
    #[command(flatten, next_help_heading = "Pass or fail (exit 99)")]
    pub pass: PassArgs,
    #[command(flatten, next_help_heading = "Outputs and exporters")]
    pub outputs: OutputArgs,
    #[command(flatten, next_help_heading = "Server probes")]
    pub probes: ProbeArgs,
    #[command(flatten, next_help_heading = "Launching the server")]
    pub launch: LaunchArgs,
    #[command(flatten, next_help_heading = "Cluster")]
    pub cluster: ClusterArgs,
    #[command(flatten, next_help_heading = "Sandbox and policy")]
    pub sandbox: SandboxArgs,
}

/// Where requests go, and how they get there.
#[derive(Args, Debug, Clone)]
pub struct TargetArgs {
    /// Base URL of the server, e.g. http://127.0.0.1:8000, https://gateway.example or
    /// grpc://127.0.0.1:8001
    #[arg(long)]
    pub target: String,
    /// Header added to every request, 'Name: value' (repeatable)
    #[arg(long = "header", short = 'H', value_name = "'NAME: VALUE'")]
    pub headers: Vec<String>,
    /// Session affinity: send each request's session id in this header (e.g.
    /// x-session-id, for a prefix-aware router); scenarios cannot set it
    #[arg(long, value_name = "NAME")]
    pub session_header: Option<String>,
    /// Model for requests that name none [default: the target's first model]
    #[arg(long)]
    pub model: Option<String>,
    /// Trust this CA (PEM) for https, besides the system's (repeatable)
    #[arg(long = "ca-cert", value_name = "FILE")]
    pub ca_certs: Vec<PathBuf>,
    /// Client certificate chain (PEM) for servers that require mutual TLS
    #[arg(long, requires = "client_key", value_name = "FILE")]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM)
    #[arg(long, requires = "client_cert", value_name = "FILE")]
    pub client_key: Option<PathBuf>,
    /// Accept any server certificate (the report says so)
    #[arg(long)]
    pub insecure_skip_verify: bool,
    /// HTTP/2: auto (offered by ALPN over https, HTTP/1.1 over http), on (https: h2
    /// only; http: h2c with prior knowledge), off (HTTP/1.1)
    #[arg(long, value_enum, default_value = "auto")]
    pub http2: Http2Arg,
    /// Per-request timeout in seconds
    #[arg(long, default_value_t = 300.0, value_name = "SECONDS")]
    pub timeout_s: f64,
    /// Threads that send (each a runtime with its own connections) [default: one per
    /// core this process may run on]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub threads: Option<u32>,
    /// Local addresses to open connections from, in turn, each with its own ~28,000
    /// ports: ADDR, or an IPv4 range such as 127.0.0.2-127.0.0.9 (repeatable; for tens
    /// of thousands of open streams)
    #[arg(long = "source-addr", value_name = "ADDR[-ADDR]", value_parser = super::source_addrs::parse)]
    pub source_addrs: Vec<Vec<std::net::IpAddr>>,
}

/// What the scenario is given, and how often the plan runs.
#[derive(Args, Debug, Clone)]
pub struct LoadArgs {
    /// Scenario parameters as a JSON object
    #[arg(long, default_value = "{}", value_name = "JSON")]
    pub params: String,
    /// Seed of every random choice (scenario, arrivals)
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Run only if the scenario component's digest is this, sha256:HEX
    #[arg(long, value_name = "sha256:HEX")]
    pub digest: Option<String>,
    /// Local tokenizer.json: counts tokens the server does not report, and is the
    /// scenario's tokenizer
    #[arg(long, value_name = "FILE")]
    pub tokenizer: Option<PathBuf>,
    /// Grant the scenario a dataset, NAME=PATH (ShareGPT .json, .jsonl, .txt, a folder of
    /// media; a request trace as NAME=mooncake:PATH, burstgpt:, azure: or otel:; any file
    /// line by line as NAME=lines:PATH); repeatable
    #[arg(long = "dataset", value_name = "NAME=PATH")]
    pub datasets: Vec<String>,
    /// What a malformed dataset row does: fail the run, or skip it (and count it)
    #[arg(long, value_enum, default_value = "fail")]
    pub dataset_errors: DatasetErrors,
    /// Run the whole plan N times (fresh seeds derived from --seed); trials.json gives
    /// each trial and, per metric, the mean and a 95 % confidence interval
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub repeat: u32,
    /// With --repeat: every trial uses --seed itself
    #[arg(long)]
    pub repeat_same_seed: bool,
    /// Show the scenario's debug log lines
    #[arg(long)]
    pub scenario_debug: bool,
}

/// What the run must achieve.
#[derive(Args, Debug, Clone)]
pub struct PassArgs {
    /// Pass/fail condition on each stage, e.g. 'ttft_ms.p99<500',
    /// 'stage=steady:itl_ms.p90<=40', 'error_rate<0.01' (repeatable); any failure
    /// exits with code 99 after every output is written (docs/thresholds.md)
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,
    /// Stop sending once a threshold has failed for good
    #[arg(long)]
    pub abort_on_fail: bool,
    /// The run thresholds with a `baseline` bound compare with ('ttft_ms.p99 < baseline *
    /// 1.10'): a run directory, its report.json, or a stored run (id, prefix,
    /// label:KEY=VALUE)
    #[arg(long, value_name = "REF")]
    pub baseline: Option<String>,
}

/// Where the results go.
#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// Output directory for report.json, report.html and requests.jsonl and .csv
    /// [default: results/<scenario>-<time>]; with --shard, `{shard}` in it is the
    /// shard's index
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write each request body and response text into requests.jsonl
    #[arg(long)]
    pub record_text: bool,
    /// Serve live metrics (GenAI conventions) in the Prometheus format at ADDR/metrics
    #[arg(long, value_name = "ADDR")]
    pub prometheus_listen: Option<SocketAddr>,
    /// Keep the Prometheus endpoint up this long after the run, seconds
    #[arg(long, default_value_t = 0.0, value_name = "SECONDS")]
    pub prometheus_linger_s: f64,
    /// Export OpenTelemetry metrics over OTLP/HTTP to this base URL (e.g.
    /// http://127.0.0.1:4318); see also --otlp
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// Export over OTLP using the OTEL_EXPORTER_OTLP_* variables
    #[arg(long)]
    pub otlp: bool,
    #[command(flatten)]
    pub keep: crate::cli::runs::KeepArgs,
    /// OTLP header, NAME=VALUE (repeatable)
    #[arg(long = "otlp-header", value_name = "NAME=VALUE")]
    pub otlp_headers: Vec<String>,
    /// OTLP transport: http/protobuf, http/json (a receiver can record it for `otel:` replay)
    /// or grpc [default: OTEL_EXPORTER_OTLP_PROTOCOL, else
    /// http/protobuf]
    #[arg(long)]
    pub otlp_protocol: Option<String>,
    /// Also export one span per request, with an event at its first token; a session's
    /// task is a parent span of its requests and tool waits
    #[arg(long)]
    pub otlp_spans: bool,
    /// OTLP metric export interval, ms
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    pub otlp_interval_ms: u64,
}

/// What is read from the server and this machine beside the requests.
#[derive(Args, Debug, Clone)]
pub struct ProbeArgs {
    /// The server's Prometheus endpoint, scraped during the run, e.g.
    /// http://127.0.0.1:8000/metrics
    #[arg(long, value_name = "URL")]
    pub server_metrics: Option<String>,
    /// Scrape interval of --server-metrics, ms
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub metrics_interval_ms: u64,
    /// Metric name prefix to keep (repeatable) [default: vllm:, tgi_, nv_inference_,
    /// llamacpp:, sglang:, volley_sim:, DCGM_FI_]
    #[arg(long = "metrics-prefix", value_name = "PREFIX")]
    pub metrics_prefixes: Vec<String>,
    /// Read Triton's statistics of MODEL[:VERSION] before and after each stage (repeatable)
    #[arg(long = "triton-stats", value_name = "MODEL[:VERSION]")]
    pub triton_stats: Vec<String>,
    /// Sample this machine's GPUs every INTERVAL_MS during the run (NVML, else
    /// nvidia-smi): utilisation, memory, power, SM clock; per stage energy and tokens/J
    #[arg(long, num_args = 0..=1, default_missing_value = "500", value_name = "INTERVAL_MS")]
    pub gpu_metrics: Option<u64>,
    /// A call to the server at a moment of the run (repeatable): WHEN:ACTION, WHEN one of
    /// before-run (each trial of --repeat), before-stage, after-run; ACTION one of
    /// reset-prefix-cache, start-profile, stop-profile (see --server-kind), or
    /// 'METHOD /path' or 'METHOD URL', e.g. 'before-stage:POST /flush_cache'
    #[arg(long = "hook", value_name = "WHEN:ACTION")]
    pub hooks: Vec<String>,
    /// The server the built-in hook actions call: vllm, sglang or llamacpp
    #[arg(long, value_name = "KIND")]
    pub server_kind: Option<String>,
    /// Empty the server's prefix cache before each run (trial) or each stage: the same as
    /// --hook before-run:reset-prefix-cache or before-stage:reset-prefix-cache
    #[arg(long, value_enum, value_name = "WHEN")]
    pub reset_prefix_cache: Option<ResetAt>,
    /// Start the server's profiler before the run and stop it after (vLLM, SGLang): the
    /// same as --hook before-run:start-profile --hook after-run:stop-profile
    #[arg(long)]
    pub profile: bool,
}

/// When `--reset-prefix-cache` empties the server's prefix cache.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetAt {
    Run,
    Stage,
}

/// Starting the server for the run (scale from zero).
#[derive(Args, Debug, Clone)]
pub struct LaunchArgs {
    /// Start the server with this command, run against it, stop it
    #[arg(long, value_name = "COMMAND")]
    pub launch: Option<String>,
    /// With --launch: send from the process start, once the port opens, or once ready
    #[arg(long, value_enum, default_value = "port")]
    pub launch_at: LaunchAtArg,
    /// With --launch-at ready: the readiness path
    #[arg(long, default_value = "/health", value_name = "PATH")]
    pub launch_ready_path: String,
    /// With --launch: longest wait for the server, seconds
    #[arg(long, default_value_t = 120.0, value_name = "SECONDS")]
    pub launch_timeout_s: f64,
}

/// Many processes, one run.
#[derive(Args, Debug, Clone)]
pub struct ClusterArgs {
    /// Run as shard I of N (0-based), taking its share of the plan (docs/cluster.md);
    /// `auto` reads it from a Kubernetes Indexed Job (JOB_COMPLETION_INDEX and
    /// VOLLEY_SHARDS) or a Slurm job array (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT).
    /// `volley merge` joins the shards' reports
    #[arg(long, value_name = "I/N|auto")]
    pub shard: Option<String>,
    /// Start the first stage's clock at this wall-clock instant: Unix milliseconds or
    /// RFC 3339 (2026-12-01T15:30:00Z); set-up happens before, the report records the skew
    #[arg(long, value_name = "T")]
    pub start_at: Option<String>,
}

/// The scenario's sandbox, within the operator's policy.
#[derive(Args, Debug, Clone)]
pub struct SandboxArgs {
    #[command(flatten)]
    pub policy: PolicyArg,
    /// Wall-time limit of one scenario call, in milliseconds [default: the policy's
    /// guest_call_ms, 1000]
    #[arg(long, value_name = "MS")]
    pub guest_timeout_ms: Option<u64>,
    /// Memory limit of the scenario, in MiB [default: the policy's guest_memory_mib, 256]
    #[arg(long, value_name = "MIB")]
    pub guest_memory_mib: Option<usize>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum LaunchAtArg {
    Process,
    Port,
    Ready,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Http2Arg {
    Auto,
    On,
    Off,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum DatasetErrors {
    Fail,
    Skip,
}
