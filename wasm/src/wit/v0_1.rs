//! `volley:scenario@0.1.0`: generated bindings, the capabilities 0.1 imports (log and
//! random), and the conversion of its types to and from Volley's own model
//! (`volley_core`). Released and frozen: self-contained (nothing here is shared with
//! another version), and its source's digest is pinned by `super::frozen`.

use std::time::Duration;

use volley_core as model;
use wasmtime::Store;
use wasmtime::component::Linker;

use super::{Exports, Version};
use crate::caps::log::{Level, LogCap};
use crate::caps::random::RandomCap;
use crate::sandbox::StoreState;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/v0.1",
        world: "scenario",
    });
}

use bindings::exports::volley::scenario::workload as wit_workload;
use bindings::volley::scenario::log as wit_log;
use bindings::volley::scenario::random as wit_random;
use bindings::volley::scenario::types as wit;

/// `volley:scenario@0.1.0`.
pub(super) static V0_1: Version = Version {
    semver: "0.1.0",
    link,
    instantiate: |store, component, linker| super::boxed(bindings::Scenario::instantiate(store, component, linker)),
};

/// 0.1 imports log and random only.
fn link(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    wit_log::add_to_linker::<_, LogCap>(linker, |s| &mut s.caps.log)?;
    wit_random::add_to_linker::<_, RandomCap>(linker, |s| &mut s.caps.random)?;
    Ok(())
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

impl Exports for bindings::Scenario {
    fn describe(&self, store: &mut Store<StoreState>) -> wasmtime::Result<model::Info> {
        let i = self.volley_scenario_workload().call_describe(store)?;
        Ok(info(i))
    }

    fn configure(&self, store: &mut Store<StoreState>, params: &str) -> wasmtime::Result<Result<model::Plan, String>> {
        Ok(self.volley_scenario_workload().call_configure(store, params)?.map(plan))
    }

    /// 0.1's own `next-request` (one at a time) is never called: `next-requests` does it.
    fn next_requests(&self, store: &mut Store<StoreState>, stage: u32, seq: u64, max: u32) -> wasmtime::Result<model::Batch> {
        Ok(batch(self.volley_scenario_workload().call_next_requests(store, stage, seq, max)?, max))
    }

    /// 0.1's `on-outcome` returns nothing: nothing follows, nothing ends.
    fn on_outcome(&self, store: &mut Store<StoreState>, o: model::Outcome) -> wasmtime::Result<model::Reaction> {
        self.volley_scenario_workload().call_on_outcome(store, &outcome(o))?;
        Ok(model::Reaction::none())
    }
}

fn info(i: wit_workload::Info) -> model::Info {
    model::Info { name: i.name, version: i.version, description: i.description }
}

fn load(l: wit::Load) -> model::Load {
    use model::Load as L;
    match l {
        wit::Load::Constant(rate) => L::Constant { rate },
        wit::Load::Poisson(rate) => L::Poisson { rate },
        wit::Load::Gamma((rate, cv)) => L::Gamma { rate, cv },
        wit::Load::Ramp((from, to)) => L::Ramp { from, to },
        wit::Load::Burst(n) => L::Burst { n },
        wit::Load::Concurrency(n) => L::Concurrency { n },
    }
}

/// A 0.1 plan is never adaptive, and its stages have no warm-up, cool-down or SLO.
fn plan(p: wit::Plan) -> model::Plan {
    model::Plan {
        stages: p
            .stages
            .into_iter()
            .map(|s| model::Stage::new(s.name, load(s.load), s.duration_ms.map(Duration::from_millis), s.max_requests))
            .collect(),
        observe_outcomes: p.observe_outcomes,
        adaptive: false,
    }
}

fn api(a: wit::Api) -> model::Api {
    match a {
        wit::Api::Completions => model::Api::Completions,
        wit::Api::ChatCompletions => model::Api::ChatCompletions,
    }
}

fn prompt(p: wit::Prompt) -> model::Prompt {
    match p {
        wit::Prompt::Text(t) => model::Prompt::Text(t),
        wit::Prompt::Chat(msgs) => model::Prompt::Chat(msgs.into_iter().map(|m| model::Message::new(m.role, m.content)).collect()),
    }
}

fn request(r: wit::Request) -> model::ScenarioRequest {
    model::ScenarioRequest {
        model: r.model,
        max_tokens: r.max_tokens,
        stream: r.stream,
        headers: r.headers,
        body_extra: r.body_extra,
        tag: r.tag,
        session: r.session,
        ..model::ScenarioRequest::new(api(r.api), prompt(r.prompt))
    }
}

/// 0.1's `next-requests` returns a list; fewer than asked for means the stage is done.
fn batch(list: Vec<wit::Request>, max: u32) -> model::Batch {
    let done = list.len() < max as usize;
    model::Batch { requests: list.into_iter().map(request).collect(), done }
}

fn error_class(c: model::ErrorClass) -> wit::ErrorClass {
    use model::ErrorClass as E;
    match c {
        E::Connect => wit::ErrorClass::Connect,
        E::Timeout => wit::ErrorClass::Timeout,
        E::HttpStatus => wit::ErrorClass::HttpStatus,
        E::Protocol => wit::ErrorClass::Protocol,
        E::ServerError => wit::ErrorClass::ServerError,
        E::Incomplete => wit::ErrorClass::Incomplete,
        E::Cancelled => wit::ErrorClass::Cancelled,
    }
}

fn outcome(o: model::Outcome) -> wit::Outcome {
    wit::Outcome {
        stage: o.stage,
        seq: o.seq,
        session: o.session,
        ok: o.ok,
        status: o.status,
        error: o.error.map(error_class),
        ttft_ns: o.ttft.map(|d| d.as_nanos() as u64),
        latency_ns: o.latency.as_nanos() as u64,
        output_tokens: o.output_tokens,
        text: o.text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a_request() -> wit::Request {
        wit::Request {
            api: wit::Api::Completions,
            model: None,
            prompt: wit::Prompt::Text("x".into()),
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
        assert!(!batch(vec![a_request(), a_request()], 2).done);
        let b = batch(vec![a_request()], 2);
        assert!(b.done);
        assert_eq!(b.requests.len(), 1);
        assert!(batch(vec![], 32).done);
    }
}
