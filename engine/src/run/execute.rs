//! The body of [`Run::execute`]: set up (configure the workload and check its plan
//! against the policy, check the target and probes), drive each stage, collect every
//! record, and assemble the report — also when the run is interrupted, its workload
//! faults or the policy stops it. Once anything has been sent, every wait is bounded,
//! so an interrupted run ends within seconds with its report.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use volley_core::hooks::HookWhen;
use volley_core::{Cancel, Info, Plan, Policy, Refusal, Stage, StageResult, WorkloadIdentity};
use volley_report::gpu::tokens_per_joule;
use volley_report::{HostReport, Report, RunStart, ScenarioReport, Sink, SinkError, StageReport, StartReport, threshold};

use super::{Run, RunError, RunOutcome, probes};
use crate::Fault;
use crate::client::exchange::SendContext;
use crate::client::pool::Pool;
use crate::client::request::RequestEncoder;
use crate::collector::{self, CollectorConfig, keep};
use crate::events::{self, Event};
use crate::lanes::Lanes;
use crate::launch::{self, LaunchAt};
use crate::load::{self, Driver};
use crate::probe::gpu::{GpuSampler, OnRound};
use crate::probe::prometheus::{DEFAULT_PREFIXES, Scraper};
use crate::producer::Producer;

/// How long the target gets to accept a first connection.
const REACH_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections kept for reuse.
const MAX_IDLE_CONNECTIONS: usize = 16_384;
/// How long a launched server gets to stop before it is killed (shorter when the run
/// was interrupted, so the whole shutdown stays within seconds).
const SERVER_GRACE: Duration = Duration::from_secs(10);
const SERVER_GRACE_INTERRUPTED: Duration = Duration::from_secs(2);
/// Longest wait for each part of the shutdown once the run is over: the collector's
/// last records, the scraper's last sample, the workload's thread, the outputs.
const SHUTDOWN_STEP: Duration = Duration::from_millis(1500);

pub(super) async fn execute(run: Run) -> Result<RunOutcome, RunError> {
    let Run {
        target,
        workload,
        params,
        seed,
        model,
        headers,
        session_header,
        request_timeout,
        tokenizer,
        record_text,
        server_metrics,
        triton_stats,
        launch,
        mut sinks,
        cancel,
        run_id,
        policy,
        thresholds,
        baseline,
        abort_on_fail,
        gpu_interval,
        h2_prior_knowledge,
        lanes,
        start_at,
        shard,
        hooks,
        server_kind,
    } = run;
    if !params.is_object() {
        return Err(RunError::Options("--params must be a JSON object, e.g. '{\"rate\": 5}'".into()));
    }
    let identity = workload.identity();
    let run_id = run_id.unwrap_or_else(|| super::default_run_id(&identity.label));
    let stopped = |fault: Fault, info: Info, plan: Plan, sinks: Vec<Box<dyn Sink>>| StoppedEarly {
        fault,
        scenario: scenario_report(info, &identity),
        target: target.url.clone(),
        seed,
        params: params.clone(),
        plan,
        run_id: run_id.clone(),
        sinks,
    };

    // Where traffic may go, before anything at all: the target, then the probes.
    let unknown = || Info::new(identity.label.clone(), "", "");
    let mut egress = volley_net::Egress::new(policy.clone());
    let checked_target = match egress.target(target.destination()) {
        Ok(c) => c,
        Err(volley_net::NetError::Refused(r)) => {
            return Ok(stopped(Fault::Refused(r), unknown(), Plan::new(Vec::new()), sinks).outcome().await);
        }
        Err(e) => return Err(e.into()),
    };
    let probes = match probes::Probes::check(&egress, &triton_stats, server_metrics.as_ref().map(|m| m.url.as_str())) {
        Ok(p) => p,
        Err(probes::ProbeError::Refused(r)) => {
            return Ok(stopped(Fault::Refused(r), unknown(), Plan::new(Vec::new()), sinks).outcome().await);
        }
        Err(probes::ProbeError::Unusable(e)) => return Err(e),
    };
    let mut hooks = match crate::hooks::Hooks::check(&egress, target.destination(), server_kind, hooks, &headers) {
        Ok(h) => h,
        Err(crate::hooks::HookError::Refused(r)) => {
            return Ok(stopped(Fault::Refused(r), unknown(), Plan::new(Vec::new()), sinks).outcome().await);
        }
        Err(crate::hooks::HookError::Options(e)) => return Err(RunError::Options(e)),
    };
    // The workload next: its plan is known, valid and within the policy before the
    // target sees anything (not even a model lookup).
    let producer = match Producer::spawn(workload, params.clone(), cancel.clone()).await {
        Ok(p) => p,
        // Parameters it refuses are the operator's bad input, not a run: one error.
        Err(e @ volley_core::WorkloadError::Rejected { .. }) => return Err(RunError::Workload(e)),
        Err(e) => return Ok(stopped(e.into(), unknown(), Plan::new(Vec::new()), sinks).outcome().await),
    };
    let (plan, info) = (producer.plan.clone(), producer.info.clone());
    if let Err(r) = policy.check_plan(&info, &plan) {
        let _ = tokio::time::timeout(SHUTDOWN_STEP, producer.shutdown()).await;
        return Ok(stopped(Fault::Refused(r), info, plan, sinks).outcome().await);
    }
    if shard.is_some() && plan.adaptive {
        let _ = tokio::time::timeout(SHUTDOWN_STEP, producer.shutdown()).await;
        return Err(RunError::Options(format!(
            "scenario '{}' decides its stages from the results so far (an adaptive plan); shards could not agree on them, so it cannot run with --shard",
            identity.label
        )));
    }

    // With --launch, the run's clock starts with the server process.
    let (server, launch_report, refused_until) = match &launch {
        Some(l) => {
            let (server, report) = launch::start(l, &egress, &checked_target).await.map_err(|e| RunError::Launch(format!("{e:#}")))?;
            let until = (l.at == LaunchAt::Process).then(|| server.started + l.timeout);
            (Some(server), Some(report), until)
        }
        None => (None, None, None),
    };
    // The load generator's machine, read while the target is reached (NVML may take a
    // moment to load).
    let host_info = tokio::task::spawn_blocking(crate::probe::host::collect);
    let addr = match refused_until {
        Some(_) => checked_target.resolve().await?,
        None => checked_target.reach(REACH_TIMEOUT).await?,
    };
    // Warnings known before the first request: shown at once, and in the report.
    let mut start_warnings = Vec::new();
    let model = match (model, refused_until) {
        (Some(m), _) => Some(m),
        // A gRPC port has no /v1/models: KServe requests name their model.
        // A lookup that fails is a warning, not an error: the run goes on without a model.
        (None, None) if !target.grpc => match probes.discover_model(&policy).await {
            Ok(m) => Some(m),
            Err(warning) => {
                start_warnings.push(warning);
                None
            }
        },
        (None, _) => None,
    };
    probes.answer().await?;
    // What the server says of itself, and the machine: the report's metadata. A gRPC
    // port has no HTTP endpoints to ask; a server launched with `--launch-at process` is
    // asked after the last stage instead, so the asking delays no send of the cold start.
    let kserve_model = model.clone().or(triton_stats.first().map(|m| m.model.clone()));
    let ask_server = !target.grpc;
    let mut metadata = volley_report::metadata::Metadata {
        server: match ask_server && refused_until.is_none() {
            true => Some(crate::probe::server_info::collect(&egress, server_kind, kserve_model.as_deref()).await),
            false => None,
        },
        launch: launch.as_ref().map(|l| volley_report::metadata::LaunchMetadata { command: l.command.clone() }),
        // NVML stuck in the driver costs the host's description, not the run.
        host: tokio::time::timeout(SHUTDOWN_STEP * 2, host_info).await.ok().and_then(Result::ok),
        shard_hosts: Vec::new(),
    };
    // The operator's hooks before the run (a reset prefix cache, a started profiler):
    // before its clock starts, and their failures shown with the start's warnings.
    hooks.fire(HookWhen::BeforeRun, None).await;
    let operator_headers: Vec<_> = headers.iter().map(|(n, _)| n.clone()).collect();
    producer.begin(RequestEncoder::new(&target, model.clone(), policy.clone(), &operator_headers).with_session_header(session_header));

    if let Some(at) = start_at {
        wait_until(at, &cancel).await;
    }
    let epoch = server.as_ref().map_or_else(Instant::now, |s| s.started);
    let started_unix_ms = unix_ms();
    // The epoch on the wall clock, to the microsecond: stage windows are placed by it.
    let epoch_unix_ms =
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1000.0) - epoch.elapsed().as_secs_f64() * 1000.0;
    let start = start_at.map(|at| {
        let requested_unix_ms = at.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        let actual_unix_ms = epoch_unix_ms;
        let round = |x: f64| (x * 1000.0).round() / 1000.0;
        StartReport {
            requested_unix_ms: round(requested_unix_ms),
            actual_unix_ms: round(actual_unix_ms),
            skew_ms: round(actual_unix_ms - requested_unix_ms),
        }
    });
    let scenario = scenario_report(info, &identity);
    hooks.set_epoch(epoch);
    start_warnings.extend(hooks.take_warnings());
    let mut sink_errors = Vec::new();
    {
        let start = RunStart {
            run_id: &run_id,
            epoch,
            scenario: &scenario,
            target: &target.url,
            model: model.as_deref(),
            plan: &plan,
            warnings: &start_warnings,
            metadata: Some(&metadata),
        };
        sinks.retain_mut(|s| keep(s.run_started(&start), &mut sink_errors));
    }
    let (events, events_rx) = events::channel();
    let collector = collector::spawn(
        CollectorConfig {
            epoch,
            outcomes: producer.outcome_sink(),
            tokenizer: tokenizer.clone(),
            sinks,
            max_tags: policy.max_tags as usize,
            max_models: policy.max_models as usize,
            cancel: cancel.clone(),
            watch: if abort_on_fail { thresholds.iter().filter(|t| t.watchable()).cloned().collect() } else { Vec::new() },
        },
        events_rx,
    );
    let scraper = server_metrics.as_ref().zip(probes.metrics.clone()).map(|(m, to)| {
        let prefixes = if m.prefixes.is_empty() { DEFAULT_PREFIXES.iter().map(|p| p.to_string()).collect() } else { m.prefixes.clone() };
        Scraper::start(to, m.interval, prefixes, epoch)
    });
    let tls = match target.tls {
        true => Some((target.host.clone(), volley_net::Tls::operator()?)),
        false => None,
    };
    let gpu = gpu_interval.map(|every| {
        // A weak sender: a sampler stuck in a driver call cannot keep the collector open.
        let live = events.downgrade();
        let on_round: OnRound = Box::new(move |points| {
            if let Some(tx) = live.upgrade() {
                let _ = tx.send(Event::Gpu(points.to_vec()));
            }
        });
        GpuSampler::start(every, epoch, Some(on_round))
    });
    let lanes = Arc::new(Lanes::start(lanes).map_err(|e| RunError::Internal(format!("cannot start the send lanes: {e}")))?);
    let ctx = Arc::new(SendContext {
        // gRPC is HTTP/2 only: h2c by prior knowledge, or h2 by ALPN over TLS.
        pool: Pool::new(tls.clone(), addr, MAX_IDLE_CONNECTIONS, lanes.count(), (h2_prior_knowledge || target.grpc) && !target.tls),
        authority: target.authority.clone(),
        headers,
        timeout: request_timeout,
        cancel: cancel.clone(),
        in_flight: Arc::new(tokio::sync::Semaphore::new(policy.max_in_flight as usize)),
        keep_text: tokenizer.is_some() || record_text,
        keep_body: record_text,
        retry_refused_until: refused_until,
    });
    let driver = Driver {
        ctx: ctx.clone(),
        lanes,
        events,
        max_stage: policy.max_stage(),
        max_queue_bytes: policy.max_queue_bytes as usize,
        max_idle: policy.max_idle(),
    };
    let run_limit = RunLimit::start(&policy, cancel.clone());

    let mut fault: Option<Fault> = None;
    let mut aborted_by: Option<String> = None;
    let mut reports: Vec<StageReport> = Vec::new();
    let mut windows = Vec::new();
    let mut triton_deltas = Vec::new();
    let mut planned = plan.stages.clone().into_iter();
    loop {
        if cancel.is_cancelled() || fault.is_some() {
            break;
        }
        let i = reports.len();
        let stage: Stage = match planned.next() {
            Some(s) => s,
            None if plan.adaptive => {
                let results: Vec<StageResult> = reports.iter().enumerate().map(|(k, r)| r.result(k as u32)).collect();
                match producer.next_stage(results).await {
                    Ok(Some(s)) => match policy.check_stage(i, &s) {
                        Ok(()) => s,
                        Err(r) => {
                            fault = Some(Fault::Refused(r));
                            break;
                        }
                    },
                    Ok(None) => break,
                    // Stop like any workload fault: the stages so far are reported.
                    Err(e) => {
                        fault = Some(e.into());
                        break;
                    }
                }
            }
            None => break,
        };
        hooks.fire(HookWhen::BeforeStage, Some(i as u32)).await;
        let before = probes.read_triton().await;
        if let Some(s) = &scraper {
            s.sample().await;
        }
        let cpu_before = crate::process_cpu_s();
        let ran = load::run_stage(&driver, &producer, i as u32, &stage, seed, shard).await;
        let generator_cpu_s = crate::process_cpu_s() - cpu_before;
        if let Some(f) = ran.stopped {
            fault.get_or_insert(f);
        }
        let w = ran.window;
        if let Some(s) = scraper.as_ref().filter(|_| !cancel.is_cancelled()) {
            s.sample().await;
        }
        let after = if cancel.is_cancelled() { Vec::new() } else { probes.read_triton().await };
        triton_deltas.push(probes::triton_deltas(&before, &after));
        // Every record of the stage is in the collector's queue: ask for its report.
        let (reply, report) = tokio::sync::oneshot::channel();
        // A shard reports on its share of the stage, and says what the whole was.
        let (local, of) = match shard {
            Some(s) => (s.local_stage(&stage), Some(stage.clone())),
            None => (stage, None),
        };
        let _ = driver.events.send(Event::StageEnded { index: i as u32, stage: local, window: w, reply });
        let mut report = report.await.map_err(|_| RunError::Internal("the collector task ended early".into()))?;
        report.shard_of = of.map(|s| volley_report::schema::WholeStage { load: s.load, max_requests: s.max_requests });
        report.generator_cpu_s = Some((generator_cpu_s * 1e3).round() / 1e3);
        // A stage's verdicts are final at its end: with --abort-on-fail, no more stages.
        let failed = thresholds
            .iter()
            .filter(|t| t.known_at_stage_end())
            .flat_map(|t| t.evaluate(std::slice::from_ref(&report), baseline.as_deref()))
            .find(|v| !v.passed);
        reports.push(report);
        windows.push(w);
        if abort_on_fail && let Some(v) = failed {
            aborted_by = Some(v.threshold);
            break;
        }
    }
    hooks.fire(HookWhen::AfterRun, None).await;
    let (hook_reports, hook_warnings) = hooks.finish();
    let interrupted = cancel.is_cancelled() || fault.is_some() || aborted_by.is_some();
    if let Some(r) = run_limit.reached() {
        fault.get_or_insert(Fault::Refused(r));
    }
    if ask_server && metadata.server.is_none() {
        metadata.server = Some(crate::probe::server_info::collect(&egress, server_kind, kserve_model.as_deref()).await);
    }
    let server_stop_ms = match server {
        Some(s) => Some(launch::stop(s, if interrupted { SERVER_GRACE_INTERRUPTED } else { SERVER_GRACE }).await),
        None => None,
    };
    let gpu = match gpu {
        Some(g) => tokio::time::timeout(SHUTDOWN_STEP, tokio::task::spawn_blocking(move || g.finish()))
            .await
            .map_or_else(|_| None, |joined| joined.ok()),
        None => None,
    };
    let (connections_opened, stale_retries) = (ctx.pool.opened(), ctx.pool.stale_reuses());
    let protocol = if ctx.pool.used_h2() { "h2" } else { "http/1.1" };
    // The last senders of events: the collector finishes once they are gone.
    drop(driver);
    drop(ctx);
    let collected = match collector.await {
        Ok(c) => c,
        Err(e) => return Err(RunError::Internal(format!("the collector task failed: {e}"))),
    };
    sink_errors.extend(collected.sink_errors);
    aborted_by = collected.aborted_by.or(aborted_by);
    if let Some(f) = collected.fault {
        fault.get_or_insert(f);
    }
    let scrapes = match scraper {
        Some(s) => tokio::time::timeout(SHUTDOWN_STEP, s.finish()).await.ok(),
        None => None,
    };
    let checks = producer.checks();
    match tokio::time::timeout(SHUTDOWN_STEP, producer.shutdown()).await {
        Ok(Some(e)) => {
            fault.get_or_insert(e.into());
        }
        Ok(None) => {}
        Err(_) => {
            fault.get_or_insert(Fault::Internal("the scenario's thread did not stop; it was left behind".into()));
        }
    }
    if let Some(panic) = volley_core::panics::first() {
        fault.get_or_insert(Fault::Internal(panic));
    }

    let checks = std::mem::take(&mut *checks.lock().unwrap_or_else(|p| p.into_inner()));
    let since = |t: Instant| t.saturating_duration_since(epoch).as_secs_f64() * 1000.0;
    let stages: Vec<StageReport> = reports
        .into_iter()
        .zip(&windows)
        .zip(triton_deltas)
        .enumerate()
        .map(|(i, ((mut r, window), (triton, probe_errors)))| {
            r.window = Some(volley_report::schema::WindowReport {
                started_unix_ms: ((epoch_unix_ms + since(window.started)) * 1e3).round() / 1e3,
                started_ms: (since(window.started) * 1e3).round() / 1e3,
                ..volley_report::schema::WindowReport::of(window)
            });
            r.checks = checks
                .tallies
                .iter()
                .filter(|t| t.stage as usize == i)
                .map(|t| (t.name.clone(), volley_report::schema::CheckReport::new(t.passes, t.fails)))
                .collect();
            if let Some(s) = &scrapes {
                r.server_metrics = s.window(since(window.started), since(window.finished));
            }
            r.triton = triton;
            r.probe_errors = probe_errors;
            if let Some(g) = &gpu {
                r.gpu = g.window(since(window.started), since(window.finished));
                r.output_tokens_per_joule = tokens_per_joule(r.output_tokens.total, &r.gpu);
            }
            r
        })
        .collect();
    let warnings = start_warnings.into_iter().chain(hook_warnings).chain(run_warnings(&tls, &checks, scrapes.as_ref())).collect();
    let report = Report {
        tokenizer: tokenizer.as_ref().map(|t| t.path.display().to_string()),
        server_metrics: scrapes,
        launch: launch_report.map(|mut l| {
            l.stop_ms = server_stop_ms;
            l
        }),
        gpu,
        thresholds: threshold::evaluate_all(&thresholds, &stages, baseline.as_deref()),
        aborted_by,
        start,
        shard,
        protocol: (connections_opened > 0).then(|| protocol.to_string()),
        warnings,
        hooks: hook_reports,
        stages,
        metadata,
        ..report_base(scenario, &identity, &target.url, seed, params, started_unix_ms, epoch, interrupted)
    };
    let (report, finish_errors) = finish_sinks(collected.sinks, report).await;
    sink_errors.extend(finish_errors);
    Ok(RunOutcome { report, fault, records: collected.records, connections_opened, stale_retries, sink_errors })
}

/// The report's identity of the scenario.
fn scenario_report(info: Info, identity: &WorkloadIdentity) -> ScenarioReport {
    ScenarioReport { info, source: identity.source.clone(), digest: identity.digest.clone(), wit: identity.wit.clone() }
}

/// A report with no stages yet.
#[allow(clippy::too_many_arguments)]
fn report_base(
    scenario: ScenarioReport,
    identity: &WorkloadIdentity,
    target: &str,
    seed: u64,
    params: serde_json::Value,
    started_unix_ms: u64,
    epoch: Instant,
    interrupted: bool,
) -> Report {
    Report {
        schema_version: volley_report::SCHEMA_VERSION,
        volley_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario,
        target: target.to_string(),
        seed,
        params,
        started_unix_ms,
        duration_s: (epoch.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        interrupted,
        tokenizer: None,
        datasets: identity.datasets.clone(),
        host: HostReport { peak_rss_mib: crate::peak_rss_bytes() as f64 / (1 << 20) as f64 },
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

/// A run that stopped before anything was sent (the policy refused it, or its workload
/// faulted while setting up): its (empty) report still goes to every sink, so the
/// reason is on record.
struct StoppedEarly {
    fault: Fault,
    scenario: ScenarioReport,
    target: String,
    seed: u64,
    params: serde_json::Value,
    plan: Plan,
    run_id: String,
    sinks: Vec<Box<dyn Sink>>,
}

impl StoppedEarly {
    async fn outcome(self) -> RunOutcome {
        let StoppedEarly { fault, scenario, target, seed, params, plan, run_id, mut sinks } = self;
        let epoch = Instant::now();
        let mut sink_errors = Vec::new();
        {
            let start = RunStart {
                run_id: &run_id,
                epoch,
                scenario: &scenario,
                target: &target,
                model: None,
                plan: &plan,
                warnings: &[],
                metadata: None,
            };
            sinks.retain_mut(|s| keep(s.run_started(&start), &mut sink_errors));
        }
        let nothing = WorkloadIdentity { source: String::new(), label: String::new(), digest: None, wit: None, datasets: Vec::new() };
        let report = report_base(scenario, &nothing, &target, seed, params, unix_ms(), epoch, true);
        let (report, errors) = finish_sinks(sinks, report).await;
        sink_errors.extend(errors);
        RunOutcome { report, fault: Some(fault), records: 0, connections_opened: 0, stale_retries: 0, sink_errors }
    }
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The policy's `max_run_s`: a timer that stops the run when it is reached.
struct RunLimit {
    task: tokio::task::JoinHandle<()>,
    reached: Arc<std::sync::atomic::AtomicBool>,
    limit: Duration,
}

impl RunLimit {
    fn start(policy: &Policy, cancel: Arc<Cancel>) -> RunLimit {
        let limit = policy.max_run();
        let reached = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = reached.clone();
        let task = tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(limit) => {
                    flag.store(true, std::sync::atomic::Ordering::Relaxed);
                    cancel.cancel();
                }
                _ = cancel.cancelled() => {}
            }
        });
        RunLimit { task, reached, limit }
    }

    /// The refusal, if the run was stopped at the limit.
    fn reached(self) -> Option<Refusal> {
        self.task.abort();
        self.reached.load(std::sync::atomic::Ordering::Relaxed).then(|| Refusal {
            limit: "max_run_s",
            allowed: self.limit.as_secs_f64().to_string(),
            what: format!("the run was still going after {} s", self.limit.as_secs_f64()),
        })
    }
}

/// Hands the final report to every sink, on a blocking thread; a sink that panics or
/// hangs (an exporter whose collector does not answer) costs its own output only.
async fn finish_sinks(mut sinks: Vec<Box<dyn Sink>>, report: Report) -> (Report, Vec<SinkError>) {
    let shared = Arc::new(report);
    let for_sinks = shared.clone();
    let (errors_tx, errors_rx) = std::sync::mpsc::channel();
    let done = tokio::task::spawn_blocking(move || {
        for s in &mut sinks {
            if let Err(e) = s.run_finished(&for_sinks) {
                let _ = errors_tx.send(e);
            }
        }
    });
    let mut errors = Vec::new();
    match tokio::time::timeout(SHUTDOWN_STEP * 4, done).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => errors.push(SinkError::new(format!("an output failed while finishing the run: {e}"))),
        Err(_) => errors.push(SinkError::best_effort("an output did not finish within 6 s; it was left behind")),
    }
    errors.extend(errors_rx.try_iter());
    (Arc::try_unwrap(shared).unwrap_or_else(|r| (*r).clone()), errors)
}

/// Waits until the wall clock reads `at` (at once if it has passed), or the run is
/// cancelled, on the OS timer (tokio's fires up to 2 ms late). On a multi-threaded runtime this
/// thread waits in place, so no second wake-up (a blocking thread handing back to a
/// parked worker) adds its latency; shards started together start within a millisecond
/// or two.
async fn wait_until(at: SystemTime, cancel: &Arc<Cancel>) {
    let Ok(left) = at.duration_since(SystemTime::now()) else { return };
    let deadline = Instant::now() + left;
    let cancel = cancel.clone();
    let wait = move || {
        while !cancel.is_cancelled() {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            // Slices, so an interrupt is noticed promptly. No spinning at the end: on a
            // machine with more shards than cores, spinners delay each other by whole
            // scheduler slices, where a sleeper is woken within tens of µs.
            std::thread::sleep((deadline - now).min(Duration::from_millis(50)));
        }
    };
    if tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
        tokio::task::block_in_place(wait);
    } else {
        let _ = tokio::task::spawn_blocking(wait).await;
    }
}

/// Warnings about the run as a whole.
fn run_warnings(
    tls: &Option<(String, volley_net::Tls)>,
    checks: &volley_core::Checks,
    scrapes: Option<&volley_report::server::Scrapes>,
) -> Vec<String> {
    let mut warnings = Vec::new();
    if tls.as_ref().is_some_and(|(_, t)| t.insecure) {
        warnings.push("TLS certificates were not verified (--insecure-skip-verify)".into());
    }
    if checks.dropped > 0 {
        warnings.push(format!(
            "{} check calls were not counted: the scenario used more than {} check names",
            checks.dropped,
            volley_core::workload::MAX_CHECK_NAMES
        ));
    }
    warnings.extend(scrapes.map(crate::probe::prometheus::warnings).unwrap_or_default());
    warnings
}
