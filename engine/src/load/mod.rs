//! Running a stage: the host owns the clock.
//!
//! - [`arrivals`]: the open-loop arrival processes (constant, Poisson, gamma, ramp) as
//!   sequences of planned send offsets.
//! - [`open_loop`]: schedulers on the send lanes that send each request at its planned
//!   instant, woken by a microsecond timer on the lane's own epoll ([`timer`]) (and
//!   bursts, all at one instant).
//! - [`closed_loop`]: N workers, each sending its next request when the last completes
//!   (a fixed N, or one that ramps over the stage).
//!
//! Each driver announces its stage's start to the collector (a `StageClock`) before its
//! first send, with the warm-up and cool-down window, so exclusion is decided by each
//! request's planned instant; every record goes to the collector as it completes.
//!
//! Requests come from the producer's bounded queue, produced ahead of time: a stage
//! starts once the queue is ready (full, or the scenario has nothing more for now — it
//! waits on outcomes — or for the stage; see [`wait_for_prefill`]). It ends by duration,
//! by count, or when the scenario has no more requests, and then waits for its requests
//! in flight.

pub(crate) mod arrivals;
mod closed_loop;
mod follow_ups;
mod open_loop;
mod timer;

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use volley_core::{Load, Refusal, Shard, Stage, StageWindow};

use crate::Fault;

use crate::client::exchange::{self, SendContext};
use crate::client::request::PreparedRequest;
use crate::client::watch::Watch;
use crate::events::{Event, EventTx, StageClock};
use crate::lanes::Lanes;
use crate::producer::{Producer, StageFeed, StageOrder};
use crate::sessions::SessionBoard;

/// How a stage ended: when it ran, and what stopped it early (a policy limit, a
/// driver that failed), if anything did.
pub(crate) struct StageRun {
    pub window: StageWindow,
    pub stopped: Option<Fault>,
}

/// What a driver needs besides its stage: the send path, where records go, and how
/// long any stage may run (the policy's `max_stage_s`).
#[derive(Clone)]
pub(crate) struct Driver {
    pub ctx: Arc<SendContext>,
    /// Where the exchanges run: one single-threaded runtime per core.
    pub lanes: Arc<Lanes>,
    pub events: EventTx,
    pub max_stage: Duration,
    /// Bytes of produced requests a stage may hold (the policy's `max_queue_bytes`).
    pub max_queue_bytes: usize,
    /// How long a stage's scenario may wait on nothing (the policy's `max_idle_s`).
    pub max_idle: Duration,
}

impl Driver {
    /// Sends one request and hands its record to the collector; `watch` (the sending
    /// task's) ends it at its timeout or the run's cancellation. The instant it was sent,
    /// if it got that far.
    async fn send(&self, req: PreparedRequest, planned: Instant, watch: Pin<&mut Watch<'_>>) -> Option<Instant> {
        let record = exchange::send(&self.ctx, req, planned, watch).await;
        let sent = record.sent;
        let _ = self.events.send(Event::Record(record));
        sent
    }

    /// Sends `req` (planned at `planned`) as a task of its own on `lane`, with a watch of
    /// its own, and lets go of `held` (its in-flight slot, and what else counts it) when
    /// its exchange is over. A send to the caller's own lane is queued there without
    /// waking a thread (tokio's own spawn from a runtime's thread).
    fn spawn_send<H: Send + 'static>(&self, lane: usize, req: PreparedRequest, planned: Instant, held: H) {
        let driver = self.clone();
        self.lanes.spawn(lane, async move {
            {
                let watch = std::pin::pin!(Watch::new(&driver.ctx.cancel));
                driver.send(req, planned, watch).await;
            }
            // The lanes' last reference goes where the run ends, not here.
            drop(driver);
            drop(held);
        });
    }

    /// Tells the collector the stage of `start` started at `started`.
    fn announce(&self, start: &StageStart, started: Instant) {
        let mut clock = StageClock::new(start.index, &start.stage, started);
        clock.tasks = start.tasks;
        let _ = self.events.send(Event::StageStarted(clock));
    }
}

/// How many requests to produce ahead, for a load.
fn queue_capacity(load: &Load) -> usize {
    match *load {
        // Produced whole before it is sent (bounded by the policy's max_burst).
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
        // First requests of sessions: a few ahead of the slots that free up.
        Load::Sessions { n } => (n as usize).clamp(16, 2048),
    }
}

/// Runs stage `index` to its end; a shard runs its share of it ([`Shard::local_stage`]):
/// its part of the concurrency or burst, and the global arrival sequence thinned to its
/// own arrivals.
pub(crate) async fn run_stage(
    driver: &Driver,
    producer: &Producer,
    index: u32,
    stage: &Stage,
    seed: u64,
    shard: Option<Shard>,
) -> StageRun {
    // The producer counts the global sequence; the driver, this shard's requests.
    let limit = burst_limit(stage);
    let local = shard.map_or_else(|| stage.clone(), |s| s.local_stage(stage));
    let local_limit = burst_limit(&local);
    // Sends on a clock go before production when cores are short; a closed loop's sends
    // wait on production instead, so there the producer keeps its priority.
    // A sessions load's follow-ups are sent on a clock (their delays), so it goes first too.
    let behind = !local.load.is_closed_loop() || matches!(local.load, Load::Sessions { .. });
    let slots = match local.load {
        Load::Sessions { n } => Some(n),
        _ => None,
    };
    let board = producer.reacts.then(|| SessionBoard::new(index, slots, driver.events.clone()));
    let feed = producer.start_stage(StageOrder {
        index,
        name: &stage.name,
        capacity: queue_capacity(&local.load),
        limit,
        queue_bytes: driver.max_queue_bytes,
        max_idle: driver.max_idle,
        shard,
        behind,
        board: board.clone(),
    });
    let bounds = StageBounds { duration: stage.duration, max_requests: local_limit, limit: driver.max_stage };
    let start = StageStart { index, stage: local.clone(), tasks: board.is_some() };
    let driver = driver.clone();
    // Follow-ups go out from their own scheduler beside the load's; the stage lasts until
    // its load has sent its last request and its sessions have nothing more in play.
    let follow_ups = board.map(|b| follow_ups::FollowUps::start(&driver, b));
    let mut run = drive(driver, feed, &local, stage, seed, shard, bounds, start).await;
    if let Some(f) = follow_ups {
        let sent = f.finish().await;
        run.window.finished = Instant::now();
        run.window.sent += sent.count;
        if let Some(t) = sent.last {
            run.window.sending_ended = run.window.sending_ended.max(t);
        }
    }
    run
}

/// Runs the stage's load.
#[allow(clippy::too_many_arguments)]
async fn drive(
    driver: Driver,
    feed: StageFeed,
    local: &Stage,
    stage: &Stage,
    seed: u64,
    shard: Option<Shard>,
    bounds: StageBounds,
    start: StageStart,
) -> StageRun {
    let index = start.index;
    match local.load {
        Load::Sessions { .. } => open_loop::run(driver, feed, open_loop::Schedule::Sessions, bounds, start).await,
        Load::Concurrency { n } => closed_loop::run(driver, feed, closed_loop::Workers::Fixed(n), bounds, start).await,
        Load::ConcurrencyRamp { from, to } => {
            let ramp = closed_loop::Workers::Ramp { from, to, over: stage.duration.unwrap_or_default() };
            closed_loop::run(driver, feed, ramp, bounds, start).await
        }
        Load::Burst { n } => open_loop::run(driver, feed, open_loop::Schedule::Burst(n), bounds, start).await,
        Load::Custom => open_loop::run(driver, feed, open_loop::Schedule::Custom, bounds, start).await,
        _ => {
            let clock = arrivals::ArrivalClock::new(stage.load, seed, index, stage.duration).thinned(shard);
            open_loop::run(driver, feed, open_loop::Schedule::Clock(clock), bounds, start).await
        }
    }
}

/// Longest a stage waits for its producer before it starts: a backstop for a producer
/// slower than the queue it fills (a guest that takes long over each request), since any
/// other producer makes the queue ready sooner.
const PREFILL_WAIT: Duration = Duration::from_secs(5);

/// Gives the producer a head start, so no guest call or encoding sits between the clock
/// and a send: returns when the queue is ready (full in entries or bytes, or the scenario
/// has nothing more for now or for this stage — events the producer signals, so a
/// scenario that waits on outcomes starts at once), the run is cancelled, or
/// [`PREFILL_WAIT`] has passed.
async fn wait_for_prefill(driver: &Driver, feed: &StageFeed) {
    tokio::select! {
        _ = feed.ready() => {}
        _ = driver.ctx.cancel.cancelled() => {}
        _ = tokio::time::sleep(PREFILL_WAIT) => {}
    }
}

/// The most requests a stage sends: a burst's size, or its `max_requests`.
fn burst_limit(stage: &Stage) -> Option<u64> {
    match stage.load {
        Load::Burst { n } => Some(stage.max_requests.map_or(u64::from(n), |m| m.min(u64::from(n)))),
        _ => stage.max_requests,
    }
}

/// What ends a stage, besides the scenario running out of requests.
#[derive(Debug, Clone, Copy)]
struct StageBounds {
    duration: Option<Duration>,
    max_requests: Option<u64>,
    /// The policy's longest stage: every wait of the driver ends by then.
    limit: Duration,
}

impl StageBounds {
    /// When the stage stops sending, whatever else happens.
    fn hard_end(&self, started: Instant) -> Instant {
        started + self.duration.map_or(self.limit, |d| d.min(self.limit))
    }

    /// The refusal of a stage that its driver stopped at its hard end (`at_end`) when that
    /// end is the policy's limit, not the stage's own duration (which the plan check
    /// keeps within the limit).
    fn overran(&self, stage: &str, at_end: bool) -> Option<Refusal> {
        let overran = at_end && self.duration.is_none_or(|d| d > self.limit);
        overran.then(|| Refusal {
            limit: "max_stage_s",
            allowed: self.limit.as_secs_f64().to_string(),
            what: format!("stage '{}' was still sending after {} s", volley_core::text::printable(stage, 64), self.limit.as_secs_f64()),
        })
    }
}

/// Which stage a driver runs, for its announcement.
struct StageStart {
    index: u32,
    stage: Stage,
    /// Its sessions are tasks (its scenario reacts to outcomes).
    tasks: bool,
}
