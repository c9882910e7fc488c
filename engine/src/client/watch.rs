//! What ends an exchange early: its timeout, or the run's cancellation. A [`Watch`] keeps
//! one timer and one cancellation waiter armed across the exchanges of one task, so a
//! closed-loop worker pays for neither per request.
//!
//! Per request, a fresh `tokio::time::timeout` inserts a timer into the runtime's wheel
//! and removes it again, and a fresh wait on the cancellation signal locks its waiter
//! list twice; together about 2 % of a closed loop's CPU. Here arming only stores the
//! request's deadline. The timer stays at an earlier request's deadline, which is never
//! later than this one's (every request of a run has the same timeout), so it fires
//! early, at most once per timeout per task, and is then moved on to the deadline in
//! force. The cancellation waiter is registered once with the task's waker and polled
//! again only when the task's waker changes; a cancel wakes the task, which then reads
//! the flag.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::sync::futures::Notified;
use tokio::time::Sleep;
use volley_core::Cancel;

/// Why a watched exchange was ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expired {
    Cancelled,
    TimedOut,
}

/// Far enough that no run reaches it, near enough that `Instant` arithmetic holds.
const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);

pin_project_lite::pin_project! {
    /// The deadline and the cancellation signal of one task's exchanges, one at a time.
    pub(crate) struct Watch<'a> {
        cancel: &'a Cancel,
        #[pin]
        waiter: Notified<'a>,
        // The waker the waiter was last polled with.
        waiter_waker: Option<Waker>,
        #[pin]
        timer: Sleep,
        // The deadline of the exchange now watched.
        deadline: Instant,
        // The timer was moved since it was last polled (it must be polled to register).
        timer_moved: bool,
        timer_waker: Option<Waker>,
    }
}

impl<'a> Watch<'a> {
    /// A watch on `cancel`, with no deadline yet. Needs the runtime (its timer).
    pub(crate) fn new(cancel: &'a Cancel) -> Self {
        let far = Instant::now() + FAR;
        Watch {
            cancel,
            waiter: cancel.waiter(),
            waiter_waker: None,
            timer: tokio::time::sleep_until(far.into()),
            deadline: far,
            timer_moved: true,
            timer_waker: None,
        }
    }

    /// Starts watching an exchange that may take `timeout` from now.
    pub(crate) fn arm(self: Pin<&mut Self>, timeout: Duration) {
        let mut this = self.project();
        let now = Instant::now();
        *this.deadline = now.checked_add(timeout).unwrap_or(now + FAR);
        // A timer already set for later would fire late: move it (not per request while
        // the timeout stays the same).
        if this.timer.deadline().into_std() > *this.deadline {
            this.timer.as_mut().reset((*this.deadline).into());
            *this.timer_moved = true;
        }
    }

    /// Polls for the end of the exchange armed last.
    pub(crate) fn poll_expired(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Expired> {
        let mut this = self.project();
        if !this.waiter_waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            // Registers the waiter (before the flag is read, so no cancel is missed).
            let _ = this.waiter.as_mut().poll(cx);
            *this.waiter_waker = Some(cx.waker().clone());
        }
        if this.cancel.is_cancelled() {
            return Poll::Ready(Expired::Cancelled);
        }
        loop {
            let same_waker = this.timer_waker.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
            if same_waker && !*this.timer_moved && !this.timer.is_elapsed() {
                return Poll::Pending;
            }
            *this.timer_moved = false;
            *this.timer_waker = Some(cx.waker().clone());
            if this.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // The timer fired: at this exchange's deadline, or early at an earlier one's.
            if Instant::now() >= *this.deadline || this.timer.deadline().into_std() >= *this.deadline {
                return Poll::Ready(Expired::TimedOut);
            }
            this.timer.as_mut().reset((*this.deadline).into());
            *this.timer_moved = true;
        }
    }

    /// Resolves when the exchange armed last is to end.
    pub(crate) async fn expired(mut self: Pin<&mut Self>) -> Expired {
        std::future::poll_fn(|cx| self.as_mut().poll_expired(cx)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
    }

    /// Polls `watch` once from a task of its own (a fresh waker).
    fn poll_once(watch: Pin<&mut Watch<'_>>) -> Poll<Expired> {
        let mut watch = watch;
        let waker = std::task::Waker::noop();
        watch.as_mut().poll_expired(&mut Context::from_waker(waker))
    }

    #[test]
    fn an_exchange_times_out_at_its_own_deadline_not_an_earlier_ones() {
        runtime().block_on(async {
            let cancel = Cancel::new();
            let mut watch = std::pin::pin!(Watch::new(&cancel));
            let timeout = Duration::from_millis(100);
            // The first exchange sets the timer; it completes at once.
            watch.as_mut().arm(timeout);
            assert_eq!(poll_once(watch.as_mut()), Poll::Pending);
            // The second is armed 60 ms later: the timer, still at the first deadline,
            // fires at 100 ms, which must not end it.
            tokio::time::sleep(Duration::from_millis(60)).await;
            let started = Instant::now();
            watch.as_mut().arm(timeout);
            let why = watch.as_mut().expired().await;
            assert_eq!(why, Expired::TimedOut);
            let waited = started.elapsed();
            assert!(waited >= timeout, "ended after {waited:?}, before its timeout");
            // Loose: a busy two-core machine may run the timer late, never early.
            assert!(waited < timeout * 20, "ended after {waited:?}");
        });
    }

    #[test]
    fn a_shorter_timeout_moves_the_timer_earlier() {
        runtime().block_on(async {
            let cancel = Cancel::new();
            let mut watch = std::pin::pin!(Watch::new(&cancel));
            watch.as_mut().arm(Duration::from_secs(60));
            assert_eq!(poll_once(watch.as_mut()), Poll::Pending);
            let started = Instant::now();
            watch.as_mut().arm(Duration::from_millis(10));
            assert_eq!(watch.as_mut().expired().await, Expired::TimedOut);
            // Not the 60 s the timer was set for (loose: the machine may be busy).
            let waited = started.elapsed();
            assert!(waited >= Duration::from_millis(10) && waited < Duration::from_secs(5), "{waited:?}");
        });
    }

    #[test]
    fn a_cancel_wakes_a_waiting_exchange() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let cancel = std::sync::Arc::new(Cancel::new());
        let c = cancel.clone();
        let why = rt.block_on(async move {
            let mut watch = std::pin::pin!(Watch::new(&c));
            watch.as_mut().arm(Duration::from_secs(60));
            let canceller = std::thread::spawn({
                let c = c.clone();
                move || c.cancel()
            });
            let why = watch.as_mut().expired().await;
            canceller.join().unwrap();
            why
        });
        assert_eq!(why, Expired::Cancelled);
        assert!(cancel.is_cancelled());
    }
}
