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
}
