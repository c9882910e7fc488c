//! Anthropic's Messages API (`POST /v1/messages`): a scenario's chat request with its
//! system messages joined into `system`, its assistant tool calls as `tool_use` blocks
//! and its tool results as `tool_result` blocks of a user message; and the response read
//! back, streamed (`message_start`, `content_block_start`, `content_block_delta`,
//! `message_delta`, `message_stop`) or whole (its `content` blocks), into what an event
//! carried ([`Parsed`]) and, for an outcome that keeps them, the tool calls and finish
//! reason ([`KeptReply`]), the stop reason named as chat names it (`tool_use` is
//! `tool_calls`, `end_turn` is `stop`, `max_tokens` is `length`).
//!
//! Anthropic counts `input_tokens` beside the cache: the prompt is `input_tokens` plus
//! `cache_read_input_tokens` and `cache_creation_input_tokens`, the cached part the
//! first. A stream's usage comes in two events (the input in `message_start`, the output
//! in `message_delta`), merged by the exchange ([`Usage::merge`]).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use volley_core::text::clip;
use volley_core::{ContentPart, Message, Prompt, ScenarioRequest, Tool, ToolCall, ToolChoice};

use super::openai::error_message;
use super::openai::messages::WireMessage;
use super::parsed::{CallPiece, KeptReply, Parsed, PromptTokensDetails, Usage, unexpected_json};
use super::wire::{Wire, WireBody, checked_tools};

/// The keys [`encode`] may write (body-extra naming one is merged, not spliced).
pub(crate) const KEYS: &[&str] = &["model", "system", "messages", "max_tokens", "stream", "tools", "tool_choice"];

/// `max_tokens` when the request sets none: the API requires one.
pub(crate) const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The API version sent unless the scenario or the operator sets the header.
pub(crate) const VERSION: &str = "2023-06-01";
/// The header that names the API's version.
pub(crate) const VERSION_HEADER: &str = "anthropic-version";

#[derive(Serialize)]
struct Body<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    messages: Vec<WireMsg<'a>>,
    max_tokens: u32,
    stream: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<WireChoice<'a>>,
}

#[derive(Serialize)]
struct WireMsg<'a> {
    role: &'static str,
    content: Content<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Content<'a> {
    Text(Cow<'a, str>),
    Blocks(Vec<Block<'a>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text { text: &'a str },
    Image { source: Source<'a> },
    ToolUse { id: &'a str, name: &'a str, input: &'a RawValue },
    ToolResult { tool_use_id: &'a str, content: Cow<'a, str> },
}

#[derive(Serialize)]
struct Source<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    media_type: &'a str,
    data: &'a str,
}

#[derive(Serialize)]
struct WireTool<'a> {
    name: &'a str,
    description: &'a str,
    input_schema: &'a RawValue,
}

#[derive(Serialize)]
struct WireChoice<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

/// Where the body's array of messages opens: a kept conversation's messages go first in
/// it.
pub(crate) const ARRAY: &[u8] = br#""messages":["#;

/// A `POST /v1/messages` request: its tools' parameters checked, the body ([`encode`],
/// a kept conversation's `system` before the request's), and the version header.
pub(crate) fn request(r: &ScenarioRequest, model: Option<&str>, kept_system: Option<&str>) -> Result<Wire, String> {
    let tools = checked_tools(&r.tools)?;
    let (bytes, system) = encode(r, model, &tools, kept_system)?;
    let mut wire = Wire::post_json("/v1/messages".into(), WireBody::Typed(bytes, KEYS), r.stream);
    (wire.system, wire.header) = (system, Some((VERSION_HEADER, VERSION)));
    Ok(wire)
}

/// The body of a Messages request: its chat prompt as `system` and `messages`, `tools`
/// (each with its parameters as checked by the caller) and the tool choice, and
/// `max_tokens` (the request's, else [`DEFAULT_MAX_TOKENS`]).
/// A kept conversation's `system` (`kept_system`) goes before the request's own system
/// messages; the body, and its `system` as sent.
pub(crate) fn encode(
    r: &ScenarioRequest,
    model: Option<&str>,
    tools: &[(&Tool, &RawValue)],
    kept_system: Option<&str>,
) -> Result<(Vec<u8>, Option<String>), String> {
    let Prompt::Chat(chat) = &r.prompt else {
        return Err("a messages request needs a chat prompt".into());
    };
    let mut system: Vec<String> = kept_system.map(str::to_string).into_iter().collect();
    let mut messages: Vec<WireMsg<'_>> = Vec::with_capacity(chat.len());
    // Whether the last message is the user message of tool results the next joins.
    let mut results = false;
    for (i, m) in chat.iter().enumerate() {
        let tool = m.role == "tool";
        if !tool && m.tool_call_id.is_some() {
            return Err(format!("message {i} has a tool_call_id but the role {:?}, not \"tool\"", clip(&m.role, 60)));
        }
        if m.role != "assistant" && !m.tool_calls.is_empty() {
            return Err(format!("message {i} has tool calls but the role {:?}, not \"assistant\"", clip(&m.role, 60)));
        }
        match m.role.as_str() {
            "system" | "developer" => system.push(WireMessage::text(m)),
            "tool" => {
                let tool_use_id =
                    m.tool_call_id.as_deref().ok_or_else(|| format!("message {i} is a tool result without a tool_call_id"))?;
                let block = Block::ToolResult { tool_use_id, content: WireMessage::text_of(m) };
                match messages.last_mut() {
                    Some(WireMsg { content: Content::Blocks(blocks), .. }) if results => blocks.push(block),
                    _ => messages.push(WireMsg { role: "user", content: Content::Blocks(vec![block]) }),
                }
            }
            "user" => messages.push(WireMsg { role: "user", content: user_content(i, m)? }),
            "assistant" if m.tool_calls.is_empty() => {
                messages.push(WireMsg { role: "assistant", content: Content::Text(WireMessage::text_of(m)) })
            }
            "assistant" => {
                let mut blocks = Vec::with_capacity(m.tool_calls.len() + 1);
                if !m.content.is_empty() {
                    blocks.push(Block::Text { text: &m.content });
                }
                for c in &m.tool_calls {
                    blocks.push(Block::ToolUse { id: &c.id, name: &c.name, input: object(i, &c.name, &c.arguments)? });
                }
                messages.push(WireMsg { role: "assistant", content: Content::Blocks(blocks) });
            }
            other => {
                return Err(format!(
                    "message {i} has the role {:?}: the messages API takes system, user, assistant and tool",
                    clip(other, 60)
                ));
            }
        }
        results = tool;
    }
    let tool_choice = r.tool_choice.as_ref().map(|c| match c {
        ToolChoice::Auto => WireChoice { kind: "auto", name: None },
        ToolChoice::None => WireChoice { kind: "none", name: None },
        ToolChoice::Required => WireChoice { kind: "any", name: None },
        ToolChoice::Function(name) => WireChoice { kind: "tool", name: Some(name) },
    });
    let tools = tools.iter().map(|(t, input_schema)| WireTool { name: &t.name, description: &t.description, input_schema }).collect();
    let body = Body {
        model,
        system: (!system.is_empty()).then(|| system.join("\n")),
        messages,
        max_tokens: r.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        stream: r.stream,
        tools,
        tool_choice,
    };
    let bytes = serde_json::to_vec(&body).map_err(|e| format!("cannot serialize the body: {e}"))?;
    Ok((bytes, body.system))
}

/// The model's answer (its text and tool calls) as the assistant message a kept
/// conversation adds: a text block and `tool_use` blocks (arguments that are not a JSON
/// object are sent as `{}`, as the server's own reply would not carry them either).
pub(crate) fn answer(text: &str, calls: &[ToolCall]) -> Option<Vec<u8>> {
    let empty: &RawValue = serde_json::from_str("{}").ok()?;
    let mut blocks = Vec::with_capacity(calls.len() + 1);
    if !text.is_empty() {
        blocks.push(Block::Text { text });
    }
    for c in calls {
        let input = serde_json::from_str::<&RawValue>(&c.arguments).ok().filter(|v| v.get().trim_start().starts_with('{')).unwrap_or(empty);
        blocks.push(Block::ToolUse { id: &c.id, name: &c.name, input });
    }
    if blocks.is_empty() {
        return None;
    }
    serde_json::to_vec(&WireMsg { role: "assistant", content: Content::Blocks(blocks) }).ok()
}

/// A user message's content: its text, or with parts, text and image blocks.
fn user_content(i: usize, m: &Message) -> Result<Content<'_>, String> {
    if m.parts.is_empty() {
        return Ok(Content::Text(Cow::Borrowed(&m.content)));
    }
    let mut blocks = Vec::with_capacity(m.parts.len() + 1);
    if !m.content.is_empty() {
        blocks.push(Block::Text { text: &m.content });
    }
    for p in &m.parts {
        blocks.push(match p {
            ContentPart::Text(t) => Block::Text { text: t },
            ContentPart::Image { media, .. } => {
                Block::Image { source: Source { kind: "base64", media_type: &media.mime, data: &media.base64 } }
            }
            ContentPart::Audio(_) => return Err(format!("message {i} has an audio part: the messages API takes no audio input")),
        });
    }
    Ok(Content::Blocks(blocks))
}

/// A tool call's arguments as the JSON object `tool_use` takes (none: `{}`), as written.
fn object<'a>(i: usize, name: &str, arguments: &'a str) -> Result<&'a RawValue, String> {
    let bad = |why: String| format!("message {i}: the arguments of its call to '{}' must be a JSON object: {why}", clip(name, 60));
    if arguments.trim().is_empty() {
        return serde_json::from_str("{}").map_err(|e| bad(e.to_string()));
    }
    let raw: &RawValue = serde_json::from_str(arguments).map_err(|e| bad(e.to_string()))?;
    if !raw.get().starts_with('{') {
        return Err(bad(format!("got {}", clip(raw.get(), 60))));
    }
    Ok(raw)
}

// ---- Reading ----

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    index: Option<u32>,
    #[serde(borrow, default)]
    message: Option<WholeMessage<'a>>,
    #[serde(borrow, default)]
    content_block: Option<ContentBlock<'a>>,
    #[serde(borrow, default)]
    delta: Option<Delta<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// A whole message: a non-streamed body, or `message_start`'s.
#[derive(Deserialize)]
struct WholeMessage<'a> {
    #[serde(borrow, default)]
    content: Vec<ContentBlock<'a>>,
    #[serde(borrow, default)]
    stop_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ContentBlock<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    thinking: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    input: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    thinking: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    partial_json: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    stop_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u32>,
    #[serde(default)]
    output_tokens: Option<u32>,
    #[serde(default)]
    cache_read_input_tokens: Option<u32>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u32>,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Self {
        let cached = u.cache_read_input_tokens;
        let prompt =
            u.input_tokens.map(|i| i.saturating_add(cached.unwrap_or(0)).saturating_add(u.cache_creation_input_tokens.unwrap_or(0)));
        Usage {
            prompt_tokens: prompt,
            completion_tokens: u.output_tokens,
            prompt_tokens_details: cached.map(|c| PromptTokensDetails { cached_tokens: Some(c) }),
            completion_tokens_details: None,
        }
    }
}

/// A stop reason as chat names it.
fn finish_reason(stop: &str) -> &str {
    match stop {
        "end_turn" | "stop_sequence" => "stop",
        "tool_use" => "tool_calls",
        "max_tokens" => "length",
        other => other,
    }
}

/// One streamed event; its text appended to `text`, its tool calls and the finish
/// reason joined into `reply` if given.
pub(crate) fn parse_event(json: &[u8], mut text: Option<&mut String>, reply: Option<&mut KeptReply>) -> Result<Parsed, String> {
    let e: Event<'_> = serde_json::from_slice(json).map_err(|e| unexpected_json(json, e))?;
    let mut out = Parsed::default();
    match &*e.kind {
        "message_start" => out.usage = e.message.and_then(|m| m.usage).map(Usage::from),
        "content_block_start" => {
            let Some(block) = e.content_block else { return Ok(out) };
            match block.kind.as_deref() {
                Some("text") => out.add_text(&mut text, block.text.as_deref().unwrap_or(""), false),
                Some("thinking") => out.add_text(&mut text, block.thinking.as_deref().unwrap_or(""), true),
                Some("tool_use") => {
                    let name = block.name.as_deref();
                    out.tool_bytes += name.map_or(0, str::len);
                    out.tool_call_entries = 1;
                    out.tool_calls_started = u32::from(block.id.is_some());
                    // Its `input` here is `{}`: the arguments come in the deltas.
                    if let Some(reply) = reply {
                        reply.add(CallPiece { index: e.index, id: block.id.as_deref(), name, ..CallPiece::default() });
                    }
                }
                _ => {}
            }
        }
        "content_block_delta" => {
            let Some(delta) = e.delta else { return Ok(out) };
            if let Some(t) = &delta.text {
                out.add_text(&mut text, t, false);
            }
            if let Some(t) = &delta.thinking {
                out.add_text(&mut text, t, true);
            }
            if let Some(json) = delta.partial_json.as_deref() {
                out.tool_bytes += json.len();
                out.tool_call_entries = 1;
                if let Some(reply) = reply {
                    reply.add(CallPiece { index: e.index, arguments: Some(json), ..CallPiece::default() });
                }
            }
        }
        "message_delta" => {
            out.usage = e.usage.map(Usage::from);
            if let Some(stop) = e.delta.as_ref().and_then(|d| d.stop_reason.as_deref()) {
                out.finished = true;
                if let Some(reply) = reply {
                    reply.finish(finish_reason(stop));
                }
            }
        }
        "message_stop" => out.finished = true,
        "error" => out.error = Some(e.error.as_ref().map_or_else(|| "the server sent an error event".into(), error_message)),
        _ => {}
    }
    Ok(out)
}

/// A whole response body: its content blocks, stop reason and usage (or its error).
pub(crate) fn parse_body(json: &[u8], mut text: Option<&mut String>, mut reply: Option<&mut KeptReply>) -> Result<Parsed, String> {
    let m: WholeMessage<'_> = serde_json::from_slice(json).map_err(|e| unexpected_json(json, e))?;
    let mut out = Parsed { finished: true, usage: m.usage.map(Usage::from), ..Parsed::default() };
    if let Some(err) = m.error.as_ref().filter(|e| !e.is_null()) {
        out.error = Some(error_message(err));
    }
    let mut position = 0;
    for block in &m.content {
        match block.kind.as_deref() {
            Some("text") => out.add_text(&mut text, block.text.as_deref().unwrap_or(""), false),
            Some("thinking") => out.add_text(&mut text, block.thinking.as_deref().unwrap_or(""), true),
            Some("tool_use") => {
                let (name, arguments) = (block.name.as_deref(), block.input.map(RawValue::get));
                out.tool_bytes += name.map_or(0, str::len) + arguments.map_or(0, str::len);
                out.tool_call_entries += 1;
                out.tool_calls_started += u32::from(block.id.is_some());
                if let Some(reply) = reply.as_deref_mut() {
                    reply.add(CallPiece { index: None, position, whole: true, id: block.id.as_deref(), name, arguments });
                }
                position += 1;
            }
            _ => {}
        }
    }
    if let (Some(reply), Some(stop)) = (reply, m.stop_reason.as_deref()) {
        reply.finish(finish_reason(stop));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::parsed::testing::{StreamRead, call, read_stream};
    use serde_json::{Value, json};
    use volley_core::{Api, Media, ToolCall};

    use crate::client::responses::encode_tests::{agent_chat, agent_tools};

    fn encoded(r: &ScenarioRequest) -> Result<Value, String> {
        let raws: Vec<&RawValue> = r.tools.iter().map(|t| serde_json::from_str(&t.parameters).unwrap()).collect();
        let tools: Vec<(&Tool, &RawValue)> = r.tools.iter().zip(raws).collect();
        encode(r, Some("m"), &tools, None).map(|(b, _)| serde_json::from_slice(&b).unwrap())
    }

    #[test]
    fn an_agent_conversation_with_each_tool_choice() {
        let messages = json!([
            {"role": "user", "content": "Weather and time in Paris?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Looking."},
                {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_2", "name": "get_time", "input": {"tz": "Europe/Paris"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "18 °C, cloudy"},
                {"type": "tool_result", "tool_use_id": "call_2", "content": "14:05"},
            ]},
            {"role": "user", "content": [
                {"type": "text", "text": "thanks"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
            ]},
        ]);
        let tools = json!([
            {"name": "get_weather", "description": "The weather in a city.",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
            {"name": "get_time", "description": "", "input_schema": {"type": "object", "properties": {}}},
        ]);
        let choices = [
            (ToolChoice::Auto, json!({"type": "auto"})),
            (ToolChoice::None, json!({"type": "none"})),
            (ToolChoice::Required, json!({"type": "any"})),
            (ToolChoice::Function("get_time".into()), json!({"type": "tool", "name": "get_time"})),
        ];
        for (choice, want) in choices {
            let mut r = ScenarioRequest::new(Api::Messages, Prompt::Chat(agent_chat()));
            (r.tools, r.tool_choice, r.max_tokens, r.stream) = (agent_tools(), Some(choice), Some(64), true);
            let body = json!({"model": "m", "system": "You are terse.", "messages": messages, "max_tokens": 64, "stream": true,
                "tools": tools, "tool_choice": want});
            assert_eq!(encoded(&r).unwrap(), body);
        }
        // Without a limit, 4096; system messages joined; no tools, no choice.
        let chat = vec![Message::new("system", "A."), Message::new("developer", "B."), Message::user("hi")];
        let v = encoded(&ScenarioRequest::new(Api::Messages, Prompt::Chat(chat))).unwrap();
        assert_eq!(
            v,
            json!({"model": "m", "system": "A.\nB.", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4096, "stream": false})
        );
        // A call without arguments takes an empty object.
        let calls = vec![ToolCall { id: "c".into(), name: "now".into(), arguments: String::new() }];
        let v = encoded(&ScenarioRequest::new(Api::Messages, Prompt::Chat(vec![Message::assistant_calls("", calls)]))).unwrap();
        assert_eq!(v["messages"][0]["content"], json!([{"type": "tool_use", "id": "c", "name": "now", "input": {}}]));
    }

    #[test]
    fn bad_arguments_audio_and_roles_are_refused_in_one_line() {
        for args in ["[1]", "\"s\"", "{", "1"] {
            let calls = vec![ToolCall { id: "c".into(), name: "f".into(), arguments: args.into() }];
            let r = ScenarioRequest::new(Api::Messages, Prompt::Chat(vec![Message::assistant_calls("", calls)]));
            let err = encoded(&r).unwrap_err();
            assert!(err.contains("must be a JSON object") && err.contains("'f'") && !err.contains('\n'), "{err}");
        }
        let audio = Message::with_parts("user", vec![ContentPart::Audio(Media { mime: "audio/wav".into(), base64: "UklG".into() })]);
        let err = encoded(&ScenarioRequest::new(Api::Messages, Prompt::Chat(vec![audio]))).unwrap_err();
        assert!(err.contains("audio") && !err.contains('\n'), "{err}");
        let err = encoded(&ScenarioRequest::new(Api::Messages, Prompt::Chat(vec![Message::new("narrator", "x")]))).unwrap_err();
        assert!(err.contains("narrator"), "{err}");
    }

    /// What llama-server (llama.cpp 0c1e5709, `--jinja`, the Hermes 2 Pro tool template)
    /// streamed for a request that made a tool call, as captured.
    const LLAMA_TOOL_STREAM: &[&str] = &[
        r#"{"type":"message_start","message":{"id":"chatcmpl-OPJfaRh8uUT7UrHcmAjhZlv5jReQys9y","type":"message","role":"assistant","content":[],"model":"smollm2-135m-instruct","stop_reason":null,"stop_sequence":null,"usage":{"cache_read_input_tokens":385,"input_tokens":1,"output_tokens":0}}}"#,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"ItB4kUAozw4Qp4SPdzbbW78AOFsfWO7H","name":"get_weather"}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\""}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"city"}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"\":"}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":" \""}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"Paris"}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"\"}"}}"#,
        r#"{"type":"content_block_stop","index":0}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":14}}"#,
        r#"{"type":"message_stop"}"#,
    ];

    /// llama-server's text stream, as captured (this one came without `message_start`).
    const LLAMA_TEXT_STREAM: &[&str] = &[
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"🌟"}}"#,
        r#"{"type":"content_block_stop","index":0}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"output_tokens":5}}"#,
        r#"{"type":"message_stop"}"#,
    ];

    fn read(events: &[&str]) -> StreamRead {
        read_stream(events, parse_event)
    }

    fn usage(prompt: Option<u32>, completion: u32, cached: Option<u32>) -> Usage {
        Usage {
            prompt_tokens: prompt,
            completion_tokens: Some(completion),
            prompt_tokens_details: cached.map(|c| PromptTokensDetails { cached_tokens: Some(c) }),
            completion_tokens_details: None,
        }
    }

    #[test]
    fn llama_server_streams() {
        let r = read(LLAMA_TOOL_STREAM);
        assert_eq!(r.calls, vec![call("ItB4kUAozw4Qp4SPdzbbW78AOFsfWO7H", "get_weather", r#"{"city": "Paris"}"#)]);
        assert_eq!((r.finish.as_deref(), r.finished, r.started, r.outputs, r.text.as_str()), (Some("tool_calls"), true, 1, 7, ""));
        // The prompt counts the cached tokens Anthropic counts beside it.
        assert_eq!(r.usage, Some(usage(Some(386), 14, Some(385))));
        let r = read(LLAMA_TEXT_STREAM);
        assert_eq!((r.text.as_str(), r.outputs, r.finished, r.finish.as_deref()), ("🌟", 1, true, Some("length")));
        assert_eq!(r.usage, Some(usage(None, 5, None)));
    }

    #[test]
    fn thinking_text_parallel_calls_and_errors() {
        let events = [
            r#"{"type":"message_start","message":{"content":[],"usage":{"input_tokens":10,"cache_read_input_tokens":90,"cache_creation_input_tokens":5,"output_tokens":1}}}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Two tools."}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"abc"}}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Checking."}}"#,
            r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_a","name":"get_weather","input":{}}}"#,
            r#"{"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"toolu_b","name":"get_time","input":{}}}"#,
            r#"{"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{\"tz\":\"UTC\"}"}}"#,
            r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}}"#,
            r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":40}}"#,
            r#"{"type":"message_stop"}"#,
        ];
        let r = read(&events);
        assert_eq!(r.calls, vec![call("toolu_a", "get_weather", r#"{"city":"Paris"}"#), call("toolu_b", "get_time", r#"{"tz":"UTC"}"#)]);
        assert_eq!((r.text.as_str(), r.reasoning_bytes, r.started), ("Two tools.Checking.", 10, 2));
        assert_eq!(r.usage, Some(usage(Some(105), 40, Some(90))));
        assert_eq!(r.finish.as_deref(), Some("tool_calls"));
        let p = parse_event(events[3].as_bytes(), None, None).unwrap();
        assert!(p.has_output() && !p.has_answer());
        let r = read(&[r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#]);
        assert_eq!((r.error.as_deref(), r.finished), (Some("Overloaded"), false));
        let r = read(&[r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}"#]);
        assert_eq!(r.finish.as_deref(), Some("stop"));
    }

    #[test]
    fn malformed_events_are_errors() {
        for bad in [
            &b"{not json"[..],
            b"[]",
            b"{}",
            br#"{"type":null}"#,
            br#"{"type":"content_block_delta","index":"0","delta":{}}"#,
            br#"{"type":"content_block_delta","index":0,"delta":{"text":1}}"#,
            br#"{"type":"message_start","message":{"usage":{"input_tokens":1.5}}}"#,
            b"\xc3",
            b"",
        ] {
            assert!(parse_event(bad, None, Some(&mut KeptReply::default())).is_err(), "{bad:?}");
        }
        assert!(parse_body(br#"{"content":{}}"#, None, None).is_err());
        assert_eq!(parse_event(br#"{"type":"something_new","x":[1]}"#, None, None).unwrap(), Parsed::default());
    }

    #[test]
    fn whole_bodies() {
        // llama-server's, as captured.
        let tool = br#"{"id":"chatcmpl-ympzVFG3n1GaEPWqbaepN1MSBWsmxIGs","type":"message","role":"assistant","content":[{"type":"tool_use","id":"8qqPRjrEWHjQmMHZRJ8k15lRzkUWjHgy","name":"get_weather","input":{"city":"Paris"}}],"model":"smollm2-135m-instruct","stop_reason":"tool_use","stop_sequence":null,"usage":{"cache_read_input_tokens":385,"input_tokens":1,"output_tokens":14}}"#;
        let mut reply = KeptReply::default();
        let p = parse_body(tool, Some(&mut String::new()), Some(&mut reply)).unwrap();
        assert_eq!((p.tool_call_entries, p.tool_calls_started, p.finished), (1, 1, true));
        assert_eq!(p.usage, Some(usage(Some(386), 14, Some(385))));
        assert_eq!(
            reply.into_parts(),
            (vec![call("8qqPRjrEWHjQmMHZRJ8k15lRzkUWjHgy", "get_weather", r#"{"city":"Paris"}"#)], Some("tool_calls".into()))
        );
        let text = br#"{"id":"chatcmpl-YB4bX5JL6MkhMkOM7fFF83kICa596tvb","type":"message","role":"assistant","content":[{"type":"text","text":"Hi! Hello! I"}],"model":"smollm2-135m-instruct","stop_reason":"max_tokens","stop_sequence":null,"usage":{"cache_read_input_tokens":203,"input_tokens":10,"output_tokens":5}}"#;
        let (mut t, mut reply) = (String::new(), KeptReply::default());
        let p = parse_body(text, Some(&mut t), Some(&mut reply)).unwrap();
        assert_eq!((t.as_str(), p.text_bytes), ("Hi! Hello! I", 12));
        assert_eq!(reply.into_parts(), (vec![], Some("length".into())));
        let thinking = br#"{"type":"message","content":[{"type":"thinking","thinking":"hm","signature":"s"},{"type":"text","text":"ok"},
            {"type":"tool_use","id":"a","name":"f","input":{}},{"type":"tool_use","id":"b","name":"g","input":{"x":[1]}}],"stop_reason":"end_turn"}"#;
        let (mut t, mut reply) = (String::new(), KeptReply::default());
        let p = parse_body(thinking, Some(&mut t), Some(&mut reply)).unwrap();
        assert_eq!((t.as_str(), p.reasoning_bytes, p.tool_call_entries), ("hmok", 2, 2));
        assert_eq!(reply.into_parts(), (vec![call("a", "f", "{}"), call("b", "g", r#"{"x":[1]}"#)], Some("stop".into())));
        let p = parse_body(br#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: required"}}"#, None, None)
            .unwrap();
        assert_eq!(p.error.as_deref(), Some("max_tokens: required"));
    }
}
