//! OpenAI's Responses API (`POST /v1/responses`): a scenario's chat request as `input`
//! items (messages, `function_call` and `function_call_output` items), and the response
//! read back, streamed as typed events (`response.output_text.delta`,
//! `response.function_call_arguments.delta`, `response.completed`, …) or whole (its
//! `output` items and `usage`), into what an event carried ([`Parsed`]) and, for an
//! outcome that keeps them, the tool calls and finish reason ([`KeptReply`]).
//!
//! The stream has no `[DONE]`: `response.completed` (or `.incomplete`, `.failed`) ends it.
//! A streamed call's pieces are joined by `output_index`; a server that leaves it out
//! (llama-server names only the `item_id`) streams one call at a time, so a piece
//! without it continues the call added last.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use volley_core::text::clip;
use volley_core::{ContentPart, Message, Prompt, ScenarioRequest, Tool, ToolCall, ToolChoice};

use super::openai::error_message;
use super::openai::messages::WireMessage;
use super::parsed::{CallPiece, CompletionTokensDetails, KeptReply, Parsed, PromptTokensDetails, Usage, unexpected_json};
use super::wire::{Wire, WireBody, checked_tools};

/// The keys [`encode`] may write (body-extra naming one is merged, not spliced).
pub(crate) const KEYS: &[&str] = &["model", "input", "tools", "tool_choice", "max_output_tokens", "stream"];

#[derive(Serialize)]
struct Body<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    input: Vec<Item<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<WireChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u32>,
    stream: bool,
}

/// One `input` item.
#[derive(Serialize)]
#[serde(untagged)]
enum Item<'a> {
    /// A message; an assistant's is typed `message` (llama-server takes an assistant
    /// message only so).
    Message {
        #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
        kind: Option<&'static str>,
        role: &'a str,
        content: Content<'a>,
    },
    /// A tool call the assistant made, or a tool's result.
    Call {
        #[serde(rename = "type")]
        kind: &'static str,
        call_id: &'a str,
        name: &'a str,
        arguments: &'a str,
    },
    Output {
        #[serde(rename = "type")]
        kind: &'static str,
        call_id: &'a str,
        output: Cow<'a, str>,
    },
}

#[derive(Serialize)]
#[serde(untagged)]
enum Content<'a> {
    Text(Cow<'a, str>),
    Parts(Vec<Part<'a>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Part<'a> {
    InputText {
        text: &'a str,
    },
    InputImage {
        image_url: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<&'a str>,
    },
}

#[derive(Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    description: &'a str,
    parameters: &'a RawValue,
}

#[derive(Serialize)]
#[serde(untagged)]
enum WireChoice<'a> {
    Mode(&'static str),
    Function {
        #[serde(rename = "type")]
        kind: &'static str,
        name: &'a str,
    },
}

/// Where the body's array of input items opens: a kept conversation's items go first in
/// it.
pub(crate) const ARRAY: &[u8] = br#""input":["#;

/// A `POST /v1/responses` request: its tools' parameters checked, and the body
/// ([`encode`]).
pub(crate) fn request(r: &ScenarioRequest, model: Option<&str>) -> Result<Wire, String> {
    let tools = checked_tools(&r.tools)?;
    let bytes = encode(r, model, &tools)?;
    Ok(Wire::post_json("/v1/responses".into(), WireBody::Typed(bytes, KEYS), r.stream))
}

/// The body of a Responses request: its chat prompt as `input` items, `tools` (each with
/// its parameters as checked by the caller), the tool choice, `max_output_tokens`.
pub(crate) fn encode(r: &ScenarioRequest, model: Option<&str>, tools: &[(&Tool, &RawValue)]) -> Result<Vec<u8>, String> {
    let Prompt::Chat(messages) = &r.prompt else {
        return Err("a responses request needs a chat prompt".into());
    };
    let mut input = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        items(i, m, &mut input)?;
    }
    let tool_choice = r.tool_choice.as_ref().map(|c| match c {
        ToolChoice::Auto => WireChoice::Mode("auto"),
        ToolChoice::None => WireChoice::Mode("none"),
        ToolChoice::Required => WireChoice::Mode("required"),
        ToolChoice::Function(name) => WireChoice::Function { kind: "function", name },
    });
    let tools =
        tools.iter().map(|(t, parameters)| WireTool { kind: "function", name: &t.name, description: &t.description, parameters }).collect();
    let body = Body { model, input, tools, tool_choice, max_output_tokens: r.max_tokens, stream: r.stream };
    serde_json::to_vec(&body).map_err(|e| format!("cannot serialize the body: {e}"))
}

/// The model's answer (its text and tool calls) as the input items a kept conversation
/// adds: an assistant message (when it said something), then a `function_call` item a
/// call.
pub(crate) fn answer(text: &str, calls: &[ToolCall]) -> Option<Vec<u8>> {
    let message = Message::assistant_calls(text, calls.to_vec());
    let mut out = Vec::new();
    items(0, &message, &mut out).ok()?;
    let mut bytes = Vec::new();
    for (i, item) in out.iter().enumerate() {
        if i > 0 {
            bytes.push(b',');
        }
        serde_json::to_writer(&mut bytes, item).ok()?;
    }
    Some(bytes)
}

/// Message `i` as input items: a message, then an assistant's tool calls as
/// `function_call` items; a tool's result as a `function_call_output` item.
fn items<'a>(i: usize, m: &'a Message, out: &mut Vec<Item<'a>>) -> Result<(), String> {
    if m.role == "tool" {
        let call_id = m.tool_call_id.as_deref().ok_or_else(|| format!("message {i} is a tool result without a tool_call_id"))?;
        out.push(Item::Output { kind: "function_call_output", call_id, output: WireMessage::text_of(m) });
        return Ok(());
    }
    if let Some(id) = &m.tool_call_id {
        return Err(format!("message {i} has a tool_call_id ({}) but the role {:?}, not \"tool\"", clip(id, 60), clip(&m.role, 60)));
    }
    let assistant = m.role == "assistant";
    if !assistant && !m.tool_calls.is_empty() {
        return Err(format!("message {i} has tool calls but the role {:?}, not \"assistant\"", clip(&m.role, 60)));
    }
    let content = if m.parts.is_empty() || assistant {
        // An assistant's parts are sent as its text.
        Content::Text(WireMessage::text_of(m))
    } else {
        let first = (!m.content.is_empty()).then_some(Part::InputText { text: &m.content });
        let mut parts = Vec::with_capacity(m.parts.len() + 1);
        parts.extend(first);
        for p in &m.parts {
            parts.push(match p {
                ContentPart::Text(t) => Part::InputText { text: t },
                ContentPart::Image { media, detail } => {
                    Part::InputImage { image_url: format!("data:{};base64,{}", media.mime, media.base64), detail: detail.as_deref() }
                }
                ContentPart::Audio(_) => return Err(format!("message {i} has an audio part: the responses API takes no audio input")),
            });
        }
        Content::Parts(parts)
    };
    let has_text = !matches!(&content, Content::Text(t) if t.is_empty());
    if !assistant || has_text || m.tool_calls.is_empty() {
        out.push(Item::Message { kind: assistant.then_some("message"), role: &m.role, content });
    }
    for c in &m.tool_calls {
        out.push(Item::Call { kind: "function_call", call_id: &c.id, name: &c.name, arguments: &c.arguments });
    }
    Ok(())
}

// ---- Reading ----

/// A streamed event: its `type` says which of the other fields it has.
#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    delta: Option<Cow<'a, str>>,
    #[serde(default)]
    output_index: Option<u32>,
    #[serde(borrow, default)]
    item: Option<Item2<'a>>,
    #[serde(borrow, default)]
    response: Option<Response<'a>>,
    /// An `error` event's.
    #[serde(borrow, default)]
    message: Option<Cow<'a, str>>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// An output item (named so beside the request's [`Item`]).
#[derive(Deserialize)]
struct Item2<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    call_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    arguments: Option<Cow<'a, str>>,
    /// A message's `output_text` parts, or a reasoning item's `reasoning_text` parts.
    #[serde(borrow, default)]
    content: Option<Vec<OutputPart<'a>>>,
    #[serde(borrow, default)]
    summary: Option<Vec<OutputPart<'a>>>,
}

#[derive(Deserialize)]
struct OutputPart<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    refusal: Option<Cow<'a, str>>,
}

/// A response object: a whole body, or what `response.completed` (and its kin) carry.
#[derive(Deserialize)]
struct Response<'a> {
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    output: Vec<Item2<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(borrow, default)]
    incomplete_details: Option<Incomplete<'a>>,
}

#[derive(Deserialize)]
struct Incomplete<'a> {
    #[serde(borrow, default)]
    reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u32>,
    #[serde(default)]
    output_tokens: Option<u32>,
    #[serde(default)]
    input_tokens_details: Option<PromptTokensDetails>,
    #[serde(default)]
    output_tokens_details: Option<CompletionTokensDetails>,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Self {
        Usage {
            prompt_tokens: u.input_tokens,
            completion_tokens: u.output_tokens,
            prompt_tokens_details: u.input_tokens_details,
            completion_tokens_details: u.output_tokens_details,
        }
    }
}

/// One streamed event; its text appended to `text`, its tool calls and the finish
/// reason joined into `reply` if given.
pub(crate) fn parse_event(json: &[u8], mut text: Option<&mut String>, reply: Option<&mut KeptReply>) -> Result<Parsed, String> {
    let e: Event<'_> = serde_json::from_slice(json).map_err(|e| unexpected_json(json, e))?;
    let mut out = Parsed::default();
    match &*e.kind {
        "response.output_text.delta" | "response.refusal.delta" => out.add_text(&mut text, e.delta.as_deref().unwrap_or(""), false),
        "response.reasoning_text.delta" | "response.reasoning_summary_text.delta" => {
            out.add_text(&mut text, e.delta.as_deref().unwrap_or(""), true)
        }
        "response.output_item.added" => {
            let Some(item) = e.item.as_ref().filter(|i| i.kind.as_deref() == Some("function_call")) else { return Ok(out) };
            let (name, arguments) = (item.name.as_deref(), item.arguments.as_deref());
            out.tool_bytes += name.map_or(0, str::len) + arguments.map_or(0, str::len);
            out.tool_call_entries = 1;
            out.tool_calls_started = u32::from(item.call_id.is_some());
            if let Some(reply) = reply {
                reply.add(CallPiece { index: e.output_index, id: item.call_id.as_deref(), name, arguments, ..CallPiece::default() });
            }
        }
        "response.function_call_arguments.delta" => {
            let delta = e.delta.as_deref().unwrap_or("");
            out.tool_bytes += delta.len();
            out.tool_call_entries = 1;
            if let Some(reply) = reply {
                reply.add(CallPiece { index: e.output_index, arguments: Some(delta), ..CallPiece::default() });
            }
        }
        "response.completed" | "response.incomplete" | "response.failed" => {
            out.finished = true;
            if let Some(r) = e.response {
                finish(r, &mut out, reply);
            }
            if e.kind == "response.failed" && out.error.is_none() {
                out.error = Some("the response failed".into());
            }
        }
        "error" => {
            out.error = Some(match (&e.message, &e.error) {
                (Some(m), _) => m.chars().take(300).collect(),
                (None, Some(err)) => error_message(err),
                (None, None) => "the server sent an error event".into(),
            });
        }
        _ => {}
    }
    Ok(out)
}

/// A whole response body: its output items' text, reasoning and calls, its usage.
pub(crate) fn parse_body(json: &[u8], mut text: Option<&mut String>, mut reply: Option<&mut KeptReply>) -> Result<Parsed, String> {
    let r: Response<'_> = serde_json::from_slice(json).map_err(|e| unexpected_json(json, e))?;
    let mut out = Parsed { finished: true, ..Parsed::default() };
    let mut position = 0;
    for item in &r.output {
        match item.kind.as_deref() {
            Some("message") => {
                for p in item.content.iter().flatten() {
                    let piece = match p.kind.as_deref() {
                        Some("refusal") => p.refusal.as_deref(),
                        _ => p.text.as_deref(),
                    };
                    out.add_text(&mut text, piece.unwrap_or(""), false);
                }
            }
            Some("reasoning") => {
                // The reasoning text where given, else its summary.
                let parts = item.content.as_ref().filter(|c| !c.is_empty()).or(item.summary.as_ref());
                for p in parts.into_iter().flatten() {
                    out.add_text(&mut text, p.text.as_deref().unwrap_or(""), true);
                }
            }
            Some("function_call") => {
                let (name, arguments) = (item.name.as_deref(), item.arguments.as_deref());
                out.tool_bytes += name.map_or(0, str::len) + arguments.map_or(0, str::len);
                out.tool_call_entries += 1;
                out.tool_calls_started += u32::from(item.call_id.is_some());
                if let Some(reply) = reply.as_deref_mut() {
                    reply.add(CallPiece { index: None, position, whole: true, id: item.call_id.as_deref(), name, arguments });
                }
                position += 1;
            }
            _ => {}
        }
    }
    finish(r, &mut out, reply);
    Ok(out)
}

/// What a finished response object says: usage, an error, the finish reason.
fn finish(r: Response<'_>, out: &mut Parsed, reply: Option<&mut KeptReply>) {
    out.usage = r.usage.map(Usage::from);
    if let Some(err) = r.error.as_ref().filter(|e| !e.is_null()) {
        out.error = Some(error_message(err));
    }
    if let Some(reply) = reply {
        let calls = r.output.iter().any(|i| i.kind.as_deref() == Some("function_call"));
        let reason = match r.status.as_deref() {
            None | Some("completed") if calls => "tool_calls",
            None | Some("completed") => "stop",
            Some("incomplete") => match r.incomplete_details.as_ref().and_then(|d| d.reason.as_deref()) {
                Some("max_output_tokens") => "length",
                Some(other) => other,
                None => "incomplete",
            },
            Some(other) => other,
        };
        reply.finish(reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::parsed::testing::{StreamRead, call, read_stream};

    /// What llama-server (llama.cpp 0c1e5709, `--jinja`, the Hermes 2 Pro tool template)
    /// streamed for a request that made a tool call, as captured.
    const LLAMA_TOOL_STREAM: &[&str] = &[
        r#"{"type":"response.created","response":{"id":"resp_bB2AXhyY7SmLT47DRifWrRJTTsxa21Pg","object":"response","status":"in_progress"}}"#,
        r#"{"type":"response.in_progress","response":{"id":"resp_bB2AXhyY7SmLT47DRifWrRJTTsxa21Pg","object":"response","status":"in_progress"}}"#,
        r#"{"type":"response.output_item.added","item":{"id":"fc_O6nSiug7DGTFumb0zzQCGyBBoy8v996K","arguments":"","call_id":"call_O6nSiug7DGTFumb0zzQCGyBBoy8v996K","name":"get_weather","type":"function_call","status":"in_progress"}}"#,
        r#"{"type":"response.function_call_arguments.delta","delta":"{\"","item_id":"fc_O6nSiug7DGTFumb0zzQCGyBBoy8v996K"}"#,
        r#"{"type":"response.function_call_arguments.delta","delta":"city","item_id":"fc_O6nSiug7DGTFumb0zzQCGyBBoy8v996K"}"#,
        r#"{"type":"response.function_call_arguments.delta","delta":"\":","item_id":"fc_O6nSiug7DGTFumb0zzQCGyBBoy8v996K"}"#,
        r#"{"type":"response.function_call_arguments.delta","delta":" \"","item_id":"fc_O6nSiug7DGTFumb0zzQCGyBBoy8v996K"}"#,
        r#"{"type":"response.function_call_arguments.delta","delta":"Paris","item_id":"fc_O6nSiug7DGTFumb0zzQCGyBBoy8v996K"}"#,
        r#"{"type":"response.function_call_arguments.delta","delta":"\"}","item_id":"fc_O6nSiug7DGTFumb0zzQCGyBBoy8v996K"}"#,
        r#"{"type":"response.output_item.done","item":{"id":"fc_O6nSiug7DGTFumb0zzQCGyBBoy8v996K","type":"function_call","status":"completed","arguments":"{\"city\": \"Paris\"}","call_id":"call_O6nSiug7DGTFumb0zzQCGyBBoy8v996K","name":"get_weather"}}"#,
        r#"{"type":"response.completed","response":{"id":"resp_bB2AXhyY7SmLT47DRifWrRJTTsxa21Pg","object":"response","created_at":1796669266,"status":"completed","model":"smollm2-135m-instruct","output":[{"id":"fc_O6nSiug7DGTFumb0zzQCGyBBoy8v996K","type":"function_call","status":"completed","arguments":"{\"city\": \"Paris\"}","call_id":"call_O6nSiug7DGTFumb0zzQCGyBBoy8v996K","name":"get_weather"}],"usage":{"input_tokens":386,"output_tokens":14,"total_tokens":400,"input_tokens_details":{"cached_tokens":0}}},"timings":{"cache_n":0,"prompt_n":386,"prompt_ms":3550.25}}"#,
    ];

    /// llama-server's text stream, as captured.
    const LLAMA_TEXT_STREAM: &[&str] = &[
        r#"{"type":"response.created","response":{"id":"resp_QfnOL8fXunQbxu8AXhib2MtboLuY1bn0","object":"response","status":"in_progress"}}"#,
        r#"{"type":"response.in_progress","response":{"id":"resp_QfnOL8fXunQbxu8AXhib2MtboLuY1bn0","object":"response","status":"in_progress"}}"#,
        r#"{"type":"response.output_item.added","item":{"content":[],"id":"msg_dbrLxGaLeGpDUSuYDZZiYKL3ld6O8Lo3","role":"assistant","status":"in_progress","type":"message"}}"#,
        r#"{"type":"response.content_part.added","item_id":"msg_dbrLxGaLeGpDUSuYDZZiYKL3ld6O8Lo3","part":{"type":"output_text","text":""}}"#,
        r#"{"type":"response.output_text.delta","item_id":"msg_dbrLxGaLeGpDUSuYDZZiYKL3ld6O8Lo3","delta":"I"}"#,
        r#"{"type":"response.output_text.delta","item_id":"msg_dbrLxGaLeGpDUSuYDZZiYKL3ld6O8Lo3","delta":"'m"}"#,
        r#"{"type":"response.output_text.delta","item_id":"msg_dbrLxGaLeGpDUSuYDZZiYKL3ld6O8Lo3","delta":" thrilled"}"#,
        r#"{"type":"response.output_text.delta","item_id":"msg_dbrLxGaLeGpDUSuYDZZiYKL3ld6O8Lo3","delta":" to"}"#,
        r#"{"type":"response.output_text.delta","item_id":"msg_dbrLxGaLeGpDUSuYDZZiYKL3ld6O8Lo3","delta":" meet"}"#,
        r#"{"type":"response.output_text.done","item_id":"msg_dbrLxGaLeGpDUSuYDZZiYKL3ld6O8Lo3","text":"I'm thrilled to meet"}"#,
        r#"{"type":"response.content_part.done","item_id":"msg_dbrLxGaLeGpDUSuYDZZiYKL3ld6O8Lo3","part":{"type":"output_text","annotations":[],"logprobs":[],"text":"I'm thrilled to meet"}}"#,
        r#"{"type":"response.output_item.done","item":{"type":"message","status":"completed","id":"msg_dbrLxGaLeGpDUSuYDZZiYKL3ld6O8Lo3","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"I'm thrilled to meet"}],"role":"assistant"}}"#,
        r#"{"type":"response.completed","response":{"id":"resp_QfnOL8fXunQbxu8AXhib2MtboLuY1bn0","object":"response","created_at":1796669237,"status":"completed","model":"smollm2-135m-instruct","output":[{"type":"message","status":"completed","id":"msg_dbrLxGaLeGpDUSuYDZZiYKL3ld6O8Lo3","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"I'm thrilled to meet"}],"role":"assistant"}],"usage":{"input_tokens":32,"output_tokens":5,"total_tokens":37,"input_tokens_details":{"cached_tokens":0}}},"timings":{"cache_n":0,"prompt_n":32}}"#,
    ];

    fn read(events: &[&str]) -> StreamRead {
        read_stream(events, parse_event)
    }

    fn usage(prompt: u32, completion: u32, cached: Option<u32>, reasoning: Option<u32>) -> Usage {
        Usage {
            prompt_tokens: Some(prompt),
            completion_tokens: Some(completion),
            prompt_tokens_details: cached.map(|c| PromptTokensDetails { cached_tokens: Some(c) }),
            completion_tokens_details: reasoning.map(|r| CompletionTokensDetails { reasoning_tokens: Some(r) }),
        }
    }

    #[test]
    fn llama_server_text_stream() {
        let r = read(LLAMA_TEXT_STREAM);
        assert_eq!((r.text.as_str(), r.outputs, r.finished), ("I'm thrilled to meet", 5, true));
        assert_eq!(r.usage, Some(usage(32, 5, Some(0), None)));
        assert_eq!((r.calls.len(), r.finish.as_deref(), r.error), (0, Some("stop"), None));
    }

    #[test]
    fn llama_server_tool_call_stream_joins_pieces_without_output_index() {
        let r = read(LLAMA_TOOL_STREAM);
        assert_eq!(r.calls, vec![call("call_O6nSiug7DGTFumb0zzQCGyBBoy8v996K", "get_weather", r#"{"city": "Paris"}"#)]);
        assert_eq!((r.finish.as_deref(), r.finished, r.started, r.text.as_str()), (Some("tool_calls"), true, 1, ""));
        // The name, then six pieces of arguments: each is output.
        assert_eq!((r.outputs, r.tool_bytes), (7, "get_weather".len() + r#"{"city": "Paris"}"#.len()));
        assert_eq!(r.usage, Some(usage(386, 14, Some(0), None)));
    }

    #[test]
    fn parallel_calls_by_output_index_reasoning_and_cached_tokens() {
        let events = [
            r#"{"type":"response.output_item.added","output_index":0,"item":{"type":"reasoning","id":"rs_1","summary":[]}}"#,
            r#"{"type":"response.reasoning_summary_text.delta","output_index":0,"delta":"Two "}"#,
            r#"{"type":"response.reasoning_text.delta","output_index":0,"delta":"calls."}"#,
            r#"{"type":"response.output_item.added","output_index":1,"item":{"type":"function_call","id":"fc_1","call_id":"call_a","name":"get_weather","arguments":""}}"#,
            r#"{"type":"response.output_item.added","output_index":2,"item":{"type":"function_call","id":"fc_2","call_id":"call_b","name":"get_time","arguments":""}}"#,
            r#"{"type":"response.function_call_arguments.delta","output_index":2,"item_id":"fc_2","delta":"{\"tz\":"}"#,
            r#"{"type":"response.function_call_arguments.delta","output_index":1,"item_id":"fc_1","delta":"{\"city\":\"Paris\"}"}"#,
            r#"{"type":"response.function_call_arguments.delta","output_index":2,"item_id":"fc_2","delta":"\"UTC\"}"}"#,
            r#"{"type":"response.function_call_arguments.done","output_index":2,"item_id":"fc_2","arguments":"{\"tz\":\"UTC\"}"}"#,
            r#"{"type":"response.completed","response":{"status":"completed","output":[{"type":"reasoning"},{"type":"function_call","call_id":"call_a"},{"type":"function_call","call_id":"call_b"}],
                "usage":{"input_tokens":100,"output_tokens":30,"input_tokens_details":{"cached_tokens":64},"output_tokens_details":{"reasoning_tokens":12}}}}"#,
        ];
        let r = read(&events);
        assert_eq!(r.calls, vec![call("call_a", "get_weather", r#"{"city":"Paris"}"#), call("call_b", "get_time", r#"{"tz":"UTC"}"#)]);
        assert_eq!((r.text.as_str(), r.reasoning_bytes, r.started), ("Two calls.", 10, 2));
        assert_eq!(r.usage, Some(usage(100, 30, Some(64), Some(12))));
        assert_eq!(r.finish.as_deref(), Some("tool_calls"));
        let p = parse_event(events[1].as_bytes(), None, None).unwrap();
        assert!(p.has_output() && !p.has_answer() && p.mostly_reasoning());
    }

    #[test]
    fn incomplete_failed_and_error_events() {
        let r = read(&[
            r#"{"type":"response.output_text.delta","output_index":0,"delta":"Hel"}"#,
            r#"{"type":"response.incomplete","response":{"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"output":[],"usage":{"input_tokens":3,"output_tokens":1}}}"#,
        ]);
        assert_eq!((r.finished, r.finish.as_deref(), r.error), (true, Some("length"), None));
        let r = read(&[
            r#"{"type":"response.failed","response":{"status":"failed","error":{"code":"server_error","message":"boom"},"output":[]}}"#,
        ]);
        assert_eq!((r.finished, r.error.as_deref(), r.finish.as_deref()), (true, Some("boom"), Some("failed")));
        let r = read(&[r#"{"type":"error","code":"rate_limit","message":"slow down","param":null,"sequence_number":3}"#]);
        assert_eq!((r.finished, r.error.as_deref()), (false, Some("slow down")));
        let r = read(&[r#"{"type":"error","error":{"type":"x","message":"nested"}}"#]);
        assert_eq!(r.error.as_deref(), Some("nested"));
    }

    #[test]
    fn malformed_events_are_errors() {
        for bad in [
            &b"{not json"[..],
            b"[1]",
            b"{}",
            br#"{"type":1}"#,
            br#"{"type":"response.output_text.delta","delta":5}"#,
            br#"{"type":"response.completed","response":{"usage":{"input_tokens":-1}}}"#,
            b"\xff\xfe",
            b"",
        ] {
            assert!(parse_event(bad, None, Some(&mut KeptReply::default())).is_err(), "{bad:?}");
        }
        assert!(parse_body(b"{\"output\":7}", None, None).is_err());
        // Unknown events are nothing.
        assert_eq!(parse_event(br#"{"type":"response.audio.delta","delta":"AAAA"}"#, None, None).unwrap(), Parsed::default());
    }

    #[test]
    fn whole_bodies() {
        // llama-server's, as captured.
        let text = r#"{"completed_at":1796669237,"created_at":1796669237,"id":"resp_y4hrGdAciF4Znmv4DYWWNqdbrD7u5ypF","model":"smollm2-135m-instruct","object":"response","output":[{"content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"🌟"}],"id":"msg_LXTyrmThvdepRgPVjiEYGo3ytcNL2aDl","role":"assistant","status":"completed","type":"message"}],"status":"completed","usage":{"input_tokens":32,"output_tokens":5,"total_tokens":37,"input_tokens_details":{"cached_tokens":31}}}"#.as_bytes();
        let (mut t, mut reply) = (String::new(), KeptReply::default());
        let p = parse_body(text, Some(&mut t), Some(&mut reply)).unwrap();
        assert_eq!((t.as_str(), p.text_bytes, p.finished), ("🌟", 4, true));
        assert_eq!(p.usage, Some(usage(32, 5, Some(31), None)));
        assert_eq!(reply.into_parts(), (vec![], Some("stop".into())));
        let tool = br#"{"completed_at":1796669266,"created_at":1796669266,"id":"resp_B6sMeMt9SINP0h6vizu2TJZor4SEsFKe","model":"smollm2-135m-instruct","object":"response","output":[{"id":"fc_4ItuKOXMi7UlXSW2PZ7LBBjNS8AzvOJI","type":"function_call","status":"completed","arguments":"{\"city\": \"Paris\"}","call_id":"call_4ItuKOXMi7UlXSW2PZ7LBBjNS8AzvOJI","name":"get_weather"}],"status":"completed","usage":{"input_tokens":386,"output_tokens":14,"total_tokens":400,"input_tokens_details":{"cached_tokens":385}}}"#;
        let mut reply = KeptReply::default();
        let p = parse_body(tool, None, Some(&mut reply)).unwrap();
        assert_eq!((p.tool_call_entries, p.tool_calls_started, p.text_bytes), (1, 1, 0));
        let (calls, finish) = reply.into_parts();
        assert_eq!(calls, vec![call("call_4ItuKOXMi7UlXSW2PZ7LBBjNS8AzvOJI", "get_weather", r#"{"city": "Paris"}"#)]);
        assert_eq!(finish.as_deref(), Some("tool_calls"));
        // Reasoning, text and two calls.
        let mixed = br#"{"status":"completed","output":[
            {"type":"reasoning","summary":[{"type":"summary_text","text":"think"}]},
            {"type":"message","role":"assistant","content":[{"type":"output_text","text":"ok"},{"type":"refusal","refusal":"no"}]},
            {"type":"function_call","call_id":"a","name":"f","arguments":"{}"},
            {"type":"function_call","call_id":"b","name":"g","arguments":"[1]"}],
            "usage":{"input_tokens":5,"output_tokens":9,"output_tokens_details":{"reasoning_tokens":4}}}"#;
        let (mut t, mut reply) = (String::new(), KeptReply::default());
        let p = parse_body(mixed, Some(&mut t), Some(&mut reply)).unwrap();
        assert_eq!((t.as_str(), p.reasoning_bytes, p.tool_call_entries), ("thinkokno", 5, 2));
        assert_eq!(reply.into_parts().0, vec![call("a", "f", "{}"), call("b", "g", "[1]")]);
        // An error body.
        let p = parse_body(br#"{"error":{"code":400,"message":"bad input","type":"invalid_request_error"}}"#, None, None).unwrap();
        assert_eq!(p.error.as_deref(), Some("bad input"));
    }
}

#[cfg(test)]
pub(crate) mod encode_tests {
    use super::*;
    use serde_json::{Value, json};
    use volley_core::{Api, Media, ToolCall};

    pub(crate) fn agent_chat() -> Vec<Message> {
        let calls = vec![
            ToolCall { id: "call_1".into(), name: "get_weather".into(), arguments: r#"{"city": "Paris"}"#.into() },
            ToolCall { id: "call_2".into(), name: "get_time".into(), arguments: r#"{"tz":"Europe/Paris"}"#.into() },
        ];
        let image = ContentPart::Image { media: Media { mime: "image/png".into(), base64: "iVBO".into() }, detail: None };
        vec![
            Message::new("system", "You are terse."),
            Message::user("Weather and time in Paris?"),
            Message::assistant_calls("Looking.", calls),
            Message::tool_result("call_1", "18 °C, cloudy"),
            Message::tool_result("call_2", "14:05"),
            Message::with_parts("user", vec![ContentPart::Text("thanks".into()), image]),
        ]
    }

    pub(crate) fn agent_tools() -> Vec<Tool> {
        vec![
            Tool {
                name: "get_weather".into(),
                description: "The weather in a city.".into(),
                parameters: r#"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"#.into(),
            },
            Tool { name: "get_time".into(), description: String::new(), parameters: r#"{"type":"object","properties":{}}"#.into() },
        ]
    }

    fn encoded(r: &ScenarioRequest) -> Result<Value, String> {
        let raws: Vec<&RawValue> = r.tools.iter().map(|t| serde_json::from_str(&t.parameters).unwrap()).collect();
        let tools: Vec<(&Tool, &RawValue)> = r.tools.iter().zip(raws).collect();
        encode(r, Some("m"), &tools).map(|b| serde_json::from_slice(&b).unwrap())
    }

    #[test]
    fn an_agent_conversation_with_each_tool_choice() {
        let input = json!([
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Weather and time in Paris?"},
            {"type": "message", "role": "assistant", "content": "Looking."},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\": \"Paris\"}"},
            {"type": "function_call", "call_id": "call_2", "name": "get_time", "arguments": "{\"tz\":\"Europe/Paris\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "18 °C, cloudy"},
            {"type": "function_call_output", "call_id": "call_2", "output": "14:05"},
            {"role": "user", "content": [{"type": "input_text", "text": "thanks"}, {"type": "input_image", "image_url": "data:image/png;base64,iVBO"}]},
        ]);
        let tools = json!([
            {"type": "function", "name": "get_weather", "description": "The weather in a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
            {"type": "function", "name": "get_time", "description": "", "parameters": {"type": "object", "properties": {}}},
        ]);
        let choices = [
            (ToolChoice::Auto, json!("auto")),
            (ToolChoice::None, json!("none")),
            (ToolChoice::Required, json!("required")),
            (ToolChoice::Function("get_time".into()), json!({"type": "function", "name": "get_time"})),
        ];
        for (choice, want) in choices {
            let mut r = ScenarioRequest::new(Api::Responses, Prompt::Chat(agent_chat()));
            (r.tools, r.tool_choice, r.max_tokens, r.stream) = (agent_tools(), Some(choice), Some(64), true);
            let body = json!({"model": "m", "input": input, "tools": tools, "tool_choice": want, "max_output_tokens": 64, "stream": true});
            assert_eq!(encoded(&r).unwrap(), body);
        }
        // No tools, no choice, no limit; an assistant message with calls and no text has
        // no message item.
        let mut chat = agent_chat();
        chat[2].content.clear();
        let v = encoded(&ScenarioRequest::new(Api::Responses, Prompt::Chat(chat))).unwrap();
        assert_eq!(v.as_object().unwrap().keys().collect::<Vec<_>>(), ["input", "model", "stream"]);
        assert_eq!(v["input"][2]["type"], "function_call");
        assert_eq!(v["input"].as_array().unwrap().len(), 7);
    }

    #[test]
    fn audio_text_prompts_and_stray_tool_fields_are_refused_in_one_line() {
        let audio = Message::with_parts("user", vec![ContentPart::Audio(Media { mime: "audio/wav".into(), base64: "UklG".into() })]);
        let mut tool_without_id = Message::tool_result("x", "r");
        tool_without_id.tool_call_id = None;
        let mut user_with_calls = Message::user("hi");
        user_with_calls.tool_calls = vec![ToolCall::default()];
        for (m, what) in [(audio, "audio"), (tool_without_id, "without a tool_call_id"), (user_with_calls, "has tool calls")] {
            let err = encoded(&ScenarioRequest::new(Api::Responses, Prompt::Chat(vec![m]))).unwrap_err();
            assert!(err.contains(what) && err.contains("message 0") && !err.contains('\n'), "{err}");
        }
        let err = encoded(&ScenarioRequest::new(Api::Responses, Prompt::Text("x".into()))).unwrap_err();
        assert!(err.contains("chat prompt"), "{err}");
    }
}
