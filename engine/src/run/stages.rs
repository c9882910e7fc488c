//! A run's third phase: each stage in turn — the planned ones, then those an adaptive
//! workload asks for — with the hooks and probes around it, until the plan is done, the
//! run is interrupted or faults, or (`--abort-on-fail`) a threshold has failed.

use volley_core::hooks::HookWhen;
use volley_core::{Stage, StageResult, StageWindow};
use volley_report::StageReport;
use volley_report::schema::WholeStage;

use super::RunError;
use super::start::Running;
use crate::Fault;
use crate::events::Event;
use crate::load;

/// What the stages left.
#[derive(Default)]
pub(super) struct StagesRun {
    /// Each stage's report as the collector made it, and when it ran.
    pub(super) reports: Vec<(StageReport, StageWindow)>,
    /// What stopped the run early, if anything did.
    pub(super) fault: Option<Fault>,
    /// The threshold that stopped the run (`--abort-on-fail`).
    pub(super) aborted_by: Option<String>,
}

/// Runs every stage. `Err` only for a failure of the engine's own.
pub(super) async fn run_stages(run: &mut Running) -> Result<StagesRun, RunError> {
    let mut done = StagesRun::default();
    let mut planned = run.plan.stages.clone().into_iter();
    while !run.options.cancel.is_cancelled() && done.fault.is_none() {
        let index = done.reports.len();
        let stage = match planned.next() {
            Some(s) => s,
            None if run.plan.adaptive => match next_adaptive(run, &done.reports).await {
                Ok(Some(s)) => s,
                Ok(None) => break,
                Err(fault) => {
                    done.fault = Some(fault);
                    break;
                }
            },
            None => break,
        };
        let (report, window, stopped) = run_stage(run, index as u32, stage).await?;
        if let Some(f) = stopped {
            done.fault.get_or_insert(f);
        }
        // A stage's verdicts are final at its end: with --abort-on-fail, no more stages.
        let failed = run
            .options
            .thresholds
            .iter()
            .filter(|t| t.known_at_stage_end())
            .flat_map(|t| t.evaluate(std::slice::from_ref(&report), run.options.baseline.as_deref()))
            .find(|v| !v.passed);
        done.reports.push((report, window));
        if run.options.abort_on_fail
            && let Some(v) = failed
        {
            done.aborted_by = Some(v.threshold);
            break;
        }
    }
    Ok(done)
}

/// The stage an adaptive workload asks for next, given the results so far (`None`: it
/// is done), within the policy; a refusal or the workload's fault stops the run like any
/// other, with the stages so far reported.
async fn next_adaptive(run: &Running, so_far: &[(StageReport, StageWindow)]) -> Result<Option<Stage>, Fault> {
    let results: Vec<StageResult> = so_far.iter().enumerate().map(|(k, (r, _))| r.result(k as u32)).collect();
    match run.producer.next_stage(results).await {
        Ok(Some(s)) => match run.options.policy.check_stage(so_far.len(), &s) {
            Ok(()) => Ok(Some(s)),
            Err(r) => Err(Fault::Refused(r)),
        },
        Ok(None) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// One stage, sent and collected: its report, its window, and what stopped it early.
async fn run_stage(run: &mut Running, index: u32, stage: Stage) -> Result<(StageReport, StageWindow, Option<Fault>), RunError> {
    run.hooks.fire(HookWhen::BeforeStage, Some(index)).await;
    run.probes.before_stage().await;
    let cpu_before = crate::process_cpu_s();
    let ran = load::run_stage(&run.driver, &run.producer, index, &stage, run.options.seed, run.options.shard).await;
    let generator_cpu_s = crate::process_cpu_s() - cpu_before;
    run.probes.after_stage(run.options.cancel.is_cancelled()).await;
    // Every record of the stage is in the collector's queue: ask for its report.
    let (reply, report) = tokio::sync::oneshot::channel();
    // A shard reports on its share of the stage, and says what the whole was.
    let (local, whole) = match run.options.shard {
        Some(s) => (s.local_stage(&stage), Some(stage)),
        None => (stage, None),
    };
    let _ = run.driver.events.send(Event::StageEnded { index, stage: local, window: ran.window, reply });
    let mut report = report.await.map_err(|_| RunError::Internal("the collector task ended early".into()))?;
    report.shard_of = whole.map(|s| WholeStage { load: s.load, max_requests: s.max_requests });
    report.generator_cpu_s = Some((generator_cpu_s * 1e3).round() / 1e3);
    Ok((report, ran.window, ran.stopped))
}
