//! What one response event (or a whole non-streamed body) carried, as every protocol's
//! reader reports it: output bytes by kind, tool calls, the end, usage, an error. The
//! OpenAI reader, its one-pass scanner and the reader by difference all fill it in.

use serde::Deserialize;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: Option<u32>,
    #[serde(default)]
    pub completion_tokens: Option<u32>,
    #[serde(default)]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    #[serde(default)]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
}

/// OpenAI, vLLM and SGLang count the thinking part of the output here.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct CompletionTokensDetails {
    #[serde(default)]
    pub reasoning_tokens: Option<u32>,
}

/// vLLM, SGLang and llama.cpp report prefix-cache hits here.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct PromptTokensDetails {
    #[serde(default)]
    pub cached_tokens: Option<u32>,
}

/// What one event (or a whole non-streamed body) carried.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Bytes of generated text (answer and reasoning) in this event.
    pub text_bytes: usize,
    /// Of those, bytes of reasoning (`reasoning_content`, `reasoning`).
    pub reasoning_bytes: usize,
    /// Bytes of tool-call names and arguments.
    pub tool_bytes: usize,
    /// Tool-call entries in this event, and of those, how many carried an id.
    pub tool_call_entries: u32,
    pub tool_calls_started: u32,
    /// The highest tool-call `index` seen, plus one (0: none had an index).
    pub tool_call_slots: u32,
    pub finished: bool,
    pub usage: Option<Usage>,
    /// The server reported an error in the body.
    pub error: Option<String>,
    /// Tokens the event is known to carry (TGI: one per event); 0 when unknown.
    pub tokens: u32,
}

impl Parsed {
    /// The event carried generated output of any kind: answer or reasoning text, a
    /// tool call, or a token without text. A role-only or empty chunk carries none.
    pub fn has_output(&self) -> bool {
        self.text_bytes > 0 || self.tool_bytes > 0 || self.tokens > 0
    }

    /// The output was (partly) answer: not reasoning only.
    pub fn has_answer(&self) -> bool {
        self.text_bytes > self.reasoning_bytes || self.tool_bytes > 0 || (self.tokens > 0 && self.reasoning_bytes == 0)
    }

    /// More of the output was reasoning than answer.
    pub fn mostly_reasoning(&self) -> bool {
        self.reasoning_bytes > 0 && 2 * self.reasoning_bytes >= self.text_bytes + self.tool_bytes
    }
}
