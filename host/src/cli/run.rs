//! `volley run`: the flags become a [`Run`] with typed options and the outputs the
//! operator expects — the terminal, `requests.jsonl`, `requests.csv`, `report.json` and
//! `report.html` in the output directory, and the exporters asked for.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use volley::core::{Cancel, Policy};
use volley::data::OnError;
use volley::engine::{HeaderName, HeaderValue, Launch, LaunchAt, ModelRef, Run, ServerMetrics};
use volley::export::{Exposition, Live, LiveSink, Otlp, OtlpOptions, Transport};
use volley::net::Target;
use volley::report::threshold::Threshold;
use volley::report::{ConsoleSink, CsvSink, JsonlSink, ReportFiles, console};
use volley::wasm::SandboxLimits;

use super::scenario::{ScenarioSpec, instantiate, load_grants, parse_params};

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Scenario: builtin:NAME (builtin:chat-poisson, ...), a .wasm component, a .volley
    /// package (verified) or oci://REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]
    pub scenario: String,
    /// Base URL of the server, e.g. http://127.0.0.1:8000 or https://gateway.example
    #[arg(long)]
    pub target: String,
    /// Trust this CA (PEM) for https, besides the system's (repeatable)
    #[arg(long = "ca-cert")]
    pub ca_certs: Vec<PathBuf>,
    /// Client certificate chain (PEM) for servers that require mutual TLS
    #[arg(long, requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM)
    #[arg(long, requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// Accept any server certificate (the report says so)
    #[arg(long)]
    pub insecure_skip_verify: bool,
    /// HTTP/2: auto (offered by ALPN over https, HTTP/1.1 over http), on (https: h2
    /// only; http: h2c with prior knowledge), off (HTTP/1.1)
    #[arg(long, value_enum, default_value = "auto")]
    pub http2: Http2Arg,
    /// Threads that send (each a runtime with its own connections) [default: one per
    /// core this process may run on]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub threads: Option<u32>,
    /// A run file (TOML) holding any of these options; flags given here override it
    /// (docs/cluster.md)
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Scenario parameters as a JSON object
    #[arg(long, default_value = "{}")]
    pub params: String,
    /// Seed of every random choice (scenario, arrivals)
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Run only if the scenario component's digest is this, sha256:HEX
    #[arg(long)]
    pub digest: Option<String>,
    /// Output directory for report.json and requests.jsonl [default: results/<scenario>-<time>];
    /// with --shard, `{shard}` in it is the shard's index
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
    /// Wall-time limit of one scenario call, in milliseconds [default: the policy's
    /// guest_call_ms, 1000]
    #[arg(long)]
    pub guest_timeout_ms: Option<u64>,
    /// Memory limit of the scenario, in MiB [default: the policy's guest_memory_mib, 256]
    #[arg(long)]
    pub guest_memory_mib: Option<usize>,
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
    /// llamacpp:, sglang:, volley_sim:, DCGM_FI_]
    #[arg(long = "metrics-prefix")]
    pub metrics_prefixes: Vec<String>,
    /// Sample this machine's GPUs every INTERVAL_MS during the run (NVML, else
    /// nvidia-smi): utilisation, memory, power, SM clock; per stage energy and tokens/J
    #[arg(long, num_args = 0..=1, default_missing_value = "500", value_name = "INTERVAL_MS")]
    pub gpu_metrics: Option<u64>,
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
    /// Pass/fail condition on each stage, e.g. 'ttft_ms.p99<500',
    /// 'stage=steady:itl_ms.p90<=40', 'error_rate<0.01' (repeatable); any failure
    /// exits with code 99 after every output is written (docs/thresholds.md)
    #[arg(long = "threshold")]
    pub thresholds: Vec<String>,
    /// Stop sending once a threshold has failed for good
    #[arg(long)]
    pub abort_on_fail: bool,
    /// Start the first stage's clock at this wall-clock instant: Unix milliseconds or
    /// RFC 3339 (2026-12-01T15:30:00Z); set-up happens before, the report records the skew
    #[arg(long, value_name = "T")]
    pub start_at: Option<String>,
    /// Run as shard I of N (0-based), taking its share of the plan (docs/cluster.md);
    /// `auto` reads it from a Kubernetes Indexed Job (JOB_COMPLETION_INDEX and
    /// VOLLEY_SHARDS) or a Slurm job array (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT).
    /// `volley merge` joins the shards' reports
    #[arg(long, value_name = "I/N|auto")]
    pub shard: Option<String>,
    /// Run the whole plan N times (fresh seeds derived from --seed); trials.json gives
    /// each trial and, per metric, the mean and a 95 % confidence interval
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// With --repeat: every trial uses --seed itself
    #[arg(long)]
    pub repeat_same_seed: bool,
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

/// `volley run`: a scenario against a target, every output written as it goes.
pub(super) async fn run(a: RunArgs, policy: Policy) -> Result<ExitCode> {
    let cancel = super::signals::cancel_on_signals();
    execute(a, policy, cancel).await
}

/// Runs `a` to its end within `policy` (N times with `--repeat`); what `volley run` and
/// `volley demo` share.
pub(super) async fn execute(a: RunArgs, policy: Policy, cancel: Arc<Cancel>) -> Result<ExitCode> {
    if a.repeat == 0 || a.repeat > MAX_TRIALS {
        bail!("--repeat must be from 1 to {MAX_TRIALS}");
    }
    if a.repeat > 1 {
        return super::trials::repeat(a, policy, cancel).await;
    }
    Ok(run_once(a, policy, cancel).await?.exit_code())
}

/// Most trials one `--repeat` runs.
const MAX_TRIALS: u32 = 1000;

/// How one run ended, once its outputs are written.
pub(super) struct Finished {
    pub report: volley::report::Report,
}

impl Finished {
    pub(super) fn exit_code(&self) -> ExitCode {
        if self.report.thresholds_failed() {
            ExitCode::from(THRESHOLDS_FAILED)
        } else if self.report.interrupted {
            ExitCode::from(130)
        } else {
            ExitCode::SUCCESS
        }
    }
}

/// One run of `a`: every output written; `Err` when it could not start or faulted.
pub(super) async fn run_once(a: RunArgs, policy: Policy, cancel: Arc<Cancel>) -> Result<Finished> {
    let o = Options::from_args(a, &policy)?;
    let target = Target::parse(&o.args.target)?;
    install_tls(&o.args)?;
    let headers = headers(&o.args.headers)?;
    let progress = !o.args.quiet;
    let on_error = match o.args.dataset_errors {
        DatasetErrors::Fail => OnError::Fail,
        DatasetErrors::Skip => OnError::Skip,
    };
    let grants = {
        let (tokenizer, datasets) = (o.args.tokenizer.clone(), o.args.datasets.clone());
        super::blocking(move || load_grants(tokenizer.as_ref(), &datasets, on_error, progress)).await?
    };
    let spec = ScenarioSpec {
        source: o.args.scenario.clone(),
        params: o.params.clone(),
        digest: o.args.digest.clone(),
        seed: o.args.seed,
        limits: o.limits,
        show_debug: o.args.scenario_debug,
    };
    let workload = {
        let (grants, policy) = (grants.clone(), policy.clone());
        super::blocking(move || instantiate(&spec, &grants, &policy)).await?.0
    };
    let label = workload.label().to_string();
    let out_dir = o
        .args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("results").join(format!("{label}-{}", volley::core::time::utc_stamp(SystemTime::now()))));
    // `{shard}` in --out is this shard's index: one directory per shard from one flag.
    let out_dir = match (o.shard, out_dir.to_str()) {
        (Some(s), Some(text)) if text.contains("{shard}") => PathBuf::from(text.replace("{shard}", &s.index.to_string())),
        _ => out_dir,
    };
    // The outermost directory this run creates, to take away again if it never starts.
    let created_out_dir = out_dir.ancestors().take_while(|d| !d.as_os_str().is_empty() && !d.exists()).last().map(PathBuf::from);
    std::fs::create_dir_all(&out_dir).with_context(|| format!("cannot create output directory {}", out_dir.display()))?;
    let run_id = volley::engine::default_run_id(&label);

    let mut run = Run::new(target.clone(), workload)
        .policy(policy)
        .params(o.params.clone())
        .seed(o.args.seed)
        .request_timeout(o.request_timeout)
        .record_text(o.args.record_text)
        .cancel(cancel.clone())
        .run_id(run_id.clone())
        .abort_on_fail(o.args.abort_on_fail)
        .http2_prior_knowledge(o.args.http2 == Http2Arg::On);
    if let Some(n) = o.args.threads {
        run = run.threads(n as usize);
    }
    if let Some(at) = o.start_at {
        run = run.start_at(at);
    }
    if let Some(s) = o.shard {
        run = run.shard(s);
    }
    for t in &o.thresholds {
        run = run.threshold(t.clone());
    }
    for (name, value) in headers {
        run = run.header(name, value);
    }
    if let Some(m) = &o.args.model {
        run = run.model(m.clone());
    }
    if let Some(t) = &grants.tokenizer {
        run = run.tokenizer(t.clone());
    }
    if let Some(url) = &o.args.server_metrics {
        run = run.server_metrics(ServerMetrics {
            url: url.clone(),
            interval: Duration::from_millis(o.args.metrics_interval_ms),
            prefixes: o.args.metrics_prefixes.clone(),
        });
    }
    if let Some(ms) = o.args.gpu_metrics {
        run = run.gpu_metrics(Duration::from_millis(ms));
    }
    for m in &o.args.triton_stats {
        run = run.triton_stats(ModelRef::parse(m));
    }
    if let Some(l) = o.launch(&out_dir) {
        run = run.launch(l);
    }
    // Outputs, in the order they see each event: the terminal first.
    run = run
        .sink(ConsoleSink::new(progress, volley::report::console::progress::on_terminal()))
        .sink(JsonlSink::create(&out_dir.join("requests.jsonl"), o.args.record_text)?)
        .sink(CsvSink::create(&out_dir.join("requests.csv"))?)
        .sink(ReportFiles::new(&out_dir));
    let exposition = match o.args.prometheus_listen {
        Some(addr) => {
            let live = Live::shared(run_id.clone(), target.authority.to_str().unwrap_or("").to_string());
            let e = Exposition::start(addr, live.clone()).await?;
            if progress {
                eprintln!("prometheus metrics at http://{}/metrics (run id {run_id})", e.addr);
            }
            run = run.sink(LiveSink(live));
            Some(e)
        }
        None => None,
    };
    if let Some(otlp) = &o.otlp {
        run = run.sink(Otlp::start(otlp, &run_id, (&target.host, target.port))?);
    }

    let outcome = match run.execute().await {
        Ok(o) => o,
        Err(e) => {
            // The run never started: nothing was measured, so the empty files it opened
            // go, with the directory if this run made it.
            if let Some(dir) = &created_out_dir {
                let _ = std::fs::remove_dir_all(dir);
            }
            return Err(e.into());
        }
    };
    print!("{}", console::summary::render(&outcome.report));
    if progress {
        let retried = match outcome.stale_retries {
            0 => String::new(),
            n => format!("; {n} requests retried on a new connection after the server closed an idle one"),
        };
        eprintln!(
            "wrote {}, report.html, requests.jsonl and .csv ({} requests, {} connections opened{retried})",
            out_dir.join("report.json").display(),
            outcome.records,
            outcome.connections_opened
        );
    }
    if let Some(e) = exposition {
        // Scrapers get a last look at the final values.
        if !o.prometheus_linger.is_zero() && !cancel.is_cancelled() {
            tokio::time::sleep(o.prometheus_linger).await;
        }
        e.stop();
    }
    let mut failed_output = None;
    for e in &outcome.sink_errors {
        if e.best_effort {
            eprintln!("volley: {e}");
        } else {
            failed_output.get_or_insert_with(|| e.to_string());
        }
    }
    if let Some(fault) = outcome.fault {
        let written = if outcome.report.stages.is_empty() { "report" } else { "partial results" };
        bail!("{fault}; {written} in {}", out_dir.display());
    }
    if let Some(e) = failed_output {
        bail!("{e}");
    }
    if outcome.report.thresholds_failed() {
        let failed: Vec<String> = outcome
            .report
            .thresholds
            .iter()
            .filter(|t| !t.passed)
            .map(|t| format!("'{}' on stage '{}' ({})", t.threshold, t.stage, t.value.map_or("no data".into(), |v| format!("{v}"))))
            .collect();
        eprintln!("volley: threshold failed: {}; results in {}", failed.join(", "), out_dir.display());
    }
    Ok(Finished { report: outcome.report })
}

/// The process's TLS settings from the flags (probes and the target share them).
fn install_tls(a: &RunArgs) -> Result<()> {
    let tls = volley::net::Tls::new(&volley::net::TlsOptions {
        ca_certs: a.ca_certs.clone(),
        client_cert: a.client_cert.clone(),
        client_key: a.client_key.clone(),
        insecure_skip_verify: a.insecure_skip_verify,
        alpn: match a.http2 {
            Http2Arg::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            Http2Arg::On => vec![b"h2".to_vec()],
            Http2Arg::Off => vec![b"http/1.1".to_vec()],
        },
    })?;
    // A later trial of --repeat installs the same settings again: the first stays.
    volley::net::Tls::install(tls);
    Ok(())
}

/// `--start-at`: an instant at most a day ahead and at most a minute behind (a clock
/// that far off is a mistake, not a late start).
fn start_instant(text: &str) -> Result<SystemTime> {
    let at = volley::core::time::parse_instant(text).map_err(|e| anyhow!("--start-at {e}"))?;
    let now = SystemTime::now();
    match at.duration_since(now) {
        Ok(ahead) if ahead > Duration::from_secs(86_400) => bail!("--start-at {text} is more than a day ahead"),
        Ok(_) => Ok(at),
        Err(e) if e.duration() > Duration::from_secs(60) => {
            bail!("--start-at {text} was {:.0} s ago; check the clocks (or the time zone)", e.duration().as_secs_f64())
        }
        Err(_) => Ok(at),
    }
}

/// The exit code of a run whose thresholds failed (k6's).
pub(super) const THRESHOLDS_FAILED: u8 = 99;

/// The flags, checked and converted to the library's types.
struct Options {
    args: RunArgs,
    start_at: Option<SystemTime>,
    shard: Option<volley::core::Shard>,
    thresholds: Vec<Threshold>,
    params: serde_json::Value,
    request_timeout: Duration,
    limits: SandboxLimits,
    otlp: Option<OtlpOptions>,
    prometheus_linger: Duration,
}

impl Options {
    fn from_args(a: RunArgs, policy: &Policy) -> Result<Options> {
        let params = parse_params(&a.params)?;
        if !(a.timeout_s.is_finite() && a.timeout_s > 0.0) {
            bail!("--timeout-s must be a positive number of seconds");
        }
        let limits = sandbox_limits(a.guest_timeout_ms, a.guest_memory_mib, policy)?;
        if let Some(d) = &a.digest
            && !(d.starts_with("sha256:") && d.len() == 71 && d[7..].bytes().all(|b| b.is_ascii_hexdigit()))
        {
            bail!("--digest '{d}' must look like sha256:<64 hex digits>");
        }
        if a.metrics_interval_ms < 50 {
            bail!("--metrics-interval-ms must be at least 50");
        }
        if a.gpu_metrics.is_some_and(|ms| !(50..=3_600_000).contains(&ms)) {
            bail!("--gpu-metrics interval must be from 50 ms to an hour");
        }
        let otlp = if a.otlp || a.otlp_endpoint.is_some() {
            let headers = a
                .otlp_headers
                .iter()
                .map(|h| {
                    h.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .ok_or_else(|| anyhow!("--otlp-header '{h}' must look like NAME=VALUE"))
                })
                .collect::<Result<Vec<_>>>()?;
            let transport = Transport::choose(a.otlp_protocol.as_deref())?;
            if let Some(e) = &a.otlp_endpoint {
                if !e.starts_with("http://") && !e.starts_with("https://") {
                    bail!("--otlp-endpoint '{e}' must be an http:// or https:// URL");
                }
                if e.starts_with("https://") && transport == Transport::Grpc {
                    bail!("--otlp-endpoint '{e}': OTLP/gRPC over TLS is not supported; use --otlp-protocol http/protobuf for https");
                }
            }
            Some(OtlpOptions {
                transport,
                endpoint: a.otlp_endpoint.clone(),
                headers,
                spans: a.otlp_spans,
                interval: Duration::from_millis(a.otlp_interval_ms.max(100)),
            })
        } else {
            None
        };
        if !a.prometheus_linger_s.is_finite() || a.prometheus_linger_s < 0.0 {
            bail!("--prometheus-linger-s must be a non-negative number");
        }
        if a.launch.is_some() && (!a.launch_timeout_s.is_finite() || a.launch_timeout_s <= 0.0) {
            bail!("--launch-timeout-s must be positive");
        }
        let thresholds = a.thresholds.iter().map(|t| Threshold::parse(t)).collect::<Result<Vec<_>, _>>()?;
        let start_at = a.start_at.as_deref().map(start_instant).transpose()?;
        if start_at.is_some() && (a.launch.is_some() || a.repeat > 1) {
            bail!("--start-at does not go with --launch or --repeat");
        }
        let shard = match a.shard.as_deref() {
            None => None,
            Some("auto") => Some(volley::core::Shard::from_env(|k| std::env::var(k).ok()).map_err(|e| anyhow!(e))?),
            Some(spec) => Some(volley::core::Shard::parse(spec).map_err(|e| anyhow!(e))?),
        };
        if shard.is_some() && (a.launch.is_some() || a.repeat > 1) {
            bail!("--shard does not go with --launch or --repeat");
        }
        if a.abort_on_fail && thresholds.is_empty() {
            bail!("--abort-on-fail needs at least one --threshold");
        }
        Ok(Options {
            start_at,
            shard,
            thresholds,
            params,
            request_timeout: Duration::from_secs_f64(a.timeout_s),
            limits,
            otlp,
            prometheus_linger: Duration::from_secs_f64(a.prometheus_linger_s),
            args: a,
        })
    }

    /// `--launch`, with the server's log in the output directory.
    fn launch(&self, out_dir: &std::path::Path) -> Option<Launch> {
        let a = &self.args;
        Some(Launch {
            command: a.launch.clone()?,
            at: match a.launch_at {
                LaunchAtArg::Process => LaunchAt::Process,
                LaunchAtArg::Port => LaunchAt::Port,
                LaunchAtArg::Ready => LaunchAt::Ready,
            },
            ready_path: a.launch_ready_path.clone(),
            timeout: Duration::from_secs_f64(a.launch_timeout_s),
            log: out_dir.join("server.log"),
        })
    }
}

/// The sandbox's limits: the policy's, or tighter ones from the flags (never looser).
pub(super) fn sandbox_limits(timeout_ms: Option<u64>, memory_mib: Option<usize>, policy: &Policy) -> Result<SandboxLimits> {
    if timeout_ms == Some(0) || memory_mib == Some(0) {
        bail!("--guest-timeout-ms and --guest-memory-mib must be positive");
    }
    if let Some(t) = timeout_ms
        && t > policy.guest_call_ms
    {
        bail!("--guest-timeout-ms {t} is over the policy's guest_call_ms ({})", policy.guest_call_ms);
    }
    if let Some(m) = memory_mib
        && m > policy.guest_memory_mib as usize
    {
        bail!("--guest-memory-mib {m} is over the policy's guest_memory_mib ({})", policy.guest_memory_mib);
    }
    let mut limits = SandboxLimits::from_policy(policy);
    if let Some(t) = timeout_ms {
        limits.call_timeout = Duration::from_millis(t);
    }
    if let Some(m) = memory_mib {
        limits.memory_bytes = m << 20;
    }
    Ok(limits)
}

/// `--header 'Name: value'`s, and `VOLLEY_API_KEY` as `Authorization: Bearer` unless the
/// operator set Authorization explicitly.
fn headers(raw: &[String]) -> Result<Vec<(HeaderName, HeaderValue)>> {
    let mut headers = raw
        .iter()
        .map(|h| {
            let (name, value) = h.split_once(':').ok_or_else(|| anyhow!("--header '{h}' must look like 'Name: value'"))?;
            let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| anyhow!("--header '{h}': invalid name"))?;
            let value = HeaderValue::from_str(value.trim()).map_err(|_| anyhow!("--header '{}': invalid value", name))?;
            Ok((name, value))
        })
        .collect::<Result<Vec<_>>>()?;
    if let Ok(key) = std::env::var("VOLLEY_API_KEY")
        && !key.is_empty()
        && !headers.iter().any(|(n, _)| n.as_str() == "authorization")
    {
        let value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| anyhow!("VOLLEY_API_KEY has invalid characters"))?;
        headers.push((HeaderName::from_static("authorization"), value));
    }
    Ok(headers)
}
