//! The run's clock: the instant every time is measured from (and where it sits on the
//! wall clock), a `--start-at` wait, the policy's `max_run_s`, and the bound on each
//! wait of the shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use volley_core::{Cancel, Policy, Refusal};
use volley_report::StartReport;

/// Longest wait for each part of the shutdown once the run is over: the collector's
/// last records, the scraper's last sample, the workload's thread, the outputs.
pub(super) const SHUTDOWN_STEP: Duration = Duration::from_millis(1500);
/// Longest time each output gets to finish with the final report.
pub(super) const FINISH_OUTPUTS: Duration = Duration::from_secs(6);

/// When the run started, on the monotonic clock and on the wall clock.
pub(super) struct RunClock {
    /// Every time of the run is measured from this instant: the launched server's
    /// process start, else the first stage's clock.
    pub(super) epoch: Instant,
    /// The epoch on the wall clock, to the microsecond: stage windows are placed by it.
    pub(super) epoch_unix_ms: f64,
    /// When the run started, in wall-clock milliseconds (the report's `started_unix_ms`).
    pub(super) started_unix_ms: u64,
    /// With `--start-at`: the instant asked for and how late it started.
    pub(super) start: Option<StartReport>,
}

impl RunClock {
    /// The clock starts now, or at the launched server's process start; `start_at` is
    /// the instant the operator asked for, if any.
    pub(super) fn start(server_started: Option<Instant>, start_at: Option<SystemTime>) -> RunClock {
        let epoch = server_started.unwrap_or_else(Instant::now);
        let started_unix_ms = unix_ms();
        let epoch_unix_ms =
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1000.0) - epoch.elapsed().as_secs_f64() * 1000.0;
        let start = start_at.map(|at| {
            let requested_unix_ms = at.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1000.0);
            let actual_unix_ms = epoch_unix_ms;
            let round = |x: f64| (x * 1000.0).round() / 1000.0;
            StartReport {
                requested_unix_ms: round(requested_unix_ms),
                actual_unix_ms: round(actual_unix_ms),
                skew_ms: round(actual_unix_ms - requested_unix_ms),
            }
        });
        RunClock { epoch, epoch_unix_ms, started_unix_ms, start }
    }

    /// Milliseconds from the epoch to `t`.
    pub(super) fn ms_since_epoch(&self, t: Instant) -> f64 {
        t.saturating_duration_since(self.epoch).as_secs_f64() * 1000.0
    }
}

/// Now on the wall clock, in milliseconds since the Unix epoch.
pub(super) fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The policy's `max_run_s`: a timer that stops the run when it is reached.
pub(super) struct RunLimit {
    task: tokio::task::JoinHandle<()>,
    reached: Arc<AtomicBool>,
    limit: Duration,
}

impl RunLimit {
    pub(super) fn start(policy: &Policy, cancel: Arc<Cancel>) -> RunLimit {
        let limit = policy.max_run();
        let reached = Arc::new(AtomicBool::new(false));
        let flag = reached.clone();
        let task = tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(limit) => {
                    flag.store(true, Ordering::Relaxed);
                    cancel.cancel();
                }
                _ = cancel.cancelled() => {}
            }
        });
        RunLimit { task, reached, limit }
    }

    /// The refusal, if the run was stopped at the limit.
    pub(super) fn reached(self) -> Option<Refusal> {
        self.task.abort();
        self.reached.load(Ordering::Relaxed).then(|| Refusal {
            limit: "max_run_s",
            allowed: self.limit.as_secs_f64().to_string(),
            what: format!("the run was still going after {} s", self.limit.as_secs_f64()),
        })
    }
}

/// Waits until the wall clock reads `at` (at once if it has passed), or the run is
/// cancelled, on the OS timer (tokio's fires up to 2 ms late). On a multi-threaded runtime this
/// thread waits in place, so no second wake-up (a blocking thread handing back to a
/// parked worker) adds its latency; shards started together start within a millisecond
/// or two.
pub(super) async fn wait_until(at: SystemTime, cancel: &Arc<Cancel>) {
    let Ok(left) = at.duration_since(SystemTime::now()) else { return };
    let deadline = Instant::now() + left;
    let cancel = cancel.clone();
    let wait = move || {
        while !cancel.is_cancelled() {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            // Slices, so an interrupt is noticed promptly. No spinning at the end: on a
            // machine with more shards than cores, spinners delay each other by whole
            // scheduler slices, where a sleeper is woken within tens of µs.
            std::thread::sleep((deadline - now).min(Duration::from_millis(50)));
        }
    };
    if tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
        tokio::task::block_in_place(wait);
    } else {
        let _ = tokio::task::spawn_blocking(wait).await;
    }
}
