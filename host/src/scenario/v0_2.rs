//! `volley:scenario@0.2.0`: generated bindings and conversions. New in 0.2: the
//! tokenizer and datasets capabilities, `request.prompt-tokens`, `outcome.prompt-tokens`
//! and `next-requests` returning a batch.

use crate::model;

pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/v0.2",
        world: "scenario",
        // Host functions may fail the run (no tokenizer, a dataset read error).
        imports: { default: trappable },
        with: {
            "volley:scenario/datasets.dataset": crate::scenario::caps::datasets::DatasetHandle,
        },
    });
}

super::convert::common_conversions!(
    bindings::volley::scenario::types,
    bindings::exports::volley::scenario::workload
);

impl From<wit_types::Request> for model::ScenarioRequest {
    fn from(r: wit_types::Request) -> Self {
        model::ScenarioRequest {
            api: convert_api(r.api),
            model: r.model,
            prompt: convert_prompt(r.prompt),
            max_tokens: r.max_tokens,
            stream: r.stream,
            headers: r.headers,
            body_extra: r.body_extra,
            tag: r.tag,
            session: r.session,
            prompt_tokens: r.prompt_tokens,
        }
    }
}

impl From<wit_types::Batch> for model::Batch {
    fn from(b: wit_types::Batch) -> Self {
        model::Batch { requests: b.requests.into_iter().map(Into::into).collect(), done: b.done }
    }
}

impl From<model::GuestOutcome> for wit_types::Outcome {
    fn from(o: model::GuestOutcome) -> Self {
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
            prompt_tokens: o.prompt_tokens,
            text: o.text,
        }
    }
}
