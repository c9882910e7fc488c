//! The open-loop driver: sends each request at its planned instant, whatever the
//! server does, and records how late each send was.
//!
//! The clock runs on the first send lane: its scheduler task sleeps on a microsecond
//! timer registered with the lane's own epoll ([`PreciseTimer`]), so a lane wakes once
//! for its timer and its sockets together, and no timer thread hands sends over. The
//! scheduler pairs the produced requests with the arrivals in order (so the schedule and
//! what is sent when are a function of the seed alone) and deals the sends to the lanes
//! in turn: arrival k to lane k mod N, its own without crossing a thread. N is what the
//! stage's peak rate needs ([`RATE_PER_LANE`]), not every lane: on the measured machine a
//! send dealt to another lane costs that lane's thread a wake-up, dearer than sending it
//! from the scheduler's lane while that lane has time to spare. A burst is
//! taken whole and dealt out at one instant. Requests were produced ahead of time, so no
//! guest call sits between the clock and the send.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, mpsc};
use volley_core::{Load, StageWindow};

use super::arrivals::ArrivalClock;
use super::timer::PreciseTimer;
use super::{Driver, StageBounds, StageRun, StageStart, wait_for_prefill};
use crate::Fault;
use crate::client::request::PreparedRequest;
use crate::producer::{StageFeed, queued_cost};

pub(super) enum Schedule {
    Clock(ArrivalClock),
    /// Every request of the stage at one instant.
    Burst(u32),
    /// Each request's own gap after the previous planned send (`custom` loads).
    Custom,
    /// N sessions open at once (the board's slots): a first request goes out when a
    /// slot frees.
    Sessions,
}

/// Arrivals a second one lane sends before the stage deals its sends to more lanes. A
/// lane completes ~40k small requests a second in a closed loop (`./scripts/bench.sh`);
/// an open-loop send costs it about three times as much (a timer and a socket wake it
/// for each), so 8,000/s leaves room for bursts of a Poisson clock. Measured at
/// Poisson 5,000/s against nginx on 2 cores: one lane 73 µs of CPU per request and a
/// lag p99 of 0.22–0.26 ms; two lanes 90 µs and 0.7–2.2 ms.
const RATE_PER_LANE: f64 = 8_000.0;

/// The lanes an open-loop stage deals its sends to: as many as its peak rate needs, at
/// most all; every lane for a burst and a custom trace, whose peaks are unknown.
fn lanes_for(load: Load, lanes: usize) -> usize {
    load.peak_rate().map_or(lanes, |peak| ((peak / RATE_PER_LANE).ceil() as usize).clamp(1, lanes.max(1)))
}

/// What every scheduler of a stage shares.
struct Stage {
    driver: Driver,
    feed: StageFeed,
    started: Instant,
    hard_end: Instant,
    /// Sends left of the stage's `max_requests`.
    budget: AtomicU64,
    sent: AtomicU64,
    /// Lanes the sends are dealt to: 0..lanes.
    lanes: usize,
    /// Sending stopped because the stage's hard end came.
    at_end: AtomicBool,
    /// Held by every exchange in flight: `recv` on the other end returns `None` once
    /// the last is dropped (a wait group).
    in_flight: mpsc::Sender<()>,
}

pub(super) async fn run(driver: Driver, feed: StageFeed, schedule: Schedule, bounds: StageBounds, start: StageStart) -> StageRun {
    wait_for_prefill(&driver, &feed).await;
    let started = Instant::now();
    driver.announce(&start, started);
    let (in_flight, mut all_done) = mpsc::channel::<()>(1);
    let lanes = driver.lanes.clone();
    let stage = Arc::new(Stage {
        hard_end: bounds.hard_end(started),
        budget: AtomicU64::new(bounds.max_requests.unwrap_or(u64::MAX)),
        sent: AtomicU64::new(0),
        lanes: lanes_for(start.stage.load, lanes.count()),
        at_end: AtomicBool::new(false),
        in_flight,
        driver,
        feed,
        started,
    });
    let mut stopped = None;
    // A burst's window starts at its one instant, once all of it was taken.
    let mut window_start = started;
    let failed = |e: tokio::task::JoinError| Some(Fault::Internal(format!("an open-loop scheduler failed: {e}")));
    match schedule {
        Schedule::Burst(n) => match burst(&stage, n).await {
            Ok(planned) => window_start = planned,
            Err(fault) => stopped = Some(fault),
        },
        Schedule::Sessions => {
            let s = stage.clone();
            match lanes.spawn(0, async move { sessions(&s).await }).await {
                Ok(Ok(())) => {}
                Ok(Err(fault)) => stopped = Some(fault),
                Err(e) => stopped = failed(e),
            }
        }
        Schedule::Custom => {
            let s = stage.clone();
            if let Err(e) = lanes.spawn(0, async move { custom(&s).await }).await {
                stopped = failed(e);
            }
        }
        Schedule::Clock(clock) => {
            let s = stage.clone();
            if let Err(e) = lanes.spawn(0, async move { arrivals(&s, clock).await }).await {
                stopped = failed(e);
            }
        }
    }
    // Sending ended when the schedulers stopped (a scheduler held up by max_in_flight
    // until the stage's end sent little, and the offered rate says so).
    let sending_ended = Instant::now();
    let sent = stage.sent.load(Ordering::Relaxed);
    let cancelled = stage.driver.ctx.cancel.is_cancelled();
    if stopped.is_none() && !cancelled {
        stopped = bounds.overran(&start.stage.name, stage.at_end.load(Ordering::Relaxed)).map(Fault::Refused);
    }
    // The schedulers are done: with the stage's last reference gone (its feed, which
    // ends production, and its end of the wait group), only exchanges hold the group.
    drop(stage);
    let _ = all_done.recv().await;
    StageRun { window: StageWindow { started: window_start, sending_ended, finished: Instant::now(), sent }, stopped }
}

/// Sends every arrival of `clock` at its planned instant, the next request with each.
async fn arrivals(s: &Stage, mut clock: ArrivalClock) {
    let mut timer = PreciseTimer::new();
    loop {
        let Some(offset) = clock.next_offset() else { return };
        let Some(planned) = s.planned(offset) else { return };
        if !s.take_budget() {
            return;
        }
        let Some(req) = s.next_request().await else { return };
        if !s.send_at(&mut timer, req, planned).await {
            return;
        }
    }
}

/// A `custom` load: each request's gap after the previous planned send; offsets add up
/// in integer nanoseconds, so a long trace does not drift.
async fn custom(s: &Stage) {
    let mut timer = PreciseTimer::new();
    let mut offset = Duration::ZERO;
    while s.take_budget() {
        let Some(req) = s.next_request().await else { return };
        offset = offset.saturating_add(req.gap.unwrap_or_default());
        let Some(planned) = s.planned(offset) else { return };
        if !s.send_at(&mut timer, req, planned).await {
            return;
        }
    }
}

/// A `sessions` load: a first request goes out as soon as one of the N slots is free
/// (planned then), and its session holds the slot until the scenario ends its task.
/// Follow-ups are sent by the stage's follow-up scheduler, not here. A request without a
/// session, or of a session already open, is the scenario's fault.
async fn sessions(s: &Stage) -> Result<(), Fault> {
    let (Some(board), Some(slots)) = (s.feed.board.clone(), s.feed.board.as_ref().and_then(|b| b.slots())) else {
        let what = "a sessions load needs a scenario that reacts to outcomes (WIT 0.6 on) and observes them".to_string();
        return Err(Fault::Workload(volley_core::WorkloadError::Invalid(what)));
    };
    while s.take_budget() {
        let Some(Ok(slot)) = s.before_end(slots.clone().acquire_owned()).await else { return Ok(()) };
        let planned = Instant::now();
        let Some(req) = s.next_request().await else { return Ok(()) };
        let Some(session) = req.session else {
            s.feed.unsent(&req);
            let what = format!("in a sessions stage every request from next-requests opens a session; request {} has none", req.seq);
            return Err(Fault::Workload(volley_core::WorkloadError::Invalid(what)));
        };
        if !board.open(session, slot) {
            s.feed.unsent(&req);
            let what = format!("request {} opens session {session}, which is open already; follow-ups come from on-outcome", req.seq);
            return Err(Fault::Workload(volley_core::WorkloadError::Invalid(what)));
        }
        if !s.send(req, planned).await {
            return Ok(());
        }
    }
    Ok(())
}

/// A burst: all of it taken from the queue (and held at once, within the byte budget),
/// then sent at one instant, dealt to the lanes in turn; that instant, or the fault of
/// a burst that cannot be held.
async fn burst(s: &Stage, n: u32) -> Result<Instant, Fault> {
    let mut batch = Vec::with_capacity((n as usize).min(4096));
    let mut held = 0usize;
    while batch.len() < n as usize && s.take_budget() {
        let Some(r) = s.next_request().await else { break };
        held += queued_cost(&r);
        if held > s.feed.budget() {
            let what = format!("a burst of {n} requests needs more than {} bytes held at once", s.feed.budget());
            return Err(Fault::refused("max_queue_bytes", s.feed.budget(), what));
        }
        batch.push(r);
    }
    let planned = Instant::now();
    for req in batch {
        if !s.send(req, planned).await {
            break;
        }
    }
    Ok(planned)
}

impl Stage {
    /// One send of the stage's `max_requests`; `false` when they are spent.
    fn take_budget(&self) -> bool {
        self.budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1)).is_ok()
    }

    /// The instant `offset` from the stage's start; `None` (noted as the end) when it is
    /// at or past the stage's end.
    fn planned(&self, offset: Duration) -> Option<Instant> {
        let planned = self.started.checked_add(offset).unwrap_or(self.hard_end);
        if planned >= self.hard_end {
            self.at_end.store(true, Ordering::Relaxed);
            return None;
        }
        Some(planned)
    }

    /// Sleeps until `planned`, then sends `req`; `false` if the run was cancelled or no
    /// slot came before the stage's end.
    async fn send_at(&self, timer: &mut PreciseTimer, req: PreparedRequest, planned: Instant) -> bool {
        let slept = tokio::select! {
            biased;
            _ = self.driver.ctx.cancel.cancelled() => false,
            _ = timer.sleep_until(planned) => true,
        };
        slept && self.send(req, planned).await
    }

    /// Sends `req` on the next lane in turn once an in-flight slot is free (the policy's
    /// `max_in_flight`; the wait shows as schedule lag); `false` if none came before the
    /// stage's end.
    async fn send(&self, req: PreparedRequest, planned: Instant) -> bool {
        let Some(permit) = self.permit().await else {
            self.feed.unsent(&req);
            return false;
        };
        let lane = self.sent.fetch_add(1, Ordering::Relaxed) as usize % self.lanes;
        self.driver.spawn_send(lane, req, planned, (self.in_flight.clone(), permit));
        true
    }

    /// `work`'s result, unless the run is cancelled or the stage's end comes first (which
    /// is noted as the end).
    async fn before_end<T>(&self, work: impl std::future::Future<Output = T>) -> Option<T> {
        tokio::select! {
            out = work => Some(out),
            _ = self.driver.ctx.cancel.cancelled() => None,
            _ = tokio::time::sleep_until(self.hard_end.into()) => {
                self.at_end.store(true, Ordering::Relaxed);
                None
            }
        }
    }

    /// An in-flight slot: at once if one is free, else when one frees before the end.
    async fn permit(&self) -> Option<OwnedSemaphorePermit> {
        let slots = self.driver.ctx.in_flight.clone();
        match slots.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => self.before_end(slots.acquire_owned()).await?.ok(),
        }
    }

    /// The next produced request; `None` when the scenario is done, the run cancelled,
    /// or the stage's end has come.
    async fn next_request(&self) -> Option<PreparedRequest> {
        let r = match self.feed.requests.try_recv() {
            Ok(r) => r,
            Err(flume::TryRecvError::Disconnected) => return None,
            Err(flume::TryRecvError::Empty) => self.before_end(self.feed.requests.recv_async()).await?.ok()?,
        };
        self.feed.took(&r);
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_loop_stage_uses_the_lanes_its_peak_rate_needs() {
        assert_eq!(lanes_for(Load::Poisson { rate: 5000.0 }, 2), 1);
        assert_eq!(lanes_for(Load::Constant { rate: 8000.0 }, 4), 1);
        assert_eq!(lanes_for(Load::Gamma { rate: 8000.5, cv: 2.0 }, 4), 2);
        assert_eq!(lanes_for(Load::Ramp { from: 40_000.0, to: 1.0 }, 4), 4, "a ramp's peak, at most every lane");
        assert_eq!(lanes_for(Load::Poisson { rate: 1e9 }, 3), 3);
        assert_eq!(lanes_for(Load::Poisson { rate: 0.001 }, 3), 1);
        assert_eq!(lanes_for(Load::Burst { n: 10 }, 3), 3);
        assert_eq!(lanes_for(Load::Custom, 3), 3);
    }
}
