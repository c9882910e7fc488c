//! The guest's clocks: virtual, so a scenario cannot read the host's time (runs stay
//! reproducible from the seed, and nothing leaks about the host) and cannot wait.
//!
//! Both WASI clocks read one virtual time: it starts at an instant derived from the
//! seed, advances 1 µs per reading (so loops that wait for time to pass end), and jumps
//! by a sleep's duration when the guest sleeps. A sleep — a `monotonic-clock` pollable —
//! is ready at once: no guest call ever blocks in the host, so the per-call deadline
//! and cancellation always hold.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use volley_core::rng::{Rng, Stream};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::clocks::{monotonic_clock, wall_clock};
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};

/// How much a reading advances the virtual time.
const TICK_NS: u64 = 1_000;
/// The virtual wall clock starts within a year after 2024-01-01T00:00:00Z.
const WALL_BASE_S: u64 = 1_704_067_200;

/// The virtual time, in nanoseconds, shared by both clocks of one guest.
#[derive(Clone)]
pub struct VirtualTime {
    ns: Arc<AtomicU64>,
    wall_offset_ns: u64,
}

impl VirtualTime {
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed, Stream::Wasi);
        let start = rng.next_u64() % 1_000_000_000_000; // < 1000 s of monotonic time
        let wall_offset_ns = (WALL_BASE_S + rng.next_u64() % (365 * 86_400)) * 1_000_000_000;
        VirtualTime { ns: Arc::new(AtomicU64::new(start)), wall_offset_ns }
    }

    /// The time now (and a tick later for the next reading).
    fn now(&self) -> u64 {
        self.ns.fetch_add(TICK_NS, Ordering::Relaxed)
    }

    fn advance(&self, ns: u64) {
        let _ = self.ns.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| Some(t.saturating_add(ns)));
    }
}

/// A sleep that is over as soon as it is asked about.
struct Elapsed;

#[wasmtime_wasi::async_trait]
impl Pollable for Elapsed {
    async fn ready(&mut self) {}
}

/// What the clock host functions borrow from the store.
pub(crate) struct Clocks<'a> {
    pub time: &'a VirtualTime,
    pub table: &'a mut ResourceTable,
}

struct VirtualClocks;

impl HasData for VirtualClocks {
    type Data<'a> = Clocks<'a>;
}

impl Clocks<'_> {
    fn sleep(&mut self, ns: u64) -> wasmtime::Result<Resource<DynPollable>> {
        self.time.advance(ns);
        let pollable = self.table.push(Elapsed)?;
        subscribe(self.table, pollable)
    }
}

impl monotonic_clock::Host for Clocks<'_> {
    fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(self.time.now())
    }

    fn resolution(&mut self) -> wasmtime::Result<u64> {
        Ok(TICK_NS)
    }

    fn subscribe_instant(&mut self, when: u64) -> wasmtime::Result<Resource<DynPollable>> {
        let now = self.time.now();
        self.sleep(when.saturating_sub(now))
    }

    fn subscribe_duration(&mut self, duration: u64) -> wasmtime::Result<Resource<DynPollable>> {
        self.sleep(duration)
    }
}

impl wall_clock::Host for Clocks<'_> {
    fn now(&mut self) -> wasmtime::Result<wall_clock::Datetime> {
        let t = Duration::from_nanos(self.time.now().saturating_add(self.time.wall_offset_ns));
        Ok(wall_clock::Datetime { seconds: t.as_secs(), nanoseconds: t.subsec_nanos() })
    }

    fn resolution(&mut self) -> wasmtime::Result<wall_clock::Datetime> {
        Ok(wall_clock::Datetime { seconds: 0, nanoseconds: TICK_NS as u32 })
    }
}

/// Links the virtual clocks as WASI's `monotonic-clock` and `wall-clock`, reading
/// them from the store through `clocks_of`.
pub(crate) fn link<T: 'static>(linker: &mut Linker<T>, clocks_of: fn(&mut T) -> Clocks<'_>) -> wasmtime::Result<()> {
    monotonic_clock::add_to_linker::<T, VirtualClocks>(linker, clocks_of)?;
    wall_clock::add_to_linker::<T, VirtualClocks>(linker, clocks_of)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_time_is_seeded_monotonic_and_jumps_by_sleeps() {
        let (a, b) = (VirtualTime::new(7), VirtualTime::new(7));
        assert_eq!(a.now(), b.now());
        let t0 = a.now();
        a.advance(3_600_000_000_000);
        assert!(a.now() >= t0 + 3_600_000_000_000);
        assert_ne!(VirtualTime::new(8).now(), VirtualTime::new(7).now());
    }
}
