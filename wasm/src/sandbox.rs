//! The sandbox a scenario runs in.
//!
//! A scenario gets no WASI capability: no preopened directory, no environment or
//! arguments, no sockets, stdin closed, and virtual clocks that reveal nothing of the
//! host's time and never wait (`crate::clock`). Its stdout is discarded and the last
//! 16 KiB of its stderr kept (`crate::stderr`), to show the operator a guest panic
//! message. WASI's random sources are seeded from `--seed` so a guest's `HashMap` order
//! (and anything else drawing on them) is reproducible. Memory, tables and instances
//! are bounded by [`GuestLimiter`]; the time of each call and of all calls together by
//! [`CallGuard`], which the engine's epoch ticker wakes every 10 ms while a guest runs,
//! and which also ends a call at once when the run is cancelled.

use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use volley_core::rng::{Rng, Stream};
use volley_core::{Cancel, Policy};
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::caps::Capabilities;
use crate::clock::VirtualTime;
use crate::stderr::StderrRing;
use crate::tick::TickClock;

/// Bounds on a scenario's resources.
#[derive(Debug, Clone, Copy)]
pub struct SandboxLimits {
    /// Wall time of one `next-requests` or `on-outcome` call.
    pub call_timeout: Duration,
    /// Wall time of instantiation, `describe`, `configure` and `next-stage`.
    pub setup_timeout: Duration,
    /// Wall time of all of a run's guest calls together.
    pub total_time: Duration,
    /// Linear memory, in bytes, over all of the guest's memories.
    pub memory_bytes: usize,
    /// Bytes of text one tokenizer call may be given.
    pub tokenizer_input_bytes: usize,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits::from_policy(&Policy::default())
    }
}

impl SandboxLimits {
    /// The limits the operator's policy sets.
    pub fn from_policy(p: &Policy) -> Self {
        SandboxLimits {
            call_timeout: p.guest_call(),
            setup_timeout: p.guest_setup(),
            total_time: p.guest_total(),
            memory_bytes: (p.guest_memory_mib as usize) << 20,
            tokenizer_input_bytes: p.max_tokenizer_input_bytes.min(usize::MAX as u64) as usize,
        }
    }
}

/// Everything a scenario's `Store` holds.
pub struct StoreState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limiter: GuestLimiter,
    pub caps: Capabilities,
    pub stderr: StderrRing,
    pub time: VirtualTime,
    pub guard: CallGuard,
}

/// Why the guard stopped a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The call took longer than its budget.
    CallTime(Duration),
    /// All calls together took longer than the run's guest time.
    TotalTime(Duration),
    /// The run was cancelled.
    Cancelled,
}

/// The time budget of the guest call under way and of the run's calls together.
pub struct CallGuard {
    clock: TickClock,
    started: Duration,
    budget: Duration,
    used: Duration,
    total: Duration,
    cancel: Option<Arc<Cancel>>,
    /// Why the last call was stopped, for its error message.
    pub stopped: Option<Stopped>,
    /// A call has begun and not ended (the clock ticks for it).
    running: bool,
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        // A call that never ended (a panic through it) lets the clock park again.
        if self.running {
            self.clock.leave();
        }
    }
}

impl CallGuard {
    fn new(total: Duration, clock: TickClock) -> Self {
        CallGuard {
            started: clock.now(),
            clock,
            budget: Duration::MAX,
            used: Duration::ZERO,
            total,
            cancel: None,
            stopped: None,
            running: false,
        }
    }

    pub fn set_cancel(&mut self, cancel: Arc<Cancel>) {
        self.cancel = Some(cancel);
    }

    /// A call with `budget` starts; `Err` when the run's guest time is already spent.
    pub fn begin(&mut self, budget: Duration) -> Result<(), Stopped> {
        self.stopped = None;
        if self.used >= self.total {
            self.stopped = Some(Stopped::TotalTime(self.total));
            return Err(Stopped::TotalTime(self.total));
        }
        if !self.running {
            self.clock.enter();
            self.running = true;
        }
        self.started = self.clock.now();
        self.budget = budget;
        Ok(())
    }

    /// The call ended: its time counts against the run's.
    pub fn end(&mut self) {
        self.used = self.used.saturating_add(self.clock.now().saturating_sub(self.started));
        if std::mem::take(&mut self.running) {
            self.clock.leave();
        }
    }

    /// Whether the call under way must stop now (called on every epoch tick).
    pub fn check(&mut self) -> Option<Stopped> {
        let elapsed = self.clock.now().saturating_sub(self.started);
        let stop = if self.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
            Some(Stopped::Cancelled)
        } else if elapsed > self.budget {
            Some(Stopped::CallTime(self.budget))
        } else if self.used.saturating_add(elapsed) > self.total {
            Some(Stopped::TotalTime(self.total))
        } else {
            None
        };
        if stop.is_some() {
            self.stopped = stop;
        }
        stop
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl StoreState {
    pub fn new(limits: &SandboxLimits, seed: u64, caps: Capabilities, clock: TickClock) -> Self {
        let stderr = StderrRing::default();
        let mut wasi_rng = Rng::new(seed, Stream::Wasi);
        let mut builder = WasiCtx::builder();
        builder
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .secure_random(StdRng::seed_from_u64(wasi_rng.next_u64()))
            .insecure_random(StdRng::seed_from_u64(wasi_rng.next_u64()))
            .insecure_random_seed(u128::from(wasi_rng.next_u64()) << 64 | u128::from(wasi_rng.next_u64()));
        StoreState {
            wasi: builder.build(),
            table: ResourceTable::new(),
            limiter: GuestLimiter::new(limits.memory_bytes),
            caps,
            stderr,
            time: VirtualTime::new(seed),
            guard: CallGuard::new(limits.total_time, clock),
        }
    }

    /// The last line the guest wrote to stderr (a panic message, typically).
    pub fn last_stderr_line(&self) -> Option<String> {
        let bytes = self.stderr.contents();
        let text = String::from_utf8_lossy(&bytes);
        if let Some(e) = python_exception(&text) {
            return Some(e);
        }
        // Skip the Rust runtime's panic boilerplate: the line before it says what happened
        // (for Python guests, the exception).
        let boilerplate = |l: &str| l.starts_with("note: run with `RUST_BACKTRACE") || l.starts_with("stack backtrace:");
        // Cut by characters, never inside one, and shown without control characters.
        text.lines().rev().map(str::trim).find(|l| !l.is_empty() && !boilerplate(l)).map(|l| volley_core::text::printable(l, 300))
    }
}

/// A Python traceback's exception and where it was raised, e.g.
/// "ValueError: boom (app.py line 148)"; componentize-py prints the traceback and then
/// panics with a generic message.
fn python_exception(text: &str) -> Option<String> {
    let tb = &text[text.rfind("Traceback (most recent call last):")?..];
    let mut place = None;
    for line in tb.lines().skip(1) {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("File \"") {
            // File "/0/app.py", line 148, in next_requests
            let (file, after) = rest.split_once('"')?;
            let lineno = after.trim_start_matches(", line ").split(',').next().unwrap_or("");
            place = Some(format!("{} line {lineno}", file.rsplit('/').next().unwrap_or(file)));
        } else if !line.starts_with(' ') && !trimmed.is_empty() {
            let mut msg = volley_core::text::printable(trimmed, 300);
            if let Some(p) = place {
                msg.push_str(&format!(" ({p})"));
            }
            return Some(msg);
        }
    }
    None
}

/// Caps linear memory and table growth; remembers a refusal so the resulting trap can
/// be reported as what it is.
pub struct GuestLimiter {
    memory_max: usize,
    memory_used: usize,
    pub memory_exceeded: bool,
}

/// Table elements per guest: generous for real programs, small enough to be harmless.
const TABLE_ELEMENTS_MAX: usize = 1 << 20;
/// Core instances, tables and memories per guest (wasmtime's default is 10,000 each):
/// a Python or JavaScript component needs a few dozen instances.
const INSTANCES_MAX: usize = 256;
const TABLES_MAX: usize = 256;
const MEMORIES_MAX: usize = 32;

impl GuestLimiter {
    fn new(memory_max: usize) -> Self {
        GuestLimiter { memory_max, memory_used: 0, memory_exceeded: false }
    }

    pub fn memory_max(&self) -> usize {
        self.memory_max
    }
}

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let after = self.memory_used - current.min(self.memory_used) + desired;
        if after > self.memory_max {
            self.memory_exceeded = true;
            // An error (not `Ok(false)`) traps at once instead of letting the guest
            // handle a failed grow, so the run stops with a clear cause.
            return Err(wasmtime::format_err!("guest memory limit of {} bytes exceeded", self.memory_max));
        }
        self.memory_used = after;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= TABLE_ELEMENTS_MAX)
    }

    fn instances(&self) -> usize {
        INSTANCES_MAX
    }

    fn tables(&self) -> usize {
        TABLES_MAX
    }

    fn memories(&self) -> usize {
        MEMORIES_MAX
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_python_traceback_becomes_its_exception_and_place() {
        let text = "Traceback (most recent call last):\n  File \"/0/app.py\", line 148, in next_requests\nValueError: boom at seq 0\n\nthread '<unnamed>' (1) panicked at runtime/src/lib.rs:1280:25:\nPython function threw an unexpected exception\n";
        assert_eq!(super::python_exception(text).as_deref(), Some("ValueError: boom at seq 0 (app.py line 148)"));
        assert_eq!(super::python_exception("plain panic\n"), None);
    }
}
