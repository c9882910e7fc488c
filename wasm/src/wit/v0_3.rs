//! `volley:scenario@0.3.0`: generated bindings and conversions. New in 0.3: the
//! embeddings, TGI, KServe v1/v2 and plain HTTP APIs, with tensors, bodies, paths and
//! batch sizes on requests.

use volley_core as model;
use wasmtime::Store;
use wasmtime::component::{Component, Linker};

use super::{Exports, Version};
use crate::sandbox::StoreState;


mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/v0.3",
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

super::convert::api_and_tensor_conversions!();

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
            inputs: r.inputs.into_iter().map(Into::into).collect(),
            model_version: r.model_version,
            body: r.body,
            method: r.method,
            path: r.path,
            batch_size: r.batch_size,
            ..model::ScenarioRequest::new(convert_api(r.api), convert_prompt(r.prompt))
        }
    }
}

super::convert::batch_and_outcome_conversions!();

crate::caps::host_traits!(bindings);

/// `volley:scenario@0.3.0`.
pub(super) struct V0_3;

impl Version for V0_3 {
    fn semver(&self) -> &'static str {
        "0.3.0"
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
