//! The open-loop driver: a dedicated scheduler thread that sends each request at its
//! planned instant, whatever the server does, and records how late each send was.
//!
//! Why a thread and not a task: tokio's timer wheel has millisecond resolution, while a
//! thread with a 1 µs timer slack wakes within tens of microseconds of its deadline.
//! The thread only sleeps and spawns; the exchanges run on the send lanes, in turn. Requests
//! were produced ahead of time, so no guest call sits between the clock and the send.

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::TryAcquireError;
use volley_core::{Cancel, StageWindow};

use super::arrivals::ArrivalClock;
use super::{Driver, StageBounds, StageRun, StageStart};
use crate::Fault;
use crate::client::request::PreparedRequest;
use crate::producer::{StageFeed, queued_cost};

pub(super) enum Schedule {
    Clock(ArrivalClock),
    /// Every request of the stage at one instant.
    Burst(u32),
    /// Each request's own gap after the previous planned send (`custom` loads).
    Custom,
}

/// Longest wait for the producer to fill the queue before a stage starts.
const PREFILL_WAIT: Duration = Duration::from_secs(5);
/// Longest uninterrupted sleep, so cancellation is noticed promptly.
const SLEEP_SLICE: Duration = Duration::from_millis(50);
/// How long the scheduler waits between looks for a free in-flight slot.
const PERMIT_NAP: Duration = Duration::from_micros(100);

/// What the scheduler thread hands back: when it started and stopped sending, how many
/// it sent, and what stopped it early.
type Sent = (Instant, Instant, u64, Option<Fault>);

pub(super) async fn run(driver: Driver, feed: StageFeed, schedule: Schedule, bounds: StageBounds, start: StageStart) -> StageRun {
    // Every spawned exchange holds a clone of `in_flight`; `recv` returns None once the
    // last one is dropped — a wait group.
    let (in_flight, mut all_done) = mpsc::channel::<()>(1);
    let (result_tx, result_rx) = oneshot::channel();
    let thread = std::thread::Builder::new().name("volley-scheduler".into()).spawn(move || {
        let mut s = Scheduler { driver, feed, in_flight, sent: 0, at_end: false };
        let r = s.run(schedule, bounds, start);
        let _ = result_tx.send(r);
    });
    let failed = |why: String| (Instant::now(), Instant::now(), 0, Some(Fault::Internal(why)));
    let (started, sending_ended, sent, stopped) = match thread {
        // The thread dropped its sender without a result: it panicked.
        Ok(_) => result_rx.await.unwrap_or_else(|_| failed("the scheduler thread failed".into())),
        Err(e) => failed(format!("cannot start the scheduler thread: {e}")),
    };
    let _ = all_done.recv().await;
    StageRun { window: StageWindow { started, sending_ended, finished: Instant::now(), sent }, stopped }
}

struct Scheduler {
    driver: Driver,
    feed: StageFeed,
    in_flight: mpsc::Sender<()>,
    sent: u64,
    /// Sending stopped because the stage's hard end came.
    at_end: bool,
}

impl Scheduler {
    fn run(&mut self, schedule: Schedule, bounds: StageBounds, start: StageStart) -> Sent {
        set_fine_timer_slack();
        self.wait_for_prefill();
        let started = Instant::now();
        self.driver.announce(start.index, &start.stage, started);
        // Every wait ends by then: the stage's own end, or the policy's longest stage.
        let hard_end = bounds.hard_end(started);
        match schedule {
            Schedule::Burst(n) => {
                let mut batch = Vec::with_capacity((n as usize).min(4096));
                let mut held = 0usize;
                while batch.len() < n as usize {
                    let Some(r) = self.next_request(hard_end) else { break };
                    // A burst is sent at one instant, so all of it is held at once.
                    held += queued_cost(&r);
                    if held > self.feed.budget() {
                        let what = format!("a burst of {n} requests needs more than {} bytes held at once", self.feed.budget());
                        return (started, Instant::now(), 0, Some(Fault::refused("max_queue_bytes", self.feed.budget(), what)));
                    }
                    batch.push(r);
                }
                let planned = Instant::now();
                for req in batch {
                    if !self.spawn(req, planned, hard_end) {
                        break;
                    }
                }
                return (planned, Instant::now(), self.sent, bounds.overran(&start.stage.name, self.at_end).map(Fault::Refused));
            }
            Schedule::Custom => {
                // Offsets add up in integer nanoseconds: no drift over a long trace.
                let mut offset = Duration::ZERO;
                while bounds.max_requests.is_none_or(|m| self.sent < m) {
                    let Some(req) = self.next_request(hard_end) else { break };
                    offset = offset.saturating_add(req.gap.unwrap_or_default());
                    let planned = started.checked_add(offset).unwrap_or(hard_end);
                    if planned >= hard_end {
                        self.at_end = true;
                        break;
                    }
                    if !sleep_until(planned, &self.driver.ctx.cancel) {
                        break;
                    }
                    if !self.spawn(req, planned, hard_end) {
                        break;
                    }
                }
            }
            Schedule::Clock(mut clock) => {
                while bounds.max_requests.is_none_or(|m| self.sent < m) {
                    let Some(offset) = clock.next_offset() else { break };
                    let planned = started.checked_add(offset).unwrap_or(hard_end);
                    if planned >= hard_end {
                        self.at_end = true;
                        break;
                    }
                    let Some(req) = self.next_request(hard_end) else { break };
                    if !sleep_until(planned, &self.driver.ctx.cancel) || !self.spawn(req, planned, hard_end) {
                        break;
                    }
                }
            }
        }
        let now = Instant::now();
        let cancelled = self.driver.ctx.cancel.is_cancelled();
        let stopped = if cancelled { None } else { bounds.overran(&start.stage.name, self.at_end).map(Fault::Refused) };
        (started, now, self.sent, stopped)
    }

    /// Sends `req` once an in-flight slot is free (the policy's `max_in_flight`; the
    /// wait shows as schedule lag); `false` if none came before the stage's end.
    fn spawn(&mut self, req: PreparedRequest, planned: Instant, hard_end: Instant) -> bool {
        let Some(permit) = self.permit(hard_end) else { return false };
        let driver = self.driver.clone();
        let guard = self.in_flight.clone();
        self.driver.lanes.spawn_next(async move {
            driver.send(req, planned).await;
            drop((guard, permit));
        });
        self.sent += 1;
        true
    }

    fn permit(&mut self, until: Instant) -> Option<OwnedSemaphorePermit> {
        loop {
            match self.driver.ctx.in_flight.clone().try_acquire_owned() {
                Ok(p) => return Some(p),
                Err(TryAcquireError::Closed) => return None,
                Err(TryAcquireError::NoPermits) => {
                    if self.driver.ctx.cancel.is_cancelled() {
                        return None;
                    }
                    if Instant::now() >= until {
                        self.at_end = true;
                        return None;
                    }
                    std::thread::sleep(PERMIT_NAP);
                }
            }
        }
    }

    /// The next produced request; `None` when the scenario is done, the run cancelled,
    /// or `until` has come.
    fn next_request(&mut self, until: Instant) -> Option<PreparedRequest> {
        loop {
            let wait = until.saturating_duration_since(Instant::now()).min(SLEEP_SLICE);
            match self.feed.requests.recv_timeout(wait) {
                Ok(r) => {
                    self.feed.took(&r);
                    return Some(r);
                }
                Err(flume::RecvTimeoutError::Disconnected) => return None,
                Err(flume::RecvTimeoutError::Timeout) if self.driver.ctx.cancel.is_cancelled() => return None,
                Err(flume::RecvTimeoutError::Timeout) if Instant::now() >= until => {
                    self.at_end = true;
                    return None;
                }
                Err(flume::RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// Gives the producer a head start: until the queue is full (in entries or bytes),
    /// the scenario has nothing more for this stage, or [`PREFILL_WAIT`] has passed.
    fn wait_for_prefill(&self) {
        let q = &self.feed.requests;
        let deadline = Instant::now() + PREFILL_WAIT;
        while !q.is_disconnected() && q.capacity().is_some_and(|c| q.len() < c) && !self.feed.over_budget() && Instant::now() < deadline {
            if self.driver.ctx.cancel.is_cancelled() {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Sleeps until `t`; `false` if the run was cancelled first.
fn sleep_until(t: Instant, cancel: &Cancel) -> bool {
    loop {
        if cancel.is_cancelled() {
            return false;
        }
        let now = Instant::now();
        if now >= t {
            return true;
        }
        std::thread::sleep((t - now).min(SLEEP_SLICE));
    }
}

/// Linux rounds a sleeping thread's wake-up up by its timer slack (50 µs by default);
/// 1 µs makes the scheduler's wake-ups as precise as the kernel allows.
fn set_fine_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and affects only this thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}
