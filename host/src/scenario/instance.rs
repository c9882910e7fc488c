//! One instantiated scenario and its guarded calls.
//!
//! Every call into the guest gets an epoch deadline; a trap is turned into one line
//! that names the scenario and the cause (time limit, memory limit, or the guest's own
//! panic message). The instance is reused across calls; after a trap it is not used
//! again.

use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use wasmtime::component::Linker;
use wasmtime::{Store, Trap};

use super::caps::{self, Capabilities, Grants};
use super::engine::{CompiledScenario, EPOCH_TICK, WitVersion};
use super::sandbox::{SandboxLimits, StoreState};
use super::{v0_1, v0_2, v0_3, v0_4};
use crate::model::{Batch, GuestOutcome, Info, Plan, Stage};
use crate::report::StageReport;

enum Bindings {
    V0_1(v0_1::bindings::Scenario),
    V0_2(v0_2::bindings::Scenario),
    V0_3(v0_3::bindings::Scenario),
    V0_4(v0_4::bindings::Scenario),
}

pub struct ScenarioInstance {
    store: Store<StoreState>,
    bindings: Bindings,
    label: String,
    limits: SandboxLimits,
}

impl ScenarioInstance {
    pub fn instantiate(compiled: &CompiledScenario, limits: SandboxLimits, seed: u64, grants: &Grants) -> Result<Self> {
        let label = compiled.source.label.clone();
        let engine = compiled.component.engine();
        let mut linker: Linker<StoreState> = Linker::new(engine);
        // WASI is linked so guests built with a WASI libc instantiate, but the context
        // grants nothing (see sandbox.rs).
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| anyhow!("linking WASI: {e}"))?;
        match compiled.version {
            WitVersion::V0_1 => caps::link_v0_1(&mut linker),
            WitVersion::V0_2 => caps::link_v0_2(&mut linker),
            WitVersion::V0_3 => caps::link_v0_3(&mut linker),
            WitVersion::V0_4 => caps::link_v0_4(&mut linker),
        }
        .map_err(|e| anyhow!("linking host capabilities: {e}"))?;

        let state = StoreState::new(&limits, seed, Capabilities::new(&label, seed, grants));
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(ticks(limits.setup_timeout));

        let instantiated = match compiled.version {
            WitVersion::V0_1 => v0_1::bindings::Scenario::instantiate(&mut store, &compiled.component, &linker)
                .map(Bindings::V0_1),
            WitVersion::V0_2 => v0_2::bindings::Scenario::instantiate(&mut store, &compiled.component, &linker)
                .map(Bindings::V0_2),
            WitVersion::V0_3 => v0_3::bindings::Scenario::instantiate(&mut store, &compiled.component, &linker)
                .map(Bindings::V0_3),
            WitVersion::V0_4 => v0_4::bindings::Scenario::instantiate(&mut store, &compiled.component, &linker)
                .map(Bindings::V0_4),
        };
        let bindings = match instantiated {
            Ok(b) => b,
            Err(e) => {
                let me = ScenarioInstance::describe_failure(&label, &limits, &store, "instantiation", &e, true);
                return Err(me);
            }
        };
        Ok(ScenarioInstance { store, bindings, label, limits })
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn set_show_debug(&mut self, yes: bool) {
        self.store.data_mut().caps.log.show_debug = yes;
    }

    pub fn describe(&mut self) -> Result<Info> {
        self.store.set_epoch_deadline(ticks(self.limits.setup_timeout));
        let r = match &self.bindings {
            Bindings::V0_1(b) => b.volley_scenario_workload().call_describe(&mut self.store).map(Info::from),
            Bindings::V0_2(b) => b.volley_scenario_workload().call_describe(&mut self.store).map(Info::from),
            Bindings::V0_3(b) => b.volley_scenario_workload().call_describe(&mut self.store).map(Info::from),
            Bindings::V0_4(b) => b.volley_scenario_workload().call_describe(&mut self.store).map(Info::from),
        };
        self.finish("describe", r, true)
    }

    /// Runs `configure` and validates the plan; a guest's own error comes back verbatim.
    pub fn configure(&mut self, params: &str) -> Result<Plan> {
        self.store.set_epoch_deadline(ticks(self.limits.setup_timeout));
        let r = match &self.bindings {
            Bindings::V0_1(b) => {
                b.volley_scenario_workload().call_configure(&mut self.store, params).map(|r| r.map(Plan::from))
            }
            Bindings::V0_2(b) => {
                b.volley_scenario_workload().call_configure(&mut self.store, params).map(|r| r.map(Plan::from))
            }
            Bindings::V0_3(b) => {
                b.volley_scenario_workload().call_configure(&mut self.store, params).map(|r| r.map(Plan::from))
            }
            Bindings::V0_4(b) => {
                b.volley_scenario_workload().call_configure(&mut self.store, params).map(|r| r.map(Plan::from))
            }
        };
        let plan: Plan = match self.finish("configure", r, true)? {
            Ok(plan) => plan,
            Err(msg) => bail!("scenario '{}' rejected its parameters: {}", self.label, one_line(&msg)),
        };
        plan.validate().map_err(|e| anyhow!("scenario '{}' returned an invalid plan: {e}", self.label))?;
        Ok(plan)
    }

    /// Switches the scenario's random stream to that of `stage`.
    pub fn enter_stage(&mut self, stage: u32) {
        self.store.data_mut().caps.random.enter_stage(stage);
    }

    pub fn next_requests(&mut self, stage: u32, seq: u64, max: u32) -> Result<Batch> {
        self.store.set_epoch_deadline(ticks(self.limits.call_timeout));
        let r = match &self.bindings {
            Bindings::V0_1(b) => b
                .volley_scenario_workload()
                .call_next_requests(&mut self.store, stage, seq, max)
                .map(|list| v0_1::batch(list, max)),
            Bindings::V0_2(b) => {
                b.volley_scenario_workload().call_next_requests(&mut self.store, stage, seq, max).map(Batch::from)
            }
            Bindings::V0_3(b) => {
                b.volley_scenario_workload().call_next_requests(&mut self.store, stage, seq, max).map(Batch::from)
            }
            Bindings::V0_4(b) => {
                b.volley_scenario_workload().call_next_requests(&mut self.store, stage, seq, max).map(Batch::from)
            }
        };
        let batch = self.finish("next-requests", r, false)?;
        if batch.requests.len() > max as usize {
            bail!("scenario '{}' returned {} requests when asked for at most {max}", self.label, batch.requests.len());
        }
        Ok(batch)
    }

    pub fn on_outcome(&mut self, outcome: GuestOutcome) -> Result<()> {
        self.store.set_epoch_deadline(ticks(self.limits.call_timeout));
        let r = match &self.bindings {
            Bindings::V0_1(b) => b.volley_scenario_workload().call_on_outcome(&mut self.store, &outcome.into()),
            Bindings::V0_2(b) => b.volley_scenario_workload().call_on_outcome(&mut self.store, &outcome.into()),
            Bindings::V0_3(b) => b.volley_scenario_workload().call_on_outcome(&mut self.store, &outcome.into()),
            Bindings::V0_4(b) => b.volley_scenario_workload().call_on_outcome(&mut self.store, &outcome.into()),
        };
        self.finish("on-outcome", r, false)
    }

    /// Adaptive plans (0.4 on): the next stage given every finished stage's report;
    /// `None` ends the run. Older versions have no adaptive plans.
    pub fn next_stage(&mut self, results: &[StageReport]) -> Result<Option<Stage>> {
        let Bindings::V0_4(b) = &self.bindings else { return Ok(None) };
        self.store.set_epoch_deadline(ticks(self.limits.setup_timeout));
        let wit: Vec<_> = results.iter().enumerate().map(|(i, r)| v0_4::stage_result(i as u32, r)).collect();
        let r = b.volley_scenario_workload().call_next_stage(&mut self.store, &wit).map(|s| s.map(Stage::from));
        let stage = self.finish("next-stage", r, true)?;
        if let Some(s) = &stage {
            s.validate(results.len())
                .map_err(|e| anyhow!("scenario '{}' returned an invalid stage: {e}", self.label))?;
        }
        Ok(stage)
    }

    fn finish<T>(&self, call: &str, r: wasmtime::Result<T>, setup: bool) -> Result<T> {
        r.map_err(|e| Self::describe_failure(&self.label, &self.limits, &self.store, call, &e, setup))
    }

    fn describe_failure(
        label: &str,
        limits: &SandboxLimits,
        store: &Store<StoreState>,
        call: &str,
        err: &wasmtime::Error,
        setup: bool,
    ) -> anyhow::Error {
        let state = store.data();
        if state.limiter.memory_exceeded {
            return anyhow!(
                "scenario '{label}' exceeded its memory limit of {} MiB in {call}",
                limits.memory_bytes >> 20
            );
        }
        if let Some(Trap::Interrupt) = err.downcast_ref::<Trap>() {
            let budget = if setup { limits.setup_timeout } else { limits.call_timeout };
            return anyhow!("scenario '{label}' exceeded its time limit of {} ms in {call}", budget.as_millis());
        }
        let cause = match err.downcast_ref::<Trap>() {
            Some(trap) => format!("trapped ({trap})"),
            None => format!("failed: {}", one_line(&format!("{err:#}"))),
        };
        match state.last_stderr_line() {
            Some(line) => anyhow!("scenario '{label}' {cause} in {call}; it printed: {line}"),
            None => anyhow!("scenario '{label}' {cause} in {call}"),
        }
    }
}

fn ticks(d: Duration) -> u64 {
    (d.as_nanos() / EPOCH_TICK.as_nanos()).max(1) as u64 + 1
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
