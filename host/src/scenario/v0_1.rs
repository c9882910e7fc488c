//! `volley:scenario@0.1.0`: generated bindings and their conversion to and from
//! Volley's own model ([`crate::model`]). Later WIT versions get a sibling module; this
//! one stays, so components built against 0.1 keep running.

use std::time::Duration;

use crate::model;

pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/v0.1",
        world: "scenario",
    });
}

use bindings::exports::volley::scenario::workload;
use bindings::volley::scenario::types;

impl From<workload::Info> for model::Info {
    fn from(i: workload::Info) -> Self {
        model::Info { name: i.name, version: i.version, description: i.description }
    }
}

impl From<types::Load> for model::Load {
    fn from(l: types::Load) -> Self {
        match l {
            types::Load::Constant(rate) => model::Load::Constant { rate },
            types::Load::Poisson(rate) => model::Load::Poisson { rate },
            types::Load::Gamma((rate, cv)) => model::Load::Gamma { rate, cv },
            types::Load::Ramp((from, to)) => model::Load::Ramp { from, to },
            types::Load::Burst(n) => model::Load::Burst { n },
            types::Load::Concurrency(n) => model::Load::Concurrency { n },
        }
    }
}

impl From<types::Plan> for model::Plan {
    fn from(p: types::Plan) -> Self {
        model::Plan {
            stages: p
                .stages
                .into_iter()
                .map(|s| model::Stage {
                    name: s.name,
                    load: s.load.into(),
                    duration: s.duration_ms.map(Duration::from_millis),
                    max_requests: s.max_requests,
                })
                .collect(),
            observe_outcomes: p.observe_outcomes,
        }
    }
}

impl From<types::Request> for model::ScenarioRequest {
    fn from(r: types::Request) -> Self {
        model::ScenarioRequest {
            api: match r.api {
                types::Api::Completions => model::Api::Completions,
                types::Api::ChatCompletions => model::Api::ChatCompletions,
            },
            model: r.model,
            prompt: match r.prompt {
                types::Prompt::Text(t) => model::Prompt::Text(t),
                types::Prompt::Chat(msgs) => model::Prompt::Chat(
                    msgs.into_iter().map(|m| model::Message { role: m.role, content: m.content }).collect(),
                ),
            },
            max_tokens: r.max_tokens,
            stream: r.stream,
            headers: r.headers,
            body_extra: r.body_extra,
            tag: r.tag,
            session: r.session,
        }
    }
}

fn error_class(c: model::ErrorClass) -> types::ErrorClass {
    match c {
        model::ErrorClass::Connect => types::ErrorClass::Connect,
        model::ErrorClass::Timeout => types::ErrorClass::Timeout,
        model::ErrorClass::HttpStatus => types::ErrorClass::HttpStatus,
        model::ErrorClass::Protocol => types::ErrorClass::Protocol,
        model::ErrorClass::ServerError => types::ErrorClass::ServerError,
        model::ErrorClass::Incomplete => types::ErrorClass::Incomplete,
        model::ErrorClass::Cancelled => types::ErrorClass::Cancelled,
    }
}

impl From<model::GuestOutcome> for types::Outcome {
    fn from(o: model::GuestOutcome) -> Self {
        types::Outcome {
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
}
