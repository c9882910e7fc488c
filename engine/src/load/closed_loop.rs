//! The closed-loop driver: N workers, each with one request in flight, sending its next
//! one as soon as the last completes. The planned instant of a request is the moment
//! its worker became free, so schedule lag measures how long the generator (the queue
//! of produced requests) kept a free worker waiting.
//!
//! A ramp (`concurrency-ramp`) moves N linearly over the stage: worker i (0-based) is
//! active while the ramp's concurrency is at least i + 1, so each worker has one
//! interval of the stage in which it sends, computed up front (no polling).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use volley_core::StageWindow;

use super::{Driver, StageBounds, StageRun, StageStart, wait_for_prefill};
use crate::Fault;
use crate::client::watch::Watch;
use crate::producer::StageFeed;

/// How many requests are in flight over the stage.
#[derive(Debug, Clone, Copy)]
pub(super) enum Workers {
    Fixed(u32),
    /// From `from` to `to` in flight, linearly over `over`.
    Ramp {
        from: u32,
        to: u32,
        over: Duration,
    },
}

impl Workers {
    fn count(self) -> u32 {
        match self {
            Workers::Fixed(n) => n,
            Workers::Ramp { from, to, .. } => from.max(to),
        }
    }

    /// When worker `i` sends, as offsets from the stage's start (`None`: to the end).
    fn active(self, i: u32) -> (Duration, Option<Duration>) {
        let Workers::Ramp { from, to, over } = self else { return (Duration::ZERO, None) };
        let need = f64::from(i + 1);
        let (a, b) = (f64::from(from), f64::from(to));
        // The instant the ramp's concurrency a + (b - a) t / over crosses `need`.
        let crossing = || over.mul_f64(((need - a) / (b - a)).clamp(0.0, 1.0));
        if to > from {
            (if need <= a { Duration::ZERO } else { crossing() }, None)
        } else if need <= b {
            (Duration::ZERO, None)
        } else {
            (Duration::ZERO, Some(crossing()))
        }
    }
}

pub(super) async fn run(driver: Driver, feed: StageFeed, workers: Workers, bounds: StageBounds, start: StageStart) -> StageRun {
    let ctx = driver.ctx.clone();
    wait_for_prefill(&driver, &feed).await;
    let started = Instant::now();
    driver.announce(&start, started);
    // Every worker stops by then: the stage's own end, or the policy's longest stage.
    let end = bounds.hard_end(started);
    let budget = Arc::new(AtomicU64::new(bounds.max_requests.unwrap_or(u64::MAX)));
    let sent = Arc::new(AtomicU64::new(0));
    let feed = Arc::new(feed);
    // Within the policy's max_in_flight the workers never wait for a slot: they skip
    // the semaphore (a stage's workers are the only senders while it runs).
    let gated = workers.count() as usize > ctx.in_flight.available_permits();
    // Workers are spawned when they start sending (a ramp's later ones later), never
    // all ahead for a guest-given count.
    let mut schedule: Vec<(Duration, Instant)> = (0..workers.count())
        .map(|i| {
            let (from, until) = workers.active(i);
            (from, until.map_or(end, |u| (started + u).min(end)))
        })
        .filter(|(from, until)| started + *from < *until)
        .collect();
    schedule.sort_by_key(|(from, _)| *from);
    let mut tasks = Vec::with_capacity(schedule.len());
    for (i, (from, until)) in schedule.into_iter().enumerate() {
        if !from.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep_until((started + from).into()) => {}
                _ = ctx.cancel.cancelled() => break,
            }
        }
        let (driver, feed, budget, sent) = (driver.clone(), feed.clone(), budget.clone(), sent.clone());
        // Workers are dealt to the lanes in turn, each with its own connections.
        let lanes = driver.lanes.clone();
        tasks.push(lanes.spawn(i, async move { worker(driver, feed, until, budget, sent, gated).await }));
    }
    let mut sending_ended = started;
    let mut stopped = None;
    for w in tasks {
        match w.await {
            Ok(Some(t)) => sending_ended = sending_ended.max(t),
            Ok(None) => {}
            Err(e) => stopped = Some(Fault::Internal(format!("a closed-loop worker failed: {e}"))),
        }
    }
    drop(feed);
    let now = Instant::now();
    if stopped.is_none() && !ctx.cancel.is_cancelled() {
        stopped = bounds.overran(&start.stage.name, now >= end).map(Fault::Refused);
    }
    StageRun { window: StageWindow { started, sending_ended, finished: now, sent: sent.load(Ordering::Relaxed) }, stopped }
}

/// One worker: takes the next request as soon as its last one completed, until `until`,
/// the stage's request budget, or the queue's end; the instant of its last send.
async fn worker(
    driver: Driver,
    feed: Arc<StageFeed>,
    until: Instant,
    budget: Arc<AtomicU64>,
    sent: Arc<AtomicU64>,
    gated: bool,
) -> Option<Instant> {
    let ctx = driver.ctx.clone();
    let deadline = tokio::time::sleep_until(until.into());
    tokio::pin!(deadline);
    // One timer and cancellation waiter for all of this worker's exchanges.
    let mut watch = std::pin::pin!(Watch::new(&ctx.cancel));
    let mut last_send = None;
    loop {
        let planned = Instant::now();
        if ctx.cancel.is_cancelled() || planned >= until {
            break;
        }
        if budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1)).is_err() {
            break;
        }
        // Biased: a queued request is taken without polling (registering) the others.
        let req = tokio::select! {
            biased;
            r = feed.requests.recv_async() => match r { Ok(r) => r, Err(_) => break },
            _ = &mut deadline => break,
            _ = ctx.cancel.cancelled() => break,
        };
        feed.took(&req);
        // The policy's max_in_flight, below the concurrency: the wait is schedule lag.
        let permit = if gated {
            let permit = tokio::select! {
                p = ctx.in_flight.clone().acquire_owned() => p.ok(),
                _ = &mut deadline => None,
                _ = ctx.cancel.cancelled() => None,
            };
            if permit.is_none() {
                feed.unsent(&req);
                break;
            }
            permit
        } else {
            None
        };
        sent.fetch_add(1, Ordering::Relaxed);
        // The send's own instant (the planned one when it failed to connect); a worker's
        // sends come one after another, so the latest is the last.
        let at = driver.send(req, planned, watch.as_mut()).await;
        last_send = Some(at.unwrap_or(planned));
        drop(permit);
    }
    last_send
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ramp_up_starts_workers_as_concurrency_crosses_them() {
        let w = Workers::Ramp { from: 2, to: 10, over: Duration::from_secs(8) };
        assert_eq!(w.count(), 10);
        assert_eq!(w.active(0), (Duration::ZERO, None));
        assert_eq!(w.active(1), (Duration::ZERO, None));
        // Worker 2 (the third) starts when 2 + t = 3, at t = 1 s; the last at 8 s.
        assert_eq!(w.active(2), (Duration::from_secs(1), None));
        assert_eq!(w.active(9), (Duration::from_secs(8), None));
    }

    #[test]
    fn a_ramp_down_stops_workers_as_concurrency_falls_below_them() {
        let w = Workers::Ramp { from: 4, to: 0, over: Duration::from_secs(4) };
        // Concurrency 4 - t: worker 3 needs 4, so stops at once; worker 0 needs 1, at 3 s.
        assert_eq!(w.active(3), (Duration::ZERO, Some(Duration::ZERO)));
        assert_eq!(w.active(0), (Duration::ZERO, Some(Duration::from_secs(3))));
        assert_eq!(Workers::Fixed(3).active(2), (Duration::ZERO, None));
    }
}
