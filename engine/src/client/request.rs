//! Encoding scenario requests into ready-to-send HTTP requests, for every API: the
//! protocol-neutral part. Each protocol's module writes its own requests, as a [`Wire`]
//! (one `match` on the API below names them all): [`openai::encode`] (completions, chat,
//! embeddings), [`responses`], [`anthropic`], [`tgi`], [`kserve`] (v1 and v2), [`grpc`]
//! (KServe v2 on a `grpc://` target) and [`http`] (plain method, path and body). Here:
//! which API may carry tools and a kept history, body-extra spliced beside (or merged
//! into) a body, the scenario's headers checked against the operator's and the policy
//! checked, the path resolved under the target, tags and models interned, and a kept
//! conversation's messages spliced first into a body that does not write them itself.
//!
//! This runs on the producer thread, ahead of send time: the body is serialized once
//! into `Bytes`, headers and paths are validated, tags and models interned, so the send
//! path only clones reference-counted buffers. Paths are always relative to the
//! operator's target; the connection goes nowhere else whatever a scenario writes.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{Method, Uri};
use serde_json::{Map, Value};

use super::kept::KeptConversation;
use super::wire::{Wire, WireBody, json_body};
use super::{anthropic, grpc, http, kserve, openai, responses, tgi};

use volley_core::text::clip;
use volley_core::{Api, Policy, Prompt, Refusal, ScenarioRequest, ToolCall};
use volley_net::Target;

/// A request ready for the wire.
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    pub stage: u32,
    pub seq: u64,
    pub api: Api,
    pub method: Method,
    pub uri: Uri,
    pub body: Bytes,
    pub content_type: Option<HeaderValue>,
    pub stream: bool,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub tag: Option<Arc<str>>,
    /// The model, for the per-model breakdown.
    pub model: Option<Arc<str>>,
    pub session: Option<u64>,
    /// The scenario's number for the request (its outcome's `key`).
    pub key: Option<u64>,
    pub max_tokens: Option<u32>,
    /// The prompt length the scenario intended.
    pub prompt_tokens: Option<u32>,
    /// Inferences this request carries.
    pub batch_size: u32,
    /// `custom` loads: the gap after the previous planned send.
    pub gap: Option<std::time::Duration>,
    /// The scenario wants the response text in the outcome.
    pub keep_text: bool,
    /// KServe v2 over gRPC: `body` is one framed protobuf message.
    pub grpc: bool,
    /// Its place in its session (1: the session's first request), set by the producer.
    pub turn: Option<u32>,
    /// A follow-up's wait after the outcome it follows.
    pub delay: Option<volley_core::Delay>,
}

/// Most distinct tag and model names kept shared; past it each request has its own copy
/// (freed with the request), so memory never grows with what a scenario invents.
const MAX_INTERNED: usize = 4096;

pub struct RequestEncoder {
    default_model: Option<String>,
    base_path: String,
    tags: Names,
    models: Names,
    /// Each short path's URI under the target, parsed once.
    uris: HashMap<String, Uri>,
    /// The last path's URI, found without hashing (most scenarios send to one path).
    last_uri: Option<(Cow<'static, str>, Uri)>,
    /// The last body-extra and its members as spliced (`None`: merged instead).
    last_extra: Option<(String, Option<Vec<u8>>)>,
    policy: Arc<Policy>,
    /// Names of the operator's headers (lowercase): a scenario may not set them too.
    operator_headers: Vec<String>,
    /// The operator's session-affinity header: every request of a session carries its
    /// id in it (for prefix-aware routers); a scenario cannot set it.
    session_header: Option<HeaderName>,
    /// A `grpc://` target: KServe v2 requests become `ModelInfer` calls.
    grpc: bool,
}

/// Why a request cannot be sent.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// It is malformed or reaches beyond the target.
    #[error("{0}")]
    Invalid(String),
    /// The policy does not allow it.
    #[error(transparent)]
    Refused(Refusal),
}

impl From<String> for EncodeError {
    fn from(s: String) -> Self {
        EncodeError::Invalid(s)
    }
}

impl From<&str> for EncodeError {
    fn from(s: &str) -> Self {
        EncodeError::Invalid(s.to_string())
    }
}

impl RequestEncoder {
    /// Requests for `target`, naming `default_model` when they name none, within
    /// `policy`; `operator_headers` are the names of the headers the operator adds.
    pub fn new(target: &Target, default_model: Option<String>, policy: Arc<Policy>, operator_headers: &[HeaderName]) -> Self {
        RequestEncoder {
            default_model,
            base_path: target.base_path.clone(),
            tags: Names::default(),
            models: Names::default(),
            uris: HashMap::new(),
            last_uri: None,
            last_extra: None,
            policy,
            operator_headers: operator_headers.iter().map(|h| h.as_str().to_string()).collect(),
            grpc: target.grpc,
            session_header: None,
        }
    }

    /// Every request with a session carries its id in header `name` (the operator's,
    /// like `--header`: a scenario cannot set it).
    pub fn with_session_header(mut self, name: Option<HeaderName>) -> Self {
        if let Some(n) = &name {
            self.operator_headers.push(n.as_str().to_string());
        }
        self.session_header = name;
        self
    }

    #[cfg(test)]
    pub(crate) fn encode(&mut self, r: ScenarioRequest, stage: u32, seq: u64) -> Result<PreparedRequest, EncodeError> {
        self.encode_kept(r, stage, seq, None)
    }

    /// [`Self::encode`], for a request of a session whose `history` the host keeps:
    /// `kept` is that conversation (`None`: the request may not have a history). Its
    /// messages are sent first, and the request's own are kept after them once the
    /// request is ready.
    pub(crate) fn encode_kept(
        &mut self,
        r: ScenarioRequest,
        stage: u32,
        seq: u64,
        kept: Option<&mut KeptConversation>,
    ) -> Result<PreparedRequest, EncodeError> {
        // The APIs that take a conversation: tools, tool calls and histories are theirs.
        let chat_like = matches!(r.api, Api::ChatCompletions | Api::Responses | Api::Messages) && !self.grpc;
        if r.history.is_some() && (kept.is_none() || !chat_like) {
            return Err(format!(
                "a history is kept for chat_completions, responses and messages requests with a session, in a stage that observes outcomes; this is a {} request{}",
                r.api.as_str(),
                if r.session.is_none() { " without a session" } else { "" }
            )
            .into());
        }
        if let Some(api) = kept.as_ref().and_then(|k| k.api()).filter(|a| *a != r.api) {
            return Err(format!(
                "history {} was kept for {} requests; this is a {} request",
                r.history.unwrap_or(0),
                api.as_str(),
                r.api.as_str()
            )
            .into());
        }
        if let Some(what) = agent_parts(&r).filter(|_| !chat_like) {
            return Err(format!(
                "{what}: tools, tool_choice, tool calls and tool results are for chat_completions, responses and messages requests only, not {}",
                r.api.as_str()
            )
            .into());
        }
        let model = r.model.as_deref().or(self.default_model.as_deref()).map(|m| self.models.intern(m));
        let kept_system = kept.as_deref().and_then(KeptConversation::system);
        // Each API's own module writes its request.
        let wire = match r.api {
            _ if self.grpc => grpc::request(&r, model.as_deref(), seq)?,
            Api::Completions | Api::ChatCompletions => openai::encode::request(&r, model.as_deref(), kept.as_deref())?,
            Api::Embeddings => openai::encode::embeddings(&r, model.as_deref())?,
            Api::TgiGenerate => tgi::request(&r),
            Api::KserveV1 => kserve::request_v1(&r, model.as_deref())?,
            Api::KserveV2 => kserve::request_v2(&r, model.as_deref())?,
            Api::Http => http::request(&r)?,
            Api::Responses => kept_first(responses::request(&r, model.as_deref())?, responses::ARRAY, kept.as_deref())?,
            Api::Messages => kept_first(anthropic::request(&r, model.as_deref(), kept_system)?, anthropic::ARRAY, kept.as_deref())?,
        };
        let mut stream = wire.stream;
        let extra = r.body_extra.as_deref();
        // The conversation as the typed body has it (body-extra aside), to keep.
        let mut fresh = None;
        let body = match wire.body {
            WireBody::Json(v) => json_body(match extra {
                Some(extra) => merged(v, extra)?,
                None => v,
            })?,
            WireBody::Raw(bytes) => {
                // Nothing to merge into; body-extra is still checked.
                if let Some(extra) = extra {
                    merged(Value::Null, extra)?;
                }
                bytes
            }
            WireBody::Typed(bytes, keys) => {
                let bytes = Bytes::from(bytes);
                fresh = wire.conversation.filter(|_| kept.is_some()).map(|range| bytes.slice(range));
                match extra {
                    None => bytes,
                    Some(extra) => {
                        let spliced = if keys == openai::encode::KEYS {
                            self.splice_members(extra).and_then(|m| splice(&bytes, m))
                        } else {
                            // Another API's body: its keys are not those of the cached members.
                            splice_members(extra, keys).and_then(|m| splice(&bytes, &m))
                        };
                        match spliced {
                            Some(spliced) => spliced,
                            None => {
                                // It names a key of the typed body (or escapes one): a deep merge.
                                let v = merged(serde_json::from_slice(&bytes).map_err(|e| e.to_string())?, extra)?;
                                // The `stream` flag on the wire (body-extra may have changed it)
                                // decides how the response is read.
                                stream = v.get("stream").and_then(Value::as_bool).unwrap_or(false);
                                json_body(v)?
                            }
                        }
                    }
                }
            }
        };

        // Everything the policy bounds, before anything is kept.
        self.policy.check_request(stage, seq, &r, body.len()).map_err(EncodeError::Refused)?;
        let mut headers = Vec::with_capacity(r.headers.len());
        let mut content_type = wire.content_type;
        for (name, value) in &r.headers {
            let lower = name.to_ascii_lowercase();
            if self.operator_headers.contains(&lower) {
                return Err(format!("header '{}' is the operator's (--header); a scenario cannot set it too", clip(name, 60)).into());
            }
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("invalid header name '{}'", clip(name, 60)))?;
            let value = HeaderValue::from_str(value).map_err(|_| format!("invalid value for header '{name}'"))?;
            if name == CONTENT_TYPE {
                content_type = Some(value);
            } else {
                headers.push((name, value));
            }
        }
        // The API's own header (Messages: its version), unless the operator or the
        // scenario sets it.
        if let Some((name, value)) = wire.header
            && !self.operator_headers.iter().any(|h| h == name)
            && !headers.iter().any(|(h, _)| h == name)
        {
            headers.push((HeaderName::from_static(name), HeaderValue::from_static(value)));
        }
        if let (Some(name), Some(session)) = (&self.session_header, r.session) {
            headers.push((name.clone(), HeaderValue::from(session)));
        }
        let uri = self.uri(wire.path)?;
        if let (Some(kept), Some(fresh)) = (kept, fresh) {
            kept.keep(r.api, fresh, wire.system, seq);
        }

        Ok(PreparedRequest {
            stage,
            seq,
            api: r.api,
            method: wire.method,
            uri,
            body,
            content_type,
            stream,
            headers,
            tag: r.tag.as_deref().map(|t| self.tags.intern(t)),
            model,
            session: r.session,
            key: r.key,
            max_tokens: r.max_tokens,
            prompt_tokens: r.prompt_tokens,
            batch_size: r.batch_size.unwrap_or(1).max(1),
            gap: r.gap,
            keep_text: r.keep_text,
            grpc: self.grpc,
            turn: None,
            delay: r.delay,
        })
    }

    /// [`splice_members`] of `extra`, kept for the next request: a scenario sends the
    /// same body-extra again and again.
    fn splice_members(&mut self, extra: &str) -> Option<&[u8]> {
        if self.last_extra.as_ref().is_none_or(|(last, _)| last != extra) {
            self.last_extra = Some((extra.to_string(), splice_members(extra, openai::encode::KEYS)));
        }
        self.last_extra.as_ref().and_then(|(_, members)| members.as_deref())
    }

    /// The target's URI for `path`; parsed once per distinct short path (up to
    /// [`MAX_INTERNED`] of them), since most scenarios send to one or two, and the
    /// last one found again without hashing.
    fn uri(&mut self, path: Cow<'static, str>) -> Result<Uri, String> {
        if let Some((last, uri)) = &self.last_uri
            && *last == path
        {
            return Ok(uri.clone());
        }
        let uri = match self.uris.get(path.as_ref()) {
            Some(uri) => uri.clone(),
            None => {
                let uri = format!("{}{}", self.base_path, path)
                    .parse::<Uri>()
                    .map_err(|e| format!("invalid request path '{}': {e}", clip(&path, 60)))?;
                if self.uris.len() < MAX_INTERNED && path.len() <= 256 {
                    self.uris.insert(path.to_string(), uri.clone());
                }
                uri
            }
        };
        self.last_uri = Some((path, uri.clone()));
        Ok(uri)
    }
}

/// One shared copy of each name (of tags, or of models), up to [`MAX_INTERNED`] of them.
#[derive(Default)]
struct Names {
    shared: HashMap<String, Arc<str>>,
    /// The name given last: most requests of a run name the same one, found without
    /// hashing it.
    last: Option<Arc<str>>,
}

impl Names {
    fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(last) = self.last.as_ref().filter(|last| ***last == *s) {
            return last.clone();
        }
        let name = match self.shared.get(s) {
            Some(shared) => shared.clone(),
            None => {
                let owned: Arc<str> = Arc::from(s);
                if self.shared.len() < MAX_INTERNED {
                    self.shared.insert(s.to_string(), owned.clone());
                }
                owned
            }
        };
        self.last = Some(name.clone());
        name
    }
}

/// What a request has that only the chat API takes (tools, a tool choice, tool calls or
/// results), named for the error; `None` if nothing.
fn agent_parts(r: &ScenarioRequest) -> Option<String> {
    if !r.tools.is_empty() {
        return Some(format!("the request has {} tools", r.tools.len()));
    }
    if r.tool_choice.is_some() {
        return Some("the request has a tool_choice".into());
    }
    let Prompt::Chat(messages) = &r.prompt else { return None };
    messages.iter().enumerate().find_map(|(i, m)| match (m.tool_calls.is_empty(), &m.tool_call_id) {
        (false, _) => Some(format!("message {i} has tool calls")),
        (true, Some(_)) => Some(format!("message {i} is a tool result (tool_call_id)")),
        (true, None) => None,
    })
}

/// `wire` (a Responses or Messages request) with `kept`'s messages first in the array of
/// its typed body that `array` opens (`"input":[`, `"messages":[`), and where that
/// array's inside now is, for the conversation to keep. The chat API's body writes its
/// kept messages itself.
fn kept_first(mut wire: Wire, array: &[u8], kept: Option<&KeptConversation>) -> Result<Wire, String> {
    if let (Some(kept), WireBody::Typed(body, _)) = (kept, &mut wire.body) {
        let (spliced, range) = splice_kept(body, array, kept).ok_or("the body's array of messages could not be found")?;
        (*body, wire.conversation) = (spliced, Some(range));
    }
    Ok(wire)
}

/// `body` (a serialized body whose top-level `key` — e.g. `"input":[` — opens its array
/// of messages) with `kept`'s messages first in that array; and where the array's inside
/// now is. A key's bytes cannot occur inside a string before it: a string's quotes are
/// escaped there.
fn splice_kept(body: &[u8], key: &[u8], kept: &KeptConversation) -> Option<(Vec<u8>, Range<usize>)> {
    let start = body.windows(key.len()).position(|w| w == key)? + key.len();
    let end = array_end(body, start)?;
    let mut out = Vec::with_capacity(body.len() + kept.size_hint() + 1);
    out.extend_from_slice(&body[..start]);
    kept.write_to(&mut out);
    if out.len() > start && end > start {
        out.push(b',');
    }
    out.extend_from_slice(&body[start..end]);
    let inside = start..out.len();
    out.extend_from_slice(&body[end..]);
    Some((out, inside))
}

/// Where the JSON array whose inside starts at `from` closes (the index of its `]`), in
/// JSON serde wrote: brackets inside strings are skipped.
fn array_end(json: &[u8], from: usize) -> Option<usize> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &b) in json.iter().enumerate().skip(from) {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => depth += 1,
            b']' | b'}' if depth > 0 => depth -= 1,
            b']' => return Some(i),
            _ => {}
        }
    }
    None
}

/// The model's answer as the items of `api` a kept conversation adds (the inside of a
/// JSON array); `None` when it cannot be written.
pub(crate) fn answer_items(api: Api, text: &str, calls: &[ToolCall]) -> Option<Vec<u8>> {
    match api {
        Api::Responses => responses::answer(text, calls),
        Api::Messages => anthropic::answer(text, calls),
        _ => openai::messages::answer(text, calls),
    }
}

/// Body-extra's members as JSON to append to a typed body (`"k":v,…`, their values as
/// written, sorted by key, the last of a repeated key kept, as a merge would): no tree
/// is built. `None` when `extra` is not an object, escapes a key, or names one of
/// `keys` (the typed body's), which takes [`merge`].
fn splice_members(extra: &str, keys: &[&str]) -> Option<Vec<u8>> {
    let members: std::collections::BTreeMap<&str, &serde_json::value::RawValue> = serde_json::from_str(extra).ok()?;
    if members.keys().any(|k| keys.contains(k)) {
        return None;
    }
    let mut out = Vec::with_capacity(extra.len());
    for (k, v) in members {
        if !out.is_empty() {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"\":");
        out.extend_from_slice(v.get().as_bytes());
    }
    Some(out)
}

/// `typed` (a JSON object the encoder wrote) with `members` appended.
fn splice(typed: &[u8], members: &[u8]) -> Option<Bytes> {
    let open = typed.strip_suffix(b"}")?;
    let mut out = Vec::with_capacity(typed.len() + members.len() + 1);
    out.extend_from_slice(open);
    if open.len() > 1 && !members.is_empty() {
        out.push(b',');
    }
    out.extend_from_slice(members);
    out.push(b'}');
    Some(Bytes::from(out))
}

/// `body` with body-extra (a JSON object) merged in; a missing body becomes an object.
fn merged(mut body: Value, extra: &str) -> Result<Value, String> {
    let extra: Value = serde_json::from_str(extra).map_err(|_| format!("body-extra must be a JSON object, got {}", clip(extra, 60)))?;
    if !extra.is_object() || !(body.is_object() || body.is_null()) {
        return Err(format!("body-extra must be a JSON object merged into a JSON body, got {}", clip(&extra.to_string(), 60)));
    }
    if body.is_null() {
        body = Value::Object(Map::new());
    }
    merge(&mut body, extra);
    Ok(body)
}

/// Merges `extra` into `base`: objects key by key (recursively), anything else replaced.
fn merge(base: &mut Value, extra: Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, e) => *b = e,
    }
}

#[cfg(test)]
mod tests {
    use super::openai::encode::testing::{agent_chat, agent_tools};
    use super::*;
    use serde_json::json;
    use volley_core::{Message, ToolCall, ToolChoice};

    fn req(api: Api, prompt: Prompt) -> ScenarioRequest {
        ScenarioRequest { max_tokens: Some(8), stream: true, tag: Some("t".into()), ..ScenarioRequest::new(api, prompt) }
    }

    fn encoder() -> RequestEncoder {
        RequestEncoder::new(&Target::parse("http://127.0.0.1:1/base/v1").unwrap(), Some("m".into()), Arc::default(), &[])
    }

    #[test]
    fn one_encoder_finds_each_requests_own_path_as_paths_change() {
        let mut e = encoder();
        let chat = || req(Api::ChatCompletions, Prompt::Chat(vec![Message::user("hi")]));
        let text = || req(Api::Completions, Prompt::Text("hi".into()));
        let http = |path: &str| ScenarioRequest { path: Some(path.into()), ..ScenarioRequest::new(Api::Http, Prompt::Text(String::new())) };
        let want = [
            (text(), "/base/v1/completions"),
            (text(), "/base/v1/completions"),
            (chat(), "/base/v1/chat/completions"),
            (http("/a"), "/base/a"),
            (http("/b"), "/base/b"),
            (text(), "/base/v1/completions"),
        ];
        for (i, (r, path)) in want.into_iter().enumerate() {
            assert_eq!(e.encode(r, 0, i as u64).unwrap().uri.path(), path, "request {i}");
        }
        // A path refused on the way keeps no memo: the next request is still right.
        assert!(e.encode(http("//evil/x"), 0, 9).is_err());
        assert_eq!(e.encode(http("/b"), 0, 10).unwrap().uri.path(), "/base/b");
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
    fn body_extra_merges_deep_into_a_json_body() {
        let r = ScenarioRequest {
            max_tokens: Some(5),
            stream: true,
            body_extra: Some(r#"{"parameters":{"temperature":0.5}}"#.into()),
            ..ScenarioRequest::new(Api::TgiGenerate, Prompt::Text("hi".into()))
        };
        let p = encoder().encode(r, 0, 0).unwrap();
        assert_eq!(p.uri.path(), "/base/generate_stream");
        assert!(p.stream);
        let b = body(&p);
        assert_eq!((b["inputs"].as_str(), b["parameters"]["max_new_tokens"].as_u64()), (Some("hi"), Some(5)));
        assert_eq!((b["parameters"]["details"].as_bool(), b["parameters"]["temperature"].as_f64()), (Some(true), Some(0.5)));
    }

    #[test]
    fn body_extra_beside_the_typed_keys_is_spliced_as_a_merge_would() {
        let encode = |extra: &str| {
            let mut r = req(Api::ChatCompletions, Prompt::Chat(vec![Message::user("hi")]));
            r.body_extra = Some(extra.into());
            let p = encoder().encode(r, 0, 0).unwrap();
            (serde_json::from_slice::<Value>(&p.body).unwrap(), p.stream)
        };
        let (v, stream) = encode(r#"{"min_tokens": 4, "ignore_eos":true, "nested": {"a": [1, "}"]}, "min_tokens": 5}"#);
        assert_eq!(v["min_tokens"], 5, "the last of a repeated key, as a merge keeps");
        assert_eq!((v["ignore_eos"].as_bool(), v["nested"]["a"][1].as_str()), (Some(true), Some("}")));
        assert_eq!((v["model"].as_str(), v["stream_options"]["include_usage"].as_bool(), stream), (Some("m"), Some(true), true));
        // A typed key, or an escaped one, takes the deep merge.
        let (v, stream) = encode(r#"{"stream_options": {"continuous_usage_stats": true}, "stream": false}"#);
        assert_eq!(
            (v["stream_options"]["include_usage"].as_bool(), v["stream_options"]["continuous_usage_stats"].as_bool()),
            (Some(true), Some(true))
        );
        assert!(!stream);
        let (v, _) = encode(r#"{"\u0073tream": false}"#);
        assert_eq!(v["stream"], false);
        let members = |extra: &str| splice_members(extra, openai::encode::KEYS).unwrap();
        assert_eq!(splice(b"{}", &members(r#"{"a":1}"#)).as_deref(), Some(&br#"{"a":1}"#[..]));
        assert_eq!(splice(br#"{"stream":true}"#, &members("{}")).as_deref(), Some(&br#"{"stream":true}"#[..]));
        assert!(splice_members("[1]", openai::encode::KEYS).is_none());
        // The same body-extra twice, then another: each request gets its own.
        let mut e = encoder();
        for extra in [r#"{"min_tokens":4}"#, r#"{"min_tokens":4}"#, r#"{"min_tokens":5}"#] {
            let mut r = req(Api::Completions, Prompt::Text("x".into()));
            r.body_extra = Some(extra.into());
            let v: Value = serde_json::from_slice(&e.encode(r, 0, 0).unwrap().body).unwrap();
            assert_eq!(v["min_tokens"], serde_json::from_str::<Value>(extra).unwrap()["min_tokens"]);
        }
    }

    #[test]
    fn rejects_bad_requests() {
        let mut e = encoder();
        let mut r = req(Api::Completions, Prompt::Text("x".into()));
        r.body_extra = Some("[1]".into());
        assert!(e.encode(r, 0, 0).unwrap_err().to_string().contains("JSON object"), "body-extra must be an object");
        let mut r = req(Api::Completions, Prompt::Text("x".into()));
        r.headers = vec![("Host".into(), "evil".into())];
        assert!(e.encode(r.clone(), 0, 0).unwrap_err().to_string().contains("set by the host"));
        r.headers = vec![("Authorization".into(), "Bearer baked-in".into())];
        assert!(e.encode(r, 0, 0).unwrap_err().to_string().contains("come from the operator"));
        let r = req(Api::Completions, Prompt::Chat(vec![]));
        assert!(e.encode(r, 0, 0).is_err());
        // A protocol module's refusal is an invalid request, not the policy's.
        let mut r = req(Api::ChatCompletions, Prompt::Chat(vec![Message::user("hi")]));
        r.tools = agent_tools();
        r.tools[1].parameters = "[1]".into();
        let err = e.encode(r, 0, 0).unwrap_err();
        assert!(matches!(err, EncodeError::Invalid(_)) && err.to_string().contains("tool 'get_time'"), "{err}");
    }

    fn body(p: &PreparedRequest) -> Value {
        serde_json::from_slice(&p.body).unwrap()
    }

    /// The messages array of a chat body, as its bytes (between `[` and `]`).
    fn messages_json(body: &[u8]) -> &str {
        let s = std::str::from_utf8(body).unwrap();
        let start = s.find(r#""messages":["#).unwrap() + r#""messages":["#.len();
        let end = s.find(r#"],"tools""#).or_else(|| s.find(r#"],"max_tokens""#)).unwrap();
        &s[start..end]
    }

    #[test]
    fn a_kept_history_sends_its_messages_first_and_keeps_each_turn_and_answer() {
        let mut e = encoder();
        let mut kept = KeptConversation::default();
        let session = |messages: Vec<Message>| {
            let mut r = req(Api::ChatCompletions, Prompt::Chat(messages));
            (r.session, r.history, r.tools) = (Some(3), Some(0), agent_tools());
            r
        };
        let first = session(vec![Message::new("system", "You plan \"carefully\"."), Message::new("user", "fix the bug")]);
        let p1 = e.encode_kept(first, 0, 10, Some(&mut kept)).unwrap();
        assert_eq!(body(&p1)["messages"].as_array().unwrap().len(), 2);
        let mut json = Vec::new();
        kept.write_to(&mut json);
        assert_eq!(messages_json(&p1.body).as_bytes(), json, "the turn's messages are kept, as sent");
        assert!(kept.awaits(10) && !kept.awaits(11));

        let calls = vec![ToolCall { id: "call_9".into(), name: "search".into(), arguments: r#"{"q":"bug"}"#.into() }];
        kept.keep_answer(answer_items(Api::ChatCompletions, "Looking.", &calls));
        assert!(!kept.awaits(10));
        let p2 = e.encode_kept(session(vec![Message::tool_result("call_9", "found it")]), 0, 11, Some(&mut kept)).unwrap();
        let v = body(&p2);
        let m = v["messages"].as_array().unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!((m[2]["role"].as_str(), m[2]["content"].as_str()), (Some("assistant"), Some("Looking.")));
        assert_eq!(m[2]["tool_calls"][0]["id"], "call_9");
        assert_eq!(m[2]["tool_calls"][0]["function"]["arguments"], r#"{"q":"bug"}"#);
        assert_eq!((m[3]["role"].as_str(), m[3]["tool_call_id"].as_str()), (Some("tool"), Some("call_9")));
        assert!(messages_json(&p2.body).starts_with(messages_json(&p1.body)), "each turn starts byte for byte as the last");
        assert_eq!(v["tools"].as_array().unwrap().len(), 2, "the rest of the body is the request's own");

        // A failed answer keeps nothing; the next turn follows the last kept message.
        kept.keep_answer(None);
        let p3 = e.encode_kept(session(vec![Message::new("user", "again")]), 0, 12, Some(&mut kept)).unwrap();
        let m3 = body(&p3)["messages"].as_array().unwrap().clone();
        assert_eq!((m3.len(), m3[3]["role"].as_str(), m3[4]["content"].as_str()), (5, Some("tool"), Some("again")));
    }

    /// Two turns of `api` in one kept history: the first turn's system prompt and
    /// question, the model's answer (text and a tool call), then the tool's result.
    fn two_kept_turns(api: Api) -> (Value, Value) {
        let mut e = encoder();
        let mut kept = KeptConversation::default();
        let turn = |messages: Vec<Message>| {
            let mut r = req(api, Prompt::Chat(messages));
            (r.session, r.history, r.tools) = (Some(3), Some(0), agent_tools());
            r
        };
        let p1 = e
            .encode_kept(turn(vec![Message::new("system", "Be terse."), Message::user("Weather in Paris?")]), 0, 1, Some(&mut kept))
            .unwrap();
        let calls = vec![ToolCall { id: "call_9".into(), name: "get_weather".into(), arguments: r#"{"city":"Paris"}"#.into() }];
        kept.keep_answer(answer_items(api, "Looking.", &calls));
        let p2 = e.encode_kept(turn(vec![Message::tool_result("call_9", "18 C")]), 0, 2, Some(&mut kept)).unwrap();
        // A history keeps to its API.
        let other = if api == Api::Messages { Api::Responses } else { Api::Messages };
        let mut r = turn(vec![Message::user("again")]);
        r.api = other;
        assert!(e.encode_kept(r, 0, 3, Some(&mut kept)).unwrap_err().to_string().contains("was kept for"));
        (body(&p1), body(&p2))
    }

    #[test]
    fn a_kept_history_on_the_responses_api_sends_its_items_first() {
        let (first, second) = two_kept_turns(Api::Responses);
        assert_eq!(first["input"].as_array().unwrap().len(), 2);
        assert_eq!(
            second["input"],
            json!([
                {"role": "system", "content": "Be terse."},
                {"role": "user", "content": "Weather in Paris?"},
                {"type": "message", "role": "assistant", "content": "Looking."},
                {"type": "function_call", "call_id": "call_9", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
                {"type": "function_call_output", "call_id": "call_9", "output": "18 C"},
            ])
        );
        assert_eq!(second["tools"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_kept_history_on_the_messages_api_keeps_its_system_and_tool_use() {
        let (first, second) = two_kept_turns(Api::Messages);
        assert_eq!((first["system"].as_str(), first["messages"].as_array().unwrap().len()), (Some("Be terse."), 1));
        assert_eq!(second["system"], "Be terse.", "the kept system goes with every turn");
        assert_eq!(
            second["messages"],
            json!([
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Looking."},
                    {"type": "tool_use", "id": "call_9", "name": "get_weather", "input": {"city": "Paris"}},
                ]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_9", "content": "18 C"}]},
            ])
        );
    }

    #[test]
    fn an_array_s_end_is_found_past_brackets_in_strings() {
        let json = br#"{"input":[{"a":"]\"[x"},[1,[2]],"\\"],"tools":[]}"#;
        let start = br#"{"input":["#.len();
        assert_eq!(&json[array_end(json, start).unwrap()..], br#"],"tools":[]}"#);
        assert_eq!(array_end(br#"[{"a":1"#, 1), None);
    }

    #[test]
    fn a_history_is_for_session_chat_requests_the_host_keeps() {
        let mut e = encoder();
        let mut r = req(Api::ChatCompletions, Prompt::Chat(vec![Message::new("user", "hi")]));
        r.history = Some(0);
        let err = e.encode(r.clone(), 0, 0).unwrap_err().to_string();
        assert!(
            err.contains("a history is kept for chat_completions, responses and messages requests with a session")
                && err.contains("without a session"),
            "{err}"
        );
        let mut kept = KeptConversation::default();
        let mut text = req(Api::Completions, Prompt::Text("hi".into()));
        (text.session, text.history) = (Some(1), Some(0));
        let err = e.encode_kept(text, 0, 0, Some(&mut kept)).unwrap_err().to_string();
        assert!(err.contains("this is a completions request"), "{err}");
        // A refused request keeps nothing.
        r.session = Some(1);
        r.headers = vec![("Host".into(), "evil".into())];
        assert!(e.encode_kept(r, 0, 0, Some(&mut kept)).is_err());
        let mut json = Vec::new();
        kept.write_to(&mut json);
        assert!(json.is_empty() && !kept.awaits(0));
    }

    #[test]
    fn body_extra_merges_last_over_tools() {
        let encode = |extra: &str| {
            let mut r = req(Api::ChatCompletions, Prompt::Chat(agent_chat()));
            r.tools = agent_tools();
            r.tool_choice = Some(ToolChoice::Required);
            r.body_extra = Some(extra.into());
            serde_json::from_slice::<Value>(&encoder().encode(r, 0, 0).unwrap().body).unwrap()
        };
        // Spliced beside the typed keys.
        let v = encode(r#"{"parallel_tool_calls": false}"#);
        assert_eq!((v["parallel_tool_calls"].as_bool(), v["tool_choice"].as_str()), (Some(false), Some("required")));
        assert_eq!(v["tools"][0]["function"]["name"], "get_weather");
        // A typed key is merged over.
        let v = encode(r#"{"tool_choice": "none"}"#);
        assert_eq!((v["tool_choice"].as_str(), v["tools"].as_array().map(Vec::len)), (Some("none"), Some(2)));
    }

    #[test]
    fn tools_and_tool_messages_are_for_the_chat_api_only() {
        let one_line = |r: ScenarioRequest| {
            let err = encoder().encode(r, 0, 0).unwrap_err();
            assert!(matches!(err, EncodeError::Invalid(_)));
            let err = err.to_string();
            assert!(err.contains("chat_completions, responses and messages requests only") && !err.contains('\n'), "{err}");
            err
        };
        let mut r = req(Api::Completions, Prompt::Text("x".into()));
        r.tools = agent_tools();
        assert!(one_line(r).contains("not completions"));
        let mut r = req(Api::Completions, Prompt::Text("x".into()));
        r.tool_choice = Some(ToolChoice::Auto);
        one_line(r);
        let mut r = req(Api::Embeddings, Prompt::Text("x".into()));
        r.tools = agent_tools();
        one_line(r);
        // TGI takes a chat prompt as text, but not its tool calls or results.
        let r = req(Api::TgiGenerate, Prompt::Chat(agent_chat()));
        assert!(one_line(r).contains("message 2 has tool calls"));
        let r = req(Api::TgiGenerate, Prompt::Chat(vec![Message::tool_result("c", "r")]));
        assert!(one_line(r).contains("tool_call_id"));
        // The same on the chat API is fine.
        let mut r = req(Api::ChatCompletions, Prompt::Chat(agent_chat()));
        r.tools = agent_tools();
        assert!(encoder().encode(r, 0, 0).is_ok());
    }

    #[test]
    fn responses_and_messages_requests_go_through_their_modules() {
        for (api, path, tools_key) in [(Api::Responses, "/v1/responses", "tools"), (Api::Messages, "/v1/messages", "tools")] {
            let mut r = req(api, Prompt::Chat(agent_chat()));
            (r.tools, r.tool_choice) = (agent_tools(), Some(ToolChoice::Required));
            let p = encoder().encode(r.clone(), 0, 0).unwrap();
            assert_eq!((p.uri.path(), p.stream), (format!("/base{path}").as_str(), true));
            let v = body(&p);
            assert_eq!(v[tools_key].as_array().map(Vec::len), Some(2));
            let version = p.headers.iter().find(|(n, _)| n == "anthropic-version").map(|(_, v)| v.to_str().unwrap());
            assert_eq!(version, (api == Api::Messages).then_some("2023-06-01"));
            // Body-extra: spliced beside the typed keys, merged over one of them.
            r.body_extra = Some(r#"{"temperature": 0.5}"#.into());
            let v = body(&encoder().encode(r.clone(), 0, 0).unwrap());
            assert_eq!((v["temperature"].as_f64(), v["tools"].as_array().map(Vec::len)), (Some(0.5), Some(2)));
            r.body_extra = Some(r#"{"stream": false, "tools": []}"#.into());
            let p = encoder().encode(r.clone(), 0, 0).unwrap();
            assert!(!p.stream);
            assert_eq!(body(&p)["tools"], json!([]));
        }
        // The operator's version header wins: none is added.
        let operator = [HeaderName::from_static("anthropic-version")];
        let mut e = RequestEncoder::new(&Target::parse("http://127.0.0.1:1").unwrap(), Some("m".into()), Arc::default(), &operator);
        let p = e.encode(req(Api::Messages, Prompt::Chat(vec![Message::user("hi")])), 0, 0).unwrap();
        assert!(p.headers.is_empty());
        // Tool parameters are checked as for chat.
        let mut r = req(Api::Messages, Prompt::Chat(vec![Message::user("hi")]));
        r.tools = agent_tools();
        r.tools[1].parameters = "[1]".into();
        assert!(encoder().encode(r, 0, 0).unwrap_err().to_string().contains("tool 'get_time'"));
    }

    #[test]
    fn tags_are_interned() {
        let mut e = encoder();
        let a = e.encode(req(Api::Completions, Prompt::Text("x".into())), 0, 0).unwrap();
        let b = e.encode(req(Api::Completions, Prompt::Text("y".into())), 0, 1).unwrap();
        assert!(Arc::ptr_eq(a.tag.as_ref().unwrap(), b.tag.as_ref().unwrap()));
    }
}
