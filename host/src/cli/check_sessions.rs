//! `volley check`'s session preview: a scenario that reacts to outcomes (WIT 0.6 agent
//! sessions) is run for its first few sessions against the built-in simulator, started
//! in this process on loopback — nothing is sent to any target — and each session's
//! turns, tool calls and delays are printed, as the run would produce them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use volley::core::text::clip;
use volley::core::{Batch, Cancel, Info, Outcome, Plan, Policy, Reaction, Stage, Workload, WorkloadError, WorkloadIdentity};
use volley::report::MemorySink;
use volley::sim::{SimConfig, Simulator};
use volley::{Run, Target};

/// Longest a preview runs.
const PREVIEW_LIMIT: Duration = Duration::from_secs(60);

/// The first stage of a workload's plan, cut to its first `sessions` sessions (the
/// requests its load paces), without warm-up, cool-down or adaptive stages.
struct FirstSessions {
    inner: Box<dyn Workload>,
    sessions: u64,
}

impl Workload for FirstSessions {
    fn describe(&mut self) -> Result<Info, WorkloadError> {
        self.inner.describe()
    }

    fn configure(&mut self, params: &serde_json::Value) -> Result<Plan, WorkloadError> {
        let mut plan = self.inner.configure(params)?;
        plan.adaptive = false;
        plan.stages.truncate(1);
        if let Some(s) = plan.stages.first_mut() {
            let cut = s.max_requests.map_or(self.sessions, |m| m.min(self.sessions));
            *s = Stage { max_requests: Some(cut), warmup: None, cooldown: None, ..s.clone() };
        }
        Ok(plan)
    }

    fn start_stage(&mut self, stage: u32) {
        self.inner.start_stage(stage)
    }

    fn next_requests(&mut self, stage: u32, seq: u64, max: u32) -> Result<Batch, WorkloadError> {
        self.inner.next_requests(stage, seq, max)
    }

    fn on_outcome(&mut self, outcome: Outcome) -> Result<Reaction, WorkloadError> {
        self.inner.on_outcome(outcome)
    }

    fn reacts(&self) -> bool {
        self.inner.reacts()
    }

    fn set_cancel(&mut self, cancel: Arc<Cancel>) {
        self.inner.set_cancel(cancel)
    }

    fn identity(&self) -> WorkloadIdentity {
        self.inner.identity()
    }
}

/// Runs `workload`'s first `sessions` sessions against an in-process simulator that
/// answers requests offering tools with one or two tool calls; the lines to print.
pub(super) async fn preview(
    workload: Box<dyn Workload>,
    params: serde_json::Value,
    seed: u64,
    sessions: u32,
    policy: Policy,
) -> anyhow::Result<Vec<String>> {
    let config =
        SimConfig { ttft: Duration::from_millis(2), itl: Duration::from_micros(500), parallel_tools: 1..=2, seed, ..SimConfig::default() };
    let sim = Simulator::start(config, ([127, 0, 0, 1], 0).into()).await?;
    let records = MemorySink::new();
    let cancel = Arc::new(Cancel::new());
    let first = FirstSessions { inner: workload, sessions: u64::from(sessions) };
    let run = Run::boxed(Target::parse(&sim.url())?, Box::new(first))
        .params(params)
        .seed(seed)
        .policy(policy)
        .cancel(cancel.clone())
        .sink(records.clone());
    let outcome = match tokio::time::timeout(PREVIEW_LIMIT, run.execute()).await {
        Ok(r) => r?,
        Err(_) => {
            cancel.cancel();
            anyhow::bail!("the session preview did not finish in {} s", PREVIEW_LIMIT.as_secs());
        }
    };
    if let Some(fault) = &outcome.fault {
        anyhow::bail!("{fault}");
    }
    let mut by_session: BTreeMap<u64, Vec<_>> = BTreeMap::new();
    for m in records.records() {
        if let Some(s) = m.record.session {
            by_session.entry(s).or_default().push(m.record.clone());
        }
    }
    let mut out = vec![
        String::new(),
        format!(
            "sessions: the first {} of stage 0, against the built-in simulator in this process (nothing was sent to any target):",
            by_session.len()
        ),
    ];
    for (session, mut reqs) in by_session {
        reqs.sort_by_key(|r| (r.turn, r.seq));
        out.push(format!("  session {session}:"));
        for r in &reqs {
            let wait = match r.delay {
                Some(d) if r.turn.is_some_and(|t| t > 1) => format!(
                    " after {:.1} ms (tools {:.1} + think {:.1})",
                    d.total().as_secs_f64() * 1e3,
                    d.tool.as_secs_f64() * 1e3,
                    d.think.as_secs_f64() * 1e3
                ),
                _ => String::new(),
            };
            let answer = if !r.ok() {
                format!("failed: {}", r.error.map_or("", |e| e.as_str()))
            } else if r.calls.is_empty() {
                format!("text ({} tokens)", r.output_tokens)
            } else {
                let names: Vec<String> = r.calls.iter().map(|c| clip(&c.name, 40).into_owned()).collect();
                format!("{} tool call(s): {}", r.calls.len(), names.join(", "))
            };
            let tag = r.tag.as_deref().map(|t| format!(" [{}]", clip(t, 40))).unwrap_or_default();
            out.push(format!("    turn {}{tag}{wait} → {answer}", r.turn.unwrap_or(0)));
        }
    }
    if let Some(t) = outcome.report.stages.first().and_then(|s| s.tasks.as_ref()) {
        out.push(format!("  tasks: {} completed, {} failed, {} left open", t.completed, t.failed, t.unfinished));
    }
    Ok(out)
}
