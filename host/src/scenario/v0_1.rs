//! `volley:scenario@0.1.0`: generated bindings and their conversion to and from
//! Volley's own model ([`crate::model`]). Frozen: components built against 0.1 keep
//! running on this module while newer versions get their own.

use crate::model;

pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/v0.1",
        world: "scenario",
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
            prompt_tokens: None,
            ..model::ScenarioRequest::new(convert_api(r.api), convert_prompt(r.prompt))
        }
    }
}

/// 0.1's `next-requests` returns a list; fewer than asked for means the stage is done.
pub fn batch(list: Vec<wit_types::Request>, max: u32) -> model::Batch {
    let done = list.len() < max as usize;
    model::Batch { requests: list.into_iter().map(Into::into).collect(), done }
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
            text: o.text,
        }
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
