//! Writing OpenAI requests: completions and chat bodies (with tools and the tool choice,
//! a kept conversation's messages first), written straight from their typed form with
//! the keys as literals ([`request`]); and embeddings ([`embeddings`]). The chat messages
//! themselves are [`super::messages`]'.

use std::borrow::Cow;
use std::ops::Range;

use serde::Serialize;
use serde_json::json;
use serde_json::value::RawValue;

use volley_core::{Api, Prompt, ScenarioRequest, Tool, ToolChoice};

use super::messages::WireMessage;
use crate::client::kept::KeptConversation;
use crate::client::wire::{Wire, WireBody, tool_parameters};

/// The keys [`OpenAiBody`] may write.
pub(crate) const KEYS: &[&str] = &["model", "prompt", "messages", "tools", "tool_choice", "max_tokens", "stream", "stream_options"];

/// A tool the model may call: `{"type": "function", "function": {...}}`.
#[derive(Serialize)]
pub(crate) struct WireTool<'a> {
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
pub(crate) enum WireToolChoice<'a> {
    Mode(&'static str),
    Function {
        #[serde(rename = "type")]
        kind: &'static str,
        function: WireName<'a>,
    },
}

#[derive(Serialize)]
pub(crate) struct WireName<'a> {
    name: &'a str,
}

impl<'a> WireToolChoice<'a> {
    pub(crate) fn of(c: &'a ToolChoice) -> Self {
        match c {
            ToolChoice::Auto => WireToolChoice::Mode("auto"),
            ToolChoice::None => WireToolChoice::Mode("none"),
            ToolChoice::Required => WireToolChoice::Mode("required"),
            ToolChoice::Function(name) => WireToolChoice::Function { kind: "function", function: WireName { name } },
        }
    }
}

impl<'a> WireTool<'a> {
    /// `t` with its parameters checked ([`tool_parameters`]).
    pub(crate) fn of(t: &'a Tool) -> Result<Self, String> {
        let parameters = tool_parameters(t)?;
        Ok(WireTool { kind: "function", function: WireFunction { name: &t.name, description: &t.description, parameters } })
    }
}

/// An OpenAI completions or chat body. Every stream asks for `stream_options`'
/// `include_usage`: token counts from the server beat counting chunks.
pub(crate) struct OpenAiBody<'a> {
    pub(crate) model: Option<&'a str>,
    pub(crate) prompt: Option<&'a str>,
    pub(crate) messages: Option<Vec<WireMessage<'a>>>,
    /// Chat: the conversation the host keeps, sent before `messages`.
    pub(crate) kept: Option<&'a KeptConversation>,
    /// Chat: the tools (`None` when there are none) and the choice among them.
    pub(crate) tools: Option<Vec<WireTool<'a>>>,
    pub(crate) tool_choice: Option<WireToolChoice<'a>>,
    pub(crate) max_tokens: Option<u32>,
    pub(crate) stream: bool,
}

/// An OpenAI completions or chat request, its messages after those of its kept
/// conversation; the wire request says where the whole conversation is in the body (the
/// inside of its `messages` array), for that conversation to keep.
pub(crate) fn request(r: &ScenarioRequest, model: Option<&str>, kept: Option<&KeptConversation>) -> Result<Wire, String> {
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
    let (bytes, conversation) = body.encode().map_err(|e| format!("cannot serialize the body: {e}"))?;
    let mut wire = Wire::post_json(path, WireBody::Typed(bytes, KEYS), r.stream);
    wire.conversation = conversation;
    Ok(wire)
}

impl OpenAiBody<'_> {
    /// The body as serde_json writes the struct (keys in its order, `None`s left out,
    /// `stream_options` on a stream), with the keys as literals: serde_json escapes
    /// every key of every request byte by byte, a third of the encoder's work.
    pub(crate) fn encode(&self) -> serde_json::Result<(Vec<u8>, Option<Range<usize>>)> {
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

fn text_prompt<'a>(r: &'a ScenarioRequest, what: &str) -> Result<&'a str, String> {
    match &r.prompt {
        Prompt::Text(t) => Ok(t),
        Prompt::Chat(_) => Err(format!("{what} requests need a text prompt")),
    }
}

/// An embeddings request: its text prompt as `input`.
pub(crate) fn embeddings(r: &ScenarioRequest, model: Option<&str>) -> Result<Wire, String> {
    let mut body = json!({ "input": text_prompt(r, "embeddings")? });
    if let Some(m) = model {
        body["model"] = m.into();
    }
    Ok(Wire::post_json("/v1/embeddings".into(), WireBody::Json(body), false))
}

/// Scenario pieces the encoding tests share (here and in the encoder's own tests).
#[cfg(test)]
pub(crate) mod testing {
    use volley_core::{ContentPart, Message, Tool, ToolCall};

    /// A conversation of an agent: a question, the model's two parallel tool calls, the
    /// two results, and a message with parts.
    pub(crate) fn agent_chat() -> Vec<Message> {
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

    pub(crate) fn agent_tools() -> Vec<Tool> {
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
}

#[cfg(test)]
mod tests {
    use super::testing::{agent_chat, agent_tools};
    use super::*;
    use crate::client::wire::MAX_TOOL_PARAMETERS;
    use serde_json::Value;
    use volley_core::{ContentPart, Media, Message};

    fn req(api: Api, prompt: Prompt) -> ScenarioRequest {
        ScenarioRequest { max_tokens: Some(8), stream: true, tag: Some("t".into()), ..ScenarioRequest::new(api, prompt) }
    }

    /// `r` as the encoder's OpenAI request, with the default model `m`.
    fn encode(r: &ScenarioRequest) -> Result<Wire, String> {
        request(r, Some("m"), None)
    }

    fn bytes(w: &Wire) -> &[u8] {
        match &w.body {
            WireBody::Typed(bytes, _) => bytes,
            _ => panic!("an OpenAI body is typed"),
        }
    }

    #[test]
    fn chat_body_and_path() {
        let chat = Prompt::Chat(vec![Message::user("hi \"there\"")]);
        let w = encode(&req(Api::ChatCompletions, chat)).unwrap();
        assert_eq!(w.path, "/v1/chat/completions");
        let v = w.json();
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
        let v = encode(&req(Api::ChatCompletions, Prompt::Chat(vec![plain, m]))).unwrap().json();
        assert_eq!(v["messages"][0]["content"], "plain");
        let parts = &v["messages"][1]["content"];
        assert_eq!(parts[0], json!({"type": "text", "text": "look:"}));
        assert_eq!(parts[1], json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw==", "detail": "low"}}));
        assert_eq!(parts[2], json!({"type": "text", "text": "what is it?"}));
        assert_eq!(parts[3], json!({"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}));
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
            let w = encode(&r).unwrap();
            let want = json!({
                "model": "m", "messages": expected_messages, "tools": expected_tools, "tool_choice": expected_choice,
                "max_tokens": 8, "stream": true, "stream_options": {"include_usage": true},
            });
            assert_eq!(w.json(), want);
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
            assert_eq!(std::str::from_utf8(bytes(&w)).unwrap(), want);
        }
        // An assistant message with text and calls keeps its text; without tools or a
        // choice, neither key is written.
        let mut with_text = agent_chat();
        with_text[2].content = "Looking.".into();
        let v: Value = encode(&req(Api::ChatCompletions, Prompt::Chat(with_text))).unwrap().json();
        assert_eq!(v["messages"][2]["content"], "Looking.");
        assert_eq!(v["messages"][2]["tool_calls"][1]["id"], "call_2");
        assert!(v.get("tools").is_none() && v.get("tool_choice").is_none());
        assert!(v["messages"][0].get("tool_calls").is_none() && v["messages"][0].get("tool_call_id").is_none());
    }

    #[test]
    fn tool_parameters_must_be_a_json_object() {
        // (The encoder turns each of these errors into `EncodeError::Invalid`.)
        for bad in ["not json", "[1]", r#""a string""#, "{\"type\": \"object\"", "{} {}", "", "null"] {
            let mut r = req(Api::ChatCompletions, Prompt::Chat(vec![Message::user("hi")]));
            r.tools = agent_tools();
            r.tools[1].parameters = bad.into();
            let err = encode(&r).err().unwrap();
            assert!(err.contains("tool 'get_time'") && err.contains("JSON object"), "{bad:?}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
        let mut r = req(Api::ChatCompletions, Prompt::Chat(vec![Message::user("hi")]));
        r.tools = agent_tools();
        r.tools[0].parameters = format!("{{\"description\": \"{}\"}}", "x".repeat(MAX_TOOL_PARAMETERS));
        let err = encode(&r).err().unwrap();
        assert!(err.contains("tool 'get_weather'") && err.contains("over the limit"), "{err}");
        // Deep nesting within the bound is checked without recursion, and sent as is.
        let mut r = req(Api::ChatCompletions, Prompt::Chat(vec![Message::user("hi")]));
        r.tools = agent_tools();
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
        r.tools[0].parameters = deep.clone();
        assert!(std::str::from_utf8(bytes(&encode(&r).unwrap())).unwrap().contains(&deep));
    }

    #[test]
    fn embeddings_take_a_text_prompt() {
        let w = embeddings(&req(Api::Embeddings, Prompt::Text("x".into())), Some("m")).unwrap();
        assert_eq!((w.path.as_ref(), w.stream), ("/v1/embeddings", false));
        assert_eq!(w.json(), json!({"input": "x", "model": "m"}));
        let err = embeddings(&req(Api::Embeddings, Prompt::Chat(vec![])), None).err().unwrap();
        assert!(err.contains("embeddings requests need a text prompt"), "{err}");
    }
}
