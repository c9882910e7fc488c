//! The open-loop driver: a dedicated scheduler thread that sends each request at its
//! planned instant, whatever the server does, and records how late each send was.
//!
//! Why a thread and not a task: tokio's timer wheel has millisecond resolution, while a
//! thread with a 1 µs timer slack wakes within tens of microseconds of its deadline.
//! The thread only sleeps and spawns; the exchanges run on the tokio runtime. Requests
//! were produced ahead of time, so no guest call sits between the clock and the send.

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use volley_core::{Cancel, StageWindow};

use super::arrivals::ArrivalClock;
use super::{Driver, StageBounds, StageStart};
use crate::client::request::PreparedRequest;
use crate::producer::StageFeed;

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

pub(super) async fn run(driver: Driver, feed: StageFeed, schedule: Schedule, bounds: StageBounds, start: StageStart) -> StageWindow {
    let handle = tokio::runtime::Handle::current();
    // Every spawned exchange holds a clone of `in_flight`; `recv` returns None once the
    // last one is dropped — a wait group.
    let (in_flight, mut all_done) = mpsc::channel::<()>(1);
    let (result_tx, result_rx) = oneshot::channel();
    let thread = std::thread::Builder::new().name("volley-scheduler".into()).spawn(move || {
        let mut s = Scheduler { handle, driver, feed, in_flight, sent: 0 };
        let r = s.run(schedule, bounds, start);
        let _ = result_tx.send(r);
    });
    let (started, sending_ended, sent) = match thread {
        Ok(_) => result_rx.await.unwrap_or_else(|_| (Instant::now(), Instant::now(), 0)),
        Err(_) => (Instant::now(), Instant::now(), 0),
    };
    let _ = all_done.recv().await;
    StageWindow { started, sending_ended, finished: Instant::now(), sent }
}

struct Scheduler {
    handle: tokio::runtime::Handle,
    driver: Driver,
    feed: StageFeed,
    in_flight: mpsc::Sender<()>,
    sent: u64,
}

impl Scheduler {
    fn run(&mut self, schedule: Schedule, bounds: StageBounds, start: StageStart) -> (Instant, Instant, u64) {
        set_fine_timer_slack();
        self.wait_for_prefill();
        let started = Instant::now();
        self.driver.announce(start.index, &start.stage, started);
        let end = bounds.duration.map(|d| started + d);
        match schedule {
            Schedule::Burst(n) => {
                let mut batch = Vec::with_capacity(n as usize);
                while batch.len() < n as usize {
                    match self.next_request() {
                        Some(r) => batch.push(r),
                        None => break,
                    }
                }
                let planned = Instant::now();
                for req in batch {
                    self.spawn(req, planned);
                }
                return (planned, Instant::now(), self.sent);
            }
            Schedule::Custom => {
                // Offsets add up in integer nanoseconds: no drift over a long trace.
                let mut offset = Duration::ZERO;
                while bounds.max_requests.is_none_or(|m| self.sent < m) {
                    let Some(req) = self.next_request() else { break };
                    offset += req.gap.unwrap_or_default();
                    let planned = started + offset;
                    if end.is_some_and(|e| planned >= e) || !sleep_until(planned, &self.driver.ctx.cancel) {
                        break;
                    }
                    self.spawn(req, planned);
                }
            }
            Schedule::Clock(mut clock) => {
                while bounds.max_requests.is_none_or(|m| self.sent < m) {
                    let Some(offset) = clock.next_offset() else { break };
                    let planned = started + offset;
                    if end.is_some_and(|e| planned >= e) {
                        break;
                    }
                    let Some(req) = self.next_request() else { break };
                    if !sleep_until(planned, &self.driver.ctx.cancel) {
                        break;
                    }
                    self.spawn(req, planned);
                }
            }
        }
        (started, Instant::now(), self.sent)
    }

    fn spawn(&mut self, req: PreparedRequest, planned: Instant) {
        let driver = self.driver.clone();
        let guard = self.in_flight.clone();
        self.handle.spawn(async move {
            driver.send(req, planned).await;
            drop(guard);
        });
        self.sent += 1;
    }

    /// The next produced request; `None` when the scenario is done or the run cancelled.
    fn next_request(&self) -> Option<PreparedRequest> {
        loop {
            match self.feed.requests.recv_timeout(SLEEP_SLICE) {
                Ok(r) => return Some(r),
                Err(flume::RecvTimeoutError::Disconnected) => return None,
                Err(flume::RecvTimeoutError::Timeout) if self.driver.ctx.cancel.is_cancelled() => return None,
                Err(flume::RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// Gives the producer a head start: until the queue is full, the scenario has
    /// nothing more for this stage, or [`PREFILL_WAIT`] has passed.
    fn wait_for_prefill(&self) {
        let q = &self.feed.requests;
        let deadline = Instant::now() + PREFILL_WAIT;
        while !q.is_disconnected() && q.capacity().is_some_and(|c| q.len() < c) && Instant::now() < deadline {
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
