//! Running a stage: the host owns the clock.
//!
//! - [`arrivals`]: the open-loop arrival processes (constant, Poisson, gamma, ramp) as
//!   sequences of planned send offsets.
//! - [`open_loop`]: a scheduler thread that sends each request at its planned instant
//!   (and bursts, all at one instant).
//! - [`closed_loop`]: N workers, each sending its next request when the last completes
//!   (a fixed N, or one that ramps over the stage).
//!
//! Each driver announces its stage's start to the collector ([`StageStart`]) before its
//! first send, with the warm-up and cool-down window, so exclusion is decided by each
//! request's planned instant.
//!
//! Requests come from the producer's bounded queue, produced ahead of time; a stage
//! ends by duration, by count, or when the scenario has no more requests, and then
//! waits for its requests in flight.

pub mod arrivals;
pub mod closed_loop;
pub mod open_loop;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::exchange::SendContext;
use crate::metrics::collector::{CollectorMsg, StageClock};
use crate::model::{Load, Stage};
use crate::scenario::producer::Producer;

/// When a stage ran.
#[derive(Debug, Clone, Copy)]
pub struct StageWindow {
    pub started: Instant,
    /// The last request was sent (or the stage stopped sending).
    pub sending_ended: Instant,
    /// The last request in flight completed.
    pub finished: Instant,
    pub sent: u64,
}

/// How many requests to produce ahead, for a load.
fn queue_capacity(load: &Load) -> usize {
    match *load {
        Load::Burst { n } => n as usize,
        // A closed loop can complete tens of thousands of requests a second.
        Load::Concurrency { n } => (2 * n as usize).max(2048),
        Load::Constant { rate } | Load::Poisson { rate } | Load::Gamma { rate, .. } => {
            // A quarter of a second of requests, within sane bounds.
            ((rate * 0.25) as usize).clamp(256, 16_384)
        }
        Load::Ramp { from, to } => ((from.max(to) * 0.25) as usize).clamp(64, 16_384),
        Load::ConcurrencyRamp { from, to } => (2 * from.max(to) as usize).max(2048),
        Load::Custom => 1024,
    }
}

/// The stage as the collector needs it, sent when the driver starts its clock.
pub struct StageStart {
    index: u32,
    name: String,
    warmup: Duration,
    /// Offset from the start at which cool-down begins.
    cooldown_from: Option<Duration>,
    slo: Option<crate::model::Slo>,
}

impl StageStart {
    pub fn new(index: u32, stage: &Stage) -> Self {
        StageStart {
            index,
            name: stage.name.clone(),
            warmup: stage.warmup.unwrap_or_default(),
            cooldown_from: stage.cooldown.zip(stage.duration).map(|(c, d)| d.saturating_sub(c)),
            slo: stage.slo,
        }
    }

    /// Tells the collector the stage's clock started at `started`.
    pub fn announce(&self, ctx: &SendContext, started: Instant) {
        let _ = ctx.records.send(CollectorMsg::StageStarted(StageClock {
            index: self.index,
            name: self.name.clone(),
            measure_from: started + self.warmup,
            measure_until: self.cooldown_from.map(|c| started + c),
            slo: self.slo,
        }));
    }
}

/// Runs stage `index` to its end.
pub async fn run_stage(
    ctx: Arc<SendContext>,
    producer: &Producer,
    index: u32,
    stage: &Stage,
    seed: u64,
) -> StageWindow {
    let limit = match stage.load {
        Load::Burst { n } => Some(stage.max_requests.map_or(u64::from(n), |m| m.min(u64::from(n)))),
        _ => stage.max_requests,
    };
    let feed = producer.start_stage(index, queue_capacity(&stage.load), limit);
    let bounds = StageBounds { duration: stage.duration, max_requests: limit };
    let start = StageStart::new(index, stage);
    match stage.load {
        Load::Concurrency { n } => closed_loop::run(ctx, feed, closed_loop::Workers::Fixed(n), bounds, start).await,
        Load::ConcurrencyRamp { from, to } => {
            let ramp = closed_loop::Workers::Ramp { from, to, over: stage.duration.unwrap_or_default() };
            closed_loop::run(ctx, feed, ramp, bounds, start).await
        }
        Load::Burst { n } => open_loop::run(ctx, feed, open_loop::Schedule::Burst(n), bounds, start).await,
        Load::Custom => open_loop::run(ctx, feed, open_loop::Schedule::Custom, bounds, start).await,
        load => {
            let clock = arrivals::ArrivalClock::new(load, seed, index, stage.duration);
            open_loop::run(ctx, feed, open_loop::Schedule::Clock(clock), bounds, start).await
        }
    }
}

/// What ends a stage, besides the scenario running out of requests.
#[derive(Debug, Clone, Copy)]
pub struct StageBounds {
    pub duration: Option<Duration>,
    pub max_requests: Option<u64>,
}
