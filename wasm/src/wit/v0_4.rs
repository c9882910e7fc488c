//! `volley:scenario@0.4.0`: generated bindings and conversions. New in 0.4: loads
//! `custom` (per-request gaps) and `concurrency-ramp`, stage warm-up/cool-down windows
//! and SLOs, adaptive plans with `next-stage` given the results so far.

use std::time::Duration;

use volley_core as model;
use wasmtime::Store;

use crate::sandbox::StoreState;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/v0.4",
        world: "scenario",
        // Host functions may fail the run (no tokenizer, a dataset read error).
        imports: { default: trappable },
        with: {
            "volley:scenario/datasets.dataset": crate::caps::datasets::DatasetHandle,
        },
    });
}

super::convert::common_conversions!(bindings::volley::scenario::types, bindings::exports::volley::scenario::workload);

super::convert::plan_conversions_from_v0_4!();
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
            gap: r.gap_ns.map(Duration::from_nanos),
            ..model::ScenarioRequest::new(convert_api(r.api), convert_prompt(r.prompt))
        }
    }
}

super::convert::batch_and_outcome_conversions!();

super::version_of_batches!(V0_4, "0.4.0" {
    fn next_stage(
        &self,
        store: &mut Store<StoreState>,
        results: &[model::StageResult],
    ) -> wasmtime::Result<Option<model::Stage>> {
        let wit: Vec<_> = results.iter().map(stage_result).collect();
        Ok(self.volley_scenario_workload().call_next_stage(store, &wit)?.map(Into::into))
    }
});
