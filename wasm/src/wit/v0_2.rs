//! `volley:scenario@0.2.0`: generated bindings and conversions. New in 0.2: the
//! tokenizer and datasets capabilities, `request.prompt-tokens`, `outcome.prompt-tokens`
//! and `next-requests` returning a batch.

use volley_core as model;
use wasmtime::Store;
use wasmtime::component::{Component, Linker};

use super::{Exports, Version};
use crate::sandbox::StoreState;


mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/v0.2",
        world: "scenario",
        // Host functions may fail the run (no tokenizer, a dataset read error).
        imports: { default: trappable },
        with: {
            "volley:scenario/datasets.dataset": crate::caps::datasets::DatasetHandle,
        },
    });
}

super::convert::common_conversions!(
    bindings::volley::scenario::types,
    bindings::exports::volley::scenario::workload
);
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
            prompt_tokens: r.prompt_tokens,
            ..model::ScenarioRequest::new(convert_api(r.api), convert_prompt(r.prompt))
        }
    }
}

super::convert::batch_and_outcome_conversions!();

crate::caps::host_traits!(bindings);

/// `volley:scenario@0.2.0`.
pub(super) struct V0_2;

impl Version for V0_2 {
    fn semver(&self) -> &'static str {
        "0.2.0"
    }

    fn link(&self, linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
        crate::caps::link_capabilities!(linker, bindings)
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
        self.volley_scenario_workload().call_next_requests(store, stage, seq, max).map(Into::into)
    }

    fn on_outcome(&self, store: &mut Store<StoreState>, outcome: model::Outcome) -> wasmtime::Result<()> {
        self.volley_scenario_workload().call_on_outcome(store, &outcome.into())
    }
}
