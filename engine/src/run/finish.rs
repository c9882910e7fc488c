//! A run's last phase, also after an interruption, a fault or an abort: the hooks after
//! the run, the launched server stopped, the probes' last readings, every record
//! collected, the workload stopped, and the report assembled and handed to every output.
//! Every wait is bounded, so an interrupted run ends within seconds with its report.

use std::time::Duration;

use volley_core::Checks;
use volley_core::hooks::HookWhen;
use volley_report::schema::{CheckReport, WindowReport};
use volley_report::{Report, StageReport, threshold};

use super::clock::{FINISH_OUTPUTS, RunClock, SHUTDOWN_STEP};
use super::probes::ProbeReadings;
use super::report::run_info;
use super::stages::StagesRun;
use super::start::Running;
use super::{RunError, RunOutcome};
use crate::Fault;
use crate::launch;

/// How long a launched server gets to stop before it is killed (shorter when the run
/// was interrupted, so the whole shutdown stays within seconds).
const SERVER_GRACE: Duration = Duration::from_secs(10);
const SERVER_GRACE_INTERRUPTED: Duration = Duration::from_secs(2);

/// Ends the run and returns its outcome.
pub(super) async fn finish(run: Running, stages: StagesRun) -> Result<RunOutcome, RunError> {
    let Running {
        options,
        producer,
        plan: _,
        mut hooks,
        mut probes,
        driver,
        collector,
        server,
        clock,
        limit,
        scenario,
        datasets,
        warnings,
        mut metadata,
        insecure_tls,
    } = run;
    let StagesRun { reports, mut fault, mut aborted_by } = stages;
    hooks.fire(HookWhen::AfterRun, None).await;
    let (hook_reports, hook_warnings) = hooks.finish();
    let interrupted = options.cancel.is_cancelled() || fault.is_some() || aborted_by.is_some();
    if let Some(r) = limit.reached() {
        fault.get_or_insert(Fault::Refused(r));
    }
    if let Some(server) = probes.after_run().await {
        metadata.server = Some(server);
    }
    let launch = match server {
        Some((process, mut report)) => {
            report.stop_ms = Some(launch::stop(process, if interrupted { SERVER_GRACE_INTERRUPTED } else { SERVER_GRACE }).await);
            Some(report)
        }
        None => None,
    };
    let mut readings = probes.finish().await;
    let pool = &driver.ctx.pool;
    let (connections_opened, stale_retries) = (pool.opened(), pool.stale_reuses());
    let protocol = (connections_opened > 0).then(|| if pool.used_h2() { "h2" } else { "http/1.1" }.to_string());
    // The last sender of events: the collector finishes once it is gone.
    drop(driver);
    let collected = collector.await.map_err(|e| RunError::Internal(format!("the collector task failed: {e}")))?;
    aborted_by = collected.aborted_by.or(aborted_by);
    if let Some(f) = collected.fault {
        fault.get_or_insert(f);
    }
    let checks = stop_workload(producer, &mut fault).await;

    let stages = annotate_stages(reports, &clock, &checks, &mut readings);
    let warnings = warnings.into_iter().chain(hook_warnings).chain(run_warnings(insecure_tls, &checks)).collect();
    let mut report = Report {
        tokenizer: options.tokenizer.as_ref().map(|t| t.path.display().to_string()),
        launch,
        thresholds: threshold::evaluate_all(&options.thresholds, &stages, options.baseline.as_deref()),
        aborted_by,
        start: clock.start.clone(),
        shard: options.shard,
        protocol,
        warnings,
        hooks: hook_reports,
        stages,
        metadata,
        ..Report::new(run_info(scenario, &options, datasets, clock.started_unix_ms, clock.epoch, interrupted))
    };
    readings.annotate_run(&mut report);
    let (report, sink_errors) = collected.sinks.finish(report, FINISH_OUTPUTS).await;
    Ok(RunOutcome { report, fault, records: collected.records, connections_opened, stale_retries, sink_errors })
}

/// Stops the workload's thread (bounded); its fault, or a panic anywhere in the run, is
/// the run's fault if it has none yet. Returns the scenario's check tallies.
async fn stop_workload(producer: crate::producer::Producer, fault: &mut Option<Fault>) -> Checks {
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
    std::mem::take(&mut *checks.lock().unwrap_or_else(|p| p.into_inner()))
}

/// Each stage's report completed with what is known only at the end: its window on the
/// wall clock, the scenario's checks, and what the probes read while it ran.
fn annotate_stages(
    reports: Vec<(StageReport, volley_core::StageWindow)>,
    clock: &RunClock,
    checks: &Checks,
    readings: &mut ProbeReadings,
) -> Vec<StageReport> {
    reports
        .into_iter()
        .enumerate()
        .map(|(i, (mut r, window))| {
            let (from_ms, to_ms) = (clock.ms_since_epoch(window.started), clock.ms_since_epoch(window.finished));
            r.window = Some(WindowReport {
                started_unix_ms: ((clock.epoch_unix_ms + from_ms) * 1e3).round() / 1e3,
                started_ms: (from_ms * 1e3).round() / 1e3,
                ..WindowReport::of(&window)
            });
            r.checks = checks
                .tallies
                .iter()
                .filter(|t| t.stage as usize == i)
                .map(|t| (t.name.clone(), CheckReport::new(t.passes, t.fails)))
                .collect();
            readings.annotate_stage(i, &mut r, from_ms, to_ms);
            r
        })
        .collect()
}

/// Warnings about the run as a whole (the probes add theirs after these).
fn run_warnings(insecure_tls: bool, checks: &Checks) -> Vec<String> {
    let mut warnings = Vec::new();
    if insecure_tls {
        warnings.push("TLS certificates were not verified (--insecure-skip-verify)".into());
    }
    if checks.dropped > 0 {
        warnings.push(format!(
            "{} check calls were not counted: the scenario used more than {} check names",
            checks.dropped,
            volley_core::workload::MAX_CHECK_NAMES
        ));
    }
    warnings
}
