//! The clock guest calls are timed by: the epoch thread's view of time, read for the
//! cost of an atomic load (two clock reads per call were a measurable part of a
//! 2.5 µs guest call).
//!
//! The epoch thread ticks only while guests are called. Each tick is a thread wake-up,
//! which on a VM costs tens of microseconds of CPU: ticking every 10 ms through an
//! open-loop run whose producer calls its guest in a short burst every ~100 ms was
//! 2.9 µs of CPU per request at 1,000 requests/s. So after a tick with no call in it
//! the thread parks, and the next call wakes it (and brings the clock up to date
//! first, so the call is not charged the time the clock stood still).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// Time as the epoch thread last saw it: what guest calls are timed by, for the cost of
/// an atomic load instead of a clock read on every call. It steps once a tick, so a call
/// is charged the time of the ticks it spans, which over many calls is their time.
#[derive(Clone)]
pub(crate) struct TickClock(Arc<State>);

struct State {
    origin: Instant,
    ns: AtomicU64,
    /// Guest calls under way, and begun in all.
    active: AtomicUsize,
    calls: AtomicU64,
    /// The epoch thread is parked (or about to be): the clock stands still.
    parked: AtomicBool,
    ticker: OnceLock<Thread>,
}

impl TickClock {
    pub fn new() -> Self {
        TickClock(Arc::new(State {
            origin: Instant::now(),
            ns: AtomicU64::new(0),
            active: AtomicUsize::new(0),
            calls: AtomicU64::new(0),
            parked: AtomicBool::new(false),
            ticker: OnceLock::new(),
        }))
    }

    /// Time since the engine started, as of the last tick.
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.0.ns.load(Ordering::Acquire))
    }

    /// Called by the epoch thread on every tick, before it advances the epoch.
    pub fn tick(&self) {
        self.0.ns.store(self.0.origin.elapsed().as_nanos() as u64, Ordering::Release);
    }

    /// The thread that ticks, so a call can wake it.
    pub fn set_ticker(&self, thread: Thread) {
        let _ = self.0.ticker.set(thread);
    }

    /// A guest call begins: the epoch thread must tick until it ends.
    pub fn enter(&self) {
        let s = &self.0;
        s.calls.fetch_add(1, Ordering::SeqCst);
        s.active.fetch_add(1, Ordering::SeqCst);
        if s.parked.load(Ordering::SeqCst) {
            self.tick();
            self.wake();
        }
    }

    /// The call begun by [`TickClock::enter`] ended.
    pub fn leave(&self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }

    /// Wakes the epoch thread, parked or not (it then looks again).
    pub fn wake(&self) {
        let s = &self.0;
        s.parked.store(false, Ordering::SeqCst);
        if let Some(t) = s.ticker.get() {
            t.unpark();
        }
    }

    /// The epoch thread's loop until `stop`: every `every`, the clock's tick and then
    /// `on_tick` (the time first: the deadline callbacks the epoch wakes read it); after
    /// a tick in which no guest call ran, parked until one begins.
    pub fn run(&self, stop: &AtomicBool, every: Duration, mut on_tick: impl FnMut()) {
        let mut seen = 0;
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(every);
            self.tick();
            on_tick();
            seen = self.idle(seen, stop);
        }
    }

    /// After a tick: parks while no call is under way or has begun since `seen` calls,
    /// until a call (or `stop`) wakes it. Returns the calls begun.
    fn idle(&self, seen: u64, stop: &AtomicBool) -> u64 {
        let s = &self.0;
        let calls = s.calls.load(Ordering::SeqCst);
        if calls != seen || s.active.load(Ordering::SeqCst) > 0 {
            return calls;
        }
        s.parked.store(true, Ordering::SeqCst);
        // A call that began after the look above may have missed `parked`: look again.
        if s.calls.load(Ordering::SeqCst) == calls {
            while s.parked.load(Ordering::SeqCst) && !stop.load(Ordering::Relaxed) {
                std::thread::park();
            }
        }
        s.parked.store(false, Ordering::SeqCst);
        s.calls.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    const TICK: Duration = Duration::from_millis(2);

    /// The engine's ticker loop; sends the clock's reading on every tick.
    fn ticker(clock: &TickClock, stop: &Arc<AtomicBool>) -> (std::thread::JoinHandle<()>, mpsc::Receiver<Duration>) {
        let (tx, ticks) = mpsc::channel();
        let (c, stop) = (clock.clone(), stop.clone());
        let t = std::thread::spawn(move || {
            c.run(&stop, TICK, || {
                let _ = tx.send(c.now());
            })
        });
        clock.set_ticker(t.thread().clone());
        (t, ticks)
    }

    #[test]
    fn the_clock_ticks_through_a_call_and_parks_after_it() {
        let clock = TickClock::new();
        let stop = Arc::new(AtomicBool::new(false));
        let (t, ticks) = ticker(&clock, &stop);
        // Idle: one tick, then the thread parks and no more come.
        ticks.recv().unwrap();
        assert!(ticks.recv_timeout(Duration::from_millis(200)).is_err(), "ticked with no call under way");
        // A call under way: the clock is brought up to date at once and then ticks.
        std::thread::sleep(Duration::from_millis(50));
        let before = clock.now();
        clock.enter();
        let entered = clock.now();
        assert!(entered >= before + Duration::from_millis(50), "a call saw the time the clock stood still: {before:?} -> {entered:?}");
        for _ in 0..5 {
            ticks.recv_timeout(Duration::from_secs(10)).expect("no tick during a call");
        }
        assert!(clock.now() > entered);
        clock.leave();
        // At most a tick or two after the call, then silence again.
        let mut after = 0;
        while ticks.recv_timeout(Duration::from_millis(200)).is_ok() {
            after += 1;
            assert!(after <= 3, "still ticking after the call ended");
        }
        stop.store(true, Ordering::Relaxed);
        clock.wake();
        t.join().unwrap();
    }
}
