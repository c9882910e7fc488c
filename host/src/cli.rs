//! The `volley` command line: `run`, `sim`, `demo`, `coldstart`, `check`, `compare`, and the
//! authoring commands `new`, `pack`, `inspect`, `push`, `pull` (in [`crate::package::commands`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use crate::cancel::Cancel;
use crate::demo::{DemoOptions, demo};
use crate::report::console;
use crate::run::{RunOptions, RunResult, run};
use crate::scenario::SandboxLimits;
use crate::sim::{SimConfig, Simulator};

#[derive(Parser, Debug)]
#[command(name = "volley", version, about = "Benchmark engine for GenAI inference servers", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process; boxing the arguments would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a scenario against a target server
    Run(RunArgs),
    /// Serve the built-in OpenAI-compatible server simulator
    Sim(SimArgs),
    /// Start the simulator in-process and run builtin:chat-poisson against it
    Demo(DemoArgs),
    /// Time server cold starts: process start, port open, ready, first token; memory
    Coldstart(ColdstartArgs),
    /// Instantiate a scenario and show its plan, first requests and arrivals; sends nothing
    Check(CheckArgs),
    /// Create a scenario project from a template (Rust, Python or JavaScript)
    New(crate::package::commands::NewArgs),
    /// Package a built scenario component with its volley.json, for sharing
    Pack(crate::package::commands::PackArgs),
    /// Show a package's manifest, parameters and verified digest
    Inspect(crate::package::commands::InspectArgs),
    /// Push a package to an OCI registry as a Wasm artifact
    Push(crate::package::commands::PushArgs),
    /// Pull a scenario from an OCI registry into a package file
    Pull(crate::package::commands::PullArgs),
    /// Time guest calls (`next-requests`) of a scenario; used by scripts/bench.sh
    #[command(hide = true)]
    BenchGuest {
        scenario: String,
        #[arg(long, default_value = "{}")]
        params: String,
        #[arg(long, default_value_t = 20_000)]
        calls: u32,
        /// Requests asked per call
        #[arg(long, default_value_t = 1)]
        batch: u32,
    },
    /// Compare two runs' report.json side by side
    Compare {
        /// The baseline run's report.json
        a: PathBuf,
        /// The run to compare with it
        b: PathBuf,
    },
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Scenario: builtin:NAME, a .wasm component, a .volley package or oci://REF
    pub scenario: String,
    /// Scenario parameters as a JSON object
    #[arg(long, default_value = "{}")]
    pub params: String,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Requests and arrivals shown per stage
    #[arg(long, short = 'n', default_value_t = 5)]
    pub show: u32,
    /// Local tokenizer.json, for scenarios that use one
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Grant a dataset, NAME=PATH (repeatable)
    #[arg(long = "dataset")]
    pub datasets: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ColdstartArgs {
    /// A configuration to start, NAME=COMMAND (repeatable), e.g.
    /// default='llama-server -m model.gguf --port 8200'
    #[arg(long = "config", required = true)]
    pub configs: Vec<String>,
    /// Starts per configuration
    #[arg(long, default_value_t = 5)]
    pub repeat: u32,
    /// The port the server listens on
    #[arg(long)]
    pub port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Readiness URL path, answering 200 when ready (/health, /v2/health/ready, ...)
    #[arg(long, default_value = "/health")]
    pub ready_path: String,
    /// Longest wait from process start to ready, seconds
    #[arg(long, default_value_t = 120.0)]
    pub ready_timeout_s: f64,
    /// The first real request once ready, timed to its first token
    #[arg(long, value_enum, default_value = "completions")]
    pub first_request: FirstRequestArg,
    /// Model for the first request
    #[arg(long)]
    pub model: Option<String>,
    /// Drop the page cache before each start (needs root) and label runs cold
    #[arg(long)]
    pub drop_caches: bool,
    /// After SIGTERM, seconds before SIGKILL
    #[arg(long, default_value_t = 10.0)]
    pub grace_s: f64,
    /// Output directory [default: results/coldstart-<time>]
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum FirstRequestArg {
    Completions,
    Chat,
    None,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Scenario: builtin:NAME (builtin:chat-poisson, ...), a .wasm component, a .volley
    /// package (verified) or oci://REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]
    pub scenario: String,
    /// Base URL of the server, e.g. http://127.0.0.1:8000
    #[arg(long)]
    pub target: String,
    /// Scenario parameters as a JSON object
    #[arg(long, default_value = "{}")]
    pub params: String,
    /// Seed of every random choice (scenario, arrivals)
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Run only if the scenario component's digest is this, sha256:HEX
    #[arg(long)]
    pub digest: Option<String>,
    /// Output directory for report.json and requests.jsonl [default: results/<scenario>-<time>]
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Model for requests that name none [default: the target's first model]
    #[arg(long)]
    pub model: Option<String>,
    /// Header added to every request, 'Name: value' (repeatable)
    #[arg(long = "header", short = 'H')]
    pub headers: Vec<String>,
    /// Per-request timeout in seconds
    #[arg(long, default_value_t = 300.0)]
    pub timeout_s: f64,
    /// Wall-time limit of one scenario call, in milliseconds
    #[arg(long, default_value_t = 1000)]
    pub guest_timeout_ms: u64,
    /// Memory limit of the scenario, in MiB
    #[arg(long, default_value_t = 256)]
    pub guest_memory_mib: usize,
    /// Local tokenizer.json: counts tokens the server does not report, and is the
    /// scenario's tokenizer
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Grant the scenario a dataset, NAME=PATH (ShareGPT .json, .jsonl, .txt); repeatable
    #[arg(long = "dataset")]
    pub datasets: Vec<String>,
    /// What a malformed dataset row does: fail the run, or skip it (and count it)
    #[arg(long, value_enum, default_value = "fail")]
    pub dataset_errors: DatasetErrors,
    /// Write each request body and response text into requests.jsonl
    #[arg(long)]
    pub record_text: bool,
    /// The server's Prometheus endpoint, scraped during the run, e.g.
    /// http://127.0.0.1:8000/metrics
    #[arg(long)]
    pub server_metrics: Option<String>,
    /// Scrape interval of --server-metrics, ms
    #[arg(long, default_value_t = 1000)]
    pub metrics_interval_ms: u64,
    /// Metric name prefix to keep (repeatable) [default: vllm:, tgi_, nv_inference_,
    /// llamacpp:, sglang:, volley_sim:]
    #[arg(long = "metrics-prefix")]
    pub metrics_prefixes: Vec<String>,
    /// Read Triton's statistics of MODEL[:VERSION] before and after each stage (repeatable)
    #[arg(long = "triton-stats")]
    pub triton_stats: Vec<String>,
    /// Serve live metrics (GenAI conventions) in the Prometheus format at ADDR/metrics
    #[arg(long)]
    pub prometheus_listen: Option<SocketAddr>,
    /// Keep the Prometheus endpoint up this long after the run, seconds
    #[arg(long, default_value_t = 0.0)]
    pub prometheus_linger_s: f64,
    /// Export OpenTelemetry metrics over OTLP/HTTP to this base URL (e.g.
    /// http://127.0.0.1:4318); see also --otlp
    #[arg(long)]
    pub otlp_endpoint: Option<String>,
    /// Export over OTLP using the OTEL_EXPORTER_OTLP_* variables
    #[arg(long)]
    pub otlp: bool,
    /// OTLP header, NAME=VALUE (repeatable)
    #[arg(long = "otlp-header")]
    pub otlp_headers: Vec<String>,
    /// OTLP transport: http/protobuf or grpc [default: OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf]
    #[arg(long)]
    pub otlp_protocol: Option<String>,
    /// Also export one span per request, with an event at its first token
    #[arg(long)]
    pub otlp_spans: bool,
    /// OTLP metric export interval, ms
    #[arg(long, default_value_t = 10_000)]
    pub otlp_interval_ms: u64,
    /// Start the server with this command, run against it, stop it (scale from zero)
    #[arg(long)]
    pub launch: Option<String>,
    /// With --launch: send from the process start, once the port opens, or once ready
    #[arg(long, value_enum, default_value = "port")]
    pub launch_at: LaunchAtArg,
    /// With --launch-at ready: the readiness path
    #[arg(long, default_value = "/health")]
    pub launch_ready_path: String,
    /// With --launch: longest wait for the server, seconds
    #[arg(long, default_value_t = 120.0)]
    pub launch_timeout_s: f64,
    /// Show the scenario's debug log lines
    #[arg(long)]
    pub scenario_debug: bool,
    /// No progress lines on stderr
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum LaunchAtArg {
    Process,
    Port,
    Ready,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum DatasetErrors {
    Fail,
    Skip,
}

#[derive(Args, Debug)]
pub struct SimArgs {
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Time to first token, ms
    #[arg(long, default_value_t = 50.0)]
    pub ttft_ms: f64,
    /// Time between chunks, ms
    #[arg(long, default_value_t = 10.0)]
    pub itl_ms: f64,
    /// Relative jitter of every delay, 0 to 1
    #[arg(long, default_value_t = 0.0)]
    pub jitter: f64,
    /// Tokens per streamed chunk
    #[arg(long, default_value_t = 1)]
    pub tokens_per_chunk: u32,
    /// Tokens generated when a request sets no max_tokens
    #[arg(long, default_value_t = 64)]
    pub output_tokens: u32,
    /// Model name reported by /v1/models
    #[arg(long, default_value = "volley-sim")]
    pub model: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Count prompts and make each output token a token of this tokenizer.json
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Never send usage, even when asked (like servers that do not support it)
    #[arg(long)]
    pub no_usage: bool,
    /// Generations running at once; the rest queue (0: unlimited)
    #[arg(long, default_value_t = 0)]
    pub slots: u32,
    /// KServe v2 dynamic batching: largest batch (1: no batching)
    #[arg(long, default_value_t = 1)]
    pub max_batch: u32,
    /// KServe v2 dynamic batching: longest wait for a batch to fill, ms
    #[arg(long, default_value_t = 0.0)]
    pub batch_delay_ms: f64,
    /// KServe execution time per batch (v2) or request (v1), ms
    #[arg(long, default_value_t = 0.0)]
    pub service_ms: f64,
    /// Answer 503 "Loading model" for this long after start, ms
    #[arg(long, default_value_t = 0.0)]
    pub startup_delay_ms: f64,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// How long to send, seconds
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Poisson rate, requests per second
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    #[arg(long, default_value = "results/demo")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Runs a parsed command; the exit code on success (130 if interrupted).
pub async fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Run(a) => {
            let cancel = cancel_on_signals();
            let opts = run_options(a)?;
            let result = run(opts, cancel).await?;
            Ok(finish(&result))
        }
        Command::Demo(a) => {
            if !(a.seconds > 0.0 && a.rate > 0.0) {
                bail!("--seconds and --rate must be positive");
            }
            let cancel = cancel_on_signals();
            let opts = DemoOptions { seconds: a.seconds, rate: a.rate, out_dir: a.out, seed: a.seed };
            let result = demo(opts, cancel).await?;
            Ok(finish(&result))
        }
        Command::Coldstart(a) => {
            let cancel = cancel_on_signals();
            let opts = coldstart_options(a)?;
            let report = crate::coldstart::coldstart(opts, cancel).await?;
            print!("{}", report.render());
            Ok(if report.interrupted { ExitCode::from(130) } else { ExitCode::SUCCESS })
        }
        Command::Check(a) => {
            let mut grant_opts = RunOptions::new(a.scenario.clone(), "http://target.invalid");
            grant_opts.tokenizer = a.tokenizer;
            grant_opts.datasets = a.datasets;
            grant_opts.progress = false;
            let grants = tokio::task::block_in_place(|| crate::run::load_grants(&grant_opts))?;
            let opts = crate::check::CheckOptions {
                scenario: a.scenario,
                params: a.params,
                seed: a.seed,
                show: a.show.clamp(1, 1000),
                grants,
                limits: SandboxLimits::default(),
            };
            print!("{}", tokio::task::block_in_place(|| crate::check::check(opts))?);
            Ok(ExitCode::SUCCESS)
        }
        Command::New(a) => crate::package::commands::new(a),
        Command::Pack(a) => tokio::task::block_in_place(|| crate::package::commands::pack(a)),
        Command::Inspect(a) => tokio::task::block_in_place(|| crate::package::commands::inspect(a)),
        Command::Push(a) => tokio::task::block_in_place(|| crate::package::commands::push(a)),
        Command::Pull(a) => tokio::task::block_in_place(|| crate::package::commands::pull(a)),
        Command::BenchGuest { scenario, params, calls, batch } => {
            let r = tokio::task::block_in_place(|| crate::bench::guest_call_cost(&scenario, &params, calls.max(1), batch.max(1)))?;
            println!("{r}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Compare { a, b } => {
            print!("{}", crate::report::compare::compare(&a, &b)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Sim(a) => {
            let config = sim_config(&a)?;
            let addr: SocketAddr = format!("{}:{}", a.host, a.port)
                .parse()
                .with_context(|| format!("invalid listen address {}:{}", a.host, a.port))?;
            let sim = Simulator::start(config, addr).await.with_context(|| format!("cannot listen on {addr}"))?;
            eprintln!("volley sim: OpenAI-compatible simulator on {} (Ctrl-C to stop)", sim.url());
            wait_for_signal().await;
            sim.shutdown().await;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn finish(result: &RunResult) -> ExitCode {
    print!("{}", console::render(&result.report));
    if result.report.interrupted { ExitCode::from(130) } else { ExitCode::SUCCESS }
}

fn run_options(a: RunArgs) -> Result<RunOptions> {
    if !(a.timeout_s.is_finite() && a.timeout_s > 0.0) {
        bail!("--timeout-s must be a positive number of seconds");
    }
    if a.guest_timeout_ms == 0 || a.guest_memory_mib == 0 {
        bail!("--guest-timeout-ms and --guest-memory-mib must be positive");
    }
    let mut o = RunOptions::new(a.scenario, a.target);
    o.params = a.params;
    o.seed = a.seed;
    if let Some(d) = &a.digest
        && !(d.starts_with("sha256:") && d.len() == 71 && d[7..].bytes().all(|b| b.is_ascii_hexdigit()))
    {
        bail!("--digest '{d}' must look like sha256:<64 hex digits>");
    }
    o.digest = a.digest;
    o.out_dir = a.out;
    o.model = a.model;
    o.headers = a.headers;
    o.request_timeout = Duration::from_secs_f64(a.timeout_s);
    o.limits = SandboxLimits {
        call_timeout: Duration::from_millis(a.guest_timeout_ms),
        memory_bytes: a.guest_memory_mib << 20,
        ..SandboxLimits::default()
    };
    o.progress = !a.quiet;
    o.show_scenario_debug = a.scenario_debug;
    o.tokenizer = a.tokenizer;
    o.datasets = a.datasets;
    o.dataset_errors = match a.dataset_errors {
        DatasetErrors::Fail => crate::dataset::OnError::Fail,
        DatasetErrors::Skip => crate::dataset::OnError::Skip,
    };
    o.record_text = a.record_text;
    if a.metrics_interval_ms < 50 {
        bail!("--metrics-interval-ms must be at least 50");
    }
    o.server_metrics = a.server_metrics;
    o.metrics_interval = Duration::from_millis(a.metrics_interval_ms);
    o.metrics_prefixes = a.metrics_prefixes;
    o.triton_stats = a.triton_stats;
    o.prometheus_listen = a.prometheus_listen;
    if a.otlp || a.otlp_endpoint.is_some() {
        let headers = a
            .otlp_headers
            .iter()
            .map(|h| h.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).ok_or_else(|| anyhow::anyhow!("--otlp-header '{h}' must look like NAME=VALUE")))
            .collect::<Result<Vec<_>>>()?;
        if let Some(e) = &a.otlp_endpoint
            && !e.starts_with("http://")
        {
            bail!("--otlp-endpoint '{e}' must be an http:// URL");
        }
        o.otlp = Some(crate::export::otlp::OtlpOptions {
            transport: crate::export::otlp::Transport::choose(a.otlp_protocol.as_deref())?,
            endpoint: a.otlp_endpoint,
            headers,
            spans: a.otlp_spans,
            interval: Duration::from_millis(a.otlp_interval_ms.max(100)),
        });
    }
    if !a.prometheus_linger_s.is_finite() || a.prometheus_linger_s < 0.0 {
        bail!("--prometheus-linger-s must be a non-negative number");
    }
    o.prometheus_linger = Duration::from_secs_f64(a.prometheus_linger_s);
    if let Some(command) = a.launch {
        if !a.launch_timeout_s.is_finite() || a.launch_timeout_s <= 0.0 {
            bail!("--launch-timeout-s must be positive");
        }
        o.launch = Some(crate::run::Launch {
            command,
            at: match a.launch_at {
                LaunchAtArg::Process => crate::run::LaunchAt::Process,
                LaunchAtArg::Port => crate::run::LaunchAt::Port,
                LaunchAtArg::Ready => crate::run::LaunchAt::Ready,
            },
            ready_path: a.launch_ready_path,
            timeout: Duration::from_secs_f64(a.launch_timeout_s),
        });
    }
    Ok(o)
}

fn coldstart_options(a: ColdstartArgs) -> Result<crate::coldstart::ColdstartOptions> {
    let configs = a
        .configs
        .iter()
        .map(|c| {
            let (name, cmd) = c.split_once('=').ok_or_else(|| anyhow::anyhow!("--config '{c}' must look like NAME=COMMAND"))?;
            if name.is_empty() || cmd.trim().is_empty() {
                bail!("--config '{c}' must look like NAME=COMMAND");
            }
            Ok((name.to_string(), cmd.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    if a.repeat == 0 {
        bail!("--repeat must be at least 1");
    }
    if !(a.ready_timeout_s > 0.0 && a.grace_s >= 0.0) {
        bail!("--ready-timeout-s must be positive and --grace-s non-negative");
    }
    if !a.ready_path.starts_with('/') {
        bail!("--ready-path must start with '/'");
    }
    let addr: SocketAddr = format!("{}:{}", a.host, a.port).parse().with_context(|| format!("invalid address {}:{}", a.host, a.port))?;
    Ok(crate::coldstart::ColdstartOptions {
        configs,
        repeat: a.repeat,
        addr,
        ready_path: a.ready_path,
        ready_timeout: Duration::from_secs_f64(a.ready_timeout_s),
        first_request: match a.first_request {
            FirstRequestArg::Completions => Some(crate::coldstart::FirstRequest::Completions),
            FirstRequestArg::Chat => Some(crate::coldstart::FirstRequest::Chat),
            FirstRequestArg::None => None,
        },
        model: a.model,
        drop_caches: a.drop_caches,
        grace: Duration::from_secs_f64(a.grace_s),
        out_dir: a.out.unwrap_or_else(|| {
            PathBuf::from("results").join(format!("coldstart-{}", crate::util::utc_stamp(std::time::SystemTime::now())))
        }),
        sample_every: Duration::from_millis(20),
    })
}

fn sim_config(a: &SimArgs) -> Result<SimConfig> {
    let ms = |name: &str, v: f64| -> Result<Duration> {
        if !(v.is_finite() && v >= 0.0) {
            bail!("--{name} must be a non-negative number of milliseconds");
        }
        Ok(Duration::from_secs_f64(v / 1000.0))
    };
    if !(0.0..=1.0).contains(&a.jitter) {
        bail!("--jitter must be between 0 and 1");
    }
    if a.tokens_per_chunk == 0 {
        bail!("--tokens-per-chunk must be at least 1");
    }
    Ok(SimConfig {
        ttft: ms("ttft-ms", a.ttft_ms)?,
        itl: ms("itl-ms", a.itl_ms)?,
        jitter: a.jitter,
        tokens_per_chunk: a.tokens_per_chunk,
        default_output_tokens: a.output_tokens,
        model: a.model.clone(),
        seed: a.seed,
        tokenizer: match &a.tokenizer {
            Some(p) => Some(Arc::new(crate::tokenizer::Tokenizer::from_file(p)?)),
            None => None,
        },
        usage: !a.no_usage,
        slots: a.slots,
        batching: crate::sim::BatchConfig {
            max_batch: a.max_batch.max(1),
            max_queue_delay: ms("batch-delay-ms", a.batch_delay_ms)?,
            service: ms("service-ms", a.service_ms)?,
        },
        startup_delay: ms("startup-delay-ms", a.startup_delay_ms)?,
    })
}

/// Ctrl-C or SIGTERM cancels the run (which still writes its report); a second one
/// exits at once.
fn cancel_on_signals() -> Arc<Cancel> {
    let cancel = Arc::new(Cancel::new());
    let c = cancel.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        eprintln!("volley: interrupted; finishing the report (interrupt again to quit now)");
        c.cancel();
        wait_for_signal().await;
        crate::coldstart::process::kill_all_live();
        std::process::exit(130);
    });
    cancel
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
