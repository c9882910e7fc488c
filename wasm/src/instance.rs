//! One instantiated scenario component, as a [`Workload`].
//!
//! Every call into the guest gets an epoch deadline; a trap is turned into one line
//! that names the scenario and the cause (time limit, memory limit, or the guest's own
//! panic message). The instance is reused across calls; after a trap it is not used
//! again.

use std::sync::Arc;
use std::time::Duration;

use volley_core::{Batch, Info, Outcome, Plan, Stage, StageResult, Workload, WorkloadError, WorkloadIdentity};
use wasmtime::component::Linker;
use wasmtime::{Store, Trap};

use crate::caps::{Capabilities, Grants};
use crate::runtime::{CompiledScenario, EPOCH_TICK, EpochTicker};
use crate::sandbox::{SandboxLimits, StoreState};
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
        // WASI is linked so guests built with a WASI libc instantiate, but the context
        // grants nothing (see sandbox.rs).
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| WorkloadError::Fault(format!("linking WASI: {e}")))?;
        let version = compiled.version.module();
        version.link(&mut linker).map_err(|e| WorkloadError::Fault(format!("linking host capabilities: {e}")))?;

        let state = StoreState::new(&limits, seed, Capabilities::new(&label, seed, grants));
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(ticks(limits.setup_timeout));
        match version.instantiate(&mut store, &compiled.component, &linker) {
            Ok(exports) => Ok(WasmScenario { store, exports, identity, limits, _ticker: compiled.ticker.clone() }),
            Err(e) => Err(describe_failure(&label, &limits, &store, "instantiation", &e, true)),
        }
    }

    pub fn label(&self) -> &str {
        &self.identity.label
    }

    /// Show the scenario's debug log lines.
    pub fn set_show_debug(&mut self, yes: bool) {
        self.store.data_mut().caps.log.show_debug = yes;
    }

    fn finish<T>(&self, call: &str, r: wasmtime::Result<T>, setup: bool) -> Result<T, WorkloadError> {
        r.map_err(|e| describe_failure(&self.identity.label, &self.limits, &self.store, call, &e, setup))
    }

    fn deadline(&mut self, setup: bool) {
        let budget = if setup { self.limits.setup_timeout } else { self.limits.call_timeout };
        self.store.set_epoch_deadline(ticks(budget));
    }
}

impl Workload for WasmScenario {
    fn describe(&mut self) -> Result<Info, WorkloadError> {
        self.deadline(true);
        let r = self.exports.describe(&mut self.store);
        self.finish("describe", r, true)
    }

    /// Runs `configure`; a guest's own refusal comes back verbatim.
    fn configure(&mut self, params: &serde_json::Value) -> Result<Plan, WorkloadError> {
        self.deadline(true);
        let r = self.exports.configure(&mut self.store, &params.to_string());
        match self.finish("configure", r, true)? {
            Ok(plan) => Ok(plan),
            Err(msg) => Err(WorkloadError::Rejected { scenario: self.identity.label.clone(), message: one_line(&msg) }),
        }
    }

    /// Switches the scenario's random stream to that of `stage`.
    fn start_stage(&mut self, stage: u32) {
        self.store.data_mut().caps.random.enter_stage(stage);
    }

    fn next_requests(&mut self, stage: u32, seq: u64, max: u32) -> Result<Batch, WorkloadError> {
        self.deadline(false);
        let r = self.exports.next_requests(&mut self.store, stage, seq, max);
        self.finish("next-requests", r, false)
    }

    fn on_outcome(&mut self, outcome: Outcome) -> Result<(), WorkloadError> {
        self.deadline(false);
        let r = self.exports.on_outcome(&mut self.store, outcome);
        self.finish("on-outcome", r, false)
    }

    fn next_stage(&mut self, results: &[StageResult]) -> Result<Option<Stage>, WorkloadError> {
        self.deadline(true);
        let r = self.exports.next_stage(&mut self.store, results);
        self.finish("next-stage", r, true)
    }

    fn identity(&self) -> WorkloadIdentity {
        self.identity.clone()
    }
}

fn describe_failure(
    label: &str,
    limits: &SandboxLimits,
    store: &Store<StoreState>,
    call: &str,
    err: &wasmtime::Error,
    setup: bool,
) -> WorkloadError {
    let state = store.data();
    if state.limiter.memory_exceeded {
        return WorkloadError::Fault(format!(
            "scenario '{label}' exceeded its memory limit of {} MiB in {call}",
            limits.memory_bytes >> 20
        ));
    }
    if let Some(Trap::Interrupt) = err.downcast_ref::<Trap>() {
        let budget = if setup { limits.setup_timeout } else { limits.call_timeout };
        return WorkloadError::Fault(format!("scenario '{label}' exceeded its time limit of {} ms in {call}", budget.as_millis()));
    }
    let cause = match err.downcast_ref::<Trap>() {
        Some(trap) => format!("trapped ({trap})"),
        None => format!("failed: {}", one_line(&format!("{err:#}"))),
    };
    WorkloadError::Fault(match state.last_stderr_line() {
        Some(line) => format!("scenario '{label}' {cause} in {call}; it printed: {line}"),
        None => format!("scenario '{label}' {cause} in {call}"),
    })
}

fn ticks(d: Duration) -> u64 {
    (d.as_nanos() / EPOCH_TICK.as_nanos()).max(1) as u64 + 1
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
