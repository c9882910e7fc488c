//! Request routing and response generation for the simulator.

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use super::content::texts;
use super::generation::{Flavor, SimRequest};
use super::response::{Limited, SimBody, error, json_response};
use super::stream::ChatWire;
use super::{InFlight, Shared};

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
        (&Method::POST, "/v1/responses") => return super::responses_api::handle(req, shared).await,
        (&Method::POST, "/v1/messages") => return super::messages_api::handle(req, shared).await,
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
    let stream = match flavor {
        Flavor::Tgi => path == "/generate_stream",
        _ => parsed.stream.unwrap_or(false),
    };
    super::serve::generate(shared, &parsed, flavor, stream, Box::new(ChatWire)).await
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
