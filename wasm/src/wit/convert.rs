//! Conversions between generated WIT types and Volley's model that are the same in
//! every WIT version; each version's module invokes [`common_conversions!`] on its own
//! bindings and writes by hand only what changed.

/// Implements `From` for `info`, `prompt`/`message` (0.1 to 0.4), and `error-class`, given the paths
/// of a version's `types` and `workload` modules.
macro_rules! common_conversions {
    ($types:path, $workload:path) => {
        $crate::wit::convert::info_and_error_conversions!($types, $workload);

        fn convert_prompt(p: wit_types::Prompt) -> volley_core::Prompt {
            match p {
                wit_types::Prompt::Text(t) => volley_core::Prompt::Text(t),
                wit_types::Prompt::Chat(msgs) => {
                    volley_core::Prompt::Chat(msgs.into_iter().map(|m| volley_core::Message::new(m.role, m.content)).collect())
                }
            }
        }
    };
}

/// `info` and `error-class`, the same in every version.
macro_rules! info_and_error_conversions {
    ($types:path, $workload:path) => {
        use $types as wit_types;
        use $workload as wit_workload;

        impl From<wit_workload::Info> for volley_core::Info {
            fn from(i: wit_workload::Info) -> Self {
                volley_core::Info { name: i.name, version: i.version, description: i.description }
            }
        }

        fn convert_error_class(c: volley_core::ErrorClass) -> wit_types::ErrorClass {
            use volley_core::ErrorClass as E;
            match c {
                E::Connect => wit_types::ErrorClass::Connect,
                E::Timeout => wit_types::ErrorClass::Timeout,
                E::HttpStatus => wit_types::ErrorClass::HttpStatus,
                E::Protocol => wit_types::ErrorClass::Protocol,
                E::ServerError => wit_types::ErrorClass::ServerError,
                E::Incomplete => wit_types::ErrorClass::Incomplete,
                E::Cancelled => wit_types::ErrorClass::Cancelled,
            }
        }
    };
}

/// `batch` and `outcome` conversions, the same from 0.2 on.
macro_rules! batch_and_outcome_conversions {
    () => {
        impl From<wit_types::Batch> for volley_core::Batch {
            fn from(b: wit_types::Batch) -> Self {
                volley_core::Batch { requests: b.requests.into_iter().map(Into::into).collect(), done: b.done }
            }
        }

        $crate::wit::convert::outcome_conversion!();
    };
}

/// The `outcome` conversion, the same from 0.2 on.
macro_rules! outcome_conversion {
    () => {
        impl From<volley_core::Outcome> for wit_types::Outcome {
            fn from(o: volley_core::Outcome) -> Self {
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
    };
}

/// `load` and `plan`/`stage` as 0.1 to 0.3 define them (0.4 adds loads and stage fields).
macro_rules! plan_conversions_v0_1_to_v0_3 {
    () => {
        impl From<wit_types::Load> for volley_core::Load {
            fn from(l: wit_types::Load) -> Self {
                use volley_core::Load as L;
                match l {
                    wit_types::Load::Constant(rate) => L::Constant { rate },
                    wit_types::Load::Poisson(rate) => L::Poisson { rate },
                    wit_types::Load::Gamma((rate, cv)) => L::Gamma { rate, cv },
                    wit_types::Load::Ramp((from, to)) => L::Ramp { from, to },
                    wit_types::Load::Burst(n) => L::Burst { n },
                    wit_types::Load::Concurrency(n) => L::Concurrency { n },
                }
            }
        }

        impl From<wit_types::Plan> for volley_core::Plan {
            fn from(p: wit_types::Plan) -> Self {
                volley_core::Plan {
                    stages: p
                        .stages
                        .into_iter()
                        .map(|s| {
                            volley_core::Stage::new(
                                s.name,
                                s.load.into(),
                                s.duration_ms.map(std::time::Duration::from_millis),
                                s.max_requests,
                            )
                        })
                        .collect(),
                    observe_outcomes: p.observe_outcomes,
                    adaptive: false,
                }
            }
        }
    };
}

/// `api` and `tensor` conversions, the same from 0.3 on.
macro_rules! api_and_tensor_conversions {
    () => {
        fn convert_api(a: wit_types::Api) -> volley_core::Api {
            use volley_core::Api;
            match a {
                wit_types::Api::Completions => Api::Completions,
                wit_types::Api::ChatCompletions => Api::ChatCompletions,
                wit_types::Api::Embeddings => Api::Embeddings,
                wit_types::Api::TgiGenerate => Api::TgiGenerate,
                wit_types::Api::KserveV1 => Api::KserveV1,
                wit_types::Api::KserveV2 => Api::KserveV2,
                wit_types::Api::Http => Api::Http,
            }
        }

        impl From<wit_types::Tensor> for volley_core::Tensor {
            fn from(t: wit_types::Tensor) -> Self {
                volley_core::Tensor {
                    name: t.name,
                    datatype: t.datatype,
                    shape: t.shape,
                    data: match t.data {
                        wit_types::TensorData::Numbers(n) => volley_core::TensorData::Numbers(n),
                        wit_types::TensorData::Strings(s) => volley_core::TensorData::Strings(s),
                    },
                }
            }
        }
    };
}

pub(crate) use api_and_tensor_conversions;
pub(crate) use batch_and_outcome_conversions;
pub(crate) use common_conversions;
pub(crate) use info_and_error_conversions;
pub(crate) use outcome_conversion;
pub(crate) use plan_conversions_v0_1_to_v0_3;

/// `load`, `stage`, `plan` and `stage-result` as 0.4 defines them (the same in 0.5),
/// for a module that names `volley_core` `model`.
macro_rules! plan_conversions_from_v0_4 {
    () => {
        impl From<wit_types::Load> for model::Load {
            fn from(l: wit_types::Load) -> Self {
                use model::Load as L;
                match l {
                    wit_types::Load::Constant(rate) => L::Constant { rate },
                    wit_types::Load::Poisson(rate) => L::Poisson { rate },
                    wit_types::Load::Gamma((rate, cv)) => L::Gamma { rate, cv },
                    wit_types::Load::Ramp((from, to)) => L::Ramp { from, to },
                    wit_types::Load::Burst(n) => L::Burst { n },
                    wit_types::Load::Concurrency(n) => L::Concurrency { n },
                    wit_types::Load::ConcurrencyRamp((from, to)) => L::ConcurrencyRamp { from, to },
                    wit_types::Load::Custom => L::Custom,
                }
            }
        }

        fn load_to_wit(l: model::Load) -> wit_types::Load {
            use model::Load as L;
            match l {
                L::Constant { rate } => wit_types::Load::Constant(rate),
                L::Poisson { rate } => wit_types::Load::Poisson(rate),
                L::Gamma { rate, cv } => wit_types::Load::Gamma((rate, cv)),
                L::Ramp { from, to } => wit_types::Load::Ramp((from, to)),
                L::Burst { n } => wit_types::Load::Burst(n),
                L::Concurrency { n } => wit_types::Load::Concurrency(n),
                L::ConcurrencyRamp { from, to } => wit_types::Load::ConcurrencyRamp((from, to)),
                L::Custom => wit_types::Load::Custom,
                L::Sessions { n } => wit_types::Load::Concurrency(n),
            }
        }

        impl From<wit_types::Stage> for model::Stage {
            fn from(s: wit_types::Stage) -> Self {
                model::Stage {
                    name: s.name,
                    load: s.load.into(),
                    duration: s.duration_ms.map(Duration::from_millis),
                    max_requests: s.max_requests,
                    warmup: s.warmup_ms.map(Duration::from_millis),
                    cooldown: s.cooldown_ms.map(Duration::from_millis),
                    slo: s.slo.map(|o| model::Slo { ttft_ms: o.ttft_ms, itl_ms: o.itl_ms, latency_ms: o.latency_ms }),
                }
            }
        }

        impl From<wit_types::Plan> for model::Plan {
            fn from(p: wit_types::Plan) -> Self {
                model::Plan {
                    stages: p.stages.into_iter().map(Into::into).collect(),
                    observe_outcomes: p.observe_outcomes,
                    adaptive: p.adaptive,
                }
            }
        }

        fn percentiles(s: &Option<volley_core::Summary>) -> wit_types::Percentiles {
            match s {
                Some(s) => wit_types::Percentiles { count: s.count, mean: s.mean, p50: s.p50, p90: s.p90, p95: s.p95, p99: s.p99 },
                None => wit_types::Percentiles { count: 0, mean: 0.0, p50: 0.0, p90: 0.0, p95: 0.0, p99: 0.0 },
            }
        }

        /// A finished stage as the scenario sees it.
        fn stage_result(r: &model::StageResult) -> wit_types::StageResult {
            wit_types::StageResult {
                index: r.index,
                name: r.name.clone(),
                load: load_to_wit(r.load),
                sent: r.sent,
                ok: r.ok,
                failed: r.failed,
                sending_s: r.sending_s,
                send_rate: r.send_rate,
                throughput: r.throughput,
                output_tokens_per_s: r.output_tokens_per_s,
                ttft: percentiles(&r.ttft),
                itl: percentiles(&r.itl),
                tpot: percentiles(&r.tpot),
                latency: percentiles(&r.latency),
                schedule_lag: percentiles(&r.schedule_lag),
                goodput: r.goodput,
                slo_attainment: r.slo_attainment,
            }
        }
    };
}

pub(crate) use plan_conversions_from_v0_4;
