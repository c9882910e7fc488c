//! OpenAI's Responses API, `POST /v1/responses`: the request is read into the chat
//! request it amounts to (`instructions` a system message, `input` a user message or
//! its items as chat messages: `function_call` items an assistant turn's `tool_calls`,
//! `function_call_output` items `tool` messages, `input_image` parts image parts), so
//! prompt tokens, the prefix cache, tool-call plans and the ids' ground truth are the
//! chat path's; only the answer's wire format is this module's.
//!
//! Not streamed: a `response` object with one `message` output item (its
//! `output_text`), or one `function_call` item per tool call (`call_id` `call_N_K`, item
//! id `fc_N_K`), and `usage` (`input_tokens_details.cached_tokens` from the prefix
//! cache). Streamed, as `event: TYPE` / `data: JSON` pairs with a `sequence_number`
//! and no `[DONE]`: at once `response.created`, `response.in_progress`, the first
//! output item's `response.output_item.added` (and for text
//! `response.content_part.added`); then each chunk at the chat stream's instants (the
//! first at TTFT, then ITL apart) as one `response.output_text.delta`, or as one
//! `response.function_call_arguments.delta` (a later call's
//! `response.output_item.added` before its first piece, its
//! `response.function_call_arguments.done` and `response.output_item.done` after its
//! last); with the last chunk, for text, `response.output_text.done`,
//! `response.content_part.done` and `response.output_item.done`, then
//! `response.completed` carrying the whole response and its usage.
//!
//! Like the chat path, a text answer is always `max_output_tokens` (or the default)
//! tokens long, and its status is still `completed`.

use bytes::{Bytes, BytesMut};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{Value, json};

use super::Shared;
use super::agents::ToolCall;
use super::generation::{Dialect, Generation, Translated};
use super::response::{SimBody, error, opt_bool, opt_str, opt_u32};
use super::serve::Translating;
use super::stream::{Wire, named_event};

pub(crate) async fn handle(req: Request<Incoming>, shared: &Shared) -> Response<SimBody> {
    let api = Translating { translate, error, dialect: Dialect::Responses, wire: Box::new(ResponsesWire::default()) };
    super::serve::translated(req, shared, api).await
}

/// The chat request a Responses request amounts to.
pub(crate) fn translate(v: &Value) -> Result<Translated, String> {
    if !v.is_object() {
        return Err("the body must be a JSON object".into());
    }
    let mut messages = Vec::new();
    if let Some(instructions) = opt_str(v, "instructions")? {
        messages.push(json!({"role": "system", "content": instructions}));
    }
    match v.get("input") {
        Some(Value::String(s)) => messages.push(json!({"role": "user", "content": s})),
        Some(Value::Array(items)) => {
            for item in items {
                input_item(item, &mut messages)?;
            }
        }
        _ => return Err("'input' is required: a string or a list of items".into()),
    }
    let tools = match v.get("tools") {
        None | Some(Value::Null) => None,
        Some(Value::Array(tools)) => Some(tools.iter().filter_map(chat_tool).collect()),
        Some(_) => return Err("'tools' must be a list".into()),
    };
    let tool_choice = match v.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(json!(s)),
        Some(Value::Object(o)) => match (o.get("type").and_then(Value::as_str), o.get("name").and_then(Value::as_str)) {
            (Some("function"), Some(name)) => Some(json!({"type": "function", "function": {"name": name}})),
            // Hosted tools, allowed-tools lists: the simulator decides as for "auto".
            _ => Some(json!("auto")),
        },
        Some(_) => return Err("'tool_choice' must be a string or an object".into()),
    };
    Ok(Translated {
        model: opt_str(v, "model")?.map(str::to_string),
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: opt_bool(v, "parallel_tool_calls")?,
        max_tokens: opt_u32(v, "max_output_tokens")?,
        stream: opt_bool(v, "stream")?.unwrap_or(false),
    })
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// One `input` item as chat messages.
fn input_item(item: &Value, out: &mut Vec<Value>) -> Result<(), String> {
    if !item.is_object() {
        return Err("'input' items must be objects".into());
    }
    match item.get("type").and_then(Value::as_str) {
        Some("function_call") => {
            let call = json!({"id": str_of(item, "call_id"), "type": "function",
                              "function": {"name": str_of(item, "name"), "arguments": str_of(item, "arguments")}});
            // Consecutive calls are one assistant turn, as parallel calls are in chat.
            if let Some(last) = out.last_mut()
                && last.get("content").is_none()
                && let Some(calls) = last.get_mut("tool_calls").and_then(Value::as_array_mut)
            {
                calls.push(call);
            } else {
                out.push(json!({"role": "assistant", "tool_calls": [call]}));
            }
        }
        Some("function_call_output") => {
            let output = item.get("output").cloned().unwrap_or_else(|| json!(""));
            out.push(json!({"role": "tool", "tool_call_id": str_of(item, "call_id"), "content": output}));
        }
        Some("message") | None => {
            let role = item.get("role").and_then(Value::as_str).ok_or("a message item needs a 'role'")?;
            let content = match item.get("content") {
                Some(Value::Array(parts)) => Value::Array(parts.iter().map(chat_part).collect()),
                Some(Value::String(s)) => json!(s),
                _ => json!(""),
            };
            out.push(json!({"role": role, "content": content}));
        }
        // Reasoning items and the like: no counted prompt text.
        Some(_) => {}
    }
    Ok(())
}

/// A content part in chat form: `input_image` as an `image_url` part (counted as an
/// image), text parts as they are (their `text` is what counts).
fn chat_part(part: &Value) -> Value {
    match part.get("type").and_then(Value::as_str) {
        Some("input_image") => {
            let url = part.get("image_url").or_else(|| part.get("file_id")).cloned().unwrap_or(Value::Null);
            json!({"type": "image_url", "image_url": {"url": url}})
        }
        _ => part.clone(),
    }
}

/// A Responses function tool (`{"type": "function", "name", "parameters"}`) in chat
/// form; hosted tools are left out.
fn chat_tool(tool: &Value) -> Option<Value> {
    if tool.get("type").and_then(Value::as_str) != Some("function") {
        return None;
    }
    let name = tool.get("name")?.as_str()?;
    Some(json!({"type": "function", "function": {"name": name, "description": tool.get("description"),
                                                  "parameters": tool.get("parameters")}}))
}

/// The Responses API's wire format.
#[derive(Default)]
pub(crate) struct ResponsesWire {
    /// The next event's `sequence_number`.
    seq: u64,
}

fn message_id(g: &Generation) -> String {
    format!("msg_sim_{}", g.id())
}

fn item_id(call: &ToolCall) -> String {
    format!("fc_{}", call.id.trim_start_matches("call_"))
}

fn text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": []})
}

fn message_item(g: &Generation, text: Option<&str>) -> Value {
    let (status, content) = match text {
        Some(t) => ("completed", json!([text_part(t)])),
        None => ("in_progress", json!([])),
    };
    json!({"type": "message", "id": message_id(g), "status": status, "role": "assistant", "content": content})
}

fn call_item(call: &ToolCall, done: bool) -> Value {
    let (status, arguments) = if done { ("completed", call.arguments.as_str()) } else { ("in_progress", "") };
    json!({"type": "function_call", "id": item_id(call), "call_id": call.id, "name": call.name,
           "arguments": arguments, "status": status})
}

fn response(g: &Generation, done: bool) -> Value {
    let (status, output, usage) = match done {
        false => ("in_progress", json!([]), Value::Null),
        true => {
            let output: Vec<Value> = match g.tool_calls() {
                Some(calls) => calls.iter().map(|k| call_item(k, true)).collect(),
                None => vec![message_item(g, Some(&g.text(0, g.tokens)))],
            };
            let usage = match g.reports_usage() {
                true => json!({
                    "input_tokens": g.prompt_tokens(),
                    "input_tokens_details": {"cached_tokens": g.cached_tokens()},
                    "output_tokens": g.tokens,
                    "output_tokens_details": {"reasoning_tokens": 0},
                    "total_tokens": g.prompt_tokens() + g.tokens,
                }),
                false => Value::Null,
            };
            ("completed", Value::Array(output), usage)
        }
    };
    json!({"id": format!("resp_sim_{}", g.id()), "object": "response", "created_at": 0, "status": status,
           "model": g.model(), "output": output, "usage": usage, "error": null, "incomplete_details": null})
}

impl ResponsesWire {
    fn event(&mut self, buf: &mut BytesMut, kind: &str, mut data: Value) {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.seq);
        self.seq += 1;
        named_event(buf, kind, &data);
    }

    fn open_call(&mut self, buf: &mut BytesMut, k: usize, call: &ToolCall) {
        self.event(buf, "response.output_item.added", json!({"output_index": k, "item": call_item(call, false)}));
    }
}

impl Wire for ResponsesWire {
    fn start(&mut self, g: &Generation, buf: &mut BytesMut) {
        self.event(buf, "response.created", json!({"response": response(g, false)}));
        self.event(buf, "response.in_progress", json!({"response": response(g, false)}));
        match g.tool_calls() {
            Some(calls) => {
                if let Some(first) = calls.first() {
                    self.open_call(buf, 0, first);
                }
            }
            None => {
                self.event(buf, "response.output_item.added", json!({"output_index": 0, "item": message_item(g, None)}));
                let part = json!({"item_id": message_id(g), "output_index": 0, "content_index": 0, "part": text_part("")});
                self.event(buf, "response.content_part.added", part);
            }
        }
    }

    fn chunk(&mut self, g: &Generation, buf: &mut BytesMut, i: u32) {
        let Some(calls) = g.tool_calls() else {
            let (from, to) = g.chunk_tokens(i);
            let delta = json!({"item_id": message_id(g), "output_index": 0, "content_index": 0,
                               "delta": g.piece(from, to), "logprobs": []});
            return self.event(buf, "response.output_text.delta", delta);
        };
        let Some((k, p)) = g.call_piece(i) else { return };
        let call = &calls[k];
        if p == 0 && k > 0 {
            self.open_call(buf, k, call);
        }
        let (a, b) = call.pieces[p];
        let delta = json!({"item_id": item_id(call), "output_index": k, "delta": &call.arguments[a..b]});
        self.event(buf, "response.function_call_arguments.delta", delta);
        if p + 1 == call.pieces.len() {
            let done = json!({"item_id": item_id(call), "output_index": k, "name": call.name, "arguments": call.arguments});
            self.event(buf, "response.function_call_arguments.done", done);
            self.event(buf, "response.output_item.done", json!({"output_index": k, "item": call_item(call, true)}));
        }
    }

    fn end(&mut self, g: &Generation, buf: &mut BytesMut) {
        if g.tool_calls().is_none() {
            let text = g.text(0, g.tokens);
            let at = |mut v: Value| {
                v["item_id"] = json!(message_id(g));
                v["output_index"] = json!(0);
                v["content_index"] = json!(0);
                v
            };
            self.event(buf, "response.output_text.done", at(json!({"text": text, "logprobs": []})));
            self.event(buf, "response.content_part.done", at(json!({"part": text_part(&text)})));
            self.event(buf, "response.output_item.done", json!({"output_index": 0, "item": message_item(g, Some(&text))}));
        }
        self.event(buf, "response.completed", json!({"response": response(g, true)}));
    }

    fn whole(&self, g: &Generation) -> Bytes {
        Bytes::from(serde_json::to_vec(&response(g, true)).unwrap_or_default())
    }
}
