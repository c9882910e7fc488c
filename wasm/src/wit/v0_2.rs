//! `volley:scenario@0.2.0`: generated bindings and conversions. New in 0.2: the
//! tokenizer and datasets capabilities, `request.prompt-tokens`, `outcome.prompt-tokens`
//! and `next-requests` returning a batch.

use volley_core as model;

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
            prompt_tokens: r.prompt_tokens,
            ..model::ScenarioRequest::new(convert_api(r.api), convert_prompt(r.prompt))
        }
    }
}

super::convert::batch_and_outcome_conversions!();

super::version_of_batches!(V0_2, "0.2.0" {});
