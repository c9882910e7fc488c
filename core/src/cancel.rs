//! A run-wide cancellation signal (Ctrl-C, SIGTERM, a scenario fault), cheap to check
//! from any thread and awaitable from tasks.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Waiter lists, one per group of threads: every in-flight request waits on the signal,
/// and a single list would be one lock and one cache line that all send lanes share.
const SLOTS: usize = 8;

#[derive(Debug, Default)]
pub struct Cancel {
    flag: AtomicBool,
    notify: [Notify; SLOTS],
}

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
        for n in &self.notify {
            n.notify_waiters();
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// A waiter on this thread's list, for a future that keeps one across many waits.
    /// It sees only cancels after it is enabled (polled once), so check
    /// [`Cancel::is_cancelled`] after enabling it, as [`Cancel::cancelled`] does.
    pub fn waiter(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify[thread_slot()].notified()
    }

    /// Resolves once [`Cancel::cancel`] has been called (at once if it already was).
    pub async fn cancelled(&self) {
        let notified = self.waiter();
        let mut notified = std::pin::pin!(notified);
        // Register before checking the flag, so a cancel in between is not missed.
        notified.as_mut().enable();
        if self.is_cancelled() {
            return;
        }
        notified.await;
    }
}

/// This thread's waiter list: threads are numbered as they first wait.
fn thread_slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SLOTS;
    }
    SLOT.with(|s| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiters_on_every_thread_are_woken() {
        let cancel = std::sync::Arc::new(Cancel::new());
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let waiters: Vec<_> = (0..3 * SLOTS)
            .map(|_| {
                let c = cancel.clone();
                std::thread::spawn(move || tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(c.cancelled()))
            })
            .collect();
        let c = cancel.clone();
        let on_runtime = rt.spawn(async move { c.cancelled().await });
        // Waiting threads may or may not have registered yet: either way they return.
        cancel.cancel();
        for w in waiters {
            w.join().unwrap();
        }
        rt.block_on(on_runtime).unwrap();
        assert!(cancel.is_cancelled());
    }
}
