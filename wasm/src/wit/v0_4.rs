//! `volley:scenario@0.4.0`: generated bindings, the capabilities 0.4 imports (as 0.2's),
//! and the conversion of its types to and from Volley's own model (`volley_core`). New
//! in 0.4: loads `custom` (per-request gaps) and `concurrency-ramp`, stage warm-up and
//! cool-down windows and SLOs, adaptive plans with `next-stage` given the results so far.
//!
//! Released and frozen: self-contained (nothing here is shared with another version),
//! and its source's digest is pinned by `super::frozen`.

use std::time::Duration;

use volley_core as model;
use wasmtime::Store;
use wasmtime::component::{Linker, Resource};

use super::{Exports, Version};
use crate::caps::datasets::{DatasetHandle, DatasetsCap};
use crate::caps::log::{Level, LogCap};
use crate::caps::random::RandomCap;
use crate::caps::tokenizer::TokenizerCap;
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

use bindings::exports::volley::scenario::workload as wit_workload;
use bindings::volley::scenario::datasets as wit_datasets;
use bindings::volley::scenario::log as wit_log;
use bindings::volley::scenario::random as wit_random;
use bindings::volley::scenario::tokenizer as wit_tokenizer;
use bindings::volley::scenario::types as wit;

/// `volley:scenario@0.4.0`.
pub(super) static V0_4: Version = Version {
    semver: "0.4.0",
    link,
    instantiate: |store, component, linker| super::boxed(bindings::Scenario::instantiate(store, component, linker)),
};

/// 0.4 imports log, random, tokenizer and datasets, as 0.2 does.
fn link(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    wit_log::add_to_linker::<_, LogCap>(linker, |s| &mut s.caps.log)?;
    wit_random::add_to_linker::<_, RandomCap>(linker, |s| &mut s.caps.random)?;
    wit_tokenizer::add_to_linker::<_, TokenizerCap>(linker, |s| &mut s.caps.tokenizer)?;
    wit_datasets::add_to_linker::<_, DatasetsCap>(linker, |s| &mut s.caps.datasets)?;
    Ok(())
}

impl wit_log::Host for LogCap {
    fn log(&mut self, level: wit_log::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            wit_log::Level::Debug => Level::Debug,
            wit_log::Level::Info => Level::Info,
            wit_log::Level::Warn => Level::Warn,
            wit_log::Level::Error => Level::Error,
        };
        self.write(level, &message);
        Ok(())
    }
}

impl wit_random::Host for RandomCap {
    fn next_u64(&mut self) -> wasmtime::Result<u64> {
        Ok(RandomCap::next_u64(self))
    }

    fn next_f64(&mut self) -> wasmtime::Result<f64> {
        Ok(RandomCap::next_f64(self))
    }
}

impl wit_tokenizer::Host for TokenizerCap {
    fn available(&mut self) -> wasmtime::Result<bool> {
        Ok(TokenizerCap::available(self))
    }

    fn count(&mut self, text: String) -> wasmtime::Result<u32> {
        TokenizerCap::count(self, &text)
    }

    fn encode(&mut self, text: String) -> wasmtime::Result<Vec<u32>> {
        TokenizerCap::encode(self, &text)
    }

    fn decode(&mut self, ids: Vec<u32>) -> wasmtime::Result<String> {
        TokenizerCap::decode(self, &ids)
    }

    fn synth_text(&mut self, tokens: u32, seed: u64) -> wasmtime::Result<String> {
        TokenizerCap::synth_text(self, tokens, seed)
    }

    fn truncate(&mut self, text: String, tokens: u32) -> wasmtime::Result<String> {
        TokenizerCap::truncate(self, &text, tokens)
    }
}

impl wit_datasets::Host for DatasetsCap {}

impl wit_datasets::HostDataset for DatasetsCap {
    fn open(&mut self, name: String) -> wasmtime::Result<Result<Resource<DatasetHandle>, String>> {
        DatasetsCap::open(self, &name)
    }

    fn len(&mut self, handle: Resource<DatasetHandle>) -> wasmtime::Result<u64> {
        DatasetsCap::len(self, &handle)
    }

    fn row(&mut self, handle: Resource<DatasetHandle>, index: u64) -> wasmtime::Result<Option<wit_datasets::Row>> {
        let row = DatasetsCap::row(self, &handle, index)?;
        Ok(row.map(|r| wit_datasets::Row {
            messages: r.messages.into_iter().map(|m| wit::Message { role: m.role, content: m.content }).collect(),
            raw: r.raw,
        }))
    }

    fn drop(&mut self, handle: Resource<DatasetHandle>) -> wasmtime::Result<()> {
        DatasetsCap::close(self, handle)
    }
}

impl Exports for bindings::Scenario {
    fn describe(&self, store: &mut Store<StoreState>) -> wasmtime::Result<model::Info> {
        let i = self.volley_scenario_workload().call_describe(store)?;
        Ok(info(i))
    }

    fn configure(&self, store: &mut Store<StoreState>, params: &str) -> wasmtime::Result<Result<model::Plan, String>> {
        Ok(self.volley_scenario_workload().call_configure(store, params)?.map(plan))
    }

    fn next_requests(&self, store: &mut Store<StoreState>, stage: u32, seq: u64, max: u32) -> wasmtime::Result<model::Batch> {
        let b = self.volley_scenario_workload().call_next_requests(store, stage, seq, max)?;
        Ok(model::Batch { requests: b.requests.into_iter().map(request).collect(), done: b.done })
    }

    /// 0.4's `on-outcome` returns nothing: nothing follows, nothing ends.
    fn on_outcome(&self, store: &mut Store<StoreState>, o: model::Outcome) -> wasmtime::Result<model::Reaction> {
        self.volley_scenario_workload().call_on_outcome(store, &outcome(o))?;
        Ok(model::Reaction::none())
    }

    fn next_stage(&self, store: &mut Store<StoreState>, results: &[model::StageResult]) -> wasmtime::Result<Option<model::Stage>> {
        let results: Vec<wit::StageResult> = results.iter().map(stage_result).collect();
        Ok(self.volley_scenario_workload().call_next_stage(store, &results)?.map(stage))
    }
}

fn info(i: wit_workload::Info) -> model::Info {
    model::Info { name: i.name, version: i.version, description: i.description }
}

fn load(l: wit::Load) -> model::Load {
    use model::Load as L;
    match l {
        wit::Load::Constant(rate) => L::Constant { rate },
        wit::Load::Poisson(rate) => L::Poisson { rate },
        wit::Load::Gamma((rate, cv)) => L::Gamma { rate, cv },
        wit::Load::Ramp((from, to)) => L::Ramp { from, to },
        wit::Load::Burst(n) => L::Burst { n },
        wit::Load::Concurrency(n) => L::Concurrency { n },
        wit::Load::ConcurrencyRamp((from, to)) => L::ConcurrencyRamp { from, to },
        wit::Load::Custom => L::Custom,
    }
}

/// A load as 0.4 can say it (in a stage result).
fn load_to_wit(l: model::Load) -> wit::Load {
    use model::Load as L;
    match l {
        L::Constant { rate } => wit::Load::Constant(rate),
        L::Poisson { rate } => wit::Load::Poisson(rate),
        L::Gamma { rate, cv } => wit::Load::Gamma((rate, cv)),
        L::Ramp { from, to } => wit::Load::Ramp((from, to)),
        L::Burst { n } => wit::Load::Burst(n),
        L::Concurrency { n } => wit::Load::Concurrency(n),
        L::ConcurrencyRamp { from, to } => wit::Load::ConcurrencyRamp((from, to)),
        L::Custom => wit::Load::Custom,
        // Newer than 0.4 (0.6), so never in a 0.4 scenario's own stages; said as the
        // nearest 0.4 load, a closed loop of N, rather than refused.
        L::Sessions { n } => wit::Load::Concurrency(n),
    }
}

fn stage(s: wit::Stage) -> model::Stage {
    model::Stage {
        name: s.name,
        load: load(s.load),
        duration: s.duration_ms.map(Duration::from_millis),
        max_requests: s.max_requests,
        warmup: s.warmup_ms.map(Duration::from_millis),
        cooldown: s.cooldown_ms.map(Duration::from_millis),
        slo: s.slo.map(|o| model::Slo { ttft_ms: o.ttft_ms, itl_ms: o.itl_ms, latency_ms: o.latency_ms }),
    }
}

fn plan(p: wit::Plan) -> model::Plan {
    model::Plan { stages: p.stages.into_iter().map(stage).collect(), observe_outcomes: p.observe_outcomes, adaptive: p.adaptive }
}

fn percentiles(s: &Option<model::Summary>) -> wit::Percentiles {
    match s {
        Some(s) => wit::Percentiles { count: s.count, mean: s.mean, p50: s.p50, p90: s.p90, p95: s.p95, p99: s.p99 },
        None => wit::Percentiles { count: 0, mean: 0.0, p50: 0.0, p90: 0.0, p95: 0.0, p99: 0.0 },
    }
}

/// A finished stage as the scenario sees it.
fn stage_result(r: &model::StageResult) -> wit::StageResult {
    wit::StageResult {
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

fn api(a: wit::Api) -> model::Api {
    use model::Api;
    match a {
        wit::Api::Completions => Api::Completions,
        wit::Api::ChatCompletions => Api::ChatCompletions,
        wit::Api::Embeddings => Api::Embeddings,
        wit::Api::TgiGenerate => Api::TgiGenerate,
        wit::Api::KserveV1 => Api::KserveV1,
        wit::Api::KserveV2 => Api::KserveV2,
        wit::Api::Http => Api::Http,
    }
}

fn tensor(t: wit::Tensor) -> model::Tensor {
    model::Tensor {
        name: t.name,
        datatype: t.datatype,
        shape: t.shape,
        data: match t.data {
            wit::TensorData::Numbers(n) => model::TensorData::Numbers(n),
            wit::TensorData::Strings(s) => model::TensorData::Strings(s),
        },
    }
}

fn prompt(p: wit::Prompt) -> model::Prompt {
    match p {
        wit::Prompt::Text(t) => model::Prompt::Text(t),
        wit::Prompt::Chat(msgs) => model::Prompt::Chat(msgs.into_iter().map(|m| model::Message::new(m.role, m.content)).collect()),
    }
}

fn request(r: wit::Request) -> model::ScenarioRequest {
    model::ScenarioRequest {
        model: r.model,
        max_tokens: r.max_tokens,
        stream: r.stream,
        headers: r.headers,
        body_extra: r.body_extra,
        tag: r.tag,
        session: r.session,
        prompt_tokens: r.prompt_tokens,
        inputs: r.inputs.into_iter().map(tensor).collect(),
        model_version: r.model_version,
        body: r.body,
        method: r.method,
        path: r.path,
        batch_size: r.batch_size,
        gap: r.gap_ns.map(Duration::from_nanos),
        ..model::ScenarioRequest::new(api(r.api), prompt(r.prompt))
    }
}

fn error_class(c: model::ErrorClass) -> wit::ErrorClass {
    use model::ErrorClass as E;
    match c {
        E::Connect => wit::ErrorClass::Connect,
        E::Timeout => wit::ErrorClass::Timeout,
        E::HttpStatus => wit::ErrorClass::HttpStatus,
        E::Protocol => wit::ErrorClass::Protocol,
        E::ServerError => wit::ErrorClass::ServerError,
        E::Incomplete => wit::ErrorClass::Incomplete,
        E::Cancelled => wit::ErrorClass::Cancelled,
    }
}

fn outcome(o: model::Outcome) -> wit::Outcome {
    wit::Outcome {
        stage: o.stage,
        seq: o.seq,
        session: o.session,
        ok: o.ok,
        status: o.status,
        error: o.error.map(error_class),
        ttft_ns: o.ttft.map(|d| d.as_nanos() as u64),
        latency_ns: o.latency.as_nanos() as u64,
        output_tokens: o.output_tokens,
        prompt_tokens: o.prompt_tokens,
        text: o.text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sessions_load_is_said_as_a_closed_loop() {
        assert!(matches!(load_to_wit(model::Load::Sessions { n: 3 }), wit::Load::Concurrency(3)));
    }
}
