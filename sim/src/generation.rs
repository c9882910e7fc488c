//! One simulated generation: what a completion, chat or TGI request asked for (sizes,
//! streaming, usage), its timing with jitter, and how each chunk and the whole body
//! are rendered.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use serde::Deserialize;
use serde_json::{Value, json};
use volley_core::rng::{Rng, Stream};

use super::Shared;
use super::agents::{self, ToolCall, ToolRequest};
use super::content::texts;
use super::prefix_cache::BlockKeys;

/// Mixed into a request's seed for its tool-call draws.
const TOOL_STREAM: u64 = 0x7001_ca11_0000_0000;

/// Token texts; each generated token is one of these words.
const WORDS: &[&str] = &[
    " the",
    " quick",
    " brown",
    " fox",
    " jumps",
    " over",
    " a",
    " lazy",
    " dog",
    " while",
    " volley",
    " measures",
    " every",
    " token",
    " as",
    " it",
    " arrives",
    " on",
    " time",
];

/// Which API a generation answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    Completion,
    Chat,
    Tgi,
}

/// Whose wire format a chat-like generation answers in: OpenAI's chat completions, or
/// a request of OpenAI's Responses API or Anthropic's Messages API translated into
/// chat messages (see `responses_api.rs` and `messages_api.rs`). Those two have no
/// reasoning output nor `SimConfig::tool_calls`'s `lookup` answer, and Messages'
/// tool-call ids are Anthropic's `toolu_` ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Dialect {
    #[default]
    Chat,
    Responses,
    Messages,
}

#[derive(Deserialize)]
pub(crate) struct SimRequest {
    #[serde(default)]
    pub model: Option<String>,
    /// TGI
    #[serde(default)]
    pub inputs: Option<Value>,
    #[serde(default)]
    parameters: Option<TgiParameters>,
    #[serde(default)]
    pub prompt: Option<Value>,
    #[serde(default)]
    pub messages: Option<Vec<Value>>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    max_completion_tokens: Option<u32>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    /// Chat: the tools offered (OpenAI's `[{"type": "function", "function": {...}}]`).
    #[serde(default)]
    tools: Option<Vec<Value>>,
    #[serde(default)]
    tool_choice: Option<Value>,
    #[serde(default)]
    parallel_tool_calls: Option<bool>,
    /// Set by the Responses and Messages handlers, never read from a body.
    #[serde(skip)]
    dialect: Dialect,
}

/// A chat request built from another API's request: its messages and tools already in
/// chat form.
pub(crate) struct Translated {
    pub model: Option<String>,
    pub messages: Vec<Value>,
    pub tools: Option<Vec<Value>>,
    pub tool_choice: Option<Value>,
    pub parallel_tool_calls: Option<bool>,
    pub max_tokens: Option<u32>,
    pub stream: bool,
}

impl SimRequest {
    /// The chat request a Responses or Messages request amounts to.
    pub(crate) fn translated(t: Translated, dialect: Dialect) -> Self {
        SimRequest {
            model: t.model,
            inputs: None,
            parameters: None,
            prompt: None,
            messages: Some(t.messages),
            max_tokens: t.max_tokens,
            max_completion_tokens: None,
            stream: Some(t.stream),
            stream_options: None,
            tools: t.tools,
            tool_choice: t.tool_choice,
            parallel_tool_calls: t.parallel_tool_calls,
            dialect,
        }
    }

    /// The prompt's tokens as block keys of the prefix cache, counted as for usage.
    fn block_keys(&self, flavor: Flavor, block_tokens: u32, tokenizer: Option<&volley_data::Tokenizer>) -> BlockKeys {
        let mut keys = BlockKeys::new(block_tokens);
        match (&self.prompt, &self.messages, &self.inputs) {
            (Some(p), _, _) | (None, None, Some(p)) => texts(p).for_each(|t| keys.text(t, tokenizer)),
            (None, Some(msgs), _) if flavor == Flavor::Chat => keys.messages(msgs, tokenizer),
            (None, Some(msgs), _) => msgs.iter().filter_map(|m| m.get("content")).flat_map(texts).for_each(|t| keys.text(t, tokenizer)),
            _ => {}
        }
        keys
    }
}

/// What a chat answer is made of after any reasoning.
enum Answer {
    /// Content (also the only answer of completions and TGI).
    Text,
    /// `SimConfig::tool_calls`: one call of `lookup`, its arguments the generated text.
    Lookup,
    /// Calls of the offered tools, each one's arguments streamed in a few pieces.
    Tools(Vec<ToolCall>),
}

#[derive(Deserialize)]
struct TgiParameters {
    #[serde(default)]
    max_new_tokens: Option<u32>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

/// One simulated generation: its sizes, timing and how to render it.
pub(crate) struct Generation {
    flavor: Flavor,
    id: u64,
    /// The model name as a JSON string literal, quotes included.
    model_json: String,
    pub tokens: u32,
    tokens_per_chunk: u32,
    prompt_tokens: u32,
    include_usage: bool,
    usage_in_body: bool,
    /// Chat: output tokens streamed as reasoning before the answer.
    reasoning: u32,
    answer: Answer,
    /// Streamed chunks (events that carry output).
    chunks: u32,
    cached: u32,
    /// The prefix cache is on: usage always says how many prompt tokens it served.
    report_cached: bool,
    /// Prefill time of the prompt tokens not served from the prefix cache.
    prefill: Duration,
    /// Chunks carry their send instants as text.
    stamp: bool,
    /// Output words come from this tokenizer's single-token words, if set.
    words: Option<std::sync::Arc<volley_data::Tokenizer>>,
    ttft: Duration,
    itl: Duration,
    jitter: f64,
    rng: Rng,
}

impl Generation {
    pub fn new(r: &SimRequest, flavor: Flavor, shared: &Shared) -> Self {
        let c = &shared.config;
        let id = shared.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let model = r.model.as_deref().unwrap_or(&c.model);
        let count = |v: &Value| texts(v).map(|s| shared.count_tokens(s)).sum::<u32>();
        let images = r.messages.iter().flatten().filter_map(|m| m.get("content")?.as_array()).flatten();
        let images = images.filter(|part| part.get("type").and_then(Value::as_str) == Some("image_url")).count();
        if images > 0 {
            shared.stats.image_parts.fetch_add(images as u64, std::sync::atomic::Ordering::Relaxed);
        }
        let prompt_tokens = match (&r.prompt, &r.messages, &r.inputs) {
            (Some(p), _, _) | (None, None, Some(p)) => count(p),
            (None, Some(msgs), _) => msgs.iter().map(|m| m.get("content").map_or(0, count)).sum(),
            _ => 0,
        };
        let requested = match flavor {
            Flavor::Tgi => r.parameters.as_ref().and_then(|p| p.max_new_tokens),
            _ => r.max_tokens.or(r.max_completion_tokens),
        };
        let requested = requested.unwrap_or(c.default_output_tokens);
        let chat = flavor == Flavor::Chat;
        let tokens_per_chunk = if flavor == Flavor::Tgi { 1 } else { c.tokens_per_chunk.max(1) };
        let cached = match &shared.prefix_cache {
            Some(cache) => {
                let keys = r.block_keys(flavor, c.block_tokens, c.tokenizer.as_deref());
                let lookup = cache.lock().unwrap_or_else(|p| p.into_inner()).lookup_and_insert(&keys.keys);
                shared.stats.count_prefix_lookup(keys.tokens, lookup.cached_tokens, lookup.evictions);
                lookup.cached_tokens.min(prompt_tokens)
            }
            None => c.cached_tokens.min(prompt_tokens),
        };
        let prefill = c.prefill_per_token.saturating_mul(prompt_tokens - cached);
        let offered = r.tools.as_deref().is_some_and(|t| !t.is_empty());
        let answer = match chat {
            false => Answer::Text,
            true if offered => {
                let request = ToolRequest {
                    tools: r.tools.as_deref(),
                    tool_choice: r.tool_choice.as_ref(),
                    parallel_tool_calls: r.parallel_tool_calls,
                    messages: r.messages.as_deref(),
                };
                // A stream of its own, so tool decisions never shift the jitter's draws.
                let mut rng = Rng::new(c.seed ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ TOOL_STREAM, Stream::Simulator);
                match agents::plan(&request, c.tool_call_rate, &c.parallel_tools, id, &mut rng) {
                    Some(mut calls) => {
                        if r.dialect == Dialect::Messages {
                            for k in &mut calls {
                                k.id = format!("toolu_{}", k.id.trim_start_matches("call_"));
                            }
                        }
                        Answer::Tools(calls)
                    }
                    None => Answer::Text,
                }
            }
            true if c.tool_calls && r.dialect == Dialect::Chat => Answer::Lookup,
            true => Answer::Text,
        };
        let reasoning = if chat && r.dialect == Dialect::Chat { c.reasoning_tokens.min(requested) } else { 0 };
        // A tool-call answer is its reasoning, then one chunk per argument piece.
        let (tokens, chunks) = match &answer {
            Answer::Tools(calls) => {
                let pieces: u32 = calls.iter().map(|k| k.pieces.len() as u32).sum();
                (reasoning.saturating_add(pieces.saturating_mul(tokens_per_chunk)), reasoning.div_ceil(tokens_per_chunk) + pieces)
            }
            _ => (requested, requested.div_ceil(tokens_per_chunk)),
        };
        let issued: Vec<String> = match &answer {
            Answer::Text => Vec::new(),
            Answer::Lookup => vec![format!("call_sim_{id}")],
            Answer::Tools(calls) => calls.iter().map(|k| k.id.clone()).collect(),
        };
        if !issued.is_empty() {
            shared.issued_ids.issue(issued.iter().map(String::as_str));
            shared.stats.tool_calls_issued.fetch_add(issued.len() as u64, std::sync::atomic::Ordering::Relaxed);
            shared.stats.tool_call_answers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Generation {
            flavor,
            id,
            model_json: serde_json::to_string(model).unwrap_or_else(|_| "\"volley-sim\"".into()),
            tokens,
            // TGI streams one token per event.
            tokens_per_chunk,
            prompt_tokens,
            include_usage: c.usage && r.stream_options.as_ref().and_then(|o| o.include_usage).unwrap_or(false),
            usage_in_body: c.usage,
            reasoning,
            answer,
            chunks,
            cached,
            report_cached: shared.prefix_cache.is_some(),
            prefill,
            stamp: c.stamp_chunks,
            words: c.tokenizer.clone(),
            ttft: c.ttft,
            itl: c.itl,
            jitter: c.jitter.clamp(0.0, 1.0),
            rng: Rng::new(c.seed ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15), Stream::Simulator),
        }
    }

    pub fn chunks(&self) -> u32 {
        self.chunks
    }

    /// The request's number, unique in this simulator (ids are made of it).
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The model name the request gave (else the configured one).
    pub(crate) fn model(&self) -> Value {
        serde_json::from_str(&self.model_json).unwrap_or(Value::Null)
    }

    pub(crate) fn prompt_tokens(&self) -> u32 {
        self.prompt_tokens
    }

    /// Prompt tokens served from the prefix cache (or the configured `cached_tokens`).
    pub(crate) fn cached_tokens(&self) -> u32 {
        self.cached
    }

    /// `SimConfig::usage`: whether answers carry usage at all.
    pub(crate) fn reports_usage(&self) -> bool {
        self.usage_in_body
    }

    /// The tool calls the answer is made of, if it is one.
    pub(crate) fn tool_calls(&self) -> Option<&[ToolCall]> {
        match &self.answer {
            Answer::Tools(calls) => Some(calls),
            _ => None,
        }
    }

    /// The tokens chunk `i` carries, `from..to`.
    pub(crate) fn chunk_tokens(&self, i: u32) -> (u32, u32) {
        let from = i.saturating_mul(self.tokens_per_chunk).min(self.tokens);
        (from, from.saturating_add(self.tokens_per_chunk).min(self.tokens))
    }

    /// For a tool-call answer, which call and which piece of its arguments chunk `i`
    /// carries (`None` for a reasoning chunk or past the end).
    pub(crate) fn call_piece(&self, i: u32) -> Option<(usize, usize)> {
        let Answer::Tools(calls) = &self.answer else { return None };
        let mut p = i.checked_sub(self.reasoning.div_ceil(self.tokens_per_chunk))? as usize;
        for (k, call) in calls.iter().enumerate() {
            if p < call.pieces.len() {
                return Some((k, p));
            }
            p -= call.pieces.len();
        }
        None
    }

    fn jittered(&mut self, d: Duration) -> Duration {
        if self.jitter == 0.0 || d.is_zero() {
            return d;
        }
        let factor = 1.0 + self.jitter * (2.0 * self.rng.next_f64() - 1.0);
        d.mul_f64(factor.max(0.0))
    }

    /// TTFT: the configured one plus the prefill of the uncached prompt tokens.
    pub fn first_delay(&mut self) -> Duration {
        self.jittered(self.ttft + self.prefill)
    }

    pub fn next_gap(&mut self) -> Duration {
        self.jittered(self.itl)
    }

    pub fn total_delay(&mut self) -> Duration {
        let mut d = self.first_delay();
        for _ in 1..self.chunks() {
            d += self.next_gap();
        }
        d
    }

    fn token_text(&self, j: u32) -> &str {
        let k = self.id + u64::from(j);
        match &self.words {
            // Words of a few letters: no JSON escaping needed.
            Some(t) => &t.words()[(k % t.words().len().min(256) as u64) as usize],
            None => WORDS[(k % WORDS.len() as u64) as usize],
        }
    }

    /// A streamed chunk's text: tokens `from..to`, or with stamping its send instant.
    pub(crate) fn piece(&self, from: u32, to: u32) -> String {
        if !self.stamp {
            return self.text(from, to);
        }
        let us = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros());
        format!(" {us}")
    }

    pub(crate) fn text(&self, from: u32, to: u32) -> String {
        (from..to).map(|j| self.token_text(j)).collect()
    }

    fn head(&self, buf: &mut BytesMut) {
        let (prefix, object) =
            if self.flavor == Flavor::Chat { ("chatcmpl", "chat.completion.chunk") } else { ("cmpl", "text_completion") };
        let _ = std::fmt::Write::write_fmt(
            &mut Writer(buf),
            format_args!(
                "data: {{\"id\":\"{prefix}-sim-{}\",\"object\":\"{object}\",\"created\":0,\"model\":{},",
                self.id, self.model_json
            ),
        );
    }

    /// Chunk `i` (0-based) as one SSE event; the last one carries the finish reason.
    pub fn write_chunk(&self, buf: &mut BytesMut, i: u32) {
        let from = i * self.tokens_per_chunk;
        let to = (from + self.tokens_per_chunk).min(self.tokens);
        let text = self.piece(from, to);
        let last = i + 1 == self.chunks();
        if self.flavor == Flavor::Tgi {
            // The last token's event carries the whole text and the details.
            let (generated, details) = match last {
                true => (
                    serde_json::to_string(&self.text(0, self.tokens)).unwrap_or_default(),
                    format!("{{\"finish_reason\":\"length\",\"generated_tokens\":{},\"seed\":null}}", self.tokens),
                ),
                false => ("null".to_string(), "null".to_string()),
            };
            let event = format!(
                "data: {{\"index\":{i},\"token\":{{\"id\":{i},\"text\":\"{text}\",\"logprob\":-0.1,\"special\":false}},\"generated_text\":{generated},\"details\":{details}}}\n\n"
            );
            buf.put_slice(event.as_bytes());
            return;
        }
        if let Answer::Tools(calls) = &self.answer {
            return self.write_tool_chunk(buf, i, calls);
        }
        let lookup = matches!(self.answer, Answer::Lookup);
        let finish = match (last, lookup) {
            (false, _) => "null",
            (true, false) => "\"length\"",
            (true, true) => "\"tool_calls\"",
        };
        self.head(buf);
        let choice = if self.flavor == Flavor::Chat {
            let role = if i == 0 { "\"role\":\"assistant\"," } else { "" };
            let delta = self.chat_delta(from, to);
            format!("\"choices\":[{{\"index\":0,\"delta\":{{{role}{delta}}},\"finish_reason\":{finish}}}]}}\n\n")
        } else {
            format!("\"choices\":[{{\"index\":0,\"text\":\"{text}\",\"finish_reason\":{finish}}}]}}\n\n")
        };
        buf.put_slice(choice.as_bytes());
    }

    /// The fields of a chat delta carrying tokens `from..to`: reasoning first, then the
    /// answer as content or as the arguments of one tool call (its first piece names it).
    fn chat_delta(&self, from: u32, to: u32) -> String {
        let split = self.reasoning.clamp(from, to);
        let mut fields = Vec::with_capacity(2);
        if from < split {
            fields.push(format!("\"reasoning_content\":\"{}\"", self.text(from, split)));
        }
        if split < to || fields.is_empty() {
            let answer = self.piece(split, to);
            if !matches!(self.answer, Answer::Lookup) {
                fields.push(format!("\"content\":\"{answer}\""));
            } else if split == self.reasoning {
                fields.push(format!(
                    "\"tool_calls\":[{{\"index\":0,\"id\":\"call_sim_{}\",\"type\":\"function\",\"function\":{{\"name\":\"lookup\",\"arguments\":\"{answer}\"}}}}]",
                    self.id
                ));
            } else {
                fields.push(format!("\"tool_calls\":[{{\"index\":0,\"function\":{{\"arguments\":\"{answer}\"}}}}]"));
            }
        }
        fields.join(",")
    }

    /// Chunk `i` of a tool-call answer: a reasoning chunk, or one piece of a call's
    /// arguments, led by the event that opens the call (its id, type and name) when it
    /// is the call's first piece; the last event carries `finish_reason: "tool_calls"`.
    fn write_tool_chunk(&self, buf: &mut BytesMut, i: u32, calls: &[ToolCall]) {
        let tpc = self.tokens_per_chunk;
        let reasoning_chunks = self.reasoning.div_ceil(tpc);
        let finish = if i + 1 == self.chunks { "\"tool_calls\"" } else { "null" };
        let role = if i == 0 { "\"role\":\"assistant\"," } else { "" };
        let event = |buf: &mut BytesMut, role: &str, delta: &str, finish: &str| {
            self.head(buf);
            let choice = format!("\"choices\":[{{\"index\":0,\"delta\":{{{role}{delta}}},\"finish_reason\":{finish}}}]}}\n\n");
            buf.put_slice(choice.as_bytes());
        };
        if i < reasoning_chunks {
            let from = i * tpc;
            let delta = format!("\"reasoning_content\":\"{}\"", self.text(from, (from + tpc).min(self.reasoning)));
            return event(buf, role, &delta, finish);
        }
        let Some((k, p)) = self.call_piece(i) else { return };
        let call = &calls[k];
        let json = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
        let mut role = role;
        if p == 0 {
            let open = format!(
                "\"tool_calls\":[{{\"index\":{k},\"id\":{},\"type\":\"function\",\"function\":{{\"name\":{},\"arguments\":\"\"}}}}]",
                json(&call.id),
                json(&call.name)
            );
            event(buf, role, &open, "null");
            role = "";
        }
        let (a, b) = call.pieces[p];
        let piece = format!("\"tool_calls\":[{{\"index\":{k},\"function\":{{\"arguments\":{}}}}}]", json(&call.arguments[a..b]));
        event(buf, role, &piece, finish);
    }

    /// After the last chunk: a finish event when nothing was generated, and the usage
    /// chunk when the client asked for it.
    pub fn write_end(&self, buf: &mut BytesMut) {
        if self.flavor == Flavor::Tgi {
            if self.chunks() == 0 {
                let end = "data: {\"index\":0,\"token\":{\"id\":0,\"text\":\"\",\"logprob\":0.0,\"special\":true},\"generated_text\":\"\",\"details\":{\"finish_reason\":\"length\",\"generated_tokens\":0,\"seed\":null}}\n\n";
                buf.put_slice(end.as_bytes());
            }
            return;
        }
        if self.chunks() == 0 {
            self.head(buf);
            let choice = if self.flavor == Flavor::Chat {
                "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n"
            } else {
                "\"choices\":[{\"index\":0,\"text\":\"\",\"finish_reason\":\"length\"}]}\n\n"
            };
            buf.put_slice(choice.as_bytes());
        }
        if self.include_usage {
            self.head(buf);
            let usage = format!("\"choices\":[],\"usage\":{}}}\n\n", self.usage());
            buf.put_slice(usage.as_bytes());
        }
    }

    fn usage(&self) -> Value {
        let mut u = json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.tokens,
            "total_tokens": self.prompt_tokens + self.tokens,
        });
        if self.reasoning > 0 {
            u["completion_tokens_details"] = json!({"reasoning_tokens": self.reasoning});
        }
        if self.cached > 0 || self.report_cached {
            u["prompt_tokens_details"] = json!({"cached_tokens": self.cached});
        }
        u
    }

    pub fn whole_body(&self) -> Bytes {
        let text = self.text(0, self.tokens);
        let model: Value = serde_json::from_str(&self.model_json).unwrap_or(Value::Null);
        if self.flavor == Flavor::Tgi {
            let v = json!({"generated_text": text,
                           "details": {"finish_reason": "length", "generated_tokens": self.tokens, "seed": null}});
            return Bytes::from(serde_json::to_vec(&v).unwrap_or_default());
        }
        let mut v = if self.flavor == Flavor::Chat {
            let answer = self.text(self.reasoning, self.tokens);
            let mut message = json!({"role": "assistant", "content": answer});
            if self.reasoning > 0 {
                message["reasoning_content"] = json!(self.text(0, self.reasoning));
            }
            match &self.answer {
                Answer::Text => {}
                Answer::Lookup => {
                    message["content"] = Value::Null;
                    message["tool_calls"] = json!([{"index": 0, "id": format!("call_sim_{}", self.id), "type": "function",
                                                    "function": {"name": "lookup", "arguments": answer}}]);
                }
                Answer::Tools(calls) => {
                    message["content"] = Value::Null;
                    let calls: Vec<Value> = calls
                        .iter()
                        .map(|k| json!({"id": k.id, "type": "function", "function": {"name": k.name, "arguments": k.arguments}}))
                        .collect();
                    message["tool_calls"] = Value::Array(calls);
                }
            }
            let finish = if matches!(self.answer, Answer::Text) { "length" } else { "tool_calls" };
            json!({
                "id": format!("chatcmpl-sim-{}", self.id), "object": "chat.completion", "created": 0, "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            })
        } else {
            json!({
                "id": format!("cmpl-sim-{}", self.id), "object": "text_completion", "created": 0, "model": model,
                "choices": [{"index": 0, "text": text, "finish_reason": "length"}],
            })
        };
        if self.usage_in_body {
            v["usage"] = self.usage();
        }
        Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
    }
}

struct Writer<'a>(&'a mut BytesMut);

impl std::fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.put_slice(s.as_bytes());
        Ok(())
    }
}
