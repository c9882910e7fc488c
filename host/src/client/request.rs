//! Encoding scenario requests into ready-to-send HTTP requests.
//!
//! This runs on the producer thread, ahead of send time: the JSON body is serialized
//! once into `Bytes`, headers are validated and parsed, tags are interned, so the send
//! path only clones reference-counted buffers.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use hyper::Uri;
use hyper::header::{HeaderName, HeaderValue};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::model::{Api, Prompt, ScenarioRequest};
use crate::target::Target;

/// A request ready for the wire.
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    pub stage: u32,
    pub seq: u64,
    pub api: Api,
    pub uri: Uri,
    pub body: Bytes,
    pub stream: bool,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub tag: Option<Arc<str>>,
    pub session: Option<u64>,
    pub max_tokens: Option<u32>,
    /// The prompt length the scenario intended.
    pub prompt_tokens: Option<u32>,
}

/// Headers a scenario may not set: they belong to the connection, not the request.
const RESERVED_HEADERS: &[&str] = &["host", "content-length", "transfer-encoding", "connection", "upgrade", "te"];

pub struct RequestEncoder {
    default_model: Option<String>,
    uris: HashMap<Api, Uri>,
    tags: HashMap<String, Arc<str>>,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'a str,
    content: &'a str,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct OpenAiBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    messages: Option<Vec<WireMessage<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    stream: bool,
    /// Asked for on every stream: token counts from the server beat counting chunks.
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

impl RequestEncoder {
    pub fn new(target: &Target, default_model: Option<String>) -> Self {
        let uris = [Api::Completions, Api::ChatCompletions]
            .into_iter()
            .map(|api| {
                let uri = target.path(api.path()).parse::<Uri>().unwrap_or_else(|_| Uri::from_static(api.path()));
                (api, uri)
            })
            .collect();
        RequestEncoder { default_model, uris, tags: HashMap::new() }
    }

    pub fn encode(&mut self, r: ScenarioRequest, stage: u32, seq: u64) -> Result<PreparedRequest, String> {
        let model = r.model.as_deref().or(self.default_model.as_deref());
        let (prompt, messages) = match (&r.prompt, r.api) {
            (Prompt::Text(t), Api::Completions) => (Some(t.as_str()), None),
            (Prompt::Chat(m), Api::ChatCompletions) => (
                None,
                Some(m.iter().map(|m| WireMessage { role: &m.role, content: &m.content }).collect()),
            ),
            (Prompt::Text(_), Api::ChatCompletions) => return Err("a chat request needs a chat prompt".into()),
            (Prompt::Chat(_), Api::Completions) => return Err("a completions request needs a text prompt".into()),
        };
        let body = OpenAiBody {
            model,
            prompt,
            messages,
            max_tokens: r.max_tokens,
            stream: r.stream,
            stream_options: r.stream.then_some(StreamOptions { include_usage: true }),
        };
        let body = match &r.body_extra {
            None => serde_json::to_vec(&body),
            Some(extra) => {
                let extra: Map<String, Value> = match serde_json::from_str(extra) {
                    Ok(Value::Object(m)) => m,
                    _ => return Err(format!("body-extra must be a JSON object, got {}", clip(extra))),
                };
                let mut merged = match serde_json::to_value(&body) {
                    Ok(Value::Object(m)) => m,
                    _ => unreachable!("the body serializes to an object"),
                };
                merged.extend(extra);
                serde_json::to_vec(&merged)
            }
        }
        .map_err(|e| format!("cannot serialize the body: {e}"))?;
        // The stream flag on the wire decides how the response is read.
        let stream = r.stream && !matches!(extra_stream(&r.body_extra), Some(false));

        let mut headers = Vec::with_capacity(r.headers.len());
        for (name, value) in &r.headers {
            let lower = name.to_ascii_lowercase();
            if RESERVED_HEADERS.contains(&lower.as_str()) {
                return Err(format!("header '{name}' is set by the host"));
            }
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("invalid header name '{}'", clip(name)))?;
            let value = HeaderValue::from_str(value).map_err(|_| format!("invalid value for header '{name}'"))?;
            headers.push((name, value));
        }

        let tag = r.tag.map(|t| self.tags.entry(t.clone()).or_insert_with(|| Arc::from(t)).clone());
        Ok(PreparedRequest {
            stage,
            seq,
            api: r.api,
            uri: self.uris[&r.api].clone(),
            body: Bytes::from(body),
            stream,
            headers,
            tag,
            session: r.session,
            max_tokens: r.max_tokens,
            prompt_tokens: r.prompt_tokens,
        })
    }
}

/// `stream` as overridden in body-extra, if it is.
fn extra_stream(extra: &Option<String>) -> Option<bool> {
    let v: Value = serde_json::from_str(extra.as_deref()?).ok()?;
    v.get("stream")?.as_bool()
}

fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Message;

    fn req(api: Api, prompt: Prompt) -> ScenarioRequest {
        ScenarioRequest {
            api,
            model: None,
            prompt,
            max_tokens: Some(8),
            stream: true,
            headers: vec![],
            body_extra: None,
            tag: Some("t".into()),
            session: None,
            prompt_tokens: None,
        }
    }

    fn encoder() -> RequestEncoder {
        RequestEncoder::new(&Target::parse("http://127.0.0.1:1/base/v1").unwrap(), Some("m".into()))
    }

    #[test]
    fn chat_body_and_path() {
        let chat = Prompt::Chat(vec![Message { role: "user".into(), content: "hi \"there\"".into() }]);
        let p = encoder().encode(req(Api::ChatCompletions, chat), 0, 3).unwrap();
        assert_eq!(p.uri.path(), "/base/v1/chat/completions");
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(v["model"], "m");
        assert_eq!(v["messages"][0]["content"], "hi \"there\"");
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(v["max_tokens"], 8);
        assert!(v.get("prompt").is_none());
    }

    #[test]
    fn body_extra_merges_and_overrides() {
        let mut r = req(Api::Completions, Prompt::Text("x".into()));
        r.body_extra = Some(r#"{"temperature":0,"max_tokens":3,"stream":false}"#.into());
        let p = encoder().encode(r, 0, 0).unwrap();
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!((v["temperature"].as_i64(), v["max_tokens"].as_i64()), (Some(0), Some(3)));
        assert!(!p.stream);
    }

    #[test]
    fn rejects_bad_requests() {
        let mut e = encoder();
        let mut r = req(Api::Completions, Prompt::Text("x".into()));
        r.body_extra = Some("[1]".into());
        assert!(e.encode(r, 0, 0).unwrap_err().contains("JSON object"));
        let mut r = req(Api::Completions, Prompt::Text("x".into()));
        r.headers = vec![("Host".into(), "evil".into())];
        assert!(e.encode(r, 0, 0).unwrap_err().contains("set by the host"));
        let r = req(Api::Completions, Prompt::Chat(vec![]));
        assert!(e.encode(r, 0, 0).is_err());
    }

    #[test]
    fn tags_are_interned() {
        let mut e = encoder();
        let a = e.encode(req(Api::Completions, Prompt::Text("x".into())), 0, 0).unwrap();
        let b = e.encode(req(Api::Completions, Prompt::Text("y".into())), 0, 1).unwrap();
        assert!(Arc::ptr_eq(a.tag.as_ref().unwrap(), b.tag.as_ref().unwrap()));
    }
}
