//! What a workload would do, without sending anything (`volley check`): its plan, the
//! arrival timeline of each stage, and its first requests as the send path would
//! encode them, against a placeholder target.

use std::sync::Arc;
use std::time::Duration;

use volley_core::{Cancel, Info, Load, Plan, Policy, Refusal, Workload};
use volley_net::Target;

use crate::client::request::RequestEncoder;
use crate::load::arrivals::ArrivalClock;
use crate::producer::{Producer, StageOrder};
use crate::run::RunError;

/// How long to wait for a stage's first requests (a multi-turn scenario may wait for
/// outcomes that never come here).
const WAIT: Duration = Duration::from_secs(2);
/// Most arrivals counted per stage for the timeline.
const MAX_COUNTED: u64 = 1_000_000;
/// Most stages previewed (a plan may have more; the policy verdict says so).
pub const MAX_STAGES_SHOWN: usize = 64;

/// A workload's plan and first requests.
pub struct Preview {
    pub info: Info,
    pub plan: Plan,
    pub stages: Vec<StagePreview>,
    /// What the policy says of the plan: `None` when a run may go ahead.
    pub refusal: Option<Refusal>,
}

/// One stage: when it sends, and what.
pub struct StagePreview {
    /// The arrival timeline, e.g. "65 planned; first at 0.327, 0.601 s".
    pub arrivals: String,
    /// The first requests, one line each: method, path, flags and the body's start.
    pub requests: Vec<String>,
    /// Why fewer requests than asked were shown.
    pub stopped: Option<String>,
}

/// Configures `workload` with `params`, checks its plan against `policy` and produces
/// up to `show` requests of each stage (each checked too); the workload's fault, or a
/// request the policy refuses, is the error.
pub async fn preview(
    workload: Box<dyn Workload>,
    params: serde_json::Value,
    seed: u64,
    show: u32,
    policy: Arc<Policy>,
) -> Result<Preview, RunError> {
    let producer = Producer::spawn(workload, params, Arc::new(Cancel::new())).await?;
    // Only the paths matter here.
    let target = Target::parse("http://target.invalid")?;
    producer.begin(RequestEncoder::new(&target, None, policy.clone(), &[]));
    let (info, plan) = (producer.info.clone(), producer.plan.clone());
    let refusal = policy.check_plan(&info, &plan).err();
    let mut stages = Vec::new();
    for (i, stage) in plan.stages.iter().enumerate().take(MAX_STAGES_SHOWN) {
        let arrivals = timeline(&stage.load, stage.duration, stage.max_requests, seed, i as u32, show);
        let shown = stage.max_requests.unwrap_or(u64::MAX).min(u64::from(show));
        let feed = producer.start_stage(StageOrder {
            index: i as u32,
            name: &stage.name,
            capacity: show as usize,
            limit: Some(shown),
            queue_bytes: policy.max_queue_bytes as usize,
            max_idle: policy.max_idle(),
            shard: None,
            behind: false,
            board: None,
        });
        let mut requests = Vec::new();
        let mut stopped = None;
        for n in 0..shown {
            let rx = feed.requests.clone();
            let next = tokio::task::spawn_blocking(move || rx.recv_timeout(WAIT)).await;
            if let Ok(Ok(r)) = &next {
                feed.took(r);
            }
            match next {
                Ok(Ok(r)) => {
                    let body = String::from_utf8_lossy(&r.body);
                    let excerpt: String = body.chars().take(160).collect();
                    let more = if body.chars().count() > 160 { format!("… ({} bytes)", r.body.len()) } else { String::new() };
                    requests.push(format!(
                        "#{n}{} {} {}{}{}{} {excerpt}{more}",
                        r.gap.map(|g| format!(" +{:.3} s", g.as_secs_f64())).unwrap_or_default(),
                        r.method,
                        r.uri,
                        if r.stream { " (stream)" } else { "" },
                        r.tag.as_deref().map(|t| format!(" tag={t}")).unwrap_or_default(),
                        r.session.map(|s| format!(" session={s}")).unwrap_or_default(),
                    ));
                }
                Ok(Err(flume::RecvTimeoutError::Disconnected)) => {
                    stopped = Some("the scenario has no more requests in this stage".to_string());
                    break;
                }
                Ok(Err(flume::RecvTimeoutError::Timeout)) | Err(_) => {
                    stopped = Some("the scenario waits: its next requests depend on outcomes".to_string());
                    break;
                }
            }
        }
        drop(feed);
        if let Some(e) = producer.take_fault() {
            return Err(e.into());
        }
        stages.push(StagePreview { arrivals, requests, stopped });
    }
    if let Some(e) = producer.shutdown().await {
        return Err(e.into());
    }
    Ok(Preview { info, plan, stages, refusal })
}

/// The first planned sends of an open-loop stage and how many it plans in all.
fn timeline(load: &Load, duration: Option<Duration>, max: Option<u64>, seed: u64, stage: u32, show: u32) -> String {
    match *load {
        Load::Burst { n } => format!("{n} at once at 0 s"),
        Load::Concurrency { n } => format!("closed loop: {n} in flight, each sent when one completes"),
        Load::ConcurrencyRamp { from, to } => format!("closed loop: {from} -> {to} in flight, linearly over the stage"),
        Load::Custom => "the scenario's own gaps (shown with each request below)".into(),
        l => {
            let mut clock = ArrivalClock::new(l, seed, stage, duration);
            let end = duration.map(|d| d.as_secs_f64()).unwrap_or(f64::INFINITY);
            let cap = max.unwrap_or(u64::MAX).min(MAX_COUNTED);
            let mut first = Vec::new();
            let mut count = 0u64;
            while count < cap {
                let Some(t) = clock.next_offset() else { break };
                if t.as_secs_f64() >= end {
                    break;
                }
                if first.len() < show as usize {
                    first.push(format!("{:.3}", t.as_secs_f64()));
                }
                count += 1;
            }
            format!("{count} planned; first at {} s", first.join(", "))
        }
    }
}
