//! # volley-engine
//!
//! What runs a benchmark: the [`Run`] builder and its stage loop ([`run`]), the
//! open- and closed-loop drivers that send at planned instants (`load`), the HTTP
//! client and protocols (`client`), the producer that calls the workload ahead of
//! send time (`producer`), the collector that folds records into statistics and hands
//! them to sinks (`collector`), probes of the server ([`probe`]), servers it launches
//! ([`launch`], [`coldstart`]), and [`preview`] (`volley check`).
//!
//! A request's way is one-directional: workload → producer → queue → driver →
//! exchange → record → collector → sinks.

mod client;
pub mod coldstart;
mod collector;
mod events;
pub mod launch;
mod load;
pub mod preview;
mod probe;
mod producer;
pub mod run;

pub use hyper::header::{HeaderName, HeaderValue};
pub use run::{Launch, LaunchAt, ModelRef, Run, RunError, RunOutcome, ServerMetrics, default_run_id};

/// Peak resident set size of this process, in bytes (0 where unknown).
pub fn peak_rss_bytes() -> u64 {
    // SAFETY: getrusage only writes into the struct we pass.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) == 0 {
            // Linux reports kilobytes.
            return (usage.ru_maxrss as u64) * 1024;
        }
    }
    0
}
