//! The follow-up schedulers of a stage whose scenario reacts to outcomes: they send each
//! follow-up (a session's next turn, a sub-agent) at its planned instant — its outcome's
//! completion plus the delay the scenario asked for (tool time, think time) — on a send
//! lane's microsecond timer, as the open loop sends arrivals, so the host keeps the time
//! and a follow-up's schedule lag is measured against that instant.
//!
//! One scheduler runs on each lane, all taking from the board's one queue: a follow-up
//! is sent, and its exchange runs, on the lane whose scheduler took it, so no lane wakes
//! another to send and thousands of sessions' turns are spread over all of them (on one
//! lane, its thread was the bottleneck: follow-ups queued behind each other's I/O).
//!
//! They run beside the stage's load and end when the load has sent its last request
//! and the stage's sessions have nothing more in play (see [`SessionBoard`]); the run's
//! cancellation or the policy's longest stage end them sooner, and the follow-ups they
//! then hold are never sent.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tokio::sync::Notify;

use super::Driver;
use super::timer::PreciseTimer;
use crate::sessions::{FollowUp, SessionBoard, wait_until};

/// What the scheduler sent: how many follow-ups, the last one's instant.
#[derive(Default)]
pub(super) struct Sent {
    pub count: u64,
    pub last: Option<Instant>,
}

/// A stage's running follow-up schedulers, one per lane.
pub(super) struct FollowUps {
    tasks: Vec<tokio::task::JoinHandle<Sent>>,
    load_done: Arc<LoadDone>,
}

/// The stage's load has sent its last request.
#[derive(Default)]
struct LoadDone {
    set: AtomicBool,
    notify: Notify,
}

impl LoadDone {
    fn set(&self) {
        self.set.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    fn is_set(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }

    async fn wait(&self) {
        wait_until(&self.notify, || self.is_set()).await;
    }
}

impl FollowUps {
    /// Starts the schedulers of `board`'s stage, one on each lane.
    pub fn start(driver: &Driver, board: Arc<SessionBoard>) -> Self {
        let load_done = Arc::new(LoadDone::default());
        let tasks = (0..driver.lanes.count().max(1))
            .map(|lane| driver.lanes.spawn(lane, run(driver.clone(), lane, board.clone(), load_done.clone())))
            .collect();
        FollowUps { tasks, load_done }
    }

    /// The stage's load is done: returns once its sessions are over, with what was sent.
    pub async fn finish(self) -> Sent {
        self.load_done.set();
        let mut all = Sent::default();
        for task in self.tasks {
            let sent = task.await.unwrap_or_default();
            all.count += sent.count;
            all.last = all.last.max(sent.last);
        }
        all
    }
}

/// A follow-up in the heap, earliest (then lowest sequence number) first.
struct Due(FollowUp);

impl Due {
    fn key(&self) -> (Instant, u64) {
        (self.0.planned, self.0.request.seq)
    }
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        // BinaryHeap is a max-heap: the earliest is the greatest.
        other.key().cmp(&self.key())
    }
}

/// The scheduler of lane `lane`.
async fn run(driver: Driver, lane: usize, board: Arc<SessionBoard>, load_done: Arc<LoadDone>) -> Sent {
    let hard_end = Instant::now() + driver.max_stage;
    let mut due = BinaryHeap::new();
    let mut timer = PreciseTimer::new();
    let mut sent = Sent::default();
    let cancel = driver.ctx.cancel.clone();
    loop {
        while let Ok(f) = board.follow_ups().try_recv() {
            due.push(Due(f));
        }
        if due.peek().is_some_and(|d| d.0.planned <= Instant::now()) {
            let Some(Due(f)) = due.pop() else { continue };
            if !send(&driver, lane, f, &mut sent, hard_end).await {
                board.dropped(1);
                break;
            }
            continue;
        }
        if due.is_empty() && load_done.is_set() && board.is_settled() {
            break;
        }
        let next = due.peek().map_or(hard_end, |d| d.0.planned);
        let waiting_for_end = due.is_empty() && load_done.is_set();
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep_until(hard_end.into()) => break,
            f = board.follow_ups().recv_async() => {
                if let Ok(f) = f {
                    due.push(Due(f));
                }
            }
            _ = timer.sleep_until(next), if !due.is_empty() => {}
            _ = board.settled(), if waiting_for_end => {}
            _ = load_done.wait(), if !load_done.is_set() => {}
        }
    }
    // What is left will never be sent: its sessions are cut.
    let left = due.len() + board.follow_ups().drain().count();
    board.dropped(left);
    sent
}

/// Sends `f` from `lane` (the scheduler's own: queued there without waking another
/// thread) once an in-flight slot is free (the policy's `max_in_flight`; the wait shows
/// as schedule lag); `false` if the run was cancelled or the hard end came first.
async fn send(driver: &Driver, lane: usize, f: FollowUp, sent: &mut Sent, hard_end: Instant) -> bool {
    let slots = driver.ctx.in_flight.clone();
    let permit = match slots.clone().try_acquire_owned() {
        Ok(p) => p,
        Err(_) => {
            let got = tokio::select! {
                p = slots.acquire_owned() => p.ok(),
                _ = driver.ctx.cancel.cancelled() => None,
                _ = tokio::time::sleep_until(hard_end.into()) => None,
            };
            let Some(p) = got else { return false };
            p
        }
    };
    sent.count += 1;
    sent.last = Some(Instant::now());
    driver.spawn_send(lane, f.request, f.planned, permit);
    true
}
