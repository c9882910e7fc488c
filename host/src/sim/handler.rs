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
    if std::time::Instant::now() < shared.loading_until {
        return json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"error": {"message": "Loading model", "type": "unavailable_error", "code": 503}}),
        );
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let flavor = match (&method, path.as_str()) {
        (&Method::POST, "/v1/completions") => Flavor::Completion,
        (&Method::POST, "/v1/chat/completions") => Flavor::Chat,
        (&Method::POST, "/generate") | (&Method::POST, "/generate_stream") => Flavor::Tgi,
        (&Method::POST, "/v1/embeddings") => return embeddings(req, shared).await,
        (&Method::GET, "/v1/models") => {
            let id = &shared.config.model;
            return json_response(
                StatusCode::OK,
                &json!({"object": "list", "data": [{"id": id, "object": "model", "created": 0, "owned_by": "volley-sim"}]}),
            );
        }
        (&Method::GET, "/health") => return json_response(StatusCode::OK, &json!({"status": "ok"})),
        (&Method::GET, "/v2/health/ready") | (&Method::GET, "/v2/health/live") => {
            return json_response(StatusCode::OK, &json!({"ready": true}));
        }
        (&Method::GET, "/sim/stats") => return json_response(StatusCode::OK, &json!(shared.stats.snapshot())),
        (&Method::GET, "/metrics") => return metrics(shared),
        (&Method::POST, p) if p.starts_with("/v1/models/") && p.ends_with(":predict") => {
            return super::kserve::v1(req, shared).await;
        }
        (&Method::POST, p) if p.starts_with("/v2/models/") && p.ends_with("/infer") => {
            return super::kserve::v2(req, shared).await;
        }
        (&Method::GET, p) if p.starts_with("/v2/models/") && p.ends_with("/stats") => {
            return super::kserve::stats(p, shared);
        }
        (&Method::GET, p) if p.starts_with("/predict/") => {
            let text = &p["/predict/".len()..];
            return json_response(StatusCode::OK, &json!({"input": text, "prediction": text.len()}));
        }
        (&Method::POST, "/predict") => {
            let body = Limited::collect(req.into_body()).await.unwrap_or_default();
            return json_response(StatusCode::OK, &json!({"prediction": body.len()}));
        }
        (_, path) => return error(StatusCode::NOT_FOUND, &format!("no route for {method} {path}")),
    };
    let body = match Limited::collect(req.into_body()).await {
        Ok(b) => b,
        Err(msg) => return error(StatusCode::BAD_REQUEST, &msg),
    };
    let parsed: SimRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid JSON body: {e}")),
    };
    let missing = match flavor {
        Flavor::Chat if parsed.messages.is_none() => Some("'messages' is required"),
        Flavor::Completion if parsed.prompt.is_none() => Some("'prompt' is required"),
        Flavor::Tgi if parsed.inputs.is_none() => Some("'inputs' is required"),
        _ => None,
    };
    if let Some(msg) = missing {
        return error(StatusCode::BAD_REQUEST, msg);
    }
    let in_flight = InFlight::new(&shared.stats);
    shared.stats.count_model(parsed.model.as_deref().unwrap_or(&shared.config.model));
    // Wait for a generation slot: the queueing delay lands in TTFT, as on a real server.
    let slot = match &shared.slots {
        Some(sem) => {
            shared.stats.waiting.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let permit = sem.clone().acquire_owned().await.ok();
            shared.stats.waiting.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            permit
        }
        None => None,
    };
    let stream = match flavor {
        Flavor::Tgi => path == "/generate_stream",
        _ => parsed.stream.unwrap_or(false),
    };
    let mut generation = Generation::new(&parsed, flavor, shared);
    shared.stats.tokens_generated.fetch_add(u64::from(generation.tokens), std::sync::atomic::Ordering::Relaxed);
    if stream {
        let mut resp = Response::new(Either::Right(TokenStream::new(generation, in_flight, slot)));
        resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        resp.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return resp;
    }
    let delay = generation.total_delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let body = generation.whole_body();
    drop((in_flight, slot));
    let mut resp = Response::new(Either::Left(Full::new(body)));
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// OpenAI embeddings: a small fixed-size vector per input, after TTFT.
async fn embeddings(req: Request<Incoming>, shared: &Shared) -> Response<SimBody> {
    let body = match Limited::collect(req.into_body()).await {
        Ok(b) => b,
        Err(msg) => return error(StatusCode::BAD_REQUEST, &msg),
    };
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid JSON body: {e}")),
    };
    let Some(input) = v.get("input") else { return error(StatusCode::BAD_REQUEST, "'input' is required") };
    let _in_flight = InFlight::new(&shared.stats);
    let inputs: Vec<&str> = texts(input).collect();
    let tokens: u32 = inputs.iter().map(|t| shared.count_tokens(t)).sum();
    if !shared.config.ttft.is_zero() {
        tokio::time::sleep(shared.config.ttft).await;
    }
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": [t.len() as f64, 0.5, -0.25, 1.0]}))
        .collect();
    json_response(
        StatusCode::OK,
        &json!({"object": "list", "data": data, "model": shared.config.model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
    )
}

fn metrics(shared: &Shared) -> Response<SimBody> {
    use std::fmt::Write as _;
    use std::sync::atomic::Ordering::Relaxed;
    let s = &shared.stats;
    let mut out = String::new();
    let running = s.in_flight.load(Relaxed).saturating_sub(s.waiting.load(Relaxed));
    let _ = writeln!(out, "# TYPE volley_sim:requests_running gauge\nvolley_sim:requests_running {running}");
    let _ = writeln!(out, "# TYPE volley_sim:requests_waiting gauge\nvolley_sim:requests_waiting {}", s.waiting.load(Relaxed));
    let _ = writeln!(out, "# TYPE volley_sim:requests_total counter\nvolley_sim:requests_total {}", s.requests.load(Relaxed));
    let _ = writeln!(
        out,
        "# TYPE volley_sim:tokens_generated_total counter\nvolley_sim:tokens_generated_total {}",
        s.tokens_generated.load(Relaxed)
    );
    for (model, st) in shared.batcher.stats.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        let _ = writeln!(out, "volley_sim:inference_count{{model=\"{model}\"}} {}", st.inference_count);
        let _ = writeln!(out, "volley_sim:execution_count{{model=\"{model}\"}} {}", st.execution_count);
    }
    let mut resp = Response::new(Either::Left(Full::new(Bytes::from(out))));
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    resp
}

pub(crate) struct Limited;

impl Limited {
    pub(crate) async fn collect(mut body: Incoming) -> Result<Bytes, String> {
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

/// Which API a generation answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    Completion,
    Chat,
    Tgi,
}

#[derive(Deserialize)]
struct SimRequest {
    #[serde(default)]
    model: Option<String>,
    /// TGI
    #[serde(default)]
    inputs: Option<Value>,
    #[serde(default)]
    parameters: Option<TgiParameters>,
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
struct TgiParameters {
    #[serde(default)]
    max_new_tokens: Option<u32>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

/// One simulated generation: its sizes, timing and how to render it.
pub(crate) struct Generation {
    flavor: Flavor,
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
    fn new(r: &SimRequest, flavor: Flavor, shared: &Shared) -> Self {
        let c = &shared.config;
        let id = shared.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let model = r.model.as_deref().unwrap_or(&c.model);
        let count = |v: &Value| texts(v).map(|s| shared.count_tokens(s)).sum::<u32>();
        let prompt_tokens = match (&r.prompt, &r.messages, &r.inputs) {
            (Some(p), _, _) | (None, None, Some(p)) => count(p),
            (None, Some(msgs), _) => msgs.iter().map(|m| m.get("content").map_or(0, count)).sum(),
            _ => 0,
        };
        let requested = match flavor {
            Flavor::Tgi => r.parameters.as_ref().and_then(|p| p.max_new_tokens),
            _ => r.max_tokens.or(r.max_completion_tokens),
        };
        Generation {
            flavor,
            id,
            model_json: serde_json::to_string(model).unwrap_or_else(|_| "\"volley-sim\"".into()),
            tokens: requested.unwrap_or(c.default_output_tokens),
            // TGI streams one token per event.
            tokens_per_chunk: if flavor == Flavor::Tgi { 1 } else { c.tokens_per_chunk.max(1) },
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
        let (prefix, object) =
            if self.flavor == Flavor::Chat { ("chatcmpl", "chat.completion.chunk") } else { ("cmpl", "text_completion") };
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
        let last = i + 1 == self.chunks();
        if self.flavor == Flavor::Tgi {
            // The last token's event carries the whole text and the details.
            let (generated, details) = match last {
                true => (
                    serde_json::to_string(&self.text(0, self.tokens)).unwrap_or_default(),
                    format!("{{\"finish_reason\":\"length\",\"generated_tokens\":{},\"seed\":null}}", self.tokens),
                ),
                false => ("null".to_string(), "null".to_string()),
            };
            let event = format!(
                "data: {{\"index\":{i},\"token\":{{\"id\":{i},\"text\":\"{text}\",\"logprob\":-0.1,\"special\":false}},\"generated_text\":{generated},\"details\":{details}}}\n\n"
            );
            buf.put_slice(event.as_bytes());
            return;
        }
        let finish = if last { "\"length\"" } else { "null" };
        self.head(buf);
        let choice = if self.flavor == Flavor::Chat {
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
        if self.flavor == Flavor::Tgi {
            if self.chunks() == 0 {
                let end = "data: {\"index\":0,\"token\":{\"id\":0,\"text\":\"\",\"logprob\":0.0,\"special\":true},\"generated_text\":\"\",\"details\":{\"finish_reason\":\"length\",\"generated_tokens\":0,\"seed\":null}}\n\n";
                buf.put_slice(end.as_bytes());
            }
            return;
        }
        if self.chunks() == 0 {
            self.head(buf);
            let choice = if self.flavor == Flavor::Chat {
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
        if self.flavor == Flavor::Tgi {
            let v = json!({"generated_text": text,
                           "details": {"finish_reason": "length", "generated_tokens": self.tokens, "seed": null}});
            return Bytes::from(serde_json::to_vec(&v).unwrap_or_default());
        }
        let mut v = if self.flavor == Flavor::Chat {
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

pub(crate) fn json_response(status: StatusCode, v: &Value) -> Response<SimBody> {
    let mut resp = Response::new(Either::Left(Full::new(Bytes::from(serde_json::to_vec(v).unwrap_or_default()))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

pub(crate) fn error(status: StatusCode, message: &str) -> Response<SimBody> {
    json_response(
        status,
        &json!({"error": {"message": message, "type": "invalid_request_error", "code": status.as_u16()}}),
    )
}
