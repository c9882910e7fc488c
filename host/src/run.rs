//! One benchmark run, end to end: load and sandbox the scenario, check the target,
//! drive each stage, collect every request, write `requests.jsonl` as requests
//! complete and `report.json` at the end — also when the run is interrupted.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use hyper::header::{HeaderName, HeaderValue};

use crate::cancel::Cancel;
use crate::client::exchange::SendContext;
use crate::client::pool::Pool;
use crate::client::request::RequestEncoder;
use crate::dataset::{Dataset, OnError};
use crate::load::{self, StageWindow};
use crate::metrics::collector::{self, CollectorConfig, CollectorMsg};
use crate::model::Stage;
use crate::probe::prometheus::{self, Scraper};
use crate::probe::triton::{self, ModelRef};
use crate::report::{HostReport, Report, SCHEMA_VERSION, ScenarioReport, StageReport};
use crate::scenario::caps::Grants;
use crate::scenario::producer::{Producer, ProducerConfig};
use crate::coldstart::process::ServerProcess;
use crate::coldstart::readiness;
use crate::report::LaunchReport;
use crate::tokenizer::Tokenizer;
use crate::scenario::{SandboxLimits, ScenarioEngine, ScenarioSource};
use crate::target::Target;

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// A `.wasm` path or `builtin:NAME`.
    pub scenario: String,
    pub target: String,
    /// A JSON object for the scenario's `configure`.
    pub params: String,
    pub seed: u64,
    /// Where `report.json` and `requests.jsonl` go; None: `results/<scenario>-<time>`.
    pub out_dir: Option<PathBuf>,
    /// Model for requests that name none; None: ask the target's `/v1/models`.
    pub model: Option<String>,
    /// `Name: value` headers added to every request (credentials belong here).
    pub headers: Vec<String>,
    pub request_timeout: Duration,
    pub limits: SandboxLimits,
    /// Print stage progress lines on stderr.
    pub progress: bool,
    pub show_scenario_debug: bool,
    /// A local `tokenizer.json`: counts tokens the server does not, and backs the
    /// scenario's tokenizer capability.
    pub tokenizer: Option<PathBuf>,
    /// `NAME=PATH` datasets granted to the scenario.
    pub datasets: Vec<String>,
    pub dataset_errors: OnError,
    /// Write request bodies and response texts into `requests.jsonl`.
    pub record_text: bool,
    /// A Prometheus endpoint of the server to scrape during the run.
    pub server_metrics: Option<String>,
    pub metrics_interval: Duration,
    /// Metric name prefixes to keep; empty: [`prometheus::DEFAULT_PREFIXES`].
    pub metrics_prefixes: Vec<String>,
    /// Triton models (`MODEL[:VERSION]`) whose statistics are read around each stage.
    pub triton_stats: Vec<String>,
    /// Start the server with this command, then run against it (scale from zero).
    pub launch: Option<Launch>,
    /// Serve live metrics in the Prometheus format at this address.
    pub prometheus_listen: Option<std::net::SocketAddr>,
    /// Keep the Prometheus endpoint up this long after the run, for a last scrape.
    pub prometheus_linger: Duration,
    /// OpenTelemetry export over OTLP/HTTP.
    pub otlp: Option<crate::export::otlp::OtlpOptions>,
    /// Refuse to run unless the component's digest is this (`sha256:…`).
    pub digest: Option<String>,
}

/// `--launch`: the server command and when to start sending.
#[derive(Debug, Clone)]
pub struct Launch {
    pub command: String,
    pub at: LaunchAt,
    /// Readiness path for [`LaunchAt::Ready`].
    pub ready_path: String,
    /// Longest wait for the port (or readiness), and for connections refused while
    /// the server starts ([`LaunchAt::Process`]).
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchAt {
    /// As soon as the process has started: requests wait for the port, and their
    /// latency from the planned send shows the whole cold start.
    Process,
    /// Once the port accepts connections.
    Port,
    /// Once the readiness path answers 200.
    Ready,
}

impl RunOptions {
    pub fn new(scenario: impl Into<String>, target: impl Into<String>) -> Self {
        RunOptions {
            scenario: scenario.into(),
            target: target.into(),
            params: "{}".into(),
            seed: 1,
            out_dir: None,
            model: None,
            headers: Vec::new(),
            request_timeout: Duration::from_secs(300),
            limits: SandboxLimits::default(),
            progress: true,
            show_scenario_debug: false,
            tokenizer: None,
            datasets: Vec::new(),
            dataset_errors: OnError::Fail,
            record_text: false,
            server_metrics: None,
            metrics_interval: Duration::from_secs(1),
            metrics_prefixes: Vec::new(),
            triton_stats: Vec::new(),
            launch: None,
            prometheus_listen: None,
            prometheus_linger: Duration::ZERO,
            otlp: None,
            digest: None,
        }
    }
}

pub struct RunResult {
    pub report: Report,
    pub out_dir: PathBuf,
}

/// How long the target gets to accept a first connection.
const REACH_TIMEOUT: Duration = Duration::from_secs(5);
/// Most stages an adaptive plan may run (a sweep or search that never converges).
const MAX_STAGES: usize = 256;

pub async fn run(opts: RunOptions, cancel: Arc<Cancel>) -> Result<RunResult> {
    let params: serde_json::Value = serde_json::from_str(if opts.params.trim().is_empty() { "{}" } else { &opts.params })
        .map_err(|e| anyhow!("--params is not valid JSON: {e}"))?;
    if !params.is_object() {
        bail!("--params must be a JSON object, e.g. '{{\"rate\": 5}}'");
    }
    let mut headers = parse_headers(&opts.headers)?;
    // An API key from the environment, unless the operator set Authorization explicitly.
    if let Ok(key) = std::env::var("VOLLEY_API_KEY")
        && !key.is_empty()
        && !headers.iter().any(|(n, _)| n == hyper::header::AUTHORIZATION)
    {
        let value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| anyhow!("VOLLEY_API_KEY has invalid characters"))?;
        headers.push((hyper::header::AUTHORIZATION, value));
    }
    let target = Target::parse(&opts.target)?;

    // An oci:// scenario is pulled here; keep that off the async workers.
    let source = tokio::task::block_in_place(|| ScenarioSource::load(&opts.scenario))?;
    crate::package::check_params(&source, &params)?;
    if let Some(want) = &opts.digest
        && !want.eq_ignore_ascii_case(&source.digest)
    {
        bail!("scenario '{}' has digest {}, not the pinned {want}; refusing to run it", source.origin, source.digest);
    }
    let engine = ScenarioEngine::new()?;
    let compiled = {
        let source = source.clone();
        // Compiling is CPU-bound (Cranelift); keep it off the async workers.
        let engine = &engine;
        tokio::task::block_in_place(move || engine.compile(&source))?
    };
    let wit_version = compiled.version;
    let grants = tokio::task::block_in_place(|| load_grants(&opts))?;
    crate::package::check_datasets(&source, &grants)?;
    let out_dir = opts.out_dir.clone().unwrap_or_else(|| {
        PathBuf::from("results").join(format!("{}-{}", source.label, crate::util::utc_stamp(SystemTime::now())))
    });
    std::fs::create_dir_all(&out_dir).with_context(|| format!("cannot create output directory {}", out_dir.display()))?;
    // With --launch, the run's clock starts with the server process.
    let (mut server, launch_report, refused_until) = match &opts.launch {
        Some(l) => {
            let (server, report) = launch(l, &target, &out_dir).await?;
            let until = (l.at == LaunchAt::Process).then(|| server.started + l.timeout);
            (Some(server), Some(report), until)
        }
        None => (None, None, None),
    };
    let addr = match (&opts.launch, refused_until) {
        (Some(_), Some(_)) => resolve(&target).await?,
        _ => target.reach(REACH_TIMEOUT).await?,
    };
    let model = match (&opts.model, refused_until) {
        (Some(m), _) => Some(m.clone()),
        (None, None) => discover_model(&target, addr).await,
        (None, Some(_)) => None,
    };
    let triton_models: Vec<ModelRef> = opts.triton_stats.iter().map(|s| ModelRef::parse(s)).collect();
    let target_base = target.base_url();
    for m in &triton_models {
        triton::read(&target_base, m).await.map_err(|e| anyhow!("--triton-stats {}: {e:#}", m.model))?;
    }
    if let Some(url) = &opts.server_metrics {
        match crate::probe::get::get(url, Duration::from_secs(5)).await {
            Ok((200, _)) => {}
            Ok((status, _)) => bail!("--server-metrics {url} answered HTTP {status}"),
            Err(e) => bail!("--server-metrics {url}: {e:#}"),
        }
    }

    let producer = {
        let config = ProducerConfig {
            limits: opts.limits,
            seed: opts.seed,
            params: params.to_string(),
            show_debug: opts.show_scenario_debug,
            grants: grants.clone(),
        };
        let encoder = RequestEncoder::new(&target, model.clone());
        let cancel = cancel.clone();
        tokio::task::block_in_place(move || Producer::spawn(compiled, config, encoder, cancel))?
    };
    let plan = producer.plan.clone();
    let info = producer.info.clone();

    let epoch = server.as_ref().map_or_else(Instant::now, |s| s.started);
    let started_unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    let run_id = format!("{}-{}-{}", source.label, crate::util::utc_stamp(SystemTime::now()), std::process::id());
    let live = opts.prometheus_listen.map(|_| crate::export::live::Live::shared(run_id.clone(), target.authority.to_str().unwrap_or("").to_string()));
    let exposition = match (opts.prometheus_listen, &live) {
        (Some(addr), Some(live)) => {
            let e = crate::export::prometheus::Exposition::start(addr, live.clone()).await?;
            if opts.progress {
                eprintln!("prometheus metrics at http://{}/metrics (run id {run_id})", e.addr);
            }
            Some(e)
        }
        _ => None,
    };
    let progress = (opts.progress && crate::metrics::progress::on_terminal())
        .then(|| crate::metrics::progress::Progress::new(plan.stages.len() + if plan.adaptive { MAX_STAGES } else { 0 }));
    let mut adaptive_fault: Option<anyhow::Error> = None;
    let collector_config = CollectorConfig {
        stage_names: plan.stages.iter().map(|s| s.name.clone()).collect(),
        epoch,
        outcomes: producer.outcome_sink(),
        tokenizer: grants.tokenizer.clone(),
        record_text: opts.record_text,
        live,
        progress: progress.clone(),
        otlp: match &opts.otlp {
            Some(o) => Some(crate::export::otlp::Otlp::start(o, &run_id, (&target.host, target.port), epoch)?),
            None => None,
        },
    };
    let (records, collector) = collector::spawn(collector_config, &out_dir.join("requests.jsonl"))?;
    let scraper = opts.server_metrics.as_ref().map(|url| {
        let prefixes = if opts.metrics_prefixes.is_empty() {
            prometheus::DEFAULT_PREFIXES.iter().map(|p| p.to_string()).collect()
        } else {
            opts.metrics_prefixes.clone()
        };
        Scraper::start(url.clone(), opts.metrics_interval, prefixes, epoch)
    });
    let ctx = Arc::new(SendContext {
        pool: Pool::new(addr, 16_384),
        authority: target.authority.clone(),
        headers,
        timeout: opts.request_timeout,
        cancel: cancel.clone(),
        records,
        keep_text: grants.tokenizer.is_some() || opts.record_text,
        keep_body: opts.record_text,
        retry_refused_until: refused_until,
    });

    if opts.progress {
        eprintln!(
            "volley: {} {} ({}) -> {}{}",
            info.name,
            info.version,
            source.digest.get(..19).unwrap_or(&source.digest),
            target.url,
            model.as_deref().map(|m| format!(", model {m}")).unwrap_or_default()
        );
    }
    let mut stages_run: Vec<Stage> = Vec::new();
    let mut reports: Vec<StageReport> = Vec::new();
    let mut windows: Vec<StageWindow> = Vec::new();
    let mut triton_deltas: Vec<(Vec<triton::TritonStats>, Vec<String>)> = Vec::new();
    let mut planned = plan.stages.clone().into_iter();
    loop {
        if cancel.is_cancelled() {
            break;
        }
        let i = stages_run.len();
        let stage = match planned.next() {
            Some(s) => s,
            None if plan.adaptive && i < MAX_STAGES => {
                let asked = reports.clone();
                match tokio::task::block_in_place(|| producer.next_stage(asked)) {
                    Ok(Some(s)) => s,
                    Ok(None) => break,
                    Err(e) => {
                        // Stop like any guest fault: the stages so far are reported.
                        adaptive_fault = Some(e);
                        break;
                    }
                }
            }
            None => break,
        };
        let total_stages = if plan.adaptive { format!("{}+", plan.stages.len().max(i + 1)) } else { plan.stages.len().to_string() };
        if opts.progress {
            let bound = match (stage.duration, stage.max_requests) {
                (Some(d), Some(n)) => format!(", {} s or {n} requests", d.as_secs_f64()),
                (Some(d), None) => format!(", {} s", d.as_secs_f64()),
                (None, Some(n)) => format!(", {n} requests"),
                (None, None) => String::new(),
            };
            eprintln!("stage {}/{total_stages} '{}': {}{bound}", i + 1, stage.name, stage.load);
        }
        let before = read_triton(&target_base, &triton_models).await;
        if let Some(s) = &scraper {
            s.sample().await;
        }
        let drawing = progress.as_ref().map(|p| {
            let stop = Arc::new(Cancel::new());
            let total = match stage.load {
                crate::model::Load::Burst { n } => Some(u64::from(n)),
                _ => stage.max_requests,
            };
            let task = tokio::spawn(crate::metrics::progress::draw(
                p.clone(),
                i,
                format!("  {}", stage.name),
                total,
                stage.duration,
                stop.clone(),
            ));
            (stop, task)
        });
        let w = load::run_stage(ctx.clone(), &producer, i as u32, &stage, opts.seed).await;
        if let Some((stop, task)) = drawing {
            stop.cancel();
            let _ = task.await;
        }
        if let Some(s) = &scraper {
            s.sample().await;
        }
        let after = read_triton(&target_base, &triton_models).await;
        triton_deltas.push(triton_deltas_of(&before, &after));
        // Every record of the stage is in the collector's queue: ask for its report.
        let (reply, report) = tokio::sync::oneshot::channel();
        let _ = ctx.records.send(CollectorMsg::Report { stage: stage.clone(), index: i as u32, window: w, reply });
        let report = report.await.map_err(|_| anyhow!("the collector task ended early"))?;
        if opts.progress {
            eprintln!(
                "  sent {} in {:.2} s, all done after {:.2} s",
                w.sent,
                w.sending_ended.duration_since(w.started).as_secs_f64(),
                w.finished.duration_since(w.started).as_secs_f64()
            );
        }
        for warning in &report.warnings {
            eprintln!("volley: WARNING: stage '{}': {warning}", stage.name);
        }
        reports.push(report);
        windows.push(w);
        stages_run.push(stage);
    }
    let interrupted = cancel.is_cancelled();
    let server_stop_ms = server.as_mut().map(|s| {
        let took = tokio::task::block_in_place(|| s.stop(Duration::from_secs(10)));
        (took.as_secs_f64() * 1000.0).round()
    });
    let (pool_opened, stale_reuses) = (ctx.pool.opened(), ctx.pool.stale_reuses());
    drop(ctx); // the last sender of records: lets the collector finish
    let collected = collector.await.map_err(|e| anyhow!("the collector task failed: {e}"))??;
    let scrapes = match scraper {
        Some(s) => Some(s.finish().await),
        None => None,
    };
    let fault = adaptive_fault.or_else(|| producer.shutdown());

    let since = |t: Instant| t.saturating_duration_since(epoch).as_secs_f64() * 1000.0;
    let stages = reports
        .into_iter()
        .zip(&windows)
        .zip(triton_deltas)
        .map(|((mut r, window), (triton, probe_errors))| {
            if let Some(s) = &scrapes {
                r.server_metrics = s.window(since(window.started), since(window.finished));
            }
            r.triton = triton;
            r.probe_errors = probe_errors;
            r
        })
        .collect();
    let report = Report {
        schema_version: SCHEMA_VERSION,
        volley_version: env!("CARGO_PKG_VERSION"),
        scenario: ScenarioReport {
            info,
            source: source.origin.clone(),
            digest: source.digest.clone(),
            wit: wit_version.semver().into(),
        },
        target: target.url.clone(),
        seed: opts.seed,
        params,
        started_unix_ms,
        duration_s: (epoch.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        interrupted,
        tokenizer: grants.tokenizer.as_ref().map(|t| t.path.display().to_string()),
        datasets: grants.datasets.iter().map(|d| d.info()).collect(),
        host: HostReport::measure(),
        server_metrics: scrapes,
        launch: launch_report.map(|mut l| {
            l.stop_ms = server_stop_ms;
            l
        }),
        stages,
    };
    let report_path = out_dir.join("report.json");
    let json = serde_json::to_vec_pretty(&report)?;
    std::fs::write(&report_path, json).with_context(|| format!("cannot write {}", report_path.display()))?;
    let html = crate::report::html::render(&report, &out_dir.join("requests.jsonl"))?;
    std::fs::write(out_dir.join("report.html"), html).with_context(|| format!("cannot write {}/report.html", out_dir.display()))?;
    if opts.progress {
        let retried = match stale_reuses {
            0 => String::new(),
            n => format!("; {n} requests retried on a new connection after the server closed an idle one"),
        };
        eprintln!(
            "wrote {}, report.html, requests.jsonl and .csv ({} requests, {} connections opened{retried})",
            report_path.display(),
            collected.records_written,
            pool_opened
        );
    }
    if let Some(e) = exposition {
        // Scrapers get a last look at the final values.
        if !opts.prometheus_linger.is_zero() && !cancel.is_cancelled() {
            tokio::time::sleep(opts.prometheus_linger).await;
        }
        e.stop();
    }
    if let Some(fault) = fault {
        return Err(fault.context(format!("partial results in {}", out_dir.display())))
            .map_err(|e| anyhow!("{}", flatten_fault(&e)));
    }
    Ok(RunResult { report, out_dir })
}

/// Starts the `--launch` server and waits as `--launch-at` says.
async fn launch(l: &Launch, target: &Target, out_dir: &std::path::Path) -> Result<(ServerProcess, LaunchReport)> {
    let mut server = ServerProcess::spawn(&l.command, &out_dir.join("server.log"))?;
    let deadline = server.started + l.timeout;
    let mut report = LaunchReport { command: l.command.clone(), at: format!("{:?}", l.at).to_lowercase(), ..LaunchReport::default() };
    let since = |t: Instant, s: &ServerProcess| (t.saturating_duration_since(s.started).as_secs_f64() * 1e4).round() / 10.0;
    if l.at != LaunchAt::Process {
        let addr = resolve(target).await?;
        let port = readiness::port_open(addr, &mut server, deadline).await.map_err(|e| anyhow!("--launch: {e:#}"))?;
        report.port_open_ms = Some(since(port, &server));
    }
    if l.at == LaunchAt::Ready {
        let url = format!("{}{}", target.base_url(), l.ready_path);
        let ready = readiness::url_ready(&url, &mut server, deadline).await.map_err(|e| anyhow!("--launch: {e:#}"))?;
        report.ready_ms = Some(since(ready, &server));
    }
    Ok((server, report))
}

async fn resolve(target: &Target) -> Result<std::net::SocketAddr> {
    tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|e| anyhow!("cannot resolve target host '{}': {e}", target.host))?
        .next()
        .ok_or_else(|| anyhow!("target host '{}' has no address", target.host))
}

/// "scenario ... exceeded ...; partial results in DIR" as one line.
fn flatten_fault(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    parts.reverse();
    parts.join("; ")
}

/// Loads the tokenizer and indexes the granted datasets, with progress on stderr.
pub fn load_grants(opts: &RunOptions) -> Result<Grants> {
    let tokenizer = match &opts.tokenizer {
        Some(path) => Some(Arc::new(Tokenizer::from_file(path)?)),
        None => None,
    };
    let mut datasets = Vec::new();
    for spec in &opts.datasets {
        let (name, path) = Dataset::parse_grant(spec)?;
        if datasets.iter().any(|d: &Arc<Dataset>| d.name == name) {
            bail!("--dataset '{name}' is given twice");
        }
        let started = Instant::now();
        let dataset = Dataset::open(&name, &path, opts.dataset_errors)?;
        if opts.progress {
            let skipped = match dataset.skipped {
                0 => String::new(),
                n => format!(", {n} malformed rows skipped"),
            };
            eprintln!(
                "dataset '{name}': {} rows ({:?}, {:.1} MiB) indexed in {:.2} s{skipped}",
                dataset.len(),
                dataset.format,
                dataset.bytes as f64 / (1 << 20) as f64,
                started.elapsed().as_secs_f64()
            );
        }
        datasets.push(Arc::new(dataset));
    }
    Ok(Grants { tokenizer, datasets })
}

fn parse_headers(raw: &[String]) -> Result<Vec<(HeaderName, HeaderValue)>> {
    raw.iter()
        .map(|h| {
            let (name, value) = h.split_once(':').ok_or_else(|| anyhow!("--header '{h}' must look like 'Name: value'"))?;
            let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| anyhow!("--header '{h}': invalid name"))?;
            let value = HeaderValue::from_str(value.trim()).map_err(|_| anyhow!("--header '{}': invalid value", name))?;
            Ok((name, value))
        })
        .collect()
}

/// The first model the target lists at `/v1/models`, if it answers quickly.
async fn discover_model(target: &Target, addr: std::net::SocketAddr) -> Option<String> {
    let url = format!("http://{addr}{}", target.path("/v1/models"));
    let (status, body) = crate::probe::get::get(&url, Duration::from_secs(3)).await.ok()?;
    if status != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
    v.get("data")?.get(0)?.get("id")?.as_str().map(str::to_string)
}

/// Triton statistics of each model, or the error reading them.
async fn read_triton(base: &str, models: &[ModelRef]) -> Vec<Result<triton::TritonStats, String>> {
    let mut out = Vec::with_capacity(models.len());
    for m in models {
        out.push(triton::read(base, m).await.map_err(|e| format!("{e:#}")));
    }
    out
}

/// Per-model differences between two reads, and the errors of either.
fn triton_deltas_of(
    before: &[Result<triton::TritonStats, String>],
    after: &[Result<triton::TritonStats, String>],
) -> (Vec<triton::TritonStats>, Vec<String>) {
    let (mut deltas, mut errors) = (Vec::new(), Vec::new());
    for (b, a) in before.iter().zip(after) {
        match (b, a) {
            (Ok(b), Ok(a)) => deltas.push(a.since(b)),
            (Err(e), _) | (_, Err(e)) => errors.push(e.clone()),
        }
    }
    (deltas, errors)
}
