//! What each protocol's module turns a scenario request into ([`Wire`]), before the
//! protocol-neutral encoder ([`super::request`]) merges body-extra, checks headers and the
//! policy, and resolves the path under the target; and the few pieces several
//! protocols share: the JSON content type, a model name as a path segment, a tool's
//! parameters checked, a JSON body as bytes.
//!
//! A leaf: it names no other module of the client, so every protocol's module and the
//! encoder can use it.

use std::borrow::Cow;
use std::ops::Range;

use bytes::Bytes;
use hyper::Method;
use hyper::header::HeaderValue;
use serde_json::Value;
use serde_json::value::RawValue;

use volley_core::Tool;
use volley_core::text::clip;

pub(crate) const JSON: HeaderValue = HeaderValue::from_static("application/json");
/// Longest JSON schema of one tool's parameters.
pub(crate) const MAX_TOOL_PARAMETERS: usize = 1 << 20;

/// What an API turns a request into, before body-extra and headers.
pub(crate) struct Wire {
    pub(crate) method: Method,
    /// Borrowed for the APIs' fixed paths: no allocation a request.
    pub(crate) path: Cow<'static, str>,
    pub(crate) body: WireBody,
    pub(crate) content_type: Option<HeaderValue>,
    pub(crate) stream: bool,
    /// A typed body's conversation (the inside of its array of messages, or of input
    /// items), for a kept conversation to keep; `None` when the API has none, or (for an
    /// API whose conversation the encoder splices in) before it is spliced.
    pub(crate) conversation: Option<Range<usize>>,
    /// The `system` the body sent (Messages), kept with its conversation.
    pub(crate) system: Option<String>,
    /// A header the API needs (name, value), added unless the operator or the scenario
    /// sets it.
    pub(crate) header: Option<(&'static str, &'static str)>,
}

impl Wire {
    /// A request with no conversation to keep and no header of its own.
    pub(crate) fn new(method: Method, path: Cow<'static, str>, body: WireBody, content_type: Option<HeaderValue>, stream: bool) -> Self {
        Wire { method, path, body, content_type, stream, conversation: None, system: None, header: None }
    }

    /// A JSON `POST`.
    pub(crate) fn post_json(path: Cow<'static, str>, body: WireBody, stream: bool) -> Self {
        Wire::new(Method::POST, path, body, Some(JSON), stream)
    }
}

/// A request body as an API makes it.
pub(crate) enum WireBody {
    /// JSON to serialize once body-extra is merged in (`Null`: no body).
    Json(Value),
    /// A body already serialized from its typed form: a JSON object of only the keys
    /// given (`openai::encode::KEYS` for an OpenAI body), beside which body-extra is
    /// spliced.
    Typed(Vec<u8>, &'static [&'static str]),
    /// Not JSON (a gRPC message): sent as is.
    Raw(Bytes),
}

/// A JSON body as bytes: none for null, a string as is (a raw body), else serialized.
pub(crate) fn json_body(body: Value) -> Result<Bytes, String> {
    Ok(match body {
        Value::Null => Bytes::new(),
        Value::String(raw) => Bytes::from(raw),
        v => Bytes::from(serde_json::to_vec(&v).map_err(|e| format!("cannot serialize the body: {e}"))?),
    })
}

/// A model name (or version) that is safe as one path segment: letters, digits, `.`,
/// `_` and `-`, and not `.` or `..`.
pub(crate) fn model_segment<'a>(model: Option<&'a str>, api: &str) -> Result<&'a str, String> {
    let m = model.ok_or_else(|| format!("a {api} request needs a model (in the scenario, or --model)"))?;
    let safe = m.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if m.is_empty() || !safe || m == "." || m == ".." {
        return Err(format!("model name {:?} cannot be used in a {api} path", clip(m, 60)));
    }
    Ok(m)
}

/// `t`'s parameters, checked: a JSON object of at most [`MAX_TOOL_PARAMETERS`] bytes.
/// Checked without building it (serde_json skips a raw value without recursion, so its
/// depth costs no stack), and sent as written, by every API that takes tools.
pub(crate) fn tool_parameters(t: &Tool) -> Result<&RawValue, String> {
    let bad = |why: String| format!("tool '{}': its parameters must be a JSON object (a JSON schema): {why}", clip(&t.name, 60));
    if t.parameters.len() > MAX_TOOL_PARAMETERS {
        return Err(bad(format!("{} bytes, over the limit of {MAX_TOOL_PARAMETERS}", t.parameters.len())));
    }
    let parameters: &RawValue = serde_json::from_str(&t.parameters).map_err(|e| bad(e.to_string()))?;
    if !parameters.get().starts_with('{') {
        return Err(bad(format!("got {}", clip(parameters.get(), 60))));
    }
    Ok(parameters)
}

/// Each of `tools` with its parameters checked ([`tool_parameters`]); the first that
/// fails is the error.
pub(crate) fn checked_tools(tools: &[Tool]) -> Result<Vec<(&Tool, &RawValue)>, String> {
    tools.iter().map(|t| tool_parameters(t).map(|p| (t, p))).collect()
}

#[cfg(test)]
impl Wire {
    /// The body as JSON, as the encoder would send it without body-extra.
    pub(crate) fn json(&self) -> Value {
        match &self.body {
            WireBody::Json(v) => v.clone(),
            WireBody::Typed(bytes, _) => serde_json::from_slice(bytes).unwrap(),
            WireBody::Raw(_) => panic!("a raw body is not JSON"),
        }
    }
}
