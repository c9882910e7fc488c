//! Encoding scenario requests into ready-to-send HTTP requests, for every API: OpenAI
//! completions, chat and embeddings; TGI `/generate(_stream)`; KServe v1 `:predict`;
//! KServe v2 `infer` with typed JSON tensors; and plain HTTP (method, relative path,
//! body) for anything else.
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
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::kept::KeptConversation;
use super::openai::messages::WireMessage;
use super::{anthropic, responses};

use volley_core::text::clip;
use volley_core::{Api, Policy, Prompt, Refusal, ScenarioRequest, Tensor, TensorData, Tool, ToolCall, ToolChoice};
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
/// Longest request path (with its query) a scenario may ask for.
const MAX_PATH: usize = 8 << 10;
/// Longest JSON schema of one tool's parameters.
const MAX_TOOL_PARAMETERS: usize = 1 << 20;

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const GRPC: HeaderValue = HeaderValue::from_static("application/grpc");
/// The header that names the Anthropic API's version.
const ANTHROPIC_VERSION: &str = "anthropic-version";

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

/// A tool the model may call: `{"type": "function", "function": {...}}`.
#[derive(Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunction<'a>,
}

#[derive(Serialize)]
struct WireFunction<'a> {
    name: &'a str,
    description: &'a str,
    /// The JSON schema, checked to be an object and sent as the scenario wrote it.
    parameters: &'a RawValue,
}

/// `tool_choice`: a mode, or one function by name.
#[derive(Serialize)]
#[serde(untagged)]
enum WireToolChoice<'a> {
    Mode(&'static str),
    Function {
        #[serde(rename = "type")]
        kind: &'static str,
        function: WireName<'a>,
    },
}

#[derive(Serialize)]
struct WireName<'a> {
    name: &'a str,
}

impl<'a> WireToolChoice<'a> {
    fn of(c: &'a ToolChoice) -> Self {
        match c {
            ToolChoice::Auto => WireToolChoice::Mode("auto"),
            ToolChoice::None => WireToolChoice::Mode("none"),
            ToolChoice::Required => WireToolChoice::Mode("required"),
            ToolChoice::Function(name) => WireToolChoice::Function { kind: "function", function: WireName { name } },
        }
    }
}

impl<'a> WireTool<'a> {
    /// `t` with its parameters checked: a JSON object of at most [`MAX_TOOL_PARAMETERS`]
    /// bytes. Checked without building it (serde_json skips a raw value without
    /// recursion, so its depth costs no stack), and sent as written.
    fn of(t: &'a Tool) -> Result<Self, String> {
        let bad = |why: String| format!("tool '{}': its parameters must be a JSON object (a JSON schema): {why}", clip(&t.name, 60));
        if t.parameters.len() > MAX_TOOL_PARAMETERS {
            return Err(bad(format!("{} bytes, over the limit of {MAX_TOOL_PARAMETERS}", t.parameters.len())));
        }
        let parameters: &RawValue = serde_json::from_str(&t.parameters).map_err(|e| bad(e.to_string()))?;
        if !parameters.get().starts_with('{') {
            return Err(bad(format!("got {}", clip(parameters.get(), 60))));
        }
        Ok(WireTool { kind: "function", function: WireFunction { name: &t.name, description: &t.description, parameters } })
    }
}

/// An OpenAI completions or chat body. Every stream asks for `stream_options`'
/// `include_usage`: token counts from the server beat counting chunks.
struct OpenAiBody<'a> {
    model: Option<&'a str>,
    prompt: Option<&'a str>,
    messages: Option<Vec<WireMessage<'a>>>,
    /// Chat: the conversation the host keeps, sent before `messages`.
    kept: Option<&'a KeptConversation>,
    /// Chat: the tools (`None` when there are none) and the choice among them.
    tools: Option<Vec<WireTool<'a>>>,
    tool_choice: Option<WireToolChoice<'a>>,
    max_tokens: Option<u32>,
    stream: bool,
}

/// What an API turns a request into, before body-extra and headers.
struct Wire {
    method: Method,
    /// Borrowed for the APIs' fixed paths: no allocation a request.
    path: Cow<'static, str>,
    body: WireBody,
    content_type: Option<HeaderValue>,
    stream: bool,
}

/// A request body as an API makes it.
enum WireBody {
    /// JSON to serialize once body-extra is merged in (`Null`: no body).
    Json(Value),
    /// A body already serialized from its typed form: a JSON object of only the keys
    /// given ([`OPENAI_KEYS`] for an OpenAI body), beside which body-extra is spliced.
    Typed(Bytes, &'static [&'static str]),
    /// Not JSON (a gRPC message): sent as is.
    Raw(Bytes),
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
        let (mut fresh, mut system) = (None, None);
        let wire = match r.api {
            _ if self.grpc => grpc(&r, model.as_deref(), seq)?,
            Api::Completions | Api::ChatCompletions => {
                let (wire, range) = openai(&r, model.as_deref(), kept.as_deref())?;
                fresh = range;
                wire
            }
            Api::Embeddings => embeddings(&r, model.as_deref())?,
            Api::TgiGenerate => tgi(&r),
            Api::KserveV1 => kserve_v1(&r, model.as_deref())?,
            Api::KserveV2 => kserve_v2(&r, model.as_deref())?,
            Api::Http => http(&r)?,
            Api::Responses | Api::Messages => {
                let (wire, range, sent_system) = protocol(&r, model.as_deref(), kept.as_deref())?;
                (fresh, system) = (range, sent_system);
                wire
            }
        };
        let mut stream = wire.stream;
        let extra = r.body_extra.as_deref();
        // The conversation as the typed body has it (body-extra aside), to keep.
        let fresh = match (&wire.body, fresh) {
            (WireBody::Typed(bytes, _), Some(range)) if kept.is_some() => Some(bytes.slice(range)),
            _ => None,
        };
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
            WireBody::Typed(bytes, keys) => match extra {
                None => bytes,
                Some(extra) => {
                    let spliced = if keys == OPENAI_KEYS.as_slice() {
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
            },
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
        if r.api == Api::Messages
            && !self.operator_headers.iter().any(|h| h == ANTHROPIC_VERSION)
            && !headers.iter().any(|(h, _)| h == ANTHROPIC_VERSION)
        {
            headers.push((HeaderName::from_static(ANTHROPIC_VERSION), HeaderValue::from_static(anthropic::VERSION)));
        }
        if let (Some(name), Some(session)) = (&self.session_header, r.session) {
            headers.push((name.clone(), HeaderValue::from(session)));
        }
        let uri = self.uri(wire.path)?;
        if let (Some(kept), Some(fresh)) = (kept, fresh) {
            kept.keep(r.api, fresh, system, seq);
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
            self.last_extra = Some((extra.to_string(), splice_members(extra, &OPENAI_KEYS)));
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

fn text_prompt<'a>(r: &'a ScenarioRequest, what: &str) -> Result<&'a str, String> {
    match &r.prompt {
        Prompt::Text(t) => Ok(t),
        Prompt::Chat(_) => Err(format!("{what} requests need a text prompt")),
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

/// An OpenAI completions or chat request, its messages after those of its kept
/// conversation; and where the whole conversation is in the body (the inside of its
/// `messages` array), for that conversation to keep.
fn openai(r: &ScenarioRequest, model: Option<&str>, kept: Option<&KeptConversation>) -> Result<(Wire, Option<Range<usize>>), String> {
    let (prompt, messages) = match (&r.prompt, r.api) {
        (Prompt::Text(t), Api::Completions) => (Some(t.as_str()), None),
        (Prompt::Chat(m), Api::ChatCompletions) => (None, Some(m.iter().map(WireMessage::of).collect())),
        (Prompt::Text(_), _) => return Err("a chat request needs a chat prompt".into()),
        (Prompt::Chat(_), _) => return Err("a completions request needs a text prompt".into()),
    };
    let tools = match r.tools.is_empty() {
        true => None,
        false => Some(r.tools.iter().map(WireTool::of).collect::<Result<Vec<_>, _>>()?),
    };
    let tool_choice = r.tool_choice.as_ref().map(WireToolChoice::of);
    let body = OpenAiBody { model, prompt, messages, kept, tools, tool_choice, max_tokens: r.max_tokens, stream: r.stream };
    let path = Cow::Borrowed(r.api.openai_path().unwrap_or_default());
    // Once per request: bytes straight from the typed body, no `Value` tree in between.
    let (bytes, fresh) = body.encode().map_err(|e| format!("cannot serialize the body: {e}"))?;
    let body = WireBody::Typed(Bytes::from(bytes), &OPENAI_KEYS);
    let wire = Wire { method: Method::POST, path, body, content_type: Some(JSON), stream: r.stream };
    Ok((wire, fresh))
}

/// A Responses or Messages request as [`protocol`] makes it: the wire request, where its
/// conversation is in the body (with a kept one), and the `system` it sent (Messages).
type ProtocolWire = (Wire, Option<Range<usize>>, Option<String>);

/// An OpenAI Responses or Anthropic Messages request, its body made by the API's module.
///
/// With a kept conversation, its items go first in the body's array (`input`, or
/// `messages`), and its `system` before the request's (Messages); the array's inside
/// (for the conversation to keep) and the `system` sent come back too.
fn protocol(r: &ScenarioRequest, model: Option<&str>, kept: Option<&KeptConversation>) -> Result<ProtocolWire, String> {
    let tools = r.tools.iter().map(|t| WireTool::of(t).map(|w| (t, w.function.parameters))).collect::<Result<Vec<_>, _>>()?;
    let (bytes, system, keys, path, array) = match r.api {
        Api::Responses => (responses::encode(r, model, &tools)?, None, responses::KEYS, "/v1/responses", &br#""input":["#[..]),
        _ => {
            let (bytes, system) = anthropic::encode(r, model, &tools, kept.and_then(KeptConversation::system))?;
            (bytes, system, anthropic::KEYS, "/v1/messages", &br#""messages":["#[..])
        }
    };
    let (bytes, range) = match kept {
        None => (bytes, None),
        Some(kept) => {
            let (bytes, range) = splice_kept(bytes, array, kept).ok_or("the body's array of messages could not be found")?;
            (bytes, Some(range))
        }
    };
    let path = Cow::Borrowed(path);
    let wire =
        Wire { method: Method::POST, path, body: WireBody::Typed(Bytes::from(bytes), keys), content_type: Some(JSON), stream: r.stream };
    Ok((wire, range, system))
}

/// `body` (a serialized body whose top-level `key` — e.g. `"input":[` — opens its array
/// of messages) with `kept`'s messages first in that array; and where the array's inside
/// now is. A key's bytes cannot occur inside a string before it: a string's quotes are
/// escaped there.
fn splice_kept(body: Vec<u8>, key: &[u8], kept: &KeptConversation) -> Option<(Vec<u8>, Range<usize>)> {
    let start = body.windows(key.len()).position(|w| w == key)? + key.len();
    let end = array_end(&body, start)?;
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
        _ => super::openai::messages::answer(text, calls),
    }
}

impl OpenAiBody<'_> {
    /// The body as serde_json writes the struct (keys in its order, `None`s left out,
    /// `stream_options` on a stream), with the keys as literals: serde_json escapes
    /// every key of every request byte by byte, a third of the encoder's work.
    fn encode(&self) -> serde_json::Result<(Vec<u8>, Option<Range<usize>>)> {
        // Room for the texts and what a kept conversation adds, so the body (which may
        // wait in a queue for seconds, a follow-up's delay) is not grown by doubling
        // and held at twice its size.
        let texts: usize = self.messages.iter().flatten().map(WireMessage::len_hint).sum();
        let mut out = Vec::with_capacity(96 + self.prompt.map_or(0, str::len) + self.kept.map_or(0, KeptConversation::size_hint) + texts);
        out.push(b'{');
        if let Some(model) = self.model {
            out.extend_from_slice(br#""model":"#);
            serde_json::to_writer(&mut out, model)?;
            out.push(b',');
        }
        if let Some(prompt) = self.prompt {
            out.extend_from_slice(br#""prompt":"#);
            serde_json::to_writer(&mut out, prompt)?;
            out.push(b',');
        }
        let mut fresh = None;
        if let Some(messages) = &self.messages {
            out.extend_from_slice(br#""messages":["#);
            let start = out.len();
            if let Some(kept) = self.kept {
                kept.write_to(&mut out);
            }
            for m in messages {
                if out.len() > start {
                    out.push(b',');
                }
                serde_json::to_writer(&mut out, m)?;
            }
            fresh = Some(start..out.len());
            out.extend_from_slice(b"],");
        }
        if let Some(tools) = &self.tools {
            out.extend_from_slice(br#""tools":"#);
            serde_json::to_writer(&mut out, tools)?;
            out.push(b',');
        }
        if let Some(choice) = &self.tool_choice {
            out.extend_from_slice(br#""tool_choice":"#);
            serde_json::to_writer(&mut out, choice)?;
            out.push(b',');
        }
        if let Some(n) = self.max_tokens {
            out.extend_from_slice(br#""max_tokens":"#);
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            out.push(b',');
        }
        out.extend_from_slice(if self.stream {
            br#""stream":true,"stream_options":{"include_usage":true}}"#
        } else {
            br#""stream":false}"#
        });
        Ok((out, fresh))
    }
}

fn embeddings(r: &ScenarioRequest, model: Option<&str>) -> Result<Wire, String> {
    let mut body = json!({ "input": text_prompt(r, "embeddings")? });
    if let Some(m) = model {
        body["model"] = m.into();
    }
    Ok(Wire { method: Method::POST, path: "/v1/embeddings".into(), body: WireBody::Json(body), content_type: Some(JSON), stream: false })
}

fn tgi(r: &ScenarioRequest) -> Wire {
    let inputs = match &r.prompt {
        Prompt::Text(t) => t.clone(),
        // TGI's native API takes one string; a conversation is sent as its text.
        Prompt::Chat(m) => m.iter().map(WireMessage::text).collect::<Vec<_>>().join("\n"),
    };
    let mut parameters = json!({ "details": true });
    if let Some(n) = r.max_tokens {
        parameters["max_new_tokens"] = n.into();
    }
    let path = if r.stream { "/generate_stream" } else { "/generate" };
    Wire {
        method: Method::POST,
        path: path.into(),
        body: WireBody::Json(json!({ "inputs": inputs, "parameters": parameters })),
        content_type: Some(JSON),
        stream: r.stream,
    }
}

/// A model name (or version) that is safe as one path segment: letters, digits, `.`,
/// `_` and `-`, and not `.` or `..`.
fn model_segment<'a>(model: Option<&'a str>, api: &str) -> Result<&'a str, String> {
    let m = model.ok_or_else(|| format!("a {api} request needs a model (in the scenario, or --model)"))?;
    let safe = m.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if m.is_empty() || !safe || m == "." || m == ".." {
        return Err(format!("model name {:?} cannot be used in a {api} path", clip(m, 60)));
    }
    Ok(m)
}

fn kserve_v1(r: &ScenarioRequest, model: Option<&str>) -> Result<Wire, String> {
    let model = model_segment(model, "kserve-v1")?;
    let raw = r.body.as_deref().ok_or("a kserve-v1 request needs a body, e.g. {\"instances\": [...]}")?;
    let body: Value = serde_json::from_str(raw).map_err(|e| format!("the kserve-v1 body is not JSON: {e}"))?;
    Ok(Wire {
        method: Method::POST,
        path: format!("/v1/models/{model}:predict").into(),
        body: WireBody::Json(body),
        content_type: Some(JSON),
        stream: false,
    })
}

/// A JSON body as bytes: none for null, a string as is (a raw body), else serialized.
fn json_body(body: Value) -> Result<Bytes, String> {
    Ok(match body {
        Value::Null => Bytes::new(),
        Value::String(raw) => Bytes::from(raw),
        v => Bytes::from(serde_json::to_vec(&v).map_err(|e| format!("cannot serialize the body: {e}"))?),
    })
}

/// KServe v2 as a gRPC call: `ModelInfer`, or `ModelStreamInfer` for a streamed request.
fn grpc(r: &ScenarioRequest, model: Option<&str>, seq: u64) -> Result<Wire, String> {
    if r.api != Api::KserveV2 {
        return Err(format!("a grpc:// target takes kserve-v2 requests only, not {}", r.api.as_str()));
    }
    if r.body_extra.is_some() {
        return Err("body-extra has no meaning for a gRPC request".into());
    }
    let model = model_segment(model, "kserve-v2")?;
    let (path, bytes) = super::grpc::encode(r, model, seq)?;
    Ok(Wire { method: Method::POST, path: path.into(), body: WireBody::Raw(bytes), content_type: Some(GRPC), stream: r.stream })
}

fn kserve_v2(r: &ScenarioRequest, model: Option<&str>) -> Result<Wire, String> {
    let model = model_segment(model, "kserve-v2")?;
    if r.inputs.is_empty() {
        return Err("a kserve-v2 request needs at least one input tensor".into());
    }
    let inputs = r.inputs.iter().map(tensor_json).collect::<Result<Vec<_>, _>>()?;
    let path = match &r.model_version {
        Some(v) => format!("/v2/models/{model}/versions/{}/infer", model_segment(Some(v), "kserve-v2")?),
        None => format!("/v2/models/{model}/infer"),
    };
    Ok(Wire {
        method: Method::POST,
        path: path.into(),
        body: WireBody::Json(json!({ "inputs": inputs })),
        content_type: Some(JSON),
        stream: false,
    })
}

/// A tensor as KServe v2 JSON, with numbers typed by its datatype.
fn tensor_json(t: &Tensor) -> Result<Value, String> {
    let elements = t.shape.iter().try_fold(1i64, |acc, d| acc.checked_mul(*d));
    let (count, data) = match &t.data {
        TensorData::Strings(s) => (s.len(), json!(s)),
        TensorData::Numbers(n) => {
            let dt = t.datatype.to_ascii_uppercase();
            let data: Vec<Value> = if dt == "BOOL" {
                n.iter().map(|x| Value::Bool(*x != 0.0)).collect()
            } else if dt.starts_with("INT") || dt.starts_with("UINT") {
                n.iter().map(|x| Value::from(*x as i64)).collect()
            } else {
                n.iter().map(|x| Value::from(*x)).collect()
            };
            (n.len(), Value::Array(data))
        }
    };
    if t.shape.iter().any(|d| *d < 0) || elements != Some(count as i64) {
        return Err(format!("tensor '{}' has shape {:?} but {count} elements", t.name, t.shape));
    }
    Ok(json!({ "name": t.name, "shape": t.shape, "datatype": t.datatype, "data": data }))
}

/// Allowed methods of plain HTTP requests.
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

fn http(r: &ScenarioRequest) -> Result<Wire, String> {
    let method = r.method.as_deref().unwrap_or("POST").to_ascii_uppercase();
    if !METHODS.contains(&method.as_str()) {
        return Err(format!("method {method:?} is not allowed (use one of {})", METHODS.join(", ")));
    }
    let path = r.path.as_deref().ok_or("an http request needs a path")?;
    check_path(path)?;
    let (body, content_type) = match r.body.as_deref() {
        None | Some("") => (Value::Null, None),
        Some(b) => match serde_json::from_str::<Value>(b) {
            Ok(v) => (v, Some(JSON)),
            Err(_) => (Value::String(b.to_string()), Some(TEXT)),
        },
    };
    Ok(Wire {
        method: Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?,
        path: path.to_string().into(),
        body: WireBody::Json(body),
        content_type,
        stream: false,
    })
}

/// A path a scenario may send to: under the target's base path and nowhere else. It
/// starts with one `/`; its segments are never `.` or `..`, encoded or not; it has no
/// backslash, `@`, fragment, space or control character; a `%` escape is two hex digits
/// and never stands for `/`, `\`, `.`, `%` or a control character.
pub(crate) fn check_path(path: &str) -> Result<(), String> {
    let shown = || clip(path, 60);
    if !path.starts_with('/') || path.starts_with("//") {
        return Err(format!("path {:?} must be relative to the target (start with one '/')", shown()));
    }
    if path.len() > MAX_PATH {
        return Err(format!("path {:?} is longer than {MAX_PATH} bytes", shown()));
    }
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("path {:?} has spaces or control characters; percent-encode them", shown()));
    }
    if let Some(c) = path.chars().find(|c| matches!(c, '\\' | '@' | '#') || !c.is_ascii()) {
        return Err(format!("path {:?} must be relative to the target: it has {c:?}", shown()));
    }
    let bytes = path.as_bytes();
    let mut i = 0;
    while let Some(off) = bytes[i..].iter().position(|&b| b == b'%') {
        let at = i + off;
        let hex = path.get(at + 1..at + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            None => return Err(format!("path {:?} has a '%' that is not followed by two hex digits", shown())),
            Some(b) if b < 0x20 || b == 0x7f || matches!(b, b'/' | b'\\' | b'.' | b'%') => {
                return Err(format!("path {:?} must be relative to the target: it encodes {:?}", shown(), b as char));
            }
            Some(_) => i = at + 3,
        }
    }
    let route = path.split('?').next().unwrap_or(path);
    if route.split('/').any(|segment| segment == "." || segment == "..") {
        return Err(format!("path {:?} must be relative to the target: no '.' or '..' segments", shown()));
    }
    Ok(())
}

/// The keys [`OpenAiBody`] may write.
const OPENAI_KEYS: [&str; 8] = ["model", "prompt", "messages", "tools", "tool_choice", "max_tokens", "stream", "stream_options"];

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
    use super::*;
    use volley_core::{ContentPart, Media, Message, ToolCall};

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
    fn chat_body_and_path() {
        let chat = Prompt::Chat(vec![Message::user("hi \"there\"")]);
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
    fn content_parts_become_typed_parts_with_data_urls() {
        let image = Media::from_bytes("image/png", b"\x89PNG");
        let audio = Media::from_bytes("audio/wav", b"RIFF");
        let mut m = Message::with_parts(
            "user",
            vec![
                ContentPart::Image { media: image, detail: Some("low".into()) },
                ContentPart::Text("what is it?".into()),
                ContentPart::Audio(audio),
            ],
        );
        m.content = "look:".into();
        let plain = Message::user("plain");
        let p = encoder().encode(req(Api::ChatCompletions, Prompt::Chat(vec![plain, m.clone()])), 0, 0).unwrap();
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(v["messages"][0]["content"], "plain");
        let parts = &v["messages"][1]["content"];
        assert_eq!(parts[0], json!({"type": "text", "text": "look:"}));
        assert_eq!(parts[1], json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw==", "detail": "low"}}));
        assert_eq!(parts[2], json!({"type": "text", "text": "what is it?"}));
        assert_eq!(parts[3], json!({"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}));
        // TGI takes the text only.
        let p = encoder().encode(req(Api::TgiGenerate, Prompt::Chat(vec![m])), 0, 0).unwrap();
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(v["inputs"], "look:\nwhat is it?");
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
        let members = |extra: &str| splice_members(extra, &OPENAI_KEYS).unwrap();
        assert_eq!(splice(b"{}", &members(r#"{"a":1}"#)).as_deref(), Some(&br#"{"a":1}"#[..]));
        assert_eq!(splice(br#"{"stream":true}"#, &members("{}")).as_deref(), Some(&br#"{"stream":true}"#[..]));
        assert!(splice_members("[1]", &OPENAI_KEYS).is_none());
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
    }

    /// The body as it was derived before [`OpenAiBody::encode`] wrote it by hand.
    #[derive(Serialize)]
    struct SerdeBody<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        model: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        prompt: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        messages: Option<&'a Vec<WireMessage<'a>>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        tools: Option<&'a Vec<WireTool<'a>>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        tool_choice: Option<&'a WireToolChoice<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        max_tokens: Option<u32>,
        stream: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        stream_options: Option<StreamOptions>,
    }

    #[derive(Serialize)]
    struct StreamOptions {
        include_usage: bool,
    }

    #[test]
    fn openai_bodies_are_what_serde_json_writes() {
        let texts = ["", "hi", "quote \" backslash \\ tab \t nul \u{0} é 😀 \u{7f}", &"long ".repeat(300)];
        let chat = agent_chat();
        let tools = agent_tools();
        let choices = [
            None,
            Some(ToolChoice::Auto),
            Some(ToolChoice::None),
            Some(ToolChoice::Required),
            Some(ToolChoice::Function("f \"x\"".into())),
        ];
        for text in texts {
            for (model, max_tokens, stream, messages) in [
                (Some("m"), Some(8), true, false),
                (None, None, false, false),
                (Some("a \"model\""), Some(u32::MAX), false, true),
                (None, Some(0), true, true),
            ] {
                for (i, choice) in choices.iter().enumerate() {
                    let tools = (messages && i % 2 == 1).then(|| tools.iter().map(|t| WireTool::of(t).unwrap()).collect::<Vec<_>>());
                    let tool_choice = choice.as_ref().filter(|_| messages).map(WireToolChoice::of);
                    let messages = messages.then(|| {
                        let mut chat = chat.clone();
                        chat[0].content = text.to_string();
                        chat
                    });
                    let messages = messages.as_ref().map(|m| m.iter().map(WireMessage::of).collect::<Vec<_>>());
                    let prompt = (messages.is_none()).then_some(text);
                    let want = serde_json::to_string(&SerdeBody {
                        model,
                        prompt,
                        messages: messages.as_ref(),
                        tools: tools.as_ref(),
                        tool_choice: tool_choice.as_ref(),
                        max_tokens,
                        stream,
                        stream_options: stream.then_some(StreamOptions { include_usage: true }),
                    })
                    .unwrap();
                    let got =
                        OpenAiBody { model, prompt, messages, kept: None, tools, tool_choice, max_tokens, stream }.encode().unwrap().0;
                    assert_eq!(String::from_utf8(got).unwrap(), want);
                }
            }
        }
    }

    /// A conversation of an agent: a question, the model's two parallel tool calls, the
    /// two results, and a message with parts.
    fn agent_chat() -> Vec<Message> {
        let calls = vec![
            ToolCall { id: "call_1".into(), name: "get_weather".into(), arguments: r#"{"city": "Paris"}"#.into() },
            ToolCall { id: "call_2".into(), name: "get_time".into(), arguments: r#"{"tz":"Europe/Paris","q":"\"x\""}"#.into() },
        ];
        vec![
            Message::new("system", "You are terse."),
            Message::user("Weather and time in Paris?"),
            Message::assistant_calls("", calls),
            Message::tool_result("call_1", "18 °C, cloudy"),
            Message::tool_result("call_2", "14:05"),
            Message::with_parts("user", vec![ContentPart::Text("thanks".into())]),
        ]
    }

    fn agent_tools() -> Vec<Tool> {
        vec![
            Tool {
                name: "get_weather".into(),
                description: "The weather in a city.".into(),
                parameters: " {\"type\": \"object\",\n \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]} "
                    .into(),
            },
            Tool { name: "get_time".into(), description: String::new(), parameters: r#"{"type":"object","properties":{}}"#.into() },
        ]
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
    fn agent_requests_carry_tools_choices_calls_and_results() {
        let expected_tools = json!([
            {"type": "function", "function": {"name": "get_weather", "description": "The weather in a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
            {"type": "function", "function": {"name": "get_time", "description": "", "parameters": {"type": "object", "properties": {}}}},
        ]);
        let expected_messages = json!([
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Weather and time in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{\"tz\":\"Europe/Paris\",\"q\":\"\\\"x\\\"\"}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18 °C, cloudy"},
            {"role": "tool", "tool_call_id": "call_2", "content": "14:05"},
            {"role": "user", "content": [{"type": "text", "text": "thanks"}]},
        ]);
        let choices = [
            (ToolChoice::Auto, json!("auto")),
            (ToolChoice::None, json!("none")),
            (ToolChoice::Required, json!("required")),
            (ToolChoice::Function("get_time".into()), json!({"type": "function", "function": {"name": "get_time"}})),
        ];
        for (choice, expected_choice) in choices {
            let mut r = req(Api::ChatCompletions, Prompt::Chat(agent_chat()));
            r.tools = agent_tools();
            r.tool_choice = Some(choice.clone());
            let p = encoder().encode(r.clone(), 0, 0).unwrap();
            let v: Value = serde_json::from_slice(&p.body).unwrap();
            let want = json!({
                "model": "m", "messages": expected_messages, "tools": expected_tools, "tool_choice": expected_choice,
                "max_tokens": 8, "stream": true, "stream_options": {"include_usage": true},
            });
            assert_eq!(v, want);
            // Byte for byte what serde_json writes of the derived body.
            let Prompt::Chat(chat) = &r.prompt else { unreachable!() };
            let messages = chat.iter().map(WireMessage::of).collect::<Vec<_>>();
            let tools = r.tools.iter().map(|t| WireTool::of(t).unwrap()).collect::<Vec<_>>();
            let want = serde_json::to_string(&SerdeBody {
                model: Some("m"),
                prompt: None,
                messages: Some(&messages),
                tools: Some(&tools),
                tool_choice: Some(&WireToolChoice::of(&choice)),
                max_tokens: Some(8),
                stream: true,
                stream_options: Some(StreamOptions { include_usage: true }),
            })
            .unwrap();
            assert_eq!(std::str::from_utf8(&p.body).unwrap(), want);
        }
        // An assistant message with text and calls keeps its text; without tools or a
        // choice, neither key is written.
        let mut with_text = agent_chat();
        with_text[2].content = "Looking.".into();
        let p = encoder().encode(req(Api::ChatCompletions, Prompt::Chat(with_text)), 0, 0).unwrap();
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(v["messages"][2]["content"], "Looking.");
        assert_eq!(v["messages"][2]["tool_calls"][1]["id"], "call_2");
        assert!(v.get("tools").is_none() && v.get("tool_choice").is_none());
        assert!(v["messages"][0].get("tool_calls").is_none() && v["messages"][0].get("tool_call_id").is_none());
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
    fn tool_parameters_must_be_a_json_object() {
        for bad in ["not json", "[1]", r#""a string""#, "{\"type\": \"object\"", "{} {}", "", "null"] {
            let mut r = req(Api::ChatCompletions, Prompt::Chat(vec![Message::user("hi")]));
            r.tools = agent_tools();
            r.tools[1].parameters = bad.into();
            let err = encoder().encode(r, 0, 0).unwrap_err();
            assert!(matches!(err, EncodeError::Invalid(_)), "{bad:?}");
            let err = err.to_string();
            assert!(err.contains("tool 'get_time'") && err.contains("JSON object"), "{bad:?}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
        let mut r = req(Api::ChatCompletions, Prompt::Chat(vec![Message::user("hi")]));
        r.tools = agent_tools();
        r.tools[0].parameters = format!("{{\"description\": \"{}\"}}", "x".repeat(MAX_TOOL_PARAMETERS));
        let err = encoder().encode(r, 0, 0).unwrap_err().to_string();
        assert!(err.contains("tool 'get_weather'") && err.contains("over the limit"), "{err}");
        // Deep nesting within the bound is checked without recursion, and sent as is.
        let mut r = req(Api::ChatCompletions, Prompt::Chat(vec![Message::user("hi")]));
        r.tools = agent_tools();
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
        r.tools[0].parameters = deep.clone();
        assert!(std::str::from_utf8(&encoder().encode(r, 0, 0).unwrap().body).unwrap().contains(&deep));
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

#[cfg(test)]
mod protocol_tests {
    use super::*;

    fn encoder() -> RequestEncoder {
        RequestEncoder::new(&Target::parse("http://127.0.0.1:1").unwrap(), Some("m".into()), Arc::default(), &[])
    }

    fn body(p: &PreparedRequest) -> Value {
        serde_json::from_slice(&p.body).unwrap()
    }

    #[test]
    fn tgi_stream_and_parameters() {
        let mut r = ScenarioRequest::new(Api::TgiGenerate, Prompt::Text("hi".into()));
        r.max_tokens = Some(5);
        r.stream = true;
        r.body_extra = Some(r#"{"parameters":{"temperature":0.5}}"#.into());
        let p = encoder().encode(r, 0, 0).unwrap();
        assert_eq!(p.uri.path(), "/generate_stream");
        assert!(p.stream);
        let b = body(&p);
        assert_eq!((b["inputs"].as_str(), b["parameters"]["max_new_tokens"].as_u64()), (Some("hi"), Some(5)));
        assert_eq!((b["parameters"]["details"].as_bool(), b["parameters"]["temperature"].as_f64()), (Some(true), Some(0.5)));
    }

    #[test]
    fn kserve_paths_and_tensors() {
        let mut r = ScenarioRequest::new(Api::KserveV2, Prompt::Text(String::new()));
        r.model = Some("sum_fp32".into());
        r.model_version = Some("1".into());
        r.inputs = vec![Tensor {
            name: "INPUT0".into(),
            datatype: "INT64".into(),
            shape: vec![2, 2],
            data: TensorData::Numbers(vec![1.0, 2.0, 3.0, 4.0]),
        }];
        let p = encoder().encode(r.clone(), 0, 0).unwrap();
        assert_eq!(p.uri.path(), "/v2/models/sum_fp32/versions/1/infer");
        assert_eq!(body(&p)["inputs"][0]["data"], json!([1, 2, 3, 4]));
        r.inputs[0].shape = vec![3];
        assert!(encoder().encode(r, 0, 0).unwrap_err().to_string().contains("shape [3] but 4 elements"));
        let mut v1 = ScenarioRequest::new(Api::KserveV1, Prompt::Text(String::new()));
        v1.body = Some(r#"{"instances":[[1,2]]}"#.into());
        let p = encoder().encode(v1.clone(), 0, 0).unwrap();
        assert_eq!(p.uri.path(), "/v1/models/m:predict");
        v1.model = Some("a/b".into());
        assert!(encoder().encode(v1, 0, 0).is_err());
    }

    #[test]
    fn http_paths_stay_on_the_target() {
        let mut r = ScenarioRequest::new(Api::Http, Prompt::Text(String::new()));
        r.method = Some("get".into());
        r.path = Some("/predict/hello%20world?x=1".into());
        let p = encoder().encode(r.clone(), 0, 0).unwrap();
        assert_eq!((p.method.as_str(), p.uri.path(), p.uri.query()), ("GET", "/predict/hello%20world", Some("x=1")));
        assert!(p.body.is_empty() && p.content_type.is_none());
        for bad in ["http://evil/x", "//evil/x", "/a/../b", "relative", "/a b"] {
            r.path = Some(bad.into());
            assert!(encoder().encode(r.clone(), 0, 0).is_err(), "{bad}");
        }
        r.path = Some("/predict".into());
        r.method = Some("CONNECT".into());
        assert!(encoder().encode(r.clone(), 0, 0).is_err());
        r.method = None;
        r.body = Some("plain text".into());
        let p = encoder().encode(r, 0, 0).unwrap();
        assert_eq!((p.method.as_str(), p.content_type.unwrap().to_str().unwrap()), ("POST", "text/plain; charset=utf-8"));
    }
}
