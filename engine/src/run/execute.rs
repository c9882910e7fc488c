//! The body of [`Run::execute`]: set up (configure the workload, check the target and
//! probes), drive each stage, collect every record, and assemble the report — also
//! when the run is interrupted or its workload faults.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use volley_core::{Stage, StageResult, WorkloadError};
use volley_report::{HostReport, Report, RunStart, ScenarioReport, Sink, SinkError, StageReport};

use super::{Run, RunError, RunOutcome, probes};
use crate::client::exchange::SendContext;
use crate::client::pool::Pool;
use crate::client::request::RequestEncoder;
use crate::collector::{self, CollectorConfig, keep};
use crate::events::{self, Event};
use crate::launch::{self, LaunchAt};
use crate::load::{self, Driver};
use crate::probe::prometheus::{DEFAULT_PREFIXES, Scraper};
use crate::producer::Producer;

/// How long the target gets to accept a first connection.
const REACH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// Most stages an adaptive plan may run (a sweep or search that never converges).
const MAX_STAGES: usize = 256;
/// Idle connections kept for reuse.
const MAX_IDLE_CONNECTIONS: usize = 16_384;
/// How long a launched server gets to stop before it is killed.
const SERVER_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

pub(super) async fn execute(run: Run) -> Result<RunOutcome, RunError> {
    let Run {
        target,
        workload,
        params,
        seed,
        model,
        headers,
        request_timeout,
        tokenizer,
        record_text,
        server_metrics,
        triton_stats,
        launch,
        mut sinks,
        cancel,
        run_id,
    } = run;
    if !params.is_object() {
        return Err(RunError::Options("--params must be a JSON object, e.g. '{\"rate\": 5}'".into()));
    }
    let identity = workload.identity();

    // The workload first: its plan is known (and valid) before the target sees anything.
    let producer = Producer::spawn(workload, params.clone(), cancel.clone()).await?;
    let (plan, info) = (producer.plan.clone(), producer.info.clone());

    // With --launch, the run's clock starts with the server process.
    let (server, launch_report, refused_until) = match &launch {
        Some(l) => {
            let (server, report) = launch::start(l, &target).await.map_err(|e| RunError::Launch(format!("{e:#}")))?;
            let until = (l.at == LaunchAt::Process).then(|| server.started + l.timeout);
            (Some(server), Some(report), until)
        }
        None => (None, None, None),
    };
    let addr = match refused_until {
        Some(_) => target.resolve().await?,
        None => target.reach(REACH_TIMEOUT).await?,
    };
    let model = match (model, refused_until) {
        (Some(m), _) => Some(m),
        (None, None) => probes::discover_model(&target, addr).await,
        (None, Some(_)) => None,
    };
    let target_base = target.base_url();
    probes::check(&target_base, &triton_stats, server_metrics.as_ref().map(|m| m.url.as_str())).await?;
    producer.begin(RequestEncoder::new(&target, model.clone()));

    let epoch = server.as_ref().map_or_else(Instant::now, |s| s.started);
    let started_unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    let run_id = run_id.unwrap_or_else(|| super::default_run_id(&identity.label));
    let scenario = ScenarioReport {
        info,
        source: identity.source.clone(),
        digest: identity.digest.clone(),
        wit: identity.wit.clone(),
    };
    let mut sink_errors = Vec::new();
    {
        let start = RunStart { run_id: &run_id, epoch, scenario: &scenario, target: &target.url, model: model.as_deref(), plan: &plan };
        sinks.retain_mut(|s| keep(s.run_started(&start), &mut sink_errors));
    }
    let (events, events_rx) = events::channel();
    let collector = collector::spawn(
        CollectorConfig { epoch, outcomes: producer.outcome_sink(), tokenizer: tokenizer.clone(), sinks },
        events_rx,
    );
    let scraper = server_metrics.as_ref().map(|m| {
        let prefixes =
            if m.prefixes.is_empty() { DEFAULT_PREFIXES.iter().map(|p| p.to_string()).collect() } else { m.prefixes.clone() };
        Scraper::start(m.url.clone(), m.interval, prefixes, epoch)
    });
    let ctx = Arc::new(SendContext {
        pool: Pool::new(addr, MAX_IDLE_CONNECTIONS),
        authority: target.authority.clone(),
        headers,
        timeout: request_timeout,
        cancel: cancel.clone(),
        keep_text: tokenizer.is_some() || record_text,
        keep_body: record_text,
        retry_refused_until: refused_until,
    });
    let driver = Driver { ctx: ctx.clone(), events };

    let mut adaptive_fault: Option<WorkloadError> = None;
    let mut reports: Vec<StageReport> = Vec::new();
    let mut windows = Vec::new();
    let mut triton_deltas = Vec::new();
    let mut planned = plan.stages.clone().into_iter();
    loop {
        if cancel.is_cancelled() {
            break;
        }
        let i = reports.len();
        let stage: Stage = match planned.next() {
            Some(s) => s,
            None if plan.adaptive && i < MAX_STAGES => {
                let results: Vec<StageResult> = reports.iter().enumerate().map(|(k, r)| r.result(k as u32)).collect();
                match producer.next_stage(results).await {
                    Ok(Some(s)) => s,
                    Ok(None) => break,
                    Err(e) => {
                        // Stop like any workload fault: the stages so far are reported.
                        adaptive_fault = Some(e);
                        break;
                    }
                }
            }
            None => break,
        };
        let before = probes::read_triton(&target_base, &triton_stats).await;
        if let Some(s) = &scraper {
            s.sample().await;
        }
        let w = load::run_stage(&driver, &producer, i as u32, &stage, seed).await;
        if let Some(s) = &scraper {
            s.sample().await;
        }
        let after = probes::read_triton(&target_base, &triton_stats).await;
        triton_deltas.push(probes::triton_deltas(&before, &after));
        // Every record of the stage is in the collector's queue: ask for its report.
        let (reply, report) = tokio::sync::oneshot::channel();
        let _ = driver.events.send(Event::StageEnded { index: i as u32, stage, window: w, reply });
        let report = report.await.map_err(|_| RunError::Internal("the collector task ended early".into()))?;
        reports.push(report);
        windows.push(w);
    }
    let interrupted = cancel.is_cancelled();
    let server_stop_ms = match server {
        Some(s) => Some(launch::stop(s, SERVER_GRACE).await),
        None => None,
    };
    let (connections_opened, stale_retries) = (ctx.pool.opened(), ctx.pool.stale_reuses());
    // The last senders of events: the collector finishes once they are gone.
    drop(driver);
    drop(ctx);
    let collected = collector.await.map_err(|e| RunError::Internal(format!("the collector task failed: {e}")))?;
    sink_errors.extend(collected.sink_errors);
    let scrapes = match scraper {
        Some(s) => Some(s.finish().await),
        None => None,
    };
    let fault = match adaptive_fault {
        Some(e) => {
            drop(producer);
            Some(e)
        }
        None => producer.shutdown().await,
    };

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
        schema_version: volley_report::SCHEMA_VERSION,
        volley_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario,
        target: target.url.clone(),
        seed,
        params,
        started_unix_ms,
        duration_s: (epoch.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        interrupted,
        tokenizer: tokenizer.as_ref().map(|t| t.path.display().to_string()),
        datasets: identity.datasets.clone(),
        host: HostReport { peak_rss_mib: crate::peak_rss_bytes() as f64 / (1 << 20) as f64 },
        server_metrics: scrapes,
        launch: launch_report.map(|mut l| {
            l.stop_ms = server_stop_ms;
            l
        }),
        stages,
    };
    // Writing files and shutting exporters down may block: not on the async workers.
    let (report, finish_errors) = finish_sinks(collected.sinks, report).await;
    sink_errors.extend(finish_errors);
    Ok(RunOutcome { report, fault, records: collected.records, connections_opened, stale_retries, sink_errors })
}

/// Hands the final report to every sink, on a blocking thread; a sink that panics
/// costs its own output only.
async fn finish_sinks(mut sinks: Vec<Box<dyn Sink>>, report: Report) -> (Report, Vec<SinkError>) {
    let shared = Arc::new(report);
    let for_sinks = shared.clone();
    let done = tokio::task::spawn_blocking(move || {
        let mut errors = Vec::new();
        for s in &mut sinks {
            if let Err(e) = s.run_finished(&for_sinks) {
                errors.push(e);
            }
        }
        errors
    })
    .await;
    let errors = done.unwrap_or_else(|e| vec![SinkError::new(format!("an output failed while finishing the run: {e}"))]);
    (Arc::try_unwrap(shared).unwrap_or_else(|r| (*r).clone()), errors)
}
