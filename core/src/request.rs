//! One request as a scenario shapes it, before the host encodes it for the wire: the
//! API, the prompt (text or chat), generation options, KServe tensors, plain-HTTP parts,
//! and its place in the stage (tag, session, custom gap).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which API of the target a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    Completions,
    ChatCompletions,
    Embeddings,
    TgiGenerate,
    KserveV1,
    KserveV2,
    Http,
    /// OpenAI's Responses API (`POST /v1/responses`): typed input items, streamed as
    /// typed events.
    Responses,
    /// Anthropic's Messages API (`POST /v1/messages`): content blocks, streamed as
    /// `message_start`, `content_block_*`, `message_delta` and `message_stop` events.
    Messages,
}

impl Api {
    /// The fixed request path of OpenAI APIs, relative to the target's base URL.
    pub fn openai_path(self) -> Option<&'static str> {
        match self {
            Api::Completions => Some("/v1/completions"),
            Api::ChatCompletions => Some("/v1/chat/completions"),
            Api::Embeddings => Some("/v1/embeddings"),
            Api::Responses => Some("/v1/responses"),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Api::Completions => "completions",
            Api::ChatCompletions => "chat_completions",
            Api::Embeddings => "embeddings",
            Api::TgiGenerate => "tgi_generate",
            Api::KserveV1 => "kserve_v1",
            Api::KserveV2 => "kserve_v2",
            Api::Http => "http",
            Api::Responses => "responses",
            Api::Messages => "messages",
        }
    }
}

/// The elements of a KServe v2 tensor, flattened row-major.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    Numbers(Vec<f64>),
    Strings(Vec<String>),
}

/// A KServe v2 input tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub datatype: String,
    pub shape: Vec<i64>,
    pub data: TensorData,
}

/// One chat message. With no `parts`, its content is the string `content`; with parts,
/// the content is a list: `content` as a first text part when it is not empty, then
/// `parts` (text, images, audio), as OpenAI's multimodal messages have it.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: String,
    pub content: String,
    pub parts: Vec<ContentPart>,
    /// An assistant message: the tool calls the model made, sent back as they were.
    pub tool_calls: Vec<ToolCall>,
    /// A tool message: the id of the call it answers.
    pub tool_call_id: Option<String>,
}

impl Message {
    /// A text message of `role`.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Message { role: role.into(), content: content.into(), parts: Vec::new(), tool_calls: Vec::new(), tool_call_id: None }
    }

    /// A message of the user's.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }

    /// A message of `role` made of content parts.
    pub fn with_parts(role: impl Into<String>, parts: Vec<ContentPart>) -> Self {
        Message { parts, ..Self::new(role, String::new()) }
    }

    /// An assistant message that made these tool calls (with its text, often empty).
    pub fn assistant_calls(content: impl Into<String>, tool_calls: Vec<ToolCall>) -> Self {
        Message { tool_calls, ..Self::new("assistant", content) }
    }

    /// A tool's result, answering the call `id`.
    pub fn tool_result(id: impl Into<String>, content: impl Into<String>) -> Self {
        Message { tool_call_id: Some(id.into()), ..Self::new("tool", content) }
    }
}

/// A call of a tool: one the model made (in an outcome), or one an assistant message
/// carries back to the model.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as JSON text.
    pub arguments: String,
}

/// A tool the model may call (OpenAI's `{"type": "function", "function": {...}}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    pub name: String,
    pub description: String,
    /// The JSON schema of its parameters, as JSON text.
    pub parameters: String,
}

/// OpenAI's `tool_choice`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    Auto,
    None,
    Required,
    /// This tool, by name.
    Function(String),
}

/// How long after the outcome it follows a follow-up is sent: the agent's tools' time
/// and its user's think time, waited as their sum and reported apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delay {
    pub tool: Duration,
    pub think: Duration,
}

impl Delay {
    /// The whole wait.
    pub fn total(&self) -> Duration {
        self.tool.saturating_add(self.think)
    }
}

/// One part of a multimodal message.
#[derive(Debug, Clone, PartialEq)]
pub enum ContentPart {
    Text(String),
    /// An image, sent as a `data:` URL (`image_url`); `detail` is OpenAI's `low`,
    /// `high` or `auto`.
    Image {
        media: Media,
        detail: Option<String>,
    },
    /// Audio, sent as OpenAI's `input_audio` (base64 data and a format such as `wav`).
    Audio(Media),
}

/// Bytes of an image or a sound, held base64-encoded (as they are sent) and shared: the
/// same file in many requests is encoded once.
#[derive(Debug, Clone, PartialEq)]
pub struct Media {
    /// The MIME type, e.g. `image/png` or `audio/wav`.
    pub mime: std::sync::Arc<str>,
    /// The bytes, standard base64 with padding.
    pub base64: std::sync::Arc<str>,
}

impl Media {
    /// `bytes` of type `mime`, encoded.
    pub fn from_bytes(mime: &str, bytes: &[u8]) -> Self {
        use base64::Engine;
        Media { mime: mime.into(), base64: base64::engine::general_purpose::STANDARD.encode(bytes).into() }
    }

    /// The encoded length, what the media adds to a request body.
    pub fn encoded_len(&self) -> usize {
        self.base64.len() + self.mime.len()
    }

    /// OpenAI's `input_audio.format` for this MIME type: `wav`, `mp3`, or the subtype.
    pub fn audio_format(&self) -> &str {
        let sub = self.mime.split_once('/').map_or(&*self.mime, |(_, s)| s);
        match sub {
            "wav" | "x-wav" | "wave" | "vnd.wave" => "wav",
            "mpeg" | "mp3" => "mp3",
            other => other,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    Text(String),
    Chat(Vec<Message>),
}

/// One request as the scenario shaped it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioRequest {
    pub api: Api,
    pub model: Option<String>,
    pub prompt: Prompt,
    pub max_tokens: Option<u32>,
    pub stream: bool,
    pub headers: Vec<(String, String)>,
    pub body_extra: Option<String>,
    pub tag: Option<String>,
    pub session: Option<u64>,
    /// The prompt length the scenario intended, in tokens of the run's tokenizer.
    pub prompt_tokens: Option<u32>,
    /// KServe v2 input tensors.
    pub inputs: Vec<Tensor>,
    pub model_version: Option<String>,
    /// KServe v1 and plain HTTP: the body as is.
    pub body: Option<String>,
    /// Plain HTTP: the method and the path relative to the target.
    pub method: Option<String>,
    pub path: Option<String>,
    /// Inferences the request carries (a KServe batch of 16 counts 16).
    pub batch_size: Option<u32>,
    /// `custom` loads: the gap after the previous request's planned send.
    pub gap: Option<Duration>,
    /// Give the response text back in the request's outcome (for checks); off by
    /// default, so responses are not kept for nothing.
    pub keep_text: bool,
    /// Chat: the tools the model may call, and whether it must.
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    /// A follow-up: sent this long after the outcome it follows.
    pub delay: Option<Delay>,
    /// Chat, in a session: the conversation the host keeps under this number for the
    /// session. Its kept messages go before this request's, which are kept after them,
    /// then the model's answer; the scenario sends only what is new.
    pub history: Option<u32>,
    /// The scenario's number for this request, given back in its outcome.
    pub key: Option<u64>,
}

impl ScenarioRequest {
    /// A chat completion of these messages.
    pub fn chat(messages: Vec<Message>) -> Self {
        Self::new(Api::ChatCompletions, Prompt::Chat(messages))
    }

    /// Streamed (server-sent events) or not.
    pub fn stream(mut self, yes: bool) -> Self {
        self.stream = yes;
        self
    }

    pub fn max_tokens(mut self, n: u32) -> Self {
        self.max_tokens = Some(n);
        self
    }

    /// A request of `api` with every optional part empty.
    pub fn new(api: Api, prompt: Prompt) -> Self {
        ScenarioRequest {
            api,
            model: None,
            prompt,
            max_tokens: None,
            stream: false,
            headers: Vec::new(),
            body_extra: None,
            tag: None,
            session: None,
            prompt_tokens: None,
            inputs: Vec::new(),
            model_version: None,
            body: None,
            method: None,
            path: None,
            batch_size: None,
            gap: None,
            keep_text: false,
            tools: Vec::new(),
            tool_choice: None,
            delay: None,
            history: None,
            key: None,
        }
    }
}

/// A scenario's answer to "the next requests, please".
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Batch {
    pub requests: Vec<ScenarioRequest>,
    /// Nothing more in this stage. Empty and not done: ask again after an outcome.
    pub done: bool,
}
