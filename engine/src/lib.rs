//! # volley-engine
//!
//! What runs a benchmark: the [`Run`] builder and its stage loop ([`run`]), the
//! open- and closed-loop drivers that send at planned instants (`load`), the HTTP
//! client and protocols (`client`), the producer that calls the workload ahead of
//! send time (`producer`), the collector that folds records into statistics and hands
//! them to sinks (`collector`), the owner of the sinks' lifecycle (`sinks`), probes of
//! the server (`probe`), servers it launches ([`launch`], [`coldstart`]), and
//! [`preview`] (`volley check`).
//!
//! A request's way is one-directional: workload → producer → queue → driver →
//! exchange → record → collector → sinks.

mod client;
pub mod coldstart;
mod collector;
mod events;
/// The client's parsers for the fuzz targets (fuzz/): only with the `fuzzing` feature.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod hooks;
mod lanes;
pub mod launch;
mod load;
pub mod preview;
mod probe;
mod producer;
pub mod run;
mod sessions;
mod sinks;

pub use hyper::header::{HeaderName, HeaderValue};
pub use lanes::lower_priority;
pub use run::{Launch, LaunchAt, ModelRef, Run, RunError, RunOutcome, ServerMetrics, default_run_id};
pub use volley_core::Policy;
use volley_core::{Refusal, WorkloadError};

/// Why a run stopped before its plan was done (its report is still returned).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Fault {
    /// The workload failed: a trap, a limit of its sandbox, an invalid plan or request.
    #[error(transparent)]
    Workload(WorkloadError),
    /// The operator's policy refused what the run asked for.
    #[error(transparent)]
    Refused(Refusal),
    /// Something of Volley's own failed (a thread that panicked, say).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Fault {
    pub(crate) fn refused(limit: &'static str, allowed: impl std::fmt::Display, what: String) -> Fault {
        Fault::Refused(Refusal { limit, allowed: allowed.to_string(), what })
    }
}

impl From<WorkloadError> for Fault {
    fn from(e: WorkloadError) -> Self {
        match e {
            WorkloadError::Refused(r) => Fault::Refused(r),
            other => Fault::Workload(other),
        }
    }
}

/// Peak resident set size of this process, in bytes (0 where unknown).
pub fn peak_rss_bytes() -> u64 {
    // Linux reports kilobytes.
    own_usage().map_or(0, |u| (u.ru_maxrss as u64) * 1024)
}

/// CPU seconds (user + system) this process has used so far (0 where unknown).
pub(crate) fn process_cpu_s() -> f64 {
    let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    own_usage().map_or(0.0, |u| s(u.ru_utime) + s(u.ru_stime))
}

/// This process's resource usage.
fn own_usage() -> Option<libc::rusage> {
    // SAFETY: getrusage only writes into the struct we pass.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        (libc::getrusage(libc::RUSAGE_SELF, &mut usage) == 0).then_some(usage)
    }
}
