//! `volley:scenario@0.6.0`: generated bindings, the capabilities 0.6 imports (as 0.5's),
//! and the conversion of its types to and from Volley's own model (`volley_core`). New
//! in 0.6: agent sessions. Messages carry tool calls and tool results, requests offer
//! tools, a tool choice and (follow-ups) a delay; outcomes carry the model's tool calls,
//! its finish reason and the cached prompt tokens; `on-outcome` returns a reaction (the
//! follow-up requests of the outcome's session, and whether its task ended); the
//! `sessions` load keeps N sessions open. The one `message` record holds content parts
//! (0.5's `chat-parts` is gone).
//!
//! A request's media are resolved here, with the store at hand, as in 0.5: a granted file
//! is read and encoded by the media capability (once, then shared), so the model's
//! requests carry encoded media and the engine never sees a grant.
//!
//! Also new: the Responses and Messages APIs, `request.key` (given back in the outcome)
//! and datasets' typed trace rows.
//!
//! Released: frozen like 0.1 to 0.5 (the digests of `super::frozen`).

use std::time::Duration;

use volley_core as model;
use wasmtime::Store;
use wasmtime::component::{Linker, Resource};

use super::{Exports, Version};
use crate::caps::checks::ChecksCap;
use crate::caps::datasets::{DatasetHandle, DatasetsCap};
use crate::caps::log::{Level, LogCap};
use crate::caps::media::MediaCap;
use crate::caps::random::RandomCap;
use crate::caps::tokenizer::TokenizerCap;
use crate::sandbox::StoreState;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/v0.6",
        world: "scenario",
        // Host functions may fail the run (no tokenizer, a dataset read error).
        imports: { default: trappable },
        with: {
            "volley:scenario/datasets.dataset": crate::caps::datasets::DatasetHandle,
        },
    });
}

use bindings::exports::volley::scenario::workload as wit_workload;
use bindings::volley::scenario::checks as wit_checks;
use bindings::volley::scenario::datasets as wit_datasets;
use bindings::volley::scenario::log as wit_log;
use bindings::volley::scenario::random as wit_random;
use bindings::volley::scenario::tokenizer as wit_tokenizer;
use bindings::volley::scenario::types as wit;

/// `volley:scenario@0.6.0`.
pub(super) static V0_6: Version = Version {
    semver: "0.6.0",
    link,
    instantiate: |store, component, linker| super::boxed(bindings::Scenario::instantiate(store, component, linker)),
};

/// 0.6 imports log, random, tokenizer, datasets and checks, as 0.5 does.
fn link(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    wit_log::add_to_linker::<_, LogCap>(linker, |s| &mut s.caps.log)?;
    wit_random::add_to_linker::<_, RandomCap>(linker, |s| &mut s.caps.random)?;
    wit_tokenizer::add_to_linker::<_, TokenizerCap>(linker, |s| &mut s.caps.tokenizer)?;
    wit_datasets::add_to_linker::<_, DatasetsCap>(linker, |s| &mut s.caps.datasets)?;
    wit_checks::add_to_linker::<_, ChecksCap>(linker, |s| &mut s.caps.checks)?;
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
            messages: r.messages.into_iter().map(row_message).collect(),
            raw: r.raw,
            trace: r.trace.map(trace_row),
        }))
    }

    fn drop(&mut self, handle: Resource<DatasetHandle>) -> wasmtime::Result<()> {
        DatasetsCap::close(self, handle)
    }
}

impl wit_checks::Host for ChecksCap {
    fn check(&mut self, name: String, passed: bool) -> wasmtime::Result<()> {
        ChecksCap::check(self, &name, passed);
        Ok(())
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

    /// Checks made in the call count in `stage`; media are resolved.
    fn next_requests(&self, store: &mut Store<StoreState>, stage: u32, seq: u64, max: u32) -> wasmtime::Result<model::Batch> {
        store.data_mut().caps.checks.enter_stage(stage);
        let b = self.volley_scenario_workload().call_next_requests(&mut *store, stage, seq, max)?;
        let media = &mut store.data_mut().caps.media;
        let requests = super::requests(b.requests, |r| request(r, media))?;
        Ok(model::Batch { requests, done: b.done })
    }

    /// Checks made in the call count in the outcome's stage. The reaction's follow-ups
    /// are converted as `next-requests`' are (media resolved; a refused one fails the
    /// call).
    fn on_outcome(&self, store: &mut Store<StoreState>, o: model::Outcome) -> wasmtime::Result<model::Reaction> {
        store.data_mut().caps.checks.enter_stage(o.stage);
        let r = self.volley_scenario_workload().call_on_outcome(&mut *store, &outcome(o))?;
        let media = &mut store.data_mut().caps.media;
        let requests = super::requests(r.requests, |r| request(r, media))?;
        Ok(model::Reaction { requests, end: r.end.map(task_end) })
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
        wit::Load::Sessions(n) => L::Sessions { n },
    }
}

/// A load as 0.6 says it (in a stage result).
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
        L::Sessions { n } => wit::Load::Sessions(n),
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
        wit::Api::Responses => Api::Responses,
        wit::Api::Messages => Api::Messages,
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

fn media(m: wit::Media, cap: &mut MediaCap) -> Result<model::Media, String> {
    match m {
        wit::Media::Granted(f) => cap.granted(&f.dataset, f.index),
        wit::Media::Inline(i) => MediaCap::inline(&i.mime, &i.data),
    }
}

fn part(p: wit::ContentPart, cap: &mut MediaCap) -> Result<model::ContentPart, String> {
    Ok(match p {
        wit::ContentPart::Text(t) => model::ContentPart::Text(t),
        wit::ContentPart::Image(i) => model::ContentPart::Image { media: media(i.media, cap)?, detail: i.detail },
        wit::ContentPart::Audio(m) => model::ContentPart::Audio(media(m, cap)?),
    })
}

fn tool_call(c: wit::ToolCall) -> model::ToolCall {
    model::ToolCall { id: c.id, name: c.name, arguments: c.arguments }
}

fn tool_call_to_wit(c: model::ToolCall) -> wit::ToolCall {
    wit::ToolCall { id: c.id, name: c.name, arguments: c.arguments }
}

fn message(m: wit::Message, cap: &mut MediaCap) -> Result<model::Message, String> {
    Ok(model::Message {
        role: m.role,
        content: m.content,
        parts: m.parts.into_iter().map(|p| part(p, cap)).collect::<Result<_, _>>()?,
        tool_calls: m.tool_calls.into_iter().map(tool_call).collect(),
        tool_call_id: m.tool_call_id,
    })
}

/// A dataset row's message as the scenario sees it. Rows hold text (role and content);
/// a text part is given back as one, while media, which a row never holds (a granted
/// folder's row names its file in `raw`), have no form a scenario could send back.
fn trace_row(t: volley_data::TraceRow) -> wit_datasets::TraceRow {
    wit_datasets::TraceRow {
        at_us: t.at_us,
        input_tokens: t.input_tokens,
        output_tokens: t.output_tokens,
        hash_ids: t.hash_ids,
        model: t.model.map(|m| m.to_string()),
        session: t.session.map(|s| s.to_string()),
        after: t.after,
        delay_us: t.delay_us,
        tool_calls: t.tool_calls,
    }
}

fn row_message(m: model::Message) -> wit::Message {
    wit::Message {
        role: m.role,
        content: m.content,
        parts: m
            .parts
            .into_iter()
            .filter_map(|p| match p {
                model::ContentPart::Text(t) => Some(wit::ContentPart::Text(t)),
                model::ContentPart::Image { .. } | model::ContentPart::Audio(_) => None,
            })
            .collect(),
        tool_calls: m.tool_calls.into_iter().map(tool_call_to_wit).collect(),
        tool_call_id: m.tool_call_id,
    }
}

fn prompt(p: wit::Prompt, cap: &mut MediaCap) -> Result<model::Prompt, String> {
    Ok(match p {
        wit::Prompt::Text(t) => model::Prompt::Text(t),
        wit::Prompt::Chat(msgs) => model::Prompt::Chat(msgs.into_iter().map(|m| message(m, cap)).collect::<Result<_, _>>()?),
    })
}

fn tool(t: wit::Tool) -> model::Tool {
    model::Tool { name: t.name, description: t.description, parameters: t.parameters }
}

fn tool_choice(c: wit::ToolChoice) -> model::ToolChoice {
    match c {
        wit::ToolChoice::Auto => model::ToolChoice::Auto,
        wit::ToolChoice::None => model::ToolChoice::None,
        wit::ToolChoice::Required => model::ToolChoice::Required,
        wit::ToolChoice::Function(name) => model::ToolChoice::Function(name),
    }
}

fn delay(d: wit::Delay) -> model::Delay {
    model::Delay { tool: Duration::from_nanos(d.tool_ns), think: Duration::from_nanos(d.think_ns) }
}

fn task_end(e: wit::TaskEnd) -> model::TaskEnd {
    match e {
        wit::TaskEnd::Completed => model::TaskEnd::Completed,
        wit::TaskEnd::Failed => model::TaskEnd::Failed,
    }
}

/// A request, its media read and encoded; an error says which media cannot be.
fn request(r: wit::Request, cap: &mut MediaCap) -> Result<model::ScenarioRequest, String> {
    Ok(model::ScenarioRequest {
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
        keep_text: r.keep_text,
        tools: r.tools.into_iter().map(tool).collect(),
        tool_choice: r.tool_choice.map(tool_choice),
        delay: r.delay.map(delay),
        history: r.history,
        key: r.key,
        ..model::ScenarioRequest::new(api(r.api), prompt(r.prompt, cap)?)
    })
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
        key: o.key,
        ok: o.ok,
        status: o.status,
        error: o.error.map(error_class),
        ttft_ns: o.ttft.map(|d| d.as_nanos() as u64),
        latency_ns: o.latency.as_nanos() as u64,
        output_tokens: o.output_tokens,
        prompt_tokens: o.prompt_tokens,
        text: o.text,
        tool_calls: o.tool_calls.into_iter().map(tool_call_to_wit).collect(),
        finish_reason: o.finish_reason,
        cached_tokens: o.cached_tokens,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn chat(messages: Vec<wit::Message>) -> wit::Request {
        wit::Request {
            api: wit::Api::ChatCompletions,
            model: None,
            prompt: wit::Prompt::Chat(messages),
            max_tokens: Some(8),
            stream: true,
            headers: vec![],
            body_extra: None,
            tag: None,
            session: Some(7),
            prompt_tokens: None,
            inputs: vec![],
            model_version: None,
            body: None,
            method: None,
            path: None,
            batch_size: None,
            gap_ns: None,
            keep_text: false,
            tools: vec![],
            tool_choice: None,
            delay: None,
            history: None,
            key: None,
        }
    }

    fn message(role: &str, content: &str) -> wit::Message {
        wit::Message { role: role.into(), content: content.into(), parts: vec![], tool_calls: vec![], tool_call_id: None }
    }

    #[test]
    fn a_follow_up_keeps_its_tools_calls_and_delay() {
        let call = wit::ToolCall { id: "c1".into(), name: "search".into(), arguments: r#"{"q":"x"}"#.into() };
        let r = wit::Request {
            tools: vec![wit::Tool { name: "search".into(), description: "finds".into(), parameters: r#"{"type":"object"}"#.into() }],
            tool_choice: Some(wit::ToolChoice::Function("search".into())),
            delay: Some(wit::Delay { tool_ns: 2_000_000, think_ns: 3_000_000 }),
            history: Some(3),
            ..chat(vec![
                message("user", "find x"),
                wit::Message { tool_calls: vec![call], ..message("assistant", "") },
                wit::Message { tool_call_id: Some("c1".into()), ..message("tool", "found") },
            ])
        };
        let r = request(r, &mut MediaCap::new(&[])).unwrap();
        assert_eq!((r.session, r.history), (Some(7), Some(3)));
        assert_eq!(
            r.tools,
            vec![model::Tool { name: "search".into(), description: "finds".into(), parameters: r#"{"type":"object"}"#.into() }]
        );
        assert_eq!(r.tool_choice, Some(model::ToolChoice::Function("search".into())));
        let d = r.delay.unwrap();
        assert_eq!((d.tool, d.think, d.total()), (Duration::from_millis(2), Duration::from_millis(3), Duration::from_millis(5)));
        let model::Prompt::Chat(m) = r.prompt else { panic!("a chat") };
        assert_eq!(
            m[1],
            model::Message::assistant_calls(
                "",
                vec![model::ToolCall { id: "c1".into(), name: "search".into(), arguments: r#"{"q":"x"}"#.into() }]
            )
        );
        assert_eq!(m[2], model::Message::tool_result("c1", "found"));
    }

    #[test]
    fn a_message_of_parts_resolves_its_media() {
        let inline = wit::ContentPart::Image(wit::ImagePart {
            media: wit::Media::Inline(wit::InlineMedia { mime: "image/png".into(), data: vec![1, 2, 3] }),
            detail: Some("low".into()),
        });
        let r = chat(vec![wit::Message { parts: vec![wit::ContentPart::Text("see".into()), inline], ..message("user", "") }]);
        let r = request(r, &mut MediaCap::new(&[])).unwrap();
        let model::Prompt::Chat(m) = r.prompt else { panic!("a chat") };
        assert!(matches!(&m[0].parts[1], model::ContentPart::Image { media, detail: Some(d) } if &*media.base64 == "AQID" && d == "low"));

        let granted = wit::ContentPart::Audio(wit::Media::Granted(wit::GrantedFile { dataset: "clips".into(), index: 0 }));
        let r = chat(vec![wit::Message { parts: vec![granted], ..message("user", "") }]);
        assert!(request(r, &mut MediaCap::new(&[])).unwrap_err().contains("dataset 'clips', which was not granted"));
    }

    #[test]
    fn the_outcome_carries_tool_calls_and_the_sessions_load_round_trips() {
        let o = model::Outcome {
            stage: 1,
            seq: 2,
            session: Some(3),
            key: Some(9),
            ok: true,
            status: 200,
            error: None,
            ttft: Some(Duration::from_millis(1)),
            latency: Duration::from_millis(4),
            output_tokens: 5,
            prompt_tokens: Some(6),
            text: None,
            tool_calls: vec![model::ToolCall { id: "a".into(), name: "f".into(), arguments: "{}".into() }],
            finish_reason: Some("tool_calls".into()),
            cached_tokens: Some(4),
            completed: Instant::now(),
        };
        let w = outcome(o);
        assert_eq!((w.tool_calls.len(), w.tool_calls[0].id.as_str(), w.key), (1, "a", Some(9)));
        assert_eq!((w.finish_reason.as_deref(), w.cached_tokens), (Some("tool_calls"), Some(4)));
        assert_eq!(load(wit::Load::Sessions(2)), model::Load::Sessions { n: 2 });
        assert!(matches!(load_to_wit(model::Load::Sessions { n: 2 }), wit::Load::Sessions(2)));
        assert_eq!(task_end(wit::TaskEnd::Failed), model::TaskEnd::Failed);
    }
}
