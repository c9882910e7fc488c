//! The per-request record: everything measured about one request, kept as it completes
//! (a line of `requests.jsonl`) and folded into the stage's histograms.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::outcome::{ErrorClass, Outcome};
use crate::request::Api;

/// Where a request's output token count came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenSource {
    /// The server's `usage.completion_tokens`.
    Usage,
    /// Counted with the run's tokenizer from the received text (no usage was sent).
    Tokenizer,
    /// Counted as one token per streamed chunk with text (no usage, no tokenizer).
    Chunks,
    /// Neither: a non-streamed response without usage.
    None,
}

impl TokenSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenSource::Usage => "usage",
            TokenSource::Tokenizer => "tokenizer",
            TokenSource::Chunks => "chunks",
            TokenSource::None => "none",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub stage: u32,
    pub seq: u64,
    pub api: Api,
    pub stream: bool,
    pub tag: Option<Arc<str>>,
    pub model: Option<Arc<str>>,
    /// Inferences the request carried.
    pub batch_size: u32,
    pub session: Option<u64>,
    pub max_tokens: Option<u32>,
    /// When the schedule said to send.
    pub planned: Instant,
    /// When the request was handed to the connection; None if it never was.
    pub sent: Option<Instant>,
    pub first_token: Option<Instant>,
    pub done: Instant,
    pub status: u16,
    pub error: Option<ErrorClass>,
    pub error_message: Option<String>,
    /// Gaps between consecutive chunks that carried text, in microseconds.
    pub itl_us: Vec<u32>,
    /// Streamed events that carried text.
    pub text_chunks: u32,
    pub output_tokens: u32,
    pub token_source: TokenSource,
    /// The server's prompt-token count (`usage.prompt_tokens`).
    pub prompt_tokens: Option<u32>,
    /// Prompt tokens the server served from its prefix cache, when it says.
    pub cached_tokens: Option<u32>,
    /// The prompt length the scenario intended.
    pub requested_prompt_tokens: Option<u32>,
    /// Generated text, kept for sessions, token counting and `--record-text`.
    pub text: Option<String>,
    /// Byte length of `text` after each chunk that carried text (with `text`).
    pub chunk_ends: Vec<u32>,
    /// Tokens that arrived in each text chunk, once the collector has counted them.
    pub chunk_tokens: Option<Vec<u32>>,
    /// The request body, kept for `--record-text`.
    pub request_body: Option<Bytes>,
}

impl RequestRecord {
    pub fn new(stage: u32, seq: u64, api: Api, stream: bool, planned: Instant) -> Self {
        RequestRecord {
            stage,
            seq,
            api,
            stream,
            tag: None,
            model: None,
            batch_size: 1,
            session: None,
            max_tokens: None,
            planned,
            sent: None,
            first_token: None,
            done: planned,
            status: 0,
            error: None,
            error_message: None,
            itl_us: Vec::new(),
            text_chunks: 0,
            output_tokens: 0,
            token_source: TokenSource::None,
            prompt_tokens: None,
            cached_tokens: None,
            requested_prompt_tokens: None,
            text: None,
            chunk_ends: Vec::new(),
            chunk_tokens: None,
            request_body: None,
        }
    }

    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    /// Records the first failure; later ones do not overwrite the cause.
    pub fn fail(&mut self, class: ErrorClass, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(class);
            self.error_message = Some(message.into());
        }
    }

    pub fn ttft(&self) -> Option<Duration> {
        Some(self.first_token?.saturating_duration_since(self.sent?))
    }

    pub fn latency(&self) -> Option<Duration> {
        Some(self.done.saturating_duration_since(self.sent?))
    }

    /// Actual send minus planned send.
    pub fn schedule_lag(&self) -> Option<Duration> {
        Some(self.sent?.saturating_duration_since(self.planned))
    }

    /// Time per output token after the first: (latency − TTFT) / (tokens − 1).
    pub fn tpot(&self) -> Option<Duration> {
        let (ttft, latency) = (self.ttft()?, self.latency()?);
        (self.output_tokens > 1).then(|| (latency - ttft.min(latency)) / (self.output_tokens - 1))
    }

    pub fn outcome(&self) -> Outcome {
        Outcome {
            stage: self.stage,
            seq: self.seq,
            session: self.session,
            ok: self.ok(),
            status: self.status,
            error: self.error,
            ttft: self.ttft(),
            latency: self.latency().unwrap_or_default(),
            output_tokens: self.output_tokens,
            prompt_tokens: self.prompt_tokens,
            text: if self.session.is_some() { self.text.clone() } else { None },
        }
    }
}
