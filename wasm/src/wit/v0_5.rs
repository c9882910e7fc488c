//! `volley:scenario@0.5.0`: generated bindings and conversions. New in 0.5: chat
//! messages of content parts (text, images and audio from a granted folder or inline
//! bytes), `keep-text` on a request, and the `checks` capability.
//!
//! A request's media are resolved here, with the store at hand: a granted file is read
//! and encoded by the media capability (once, then shared), so the model's requests
//! carry encoded media and the engine never sees a grant.

use std::time::Duration;

use volley_core as model;
use wasmtime::Store;
use wasmtime::component::{Component, Linker};

use crate::caps::media::MediaCap;
use crate::sandbox::StoreState;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/v0.5",
        world: "scenario",
        // Host functions may fail the run (no tokenizer, a dataset read error).
        imports: { default: trappable },
        with: {
            "volley:scenario/datasets.dataset": crate::caps::datasets::DatasetHandle,
        },
    });
}

crate::caps::host_traits!(bindings);

impl bindings::volley::scenario::checks::Host for crate::caps::checks::ChecksCap {
    fn check(&mut self, name: String, passed: bool) -> wasmtime::Result<()> {
        crate::caps::checks::ChecksCap::check(self, &name, passed);
        Ok(())
    }
}

super::convert::info_and_error_conversions!(bindings::volley::scenario::types, bindings::exports::volley::scenario::workload);
super::convert::plan_conversions_from_v0_4!();
super::convert::api_and_tensor_conversions!();
super::convert::outcome_conversion!();

fn convert_media(m: wit_types::Media, media: &mut MediaCap) -> Result<model::Media, String> {
    match m {
        wit_types::Media::Granted(f) => media.granted(&f.dataset, f.index),
        wit_types::Media::Inline(i) => MediaCap::inline(&i.mime, &i.data),
    }
}

fn convert_part(p: wit_types::ContentPart, media: &mut MediaCap) -> Result<model::ContentPart, String> {
    Ok(match p {
        wit_types::ContentPart::Text(t) => model::ContentPart::Text(t),
        wit_types::ContentPart::Image(i) => model::ContentPart::Image { media: convert_media(i.media, media)?, detail: i.detail },
        wit_types::ContentPart::Audio(m) => model::ContentPart::Audio(convert_media(m, media)?),
    })
}

fn convert_prompt(p: wit_types::Prompt, media: &mut MediaCap) -> Result<model::Prompt, String> {
    Ok(match p {
        wit_types::Prompt::Text(t) => model::Prompt::Text(t),
        wit_types::Prompt::Chat(msgs) => model::Prompt::Chat(msgs.into_iter().map(|m| model::Message::new(m.role, m.content)).collect()),
        wit_types::Prompt::ChatParts(msgs) => model::Prompt::Chat(
            msgs.into_iter()
                .map(|m| {
                    let parts = m.parts.into_iter().map(|p| convert_part(p, media)).collect::<Result<_, _>>()?;
                    Ok(model::Message::with_parts(m.role, parts))
                })
                .collect::<Result<_, String>>()?,
        ),
    })
}

fn convert_request(r: wit_types::Request, media: &mut MediaCap) -> Result<model::ScenarioRequest, String> {
    Ok(model::ScenarioRequest {
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
        keep_text: r.keep_text,
        ..model::ScenarioRequest::new(convert_api(r.api), convert_prompt(r.prompt, media)?)
    })
}

/// `volley:scenario@0.5.0`.
pub(super) struct V0_5;

impl crate::wit::Version for V0_5 {
    fn semver(&self) -> &'static str {
        "0.5.0"
    }

    fn link(&self, linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
        let linked: wasmtime::Result<()> = crate::caps::link_capabilities!(linker, bindings);
        linked?;
        use crate::caps::checks::ChecksCap;
        bindings::volley::scenario::checks::add_to_linker::<_, ChecksCap>(linker, |s| &mut s.caps.checks)
    }

    fn instantiate(
        &self,
        store: &mut Store<StoreState>,
        component: &Component,
        linker: &Linker<StoreState>,
    ) -> wasmtime::Result<Box<dyn crate::wit::Exports>> {
        Ok(Box::new(bindings::Scenario::instantiate(store, component, linker)?))
    }
}

impl crate::wit::Exports for bindings::Scenario {
    fn describe(&self, store: &mut Store<StoreState>) -> wasmtime::Result<model::Info> {
        self.volley_scenario_workload().call_describe(store).map(Into::into)
    }

    fn configure(&self, store: &mut Store<StoreState>, params: &str) -> wasmtime::Result<Result<model::Plan, String>> {
        Ok(self.volley_scenario_workload().call_configure(store, params)?.map(Into::into))
    }

    fn next_requests(&self, store: &mut Store<StoreState>, stage: u32, seq: u64, max: u32) -> wasmtime::Result<model::Batch> {
        store.data_mut().caps.checks.enter_stage(stage);
        let batch = self.volley_scenario_workload().call_next_requests(&mut *store, stage, seq, max)?;
        let media = &mut store.data_mut().caps.media;
        let requests = batch
            .requests
            .into_iter()
            .map(|r| convert_request(r, media))
            .collect::<Result<_, _>>()
            .map_err(|e| wasmtime::format_err!("{e}"))?;
        Ok(model::Batch { requests, done: batch.done })
    }

    fn on_outcome(&self, store: &mut Store<StoreState>, outcome: model::Outcome) -> wasmtime::Result<()> {
        store.data_mut().caps.checks.enter_stage(outcome.stage);
        self.volley_scenario_workload().call_on_outcome(store, &outcome.into())
    }

    fn next_stage(&self, store: &mut Store<StoreState>, results: &[model::StageResult]) -> wasmtime::Result<Option<model::Stage>> {
        let wit: Vec<_> = results.iter().map(stage_result).collect();
        Ok(self.volley_scenario_workload().call_next_stage(store, &wit)?.map(Into::into))
    }
}
