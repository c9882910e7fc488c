//! The closed-loop driver: N workers, each with one request in flight, sending its next
//! one as soon as the last completes. The planned instant of a request is the moment
//! its worker became free, so schedule lag measures how long the generator (the queue
//! of produced requests) kept a free worker waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{StageBounds, StageWindow};
use crate::client::exchange::{self, SendContext};
use crate::scenario::producer::StageFeed;

const PREFILL_WAIT: Duration = Duration::from_secs(5);

pub async fn run(ctx: Arc<SendContext>, feed: StageFeed, n: u32, bounds: StageBounds) -> StageWindow {
    let q = &feed.requests;
    let prefill_deadline = Instant::now() + PREFILL_WAIT;
    while !q.is_disconnected()
        && q.capacity().is_some_and(|c| q.len() < c)
        && Instant::now() < prefill_deadline
        && !ctx.cancel.is_cancelled()
    {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    let started = Instant::now();
    let end = bounds.duration.map(|d| started + d);
    let budget = Arc::new(AtomicU64::new(bounds.max_requests.unwrap_or(u64::MAX)));
    let sent = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..n)
        .map(|_| {
            let (ctx, requests, budget, sent) = (ctx.clone(), feed.requests.clone(), budget.clone(), sent.clone());
            tokio::spawn(async move {
                let mut last_send = None;
                loop {
                    if ctx.cancel.is_cancelled() || end.is_some_and(|e| Instant::now() >= e) {
                        break;
                    }
                    if budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1)).is_err() {
                        break;
                    }
                    let planned = Instant::now();
                    let deadline = async {
                        match end {
                            Some(e) => tokio::time::sleep_until(e.into()).await,
                            None => std::future::pending().await,
                        }
                    };
                    let req = tokio::select! {
                        r = requests.recv_async() => match r { Ok(r) => r, Err(_) => break },
                        _ = deadline => break,
                        _ = ctx.cancel.cancelled() => break,
                    };
                    sent.fetch_add(1, Ordering::Relaxed);
                    last_send = Some(Instant::now());
                    exchange::send(&ctx, req, planned).await;
                }
                last_send
            })
        })
        .collect();
    let mut sending_ended = started;
    for w in workers {
        if let Ok(Some(t)) = w.await {
            sending_ended = sending_ended.max(t);
        }
    }
    drop(feed);
    StageWindow { started, sending_ended, finished: Instant::now(), sent: sent.load(Ordering::Relaxed) }
}
