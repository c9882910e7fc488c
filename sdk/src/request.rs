//! Builders for [`Request`] and [`Message`].

use crate::{Api, Message, Prompt, Request};

impl Message {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Message { role: role.into(), content: content.into() }
    }
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

impl Request {
    /// A chat request (`/v1/chat/completions`), not streamed until [`Request::stream`].
    pub fn chat(messages: Vec<Message>) -> Self {
        Self::with(Api::ChatCompletions, Prompt::Chat(messages))
    }

    /// A completion request (`/v1/completions`).
    pub fn completion(prompt: impl Into<String>) -> Self {
        Self::with(Api::Completions, Prompt::Text(prompt.into()))
    }

    fn with(api: Api, prompt: Prompt) -> Self {
        Request {
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
        }
    }

    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }
    pub fn max_tokens(mut self, n: u32) -> Self {
        self.max_tokens = Some(n);
        self
    }
    pub fn stream(mut self, yes: bool) -> Self {
        self.stream = yes;
        self
    }
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// A JSON object merged into the body, e.g. `r#"{"temperature":0}"#`.
    pub fn body_extra(mut self, json: impl Into<String>) -> Self {
        self.body_extra = Some(json.into());
        self
    }
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }
    pub fn session(mut self, id: u64) -> Self {
        self.session = Some(id);
        self
    }
    /// The prompt length you intended, in tokens (reported beside the server's count).
    pub fn prompt_tokens(mut self, n: u32) -> Self {
        self.prompt_tokens = Some(n);
        self
    }
    /// Asks the server for exactly `n` output tokens where it allows it: `max_tokens`,
    /// plus `min_tokens` and `ignore_eos` (vLLM, SGLang, llama.cpp), merged into any
    /// body-extra already set.
    pub fn exact_output(mut self, n: u32) -> Self {
        self.max_tokens = Some(n);
        let mut extra = match self.body_extra.as_deref().map(serde_json::from_str::<serde_json::Value>) {
            Some(Ok(serde_json::Value::Object(m))) => m,
            _ => serde_json::Map::new(),
        };
        extra.insert("min_tokens".into(), n.into());
        extra.insert("ignore_eos".into(), true.into());
        self.body_extra = Some(serde_json::Value::Object(extra).to_string());
        self
    }
}
