//! Anthropic's Messages API, `POST /v1/messages`: the request is read into the chat
//! request it amounts to (`system` a system message; `tool_result` blocks `tool`
//! messages carrying their `tool_use_id`, ahead of the rest of their turn; an assistant
//! turn's `tool_use` blocks its `tool_calls`, `input` as JSON text; `image` blocks image
//! parts; `tools`' `input_schema` the parameters; `tool_choice` `auto`/`any`/`tool`/
//! `none` as chat's `auto`/`required`/named/`none`, `disable_parallel_tool_use` as
//! `parallel_tool_calls: false`), so prompt tokens, the prefix cache, tool-call plans
//! and the ids' ground truth are the chat path's; only the answer's wire format is this
//! module's. Tool-call ids are `toolu_N_K`.
//!
//! Usage as Anthropic reports it: `input_tokens` are the prompt tokens *not* served
//! from the prefix cache, `cache_read_input_tokens` those that were (so the chat path's
//! `prompt_tokens` is their sum), and `cache_creation_input_tokens` is 0 (the simulator
//! has no `cache_control` breakpoints). `stop_reason` is `tool_use` for tool calls,
//! else `max_tokens` (a text answer is always `max_tokens` long, as chat's is
//! `length`).
//!
//! Streamed, as `event: TYPE` / `data: JSON` pairs: at once `message_start` (usage with
//! `output_tokens` 1), the first block's `content_block_start` and `ping`; then each
//! chunk at the chat stream's instants (the first at TTFT, then ITL apart) as one
//! `content_block_delta`, a `text_delta` or an `input_json_delta` piece of a call's
//! input (a later call's `content_block_start` before its first piece, each call's
//! `content_block_stop` after its last); with the last chunk, for text, its
//! `content_block_stop`, then `message_delta` (stop reason, output tokens) and
//! `message_stop`.

use bytes::{Bytes, BytesMut};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};

use super::Shared;
use super::agents::ToolCall;
use super::generation::{Dialect, Generation, Translated};
use super::response::{SimBody, json_response, opt_bool, opt_str, opt_u32};
use super::serve::Translating;
use super::stream::{Wire, named_event};

/// An error in Anthropic's shape.
fn error(status: StatusCode, message: &str) -> Response<SimBody> {
    json_response(status, &json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}}))
}

pub(crate) async fn handle(req: Request<Incoming>, shared: &Shared) -> Response<SimBody> {
    let api = Translating { translate, error, dialect: Dialect::Messages, wire: Box::new(MessagesWire) };
    super::serve::translated(req, shared, api).await
}

/// The chat request a Messages request amounts to.
pub(crate) fn translate(v: &Value) -> Result<Translated, String> {
    if !v.is_object() {
        return Err("the body must be a JSON object".into());
    }
    let mut messages = Vec::new();
    match v.get("system") {
        None | Some(Value::Null) => {}
        Some(s @ (Value::String(_) | Value::Array(_))) => messages.push(json!({"role": "system", "content": s})),
        Some(_) => return Err("'system' must be a string or a list of text blocks".into()),
    }
    let Some(turns) = v.get("messages").and_then(Value::as_array) else {
        return Err("'messages' is required: a list of messages".into());
    };
    for m in turns {
        turn(m, &mut messages)?;
    }
    let tools = match v.get("tools") {
        None | Some(Value::Null) => None,
        Some(Value::Array(tools)) => Some(tools.iter().filter_map(chat_tool).collect()),
        Some(_) => return Err("'tools' must be a list".into()),
    };
    let (tool_choice, parallel_tool_calls) = match v.get("tool_choice") {
        None | Some(Value::Null) => (None, None),
        Some(c @ Value::Object(_)) => {
            let choice = match (c.get("type").and_then(Value::as_str), c.get("name").and_then(Value::as_str)) {
                (Some("any"), _) => json!("required"),
                (Some("none"), _) => json!("none"),
                (Some("tool"), Some(name)) => json!({"type": "function", "function": {"name": name}}),
                _ => json!("auto"),
            };
            let single = c.get("disable_parallel_tool_use").and_then(Value::as_bool) == Some(true);
            (Some(choice), single.then_some(false))
        }
        Some(_) => return Err("'tool_choice' must be an object".into()),
    };
    Ok(Translated {
        model: opt_str(v, "model")?.map(str::to_string),
        messages,
        tools,
        tool_choice,
        parallel_tool_calls,
        max_tokens: opt_u32(v, "max_tokens")?,
        stream: opt_bool(v, "stream")?.unwrap_or(false),
    })
}

/// One turn as chat messages: its `tool_result` blocks as `tool` messages, then the
/// rest (unless it was only tool results), its `tool_use` blocks as `tool_calls`.
fn turn(m: &Value, out: &mut Vec<Value>) -> Result<(), String> {
    let role = m.get("role").and_then(Value::as_str).ok_or("each message needs a 'role'")?;
    let blocks = match m.get("content") {
        Some(Value::String(s)) => {
            out.push(json!({"role": role, "content": s}));
            return Ok(());
        }
        Some(Value::Array(blocks)) => blocks,
        _ => return Err("a message's 'content' must be a string or a list of blocks".into()),
    };
    let kind = |b: &Value| b.get("type").and_then(Value::as_str).map(str::to_string);
    let mut rest = Vec::new();
    let mut calls = Vec::new();
    let mut results = 0;
    for b in blocks {
        match kind(b).as_deref() {
            Some("tool_result") => {
                results += 1;
                let id = b.get("tool_use_id").and_then(Value::as_str).unwrap_or("");
                let content = b.get("content").cloned().unwrap_or_else(|| json!(""));
                out.push(json!({"role": "tool", "tool_call_id": id, "content": content}));
            }
            Some("tool_use") => {
                let arguments = serde_json::to_string(b.get("input").unwrap_or(&json!({}))).unwrap_or_default();
                calls.push(json!({"id": b.get("id").and_then(Value::as_str).unwrap_or(""), "type": "function",
                                  "function": {"name": b.get("name").and_then(Value::as_str).unwrap_or(""), "arguments": arguments}}));
            }
            Some("image") => rest.push(json!({"type": "image_url", "image_url": {"url": b.get("source").cloned()}})),
            _ => rest.push(b.clone()),
        }
    }
    if results > 0 && rest.is_empty() && calls.is_empty() {
        return Ok(());
    }
    let mut message = json!({"role": role, "content": rest});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    out.push(message);
    Ok(())
}

/// An Anthropic tool (`{"name", "description", "input_schema"}`) in chat form.
fn chat_tool(tool: &Value) -> Option<Value> {
    let name = tool.get("name")?.as_str()?;
    Some(json!({"type": "function", "function": {"name": name, "description": tool.get("description"),
                                                  "parameters": tool.get("input_schema")}}))
}

/// The Messages API's wire format.
pub(crate) struct MessagesWire;

fn stop_reason(g: &Generation) -> &'static str {
    if g.tool_calls().is_some() { "tool_use" } else { "max_tokens" }
}

fn usage(g: &Generation, output_tokens: u32) -> Value {
    let cached = g.cached_tokens();
    json!({"input_tokens": g.prompt_tokens().saturating_sub(cached), "output_tokens": output_tokens,
           "cache_read_input_tokens": cached, "cache_creation_input_tokens": 0})
}

fn tool_use(call: &ToolCall, input: Value) -> Value {
    json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input})
}

fn message(g: &Generation, done: bool) -> Value {
    let (content, stop, output_tokens) = match (done, g.tool_calls()) {
        (false, _) => (json!([]), Value::Null, g.tokens.min(1)),
        (true, Some(calls)) => {
            let blocks = calls.iter().map(|k| tool_use(k, serde_json::from_str(&k.arguments).unwrap_or_else(|_| json!({}))));
            (Value::Array(blocks.collect()), json!(stop_reason(g)), g.tokens)
        }
        (true, None) => (json!([{"type": "text", "text": g.text(0, g.tokens)}]), json!(stop_reason(g)), g.tokens),
    };
    let mut m = json!({"id": format!("msg_sim_{}", g.id()), "type": "message", "role": "assistant", "model": g.model(),
                       "content": content, "stop_reason": stop, "stop_sequence": null});
    if g.reports_usage() {
        m["usage"] = usage(g, output_tokens);
    }
    m
}

fn event(buf: &mut BytesMut, kind: &str, mut data: Value) {
    data["type"] = json!(kind);
    named_event(buf, kind, &data);
}

fn open_call(buf: &mut BytesMut, k: usize, call: &ToolCall) {
    event(buf, "content_block_start", json!({"index": k, "content_block": tool_use(call, json!({}))}));
}

impl Wire for MessagesWire {
    fn start(&mut self, g: &Generation, buf: &mut BytesMut) {
        event(buf, "message_start", json!({"message": message(g, false)}));
        match g.tool_calls() {
            Some(calls) => {
                if let Some(first) = calls.first() {
                    open_call(buf, 0, first);
                }
            }
            None => event(buf, "content_block_start", json!({"index": 0, "content_block": {"type": "text", "text": ""}})),
        }
        event(buf, "ping", json!({}));
    }

    fn chunk(&mut self, g: &Generation, buf: &mut BytesMut, i: u32) {
        let Some(calls) = g.tool_calls() else {
            let (from, to) = g.chunk_tokens(i);
            let delta = json!({"index": 0, "delta": {"type": "text_delta", "text": g.piece(from, to)}});
            return event(buf, "content_block_delta", delta);
        };
        let Some((k, p)) = g.call_piece(i) else { return };
        let call = &calls[k];
        if p == 0 && k > 0 {
            open_call(buf, k, call);
        }
        let (a, b) = call.pieces[p];
        let delta = json!({"index": k, "delta": {"type": "input_json_delta", "partial_json": &call.arguments[a..b]}});
        event(buf, "content_block_delta", delta);
        if p + 1 == call.pieces.len() {
            event(buf, "content_block_stop", json!({"index": k}));
        }
    }

    fn end(&mut self, g: &Generation, buf: &mut BytesMut) {
        if g.tool_calls().is_none() {
            event(buf, "content_block_stop", json!({"index": 0}));
        }
        let mut delta = json!({"delta": {"stop_reason": stop_reason(g), "stop_sequence": null}});
        if g.reports_usage() {
            delta["usage"] = json!({"output_tokens": g.tokens});
        }
        event(buf, "message_delta", delta);
        event(buf, "message_stop", json!({}));
    }

    fn whole(&self, g: &Generation) -> Bytes {
        Bytes::from(serde_json::to_vec(&message(g, true)).unwrap_or_default())
    }
}
