//! Builders for [`Request`], [`Message`], content parts and [`Tensor`], one constructor
//! per API.

use std::time::Duration;

use crate::{
    Api, ContentPart, Delay, GrantedFile, ImagePart, InlineMedia, Media, Message, Prompt, Reaction, Request, TaskEnd, Tensor, TensorData,
    Tool, ToolCall, ToolChoice,
};

/// Nanoseconds of `d`, saturating.
fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u128::from(u64::MAX)) as u64
}

impl Message {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Message { role: role.into(), content: content.into(), parts: Vec::new(), tool_calls: Vec::new(), tool_call_id: None }
    }
    /// A message of `role` made of content parts (text, images, audio).
    pub fn with_parts(role: impl Into<String>, parts: Vec<ContentPart>) -> Self {
        Message { parts, ..Self::new(role, "") }
    }
    /// The assistant's turn that made these tool calls (send the model's calls back as
    /// they were, e.g. `outcome.tool_calls`), with its text (often empty).
    pub fn assistant_calls(content: impl Into<String>, tool_calls: Vec<ToolCall>) -> Self {
        Message { tool_calls, ..Self::new("assistant", content) }
    }
    /// A tool's result, answering the call with id `call_id`.
    pub fn tool_result(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Message { tool_call_id: Some(call_id.into()), ..Self::new("tool", content) }
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

/// A chat message of content parts (kept from 0.5, where it was its own type; in 0.6 a
/// [`Message`] has `parts`).
#[derive(Debug, Clone)]
pub struct PartMessage {
    pub role: String,
    pub parts: Vec<ContentPart>,
}

impl PartMessage {
    pub fn new(role: impl Into<String>, parts: Vec<ContentPart>) -> Self {
        PartMessage { role: role.into(), parts }
    }
    pub fn user(parts: Vec<ContentPart>) -> Self {
        Self::new("user", parts)
    }
}

impl From<PartMessage> for Message {
    fn from(m: PartMessage) -> Self {
        Message::with_parts(m.role, m.parts)
    }
}

impl Tool {
    /// A function the model may call; `parameters` is its JSON schema as JSON text,
    /// e.g. `{"type":"object","properties":{"query":{"type":"string"}}}`.
    pub fn new(name: impl Into<String>, description: impl Into<String>, parameters: impl Into<String>) -> Self {
        Tool { name: name.into(), description: description.into(), parameters: parameters.into() }
    }
}

impl Delay {
    /// What the agent's tools took and what its user thought; the host waits the sum.
    pub fn new(tool: Duration, think: Duration) -> Self {
        Delay { tool_ns: nanos(tool), think_ns: nanos(think) }
    }
}

impl Reaction {
    /// Nothing follows; the session goes on (or ends, if nothing of it is out).
    pub fn none() -> Self {
        Reaction { requests: Vec::new(), end: None }
    }
    /// These requests follow the outcome.
    pub fn follow(requests: Vec<Request>) -> Self {
        Reaction { requests, end: None }
    }
    /// The session's task is over.
    pub fn end(end: TaskEnd) -> Self {
        Reaction { requests: Vec::new(), end: Some(end) }
    }
}

impl Media {
    /// File `index` (in name order) of the folder granted as `dataset`
    /// (`--dataset NAME=DIR`): the host reads and encodes it.
    pub fn granted(dataset: impl Into<String>, index: u64) -> Self {
        Media::Granted(GrantedFile { dataset: dataset.into(), index })
    }
    /// Bytes of type `mime` (e.g. "image/png") held by the scenario.
    pub fn bytes(mime: impl Into<String>, data: Vec<u8>) -> Self {
        Media::Inline(InlineMedia { mime: mime.into(), data })
    }
}

impl ContentPart {
    pub fn text(text: impl Into<String>) -> Self {
        ContentPart::Text(text.into())
    }
    /// An image part (sent as an `image_url` with a `data:` URL).
    pub fn image(media: Media) -> Self {
        ContentPart::Image(ImagePart { media, detail: None })
    }
    /// An image part with OpenAI's `detail` ("low", "high", "auto").
    pub fn image_detail(media: Media, detail: impl Into<String>) -> Self {
        ContentPart::Image(ImagePart { media, detail: Some(detail.into()) })
    }
    /// An audio part (sent as `input_audio`).
    pub fn audio(media: Media) -> Self {
        ContentPart::Audio(media)
    }
}

impl Request {
    /// A chat request (`/v1/chat/completions`), not streamed until [`Request::stream`].
    pub fn chat(messages: Vec<Message>) -> Self {
        Self::with(Api::ChatCompletions, Prompt::Chat(messages))
    }

    /// A chat request whose messages have content parts (text, images, audio).
    pub fn chat_parts(messages: Vec<PartMessage>) -> Self {
        Self::with(Api::ChatCompletions, Prompt::Chat(messages.into_iter().map(Into::into).collect()))
    }

    /// A request to OpenAI's Responses API (`/v1/responses`) of these messages: sent as
    /// input items (messages, the assistant's function calls, their outputs).
    pub fn responses(messages: Vec<Message>) -> Self {
        Self::with(Api::Responses, Prompt::Chat(messages))
    }

    /// A request to Anthropic's Messages API (`/v1/messages`) of these messages: system
    /// messages go to `system`, tool calls and results become content blocks.
    pub fn messages(messages: Vec<Message>) -> Self {
        Self::with(Api::Messages, Prompt::Chat(messages))
    }

    /// The same request to another API (e.g. a chat request to [`Api::Responses`] or
    /// [`Api::Messages`]).
    pub fn api(mut self, api: Api) -> Self {
        self.api = api;
        self
    }

    /// A completion request (`/v1/completions`).
    pub fn completion(prompt: impl Into<String>) -> Self {
        Self::with(Api::Completions, Prompt::Text(prompt.into()))
    }

    /// An OpenAI embeddings request (`/v1/embeddings`) for `input`.
    pub fn embeddings(input: impl Into<String>) -> Self {
        Self::with(Api::Embeddings, Prompt::Text(input.into()))
    }

    /// A TGI native request: `/generate`, or `/generate_stream` once streamed.
    pub fn tgi(inputs: impl Into<String>) -> Self {
        Self::with(Api::TgiGenerate, Prompt::Text(inputs.into()))
    }

    /// A KServe v1 `:predict` request to `model` with a JSON body such as
    /// `{"instances": [[1, 2, 3]]}`.
    pub fn kserve_v1(model: impl Into<String>, body: impl Into<String>) -> Self {
        let mut r = Self::with(Api::KserveV1, Prompt::Text(String::new())).model(model);
        r.body = Some(body.into());
        r
    }

    /// A KServe v2 / Triton `infer` request to `model` with these input tensors.
    pub fn kserve_v2(model: impl Into<String>, inputs: Vec<Tensor>) -> Self {
        let mut r = Self::with(Api::KserveV2, Prompt::Text(String::new())).model(model);
        r.inputs = inputs;
        r
    }

    /// A plain HTTP request: `method` and a `path` relative to the target
    /// (e.g. `GET /predict/hello`). Add a body with [`Request::body`].
    pub fn http(method: impl Into<String>, path: impl Into<String>) -> Self {
        let mut r = Self::with(Api::Http, Prompt::Text(String::new()));
        r.method = Some(method.into());
        r.path = Some(path.into());
        r
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
            inputs: Vec::new(),
            model_version: None,
            body: None,
            method: None,
            path: None,
            batch_size: None,
            gap_ns: None,
            keep_text: false,
            tools: Vec::new(),
            tool_choice: None,
            delay: None,
            history: None,
            key: None,
        }
    }

    /// Chat: the tools the model may call.
    pub fn tools(mut self, tools: Vec<Tool>) -> Self {
        self.tools = tools;
        self
    }

    /// Chat: whether and which tool the model must call.
    pub fn tool_choice(mut self, choice: ToolChoice) -> Self {
        self.tool_choice = Some(choice);
        self
    }

    /// A follow-up (returned from [`react`](crate::Scenario::react)): sent `tool` +
    /// `think` after the outcome it follows, by the host's clock. Reported per task as
    /// tool and think time.
    pub fn delay(mut self, tool: Duration, think: Duration) -> Self {
        self.delay = Some(Delay::new(tool, think));
        self
    }

    /// Chat, in a session whose stage observes outcomes: have the host keep this
    /// conversation, by number within the session (`0` for a task's main thread, others
    /// for sub-agents). The host sends what it kept, then this request's messages; it
    /// keeps both, and the model's answer (text and tool calls) once it arrives. So each
    /// turn carries only what is new (the next user message, the tool results) and the
    /// conversation starts byte for byte as the last turn's did. Send one request of a
    /// history at a time; it is dropped when the session's task ends.
    pub fn history(mut self, n: u32) -> Self {
        self.history = Some(n);
        self
    }

    /// A number of your choosing, given back in this request's outcome
    /// (`Outcome::key`): it tells apart requests of one session in flight at once.
    pub fn key(mut self, key: u64) -> Self {
        self.key = Some(key);
        self
    }

    /// Have the response text in this request's outcome (`Outcome::text`), e.g. to
    /// check it; the plan must observe outcomes.
    pub fn keep_text(mut self, yes: bool) -> Self {
        self.keep_text = yes;
        self
    }

    /// For stages with [`Load::custom`](crate::Load::custom): send this request `gap`
    /// after the previous one's planned send (the first: after the stage's start).
    pub fn gap(mut self, gap: std::time::Duration) -> Self {
        self.gap_ns = Some(nanos(gap));
        self
    }

    /// The body of a KServe v1 or plain HTTP request, sent as is.
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// The model version of a KServe v2 request (`/versions/{v}/infer`).
    pub fn model_version(mut self, v: impl Into<String>) -> Self {
        self.model_version = Some(v.into());
        self
    }

    /// How many inferences the request carries (a client batch of 16 counts 16).
    pub fn batch_size(mut self, n: u32) -> Self {
        self.batch_size = Some(n);
        self
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
        if self.body_extra.is_none() {
            // The common case, once per request: the JSON written as is (keys in the
            // order a merge writes them), no map built in the guest.
            self.body_extra = Some(format!("{{\"ignore_eos\":true,\"min_tokens\":{n}}}"));
            return self;
        }
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

impl Tensor {
    /// A numeric tensor; `datatype` as the model declares it ("FP32", "INT64", ...).
    pub fn numbers(name: impl Into<String>, datatype: &str, shape: Vec<i64>, data: Vec<f64>) -> Self {
        Tensor { name: name.into(), datatype: datatype.into(), shape, data: TensorData::Numbers(data) }
    }

    /// A BYTES tensor of strings.
    pub fn bytes(name: impl Into<String>, shape: Vec<i64>, data: Vec<String>) -> Self {
        Tensor { name: name.into(), datatype: "BYTES".into(), shape, data: TensorData::Strings(data) }
    }

    /// Elements the shape holds.
    pub fn elements(shape: &[i64]) -> usize {
        shape.iter().product::<i64>().max(0) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_output_writes_the_same_body_extra_with_or_without_one_before() {
        let plain = Request::completion("x").exact_output(7);
        let parsed: serde_json::Value = serde_json::from_str(plain.body_extra.as_deref().unwrap()).unwrap();
        assert_eq!(parsed, serde_json::json!({"min_tokens": 7, "ignore_eos": true}));
        let merged = Request::completion("x").body_extra(r#"{"temperature":0}"#).exact_output(7);
        let parsed: serde_json::Value = serde_json::from_str(merged.body_extra.as_deref().unwrap()).unwrap();
        assert_eq!(parsed, serde_json::json!({"min_tokens": 7, "ignore_eos": true, "temperature": 0}));
        assert_eq!(plain.max_tokens, Some(7));
    }
}
