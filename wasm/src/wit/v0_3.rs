//! `volley:scenario@0.3.0`: generated bindings and conversions. New in 0.3: the
//! embeddings, TGI, KServe v1/v2 and plain HTTP APIs, with tensors, bodies, paths and
//! batch sizes on requests.

use volley_core as model;

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

super::convert::common_conversions!(bindings::volley::scenario::types, bindings::exports::volley::scenario::workload);
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

super::version_of_batches!(V0_3, "0.3.0" {});
