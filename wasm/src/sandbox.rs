//! The sandbox a scenario runs in.
//!
//! A scenario gets no WASI capability: no preopened directory, no environment or
//! arguments, no sockets, stdin closed. Its stdout is discarded and its stderr kept in
//! a small buffer, to show the operator a guest panic message. WASI's random sources are
//! seeded from `--seed` so a guest's `HashMap` order (and anything else drawing on them)
//! is reproducible. Memory and table growth are bounded by [`GuestLimiter`]; time per
//! call by the engine's epoch deadline (see [`super::engine`]).

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::caps::Capabilities;
use volley_core::rng::{Rng, Stream};

/// Bounds on a scenario's resources.
#[derive(Debug, Clone, Copy)]
pub struct SandboxLimits {
    /// Wall time of one `next-requests` or `on-outcome` call.
    pub call_timeout: Duration,
    /// Wall time of instantiation, `describe` and `configure`.
    pub setup_timeout: Duration,
    /// Linear memory, in bytes, over all of the guest's memories.
    pub memory_bytes: usize,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            call_timeout: Duration::from_secs(1),
            setup_timeout: Duration::from_secs(10),
            memory_bytes: 256 << 20,
        }
    }
}

/// Everything a scenario's `Store` holds.
pub struct StoreState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limiter: GuestLimiter,
    pub caps: Capabilities,
    pub stderr: MemoryOutputPipe,
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Bytes of guest stderr kept for error messages.
const STDERR_CAPACITY: usize = 16 << 10;

impl StoreState {
    pub fn new(limits: &SandboxLimits, seed: u64, caps: Capabilities) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
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
        text.lines().rev().map(str::trim).find(|l| !l.is_empty() && !boilerplate(l)).map(|l| {
            let mut l = l.to_string();
            l.truncate(300);
            l
        })
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
            let mut msg: String = trimmed.chars().take(300).collect();
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

impl GuestLimiter {
    fn new(memory_max: usize) -> Self {
        GuestLimiter { memory_max, memory_used: 0, memory_exceeded: false }
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
