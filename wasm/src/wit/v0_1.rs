//! `volley:scenario@0.1.0`: generated bindings and their conversion to and from
//! Volley's own model (`volley_core`). Frozen: components built against 0.1 keep
//! running on this module while newer versions get their own.

use volley_core as model;
use wasmtime::Store;
use wasmtime::component::{Component, Linker};

use super::{Exports, Version};
use crate::sandbox::StoreState;

use crate::caps::log::{Level, LogCap};
use crate::caps::random::RandomCap;
use bindings::volley::scenario::log as wit_log;
use bindings::volley::scenario::random as wit_random;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/v0.1",
        world: "scenario",
    });
}

super::convert::common_conversions!(bindings::volley::scenario::types, bindings::exports::volley::scenario::workload);
super::convert::plan_conversions_v0_1_to_v0_3!();

fn convert_api(a: wit_types::Api) -> model::Api {
    match a {
        wit_types::Api::Completions => model::Api::Completions,
        wit_types::Api::ChatCompletions => model::Api::ChatCompletions,
    }
}

impl From<wit_types::Request> for model::ScenarioRequest {
    fn from(r: wit_types::Request) -> Self {
        model::ScenarioRequest {
            model: r.model,
            max_tokens: r.max_tokens,
            stream: r.stream,
            headers: r.headers,
            body_extra: r.body_extra,
            tag: r.tag,
            session: r.session,
            prompt_tokens: None,
            ..model::ScenarioRequest::new(convert_api(r.api), convert_prompt(r.prompt))
        }
    }
}

/// 0.1's `next-requests` returns a list; fewer than asked for means the stage is done.
fn batch(list: Vec<wit_types::Request>, max: u32) -> model::Batch {
    let done = list.len() < max as usize;
    model::Batch { requests: list.into_iter().map(Into::into).collect(), done }
}

impl From<model::Outcome> for wit_types::Outcome {
    fn from(o: model::Outcome) -> Self {
        wit_types::Outcome {
            stage: o.stage,
            seq: o.seq,
            session: o.session,
            ok: o.ok,
            status: o.status,
            error: o.error.map(convert_error_class),
            ttft_ns: o.ttft.map(|d| d.as_nanos() as u64),
            latency_ns: o.latency.as_nanos() as u64,
            output_tokens: o.output_tokens,
            text: o.text,
        }
    }
}

impl wit_log::Host for LogCap {
    fn log(&mut self, level: wit_log::Level, message: String) {
        let level = match level {
            wit_log::Level::Debug => Level::Debug,
            wit_log::Level::Info => Level::Info,
            wit_log::Level::Warn => Level::Warn,
            wit_log::Level::Error => Level::Error,
        };
        self.write(level, &message);
    }
}

impl wit_random::Host for RandomCap {
    fn next_u64(&mut self) -> u64 {
        RandomCap::next_u64(self)
    }

    fn next_f64(&mut self) -> f64 {
        RandomCap::next_f64(self)
    }
}

/// `volley:scenario@0.1.0`.
pub(super) struct V0_1;

impl Version for V0_1 {
    fn semver(&self) -> &'static str {
        "0.1.0"
    }

    /// 0.1 imports log and random only.
    fn link(&self, linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
        wit_log::add_to_linker::<_, LogCap>(linker, |s| &mut s.caps.log)?;
        wit_random::add_to_linker::<_, RandomCap>(linker, |s| &mut s.caps.random)?;
        Ok(())
    }

    fn instantiate(
        &self,
        store: &mut Store<StoreState>,
        component: &Component,
        linker: &Linker<StoreState>,
    ) -> wasmtime::Result<Box<dyn Exports>> {
        Ok(Box::new(bindings::Scenario::instantiate(store, component, linker)?))
    }
}

impl Exports for bindings::Scenario {
    fn describe(&self, store: &mut Store<StoreState>) -> wasmtime::Result<model::Info> {
        self.volley_scenario_workload().call_describe(store).map(Into::into)
    }

    fn configure(&self, store: &mut Store<StoreState>, params: &str) -> wasmtime::Result<Result<model::Plan, String>> {
        Ok(self.volley_scenario_workload().call_configure(store, params)?.map(Into::into))
    }

    fn next_requests(&self, store: &mut Store<StoreState>, stage: u32, seq: u64, max: u32) -> wasmtime::Result<model::Batch> {
        Ok(batch(self.volley_scenario_workload().call_next_requests(store, stage, seq, max)?, max))
    }

    fn on_outcome(&self, store: &mut Store<StoreState>, outcome: model::Outcome) -> wasmtime::Result<()> {
        self.volley_scenario_workload().call_on_outcome(store, &outcome.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> wit_types::Request {
        wit_types::Request {
            api: wit_types::Api::Completions,
            model: None,
            prompt: wit_types::Prompt::Text("x".into()),
            max_tokens: None,
            stream: false,
            headers: vec![],
            body_extra: None,
            tag: None,
            session: None,
        }
    }

    #[test]
    fn a_short_list_ends_the_stage() {
        assert!(!batch(vec![request(), request()], 2).done);
        let b = batch(vec![request()], 2);
        assert!(b.done);
        assert_eq!(b.requests.len(), 1);
        assert!(batch(vec![], 32).done);
    }
}
