//! Serving one generation, whatever the API: count it, wait for a slot, then stream
//! its chunks at their planned instants or sleep through them and send the whole body.
//! Chat completions, completions, TGI, the Responses API and the Messages API all end
//! here, each with its own [`Wire`].

use std::sync::atomic::Ordering::Relaxed;

use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::Value;

use super::generation::{Dialect, Flavor, Generation, SimRequest, Translated};
use super::response::{Limited, SimBody};
use super::stream::{TokenStream, Wire};
use super::{InFlight, Shared};

/// How an API the simulator translates into a chat request (Responses, Messages) is
/// read and answered: its translation, its error shape, its dialect and wire.
pub(crate) struct Translating {
    pub translate: fn(&Value) -> Result<Translated, String>,
    pub error: fn(StatusCode, &str) -> Response<SimBody>,
    pub dialect: Dialect,
    pub wire: Box<dyn Wire>,
}

/// Reads a request of a translated API (a bad body, or one its translation refuses, is
/// its error shape's 400), then answers it on the chat path in its own wire form.
pub(crate) async fn translated(req: Request<Incoming>, shared: &Shared, api: Translating) -> Response<SimBody> {
    let body = match Limited::collect(req.into_body()).await {
        Ok(b) => b,
        Err(msg) => return (api.error)(StatusCode::BAD_REQUEST, &msg),
    };
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return (api.error)(StatusCode::BAD_REQUEST, &format!("invalid JSON body: {e}")),
    };
    let translated = match (api.translate)(&v) {
        Ok(t) => t,
        Err(msg) => return (api.error)(StatusCode::BAD_REQUEST, &msg),
    };
    let stream = translated.stream;
    let parsed = SimRequest::translated(translated, api.dialect);
    generate(shared, &parsed, Flavor::Chat, stream, api.wire).await
}

/// Answers a parsed request: streamed when `stream`, else one body after the whole
/// generation's time.
pub(crate) async fn generate(shared: &Shared, parsed: &SimRequest, flavor: Flavor, stream: bool, wire: Box<dyn Wire>) -> Response<SimBody> {
    // Ground truth for agents: were the tool-call ids sent back ones this simulator issued?
    if let (Flavor::Chat, Some(messages)) = (flavor, &parsed.messages) {
        shared.issued_ids.check(messages, &shared.stats);
    }
    let in_flight = InFlight::new(&shared.stats);
    shared.stats.count_model(parsed.model.as_deref().unwrap_or(&shared.config.model));
    // Wait for a generation slot: the queueing delay lands in TTFT, as on a real server.
    let slot = match &shared.slots {
        Some(sem) => {
            shared.stats.waiting.fetch_add(1, Relaxed);
            let permit = sem.clone().acquire_owned().await.ok();
            shared.stats.waiting.fetch_sub(1, Relaxed);
            permit
        }
        None => None,
    };
    let mut generation = Generation::new(parsed, flavor, shared);
    shared.stats.tokens_generated.fetch_add(u64::from(generation.tokens), Relaxed);
    if stream {
        let mut resp = Response::new(Either::Right(TokenStream::new(generation, wire, in_flight, slot)));
        resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        resp.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return resp;
    }
    let delay = generation.total_delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let body = wire.whole(&generation);
    drop((in_flight, slot));
    let mut resp = Response::new(Either::Left(Full::new(body)));
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}
