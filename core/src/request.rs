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
}

impl Api {
    /// The fixed request path of OpenAI APIs, relative to the target's base URL.
    pub fn openai_path(self) -> Option<&'static str> {
        match self {
            Api::Completions => Some("/v1/completions"),
            Api::ChatCompletions => Some("/v1/chat/completions"),
            Api::Embeddings => Some("/v1/embeddings"),
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

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    /// A message of the user's.
    pub fn user(content: impl Into<String>) -> Self {
        Message { role: "user".into(), content: content.into() }
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

