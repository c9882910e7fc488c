//! `volley:scenario@0.4.0`: generated bindings and conversions. New in 0.4: loads
//! `custom` (per-request gaps) and `concurrency-ramp`, stage warm-up/cool-down windows
//! and SLOs, adaptive plans with `next-stage` given the results so far.

use std::time::Duration;

use volley_core as model;
use volley_core::Summary;
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

super::convert::common_conversions!(
    bindings::volley::scenario::types,
    bindings::exports::volley::scenario::workload
);

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

fn percentiles(s: &Option<Summary>) -> wit_types::Percentiles {
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
