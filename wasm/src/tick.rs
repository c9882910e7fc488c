//! The clock guest calls are timed by: the epoch thread's view of time, read for the
//! cost of an atomic load (two clock reads per call were a measurable part of a
//! 2.5 µs guest call).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Time as the epoch thread last saw it: what guest calls are timed by, for the cost of
/// an atomic load instead of a clock read on every call. It steps once a tick, so a call
/// is charged the time of the ticks it spans, which over many calls is their time.
#[derive(Clone)]
pub(crate) struct TickClock {
    origin: Instant,
    ns: Arc<AtomicU64>,
}

impl TickClock {
    pub fn new() -> Self {
        TickClock { origin: Instant::now(), ns: Arc::new(AtomicU64::new(0)) }
    }

    /// Time since the engine started, as of the last tick.
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.ns.load(Ordering::Acquire))
    }

    /// Called by the epoch thread on every tick, before it advances the epoch.
    pub fn tick(&self) {
        self.ns.store(self.origin.elapsed().as_nanos() as u64, Ordering::Release);
    }
}

