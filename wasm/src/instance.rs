//! One instantiated scenario component, as a [`Workload`].
//!
//! Every call into the guest gets an epoch deadline; a trap is turned into one line
//! that names the scenario and the cause (time limit, memory limit, or the guest's own
//! panic message). The instance is reused across calls; after a trap it is not used
//! again.

use std::sync::Arc;

use volley_core::{Batch, Cancel, Info, Outcome, Plan, Reaction, Stage, StageResult, Workload, WorkloadError, WorkloadIdentity};
use wasmtime::component::Linker;
use wasmtime::{Store, Trap, UpdateDeadline};

use crate::caps::{Capabilities, Grants};
use crate::runtime::{CompiledScenario, EpochTicker};
use crate::sandbox::{SandboxLimits, Stopped, StoreState};
use crate::wit::Exports;

/// A scenario component instantiated in its sandbox.
pub struct WasmScenario {
    store: Store<StoreState>,
    exports: Box<dyn Exports>,
    identity: WorkloadIdentity,
    limits: SandboxLimits,
    /// The epoch clock its deadlines count on.
    _ticker: Arc<EpochTicker>,
}

impl WasmScenario {
    /// Instantiates `compiled` with its capabilities: `log`, `random` (from `seed`), and
    /// what `grants` hands it (tokenizer, datasets).
    pub fn instantiate(compiled: &CompiledScenario, limits: SandboxLimits, seed: u64, grants: &Grants) -> Result<Self, WorkloadError> {
        let source = &compiled.source;
        let identity = WorkloadIdentity {
            source: source.origin.clone(),
            label: source.label.clone(),
            digest: Some(source.digest.clone()),
            wit: Some(compiled.version.semver().to_string()),
            datasets: grants.datasets.iter().map(|d| d.info()).collect(),
        };
        let label = identity.label.clone();
        let engine = compiled.component.engine();
        let mut linker: Linker<StoreState> = Linker::new(engine);
        // The WASI a libc needs, granting nothing (see wasi.rs and sandbox.rs).
        crate::wasi::link(&mut linker).map_err(|e| WorkloadError::Fault(format!("linking WASI: {e}")))?;
        let version = compiled.version.module();
        version.link(&mut linker).map_err(|e| WorkloadError::Fault(format!("linking host capabilities: {e}")))?;
        crate::wasi::trap_the_rest(&mut linker, &compiled.component)
            .map_err(|e| WorkloadError::Fault(format!("linking the imports nothing provides: {e}")))?;

        let caps = Capabilities::new(&label, seed, grants, limits.tokenizer_input_bytes);
        let state = StoreState::new(&limits, seed, caps, compiled.ticker.clock.clone());
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limiter);
        // The deadline is the next tick, always: the guard decides on every tick whether
        // the call may go on (its budget, the run's guest time, cancellation).
        store.epoch_deadline_callback(|mut ctx| match ctx.data_mut().guard.check() {
            None => Ok(UpdateDeadline::Continue(1)),
            Some(_) => Ok(UpdateDeadline::Interrupt),
        });
        store.set_epoch_deadline(1);
        let _ = store.data_mut().guard.begin(limits.setup_timeout);
        let instantiated = version.instantiate(&mut store, &compiled.component, &linker);
        store.data_mut().guard.end();
        match instantiated {
            Ok(exports) => Ok(WasmScenario { store, exports, identity, limits, _ticker: compiled.ticker.clone() }),
            Err(e) => Err(describe_failure(&label, &store, "instantiation", &e)),
        }
    }

    pub fn label(&self) -> &str {
        &self.identity.label
    }

    /// Show the scenario's debug log lines.
    pub fn set_show_debug(&mut self, yes: bool) {
        self.store.data_mut().caps.log.show_debug = yes;
    }

    /// Makes one guest call within its budget (`setup` calls get the longer one).
    fn call<T>(
        &mut self,
        name: &str,
        setup: bool,
        f: impl FnOnce(&dyn Exports, &mut Store<StoreState>) -> wasmtime::Result<T>,
    ) -> Result<T, WorkloadError> {
        let budget = if setup { self.limits.setup_timeout } else { self.limits.call_timeout };
        if self.store.data_mut().guard.begin(budget).is_err() {
            return Err(stopped_message(&self.identity.label, Stopped::TotalTime(self.limits.total_time), name));
        }
        self.store.set_epoch_deadline(1);
        let r = f(self.exports.as_ref(), &mut self.store);
        self.store.data_mut().guard.end();
        r.map_err(|e| describe_failure(&self.identity.label, &self.store, name, &e))
    }
}

impl Workload for WasmScenario {
    fn describe(&mut self) -> Result<Info, WorkloadError> {
        self.call("describe", true, |x, s| x.describe(s))
    }

    /// Runs `configure`; a guest's own refusal comes back verbatim (without control
    /// characters).
    fn configure(&mut self, params: &serde_json::Value) -> Result<Plan, WorkloadError> {
        let params = params.to_string();
        match self.call("configure", true, |x, s| x.configure(s, &params))? {
            Ok(plan) => Ok(plan),
            Err(msg) => Err(WorkloadError::Rejected {
                scenario: self.identity.label.clone(),
                message: volley_core::text::printable(&one_line(&msg), 500),
            }),
        }
    }

    /// Switches the scenario's random stream to that of `stage`.
    fn start_stage(&mut self, stage: u32) {
        self.store.data_mut().caps.random.enter_stage(stage);
    }

    fn next_requests(&mut self, stage: u32, seq: u64, max: u32) -> Result<Batch, WorkloadError> {
        self.call("next-requests", false, |x, s| x.next_requests(s, stage, seq, max))
    }

    /// The outcome's reaction (0.6 on; older versions react with nothing). Its follow-up
    /// requests are converted as `next-requests`' are, media resolved: one the host
    /// refuses is a fault naming the scenario.
    fn on_outcome(&mut self, outcome: Outcome) -> Result<Reaction, WorkloadError> {
        self.call("on-outcome", false, |x, s| x.on_outcome(s, outcome))
    }

    fn next_stage(&mut self, results: &[StageResult]) -> Result<Option<Stage>, WorkloadError> {
        self.call("next-stage", true, |x, s| x.next_stage(s, results))
    }

    /// From WIT 0.6 on, `on-outcome` returns a reaction: follow-ups and task ends.
    fn reacts(&self) -> bool {
        self.identity.wit.as_deref().is_some_and(reacting_version)
    }

    fn checks(&mut self) -> volley_core::Checks {
        self.store.data_mut().caps.checks.take()
    }

    /// A cancelled run interrupts the guest's call under way within one epoch tick.
    fn set_cancel(&mut self, cancel: Arc<Cancel>) {
        self.store.data_mut().guard.set_cancel(cancel);
    }

    fn identity(&self) -> WorkloadIdentity {
        self.identity.clone()
    }
}

/// Whether WIT version `semver` ("0.6.0") has `on-outcome` return a reaction (0.6 on).
fn reacting_version(semver: &str) -> bool {
    let mut parts = semver.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (0, 6)
}

fn describe_failure(label: &str, store: &Store<StoreState>, call: &str, err: &wasmtime::Error) -> WorkloadError {
    let state = store.data();
    if state.limiter.memory_exceeded {
        return WorkloadError::Fault(format!(
            "scenario '{label}' exceeded its memory limit of {} MiB in {call}",
            state.limiter.memory_max() >> 20
        ));
    }
    if let (Some(Trap::Interrupt), Some(why)) = (err.downcast_ref::<Trap>(), state.guard.stopped) {
        return stopped_message(label, why, call);
    }
    let cause = match err.downcast_ref::<Trap>() {
        Some(trap) => format!("trapped ({trap})"),
        None => {
            // The host's own message, without the wasm backtrace wasmtime wraps it in.
            let skip = usize::from(err.downcast_ref::<wasmtime::WasmBacktrace>().is_some());
            let chain: Vec<String> = err.chain().skip(skip).map(|c| c.to_string()).collect();
            format!("failed: {}", one_line(&chain.join(": ")))
        }
    };
    WorkloadError::Fault(match state.last_stderr_line() {
        Some(line) => format!("scenario '{label}' {cause} in {call}; it printed: {line}"),
        None => format!("scenario '{label}' {cause} in {call}"),
    })
}

/// One line for a call the guard stopped.
fn stopped_message(label: &str, why: Stopped, call: &str) -> WorkloadError {
    WorkloadError::Fault(match why {
        Stopped::CallTime(budget) => format!("scenario '{label}' exceeded its time limit of {} ms in {call}", budget.as_millis()),
        Stopped::TotalTime(total) => {
            format!("scenario '{label}' used up its guest time of {} s for the run (guest_total_s) in {call}", total.as_secs_f64())
        }
        Stopped::Cancelled => format!("scenario '{label}' was interrupted in {call}: the run was stopped"),
    })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
