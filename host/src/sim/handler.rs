//! Request routing and response generation for the simulator.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::stream::TokenStream;
use super::{InFlight, Shared};
use crate::rng::{Rng, Stream};

pub type SimBody = Either<Full<Bytes>, TokenStream>;

/// Largest request body accepted.
const MAX_REQUEST: usize = 32 << 20;

/// Token texts; each generated token is one of these words.
const WORDS: &[&str] = &[
    " the", " quick", " brown", " fox", " jumps", " over", " a", " lazy", " dog", " while", " volley",
    " measures", " every", " token", " as", " it", " arrives", " on", " time",
];

pub async fn handle(req: Request<Incoming>, shared: &Shared) -> Response<SimBody> {
    let chat = match (req.method(), req.uri().path()) {
        (&Method::POST, "/v1/completions") => false,
        (&Method::POST, "/v1/chat/completions") => true,
        (&Method::GET, "/v1/models") => {
            let id = &shared.config.model;
            return json_response(
                StatusCode::OK,
                &json!({"object": "list", "data": [{"id": id, "object": "model", "created": 0, "owned_by": "volley-sim"}]}),
            );
        }
        (&Method::GET, "/health") => return json_response(StatusCode::OK, &json!({"status": "ok"})),
        (&Method::GET, "/sim/stats") => return json_response(StatusCode::OK, &json!(shared.stats.snapshot())),
        (_, path) => return error(StatusCode::NOT_FOUND, &format!("no route for {} {path}", req.method())),
    };
    let body = match Limited::collect(req.into_body()).await {
        Ok(b) => b,
        Err(msg) => return error(StatusCode::BAD_REQUEST, &msg),
    };
    let parsed: SimRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid JSON body: {e}")),
    };
    if chat && parsed.messages.is_none() {
        return error(StatusCode::BAD_REQUEST, "'messages' is required");
    }
    if !chat && parsed.prompt.is_none() {
        return error(StatusCode::BAD_REQUEST, "'prompt' is required");
    }
    let in_flight = InFlight::new(&shared.stats);
    let mut generation = Generation::new(&parsed, chat, shared);
    if parsed.stream.unwrap_or(false) {
        let mut resp = Response::new(Either::Right(TokenStream::new(generation, in_flight)));
        resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        resp.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return resp;
    }
    let delay = generation.total_delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let body = generation.whole_body();
    drop(in_flight);
    let mut resp = Response::new(Either::Left(Full::new(body)));
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

struct Limited;

impl Limited {
    async fn collect(mut body: Incoming) -> Result<Bytes, String> {
        let mut buf = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("cannot read the body: {e}"))?;
            if let Some(d) = frame.data_ref() {
                if buf.len() + d.len() > MAX_REQUEST {
                    return Err("request body too large".into());
                }
                buf.extend_from_slice(d);
            }
        }
        Ok(buf.freeze())
    }
}

#[derive(Deserialize)]
struct SimRequest {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    prompt: Option<Value>,
    #[serde(default)]
    messages: Option<Vec<Value>>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    max_completion_tokens: Option<u32>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

/// One simulated generation: its sizes, timing and how to render it.
pub(crate) struct Generation {
    chat: bool,
    id: u64,
    /// The model name as a JSON string literal, quotes included.
    model_json: String,
    tokens: u32,
    tokens_per_chunk: u32,
    prompt_tokens: u32,
    include_usage: bool,
    usage_in_body: bool,
    /// Output words come from this tokenizer's single-token words, if set.
    words: Option<std::sync::Arc<crate::tokenizer::Tokenizer>>,
    ttft: Duration,
    itl: Duration,
    jitter: f64,
    rng: Rng,
}

impl Generation {
    fn new(r: &SimRequest, chat: bool, shared: &Shared) -> Self {
        let c = &shared.config;
        let id = shared.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let model = r.model.as_deref().unwrap_or(&c.model);
        let count = |v: &Value| match &c.tokenizer {
            Some(t) => texts(v).map(|s| t.count(s) as u32).sum(),
            None => texts(v).map(|s| s.split_whitespace().count() as u32).sum(),
        };
        let prompt_tokens = match (&r.prompt, &r.messages) {
            (Some(p), _) => count(p),
            (None, Some(msgs)) => msgs.iter().map(|m| m.get("content").map_or(0, count)).sum(),
            _ => 0,
        };
        Generation {
            chat,
            id,
            model_json: serde_json::to_string(model).unwrap_or_else(|_| "\"volley-sim\"".into()),
            tokens: r.max_tokens.or(r.max_completion_tokens).unwrap_or(c.default_output_tokens),
            tokens_per_chunk: c.tokens_per_chunk.max(1),
            prompt_tokens,
            include_usage: c.usage && r.stream_options.as_ref().and_then(|o| o.include_usage).unwrap_or(false),
            usage_in_body: c.usage,
            words: c.tokenizer.clone(),
            ttft: c.ttft,
            itl: c.itl,
            jitter: c.jitter.clamp(0.0, 1.0),
            rng: Rng::new(c.seed ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15), Stream::Simulator),
        }
    }

    pub fn chunks(&self) -> u32 {
        self.tokens.div_ceil(self.tokens_per_chunk)
    }

    fn jittered(&mut self, d: Duration) -> Duration {
        if self.jitter == 0.0 || d.is_zero() {
            return d;
        }
        let factor = 1.0 + self.jitter * (2.0 * self.rng.next_f64() - 1.0);
        d.mul_f64(factor.max(0.0))
    }

    pub fn first_delay(&mut self) -> Duration {
        self.jittered(self.ttft)
    }

    pub fn next_gap(&mut self) -> Duration {
        self.jittered(self.itl)
    }

    fn total_delay(&mut self) -> Duration {
        let mut d = self.first_delay();
        for _ in 1..self.chunks() {
            d += self.next_gap();
        }
        d
    }

    fn token_text(&self, j: u32) -> &str {
        let k = self.id + u64::from(j);
        match &self.words {
            // Words of a few letters: no JSON escaping needed.
            Some(t) => &t.words()[(k % t.words().len().min(256) as u64) as usize],
            None => WORDS[(k % WORDS.len() as u64) as usize],
        }
    }

    fn text(&self, from: u32, to: u32) -> String {
        (from..to).map(|j| self.token_text(j)).collect()
    }

    fn head(&self, buf: &mut BytesMut) {
        let (prefix, object) = if self.chat { ("chatcmpl", "chat.completion.chunk") } else { ("cmpl", "text_completion") };
        let _ = std::fmt::Write::write_fmt(
            &mut Writer(buf),
            format_args!(
                "data: {{\"id\":\"{prefix}-sim-{}\",\"object\":\"{object}\",\"created\":0,\"model\":{},",
                self.id, self.model_json
            ),
        );
    }

    /// Chunk `i` (0-based) as one SSE event; the last one carries the finish reason.
    pub fn write_chunk(&self, buf: &mut BytesMut, i: u32) {
        let from = i * self.tokens_per_chunk;
        let to = (from + self.tokens_per_chunk).min(self.tokens);
        let text = self.text(from, to);
        let finish = if i + 1 == self.chunks() { "\"length\"" } else { "null" };
        self.head(buf);
        let choice = if self.chat {
            let role = if i == 0 { "\"role\":\"assistant\"," } else { "" };
            format!("\"choices\":[{{\"index\":0,\"delta\":{{{role}\"content\":\"{text}\"}},\"finish_reason\":{finish}}}]}}\n\n")
        } else {
            format!("\"choices\":[{{\"index\":0,\"text\":\"{text}\",\"finish_reason\":{finish}}}]}}\n\n")
        };
        buf.put_slice(choice.as_bytes());
    }

    /// After the last chunk: a finish event when nothing was generated, and the usage
    /// chunk when the client asked for it.
    pub fn write_end(&self, buf: &mut BytesMut) {
        if self.chunks() == 0 {
            self.head(buf);
            let choice = if self.chat {
                "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n"
            } else {
                "\"choices\":[{\"index\":0,\"text\":\"\",\"finish_reason\":\"length\"}]}\n\n"
            };
            buf.put_slice(choice.as_bytes());
        }
        if self.include_usage {
            self.head(buf);
            let usage = format!("\"choices\":[],\"usage\":{}}}\n\n", self.usage());
            buf.put_slice(usage.as_bytes());
        }
    }

    fn usage(&self) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.tokens,
            "total_tokens": self.prompt_tokens + self.tokens,
        })
    }

    fn whole_body(&self) -> Bytes {
        let text = self.text(0, self.tokens);
        let model: Value = serde_json::from_str(&self.model_json).unwrap_or(Value::Null);
        let mut v = if self.chat {
            json!({
                "id": format!("chatcmpl-sim-{}", self.id), "object": "chat.completion", "created": 0, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length"}],
            })
        } else {
            json!({
                "id": format!("cmpl-sim-{}", self.id), "object": "text_completion", "created": 0, "model": model,
                "choices": [{"index": 0, "text": text, "finish_reason": "length"}],
            })
        };
        if self.usage_in_body {
            v["usage"] = self.usage();
        }
        Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
    }
}

struct Writer<'a>(&'a mut BytesMut);

impl std::fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.put_slice(s.as_bytes());
        Ok(())
    }
}

/// The strings of a prompt (a string, or a list of strings).
fn texts(v: &Value) -> Box<dyn Iterator<Item = &str> + '_> {
    match v {
        Value::String(s) => Box::new(std::iter::once(s.as_str())),
        Value::Array(items) => Box::new(items.iter().flat_map(texts)),
        _ => Box::new(std::iter::empty()),
    }
}

fn json_response(status: StatusCode, v: &Value) -> Response<SimBody> {
    let mut resp = Response::new(Either::Left(Full::new(Bytes::from(serde_json::to_vec(v).unwrap_or_default()))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn error(status: StatusCode, message: &str) -> Response<SimBody> {
    json_response(
        status,
        &json!({"error": {"message": message, "type": "invalid_request_error", "code": status.as_u16()}}),
    )
}
