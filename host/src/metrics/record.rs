//! The per-request record: everything measured about one request, kept as it completes
//! (a line of `requests.jsonl`) and folded into the stage's histograms.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::model::{Api, ErrorClass, GuestOutcome};
use crate::util::ms;

/// Where a request's output token count came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

    pub fn guest_outcome(&self) -> GuestOutcome {
        GuestOutcome {
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

    /// The JSONL view, times relative to the run's start.
    pub fn line<'a>(&'a self, stage_name: &'a str, epoch: Instant) -> RecordLine<'a> {
        let rel = |t: Instant| ms(t.saturating_duration_since(epoch));
        RecordLine {
            stage: self.stage,
            stage_name,
            seq: self.seq,
            tag: self.tag.as_deref(),
            model: self.model.as_deref(),
            batch_size: self.batch_size,
            session: self.session,
            api: self.api,
            stream: self.stream,
            ok: self.ok(),
            status: self.status,
            error: self.error,
            error_message: self.error_message.as_deref(),
            planned_ms: rel(self.planned),
            sent_ms: self.sent.map(rel),
            schedule_lag_ms: self.schedule_lag().map(ms),
            ttft_ms: self.ttft().map(ms),
            latency_ms: self.latency().map(ms),
            latency_from_planned_ms: ms(self.done.saturating_duration_since(self.planned)),
            tpot_ms: self.tpot().map(ms),
            max_tokens: self.max_tokens,
            output_tokens: self.output_tokens,
            token_source: self.token_source,
            prompt_tokens: self.prompt_tokens,
            requested_prompt_tokens: self.requested_prompt_tokens,
            cached_tokens: self.cached_tokens,
            text_chunks: self.text_chunks,
            chunk_tokens: self.chunk_tokens.as_deref(),
            itl_ms: ItlMs(&self.itl_us),
            request_body: None,
            response_text: None,
            excluded: false,
        }
    }

    /// [`RequestRecord::line`] plus the request body and the response text.
    pub fn line_with_text<'a>(&'a self, stage_name: &'a str, epoch: Instant) -> RecordLine<'a> {
        let mut line = self.line(stage_name, epoch);
        line.request_body = self
            .request_body
            .as_ref()
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|s| serde_json::from_str::<&RawValue>(s).ok());
        line.response_text = self.text.as_deref();
        line
    }
}

#[derive(Serialize)]
pub struct RecordLine<'a> {
    pub stage: u32,
    pub stage_name: &'a str,
    pub seq: u64,
    pub tag: Option<&'a str>,
    pub model: Option<&'a str>,
    pub batch_size: u32,
    pub session: Option<u64>,
    pub api: Api,
    pub stream: bool,
    pub ok: bool,
    pub status: u16,
    pub error: Option<ErrorClass>,
    pub error_message: Option<&'a str>,
    pub planned_ms: f64,
    pub sent_ms: Option<f64>,
    pub schedule_lag_ms: Option<f64>,
    pub ttft_ms: Option<f64>,
    pub latency_ms: Option<f64>,
    pub latency_from_planned_ms: f64,
    pub tpot_ms: Option<f64>,
    pub max_tokens: Option<u32>,
    pub output_tokens: u32,
    pub token_source: TokenSource,
    pub prompt_tokens: Option<u32>,
    pub requested_prompt_tokens: Option<u32>,
    pub cached_tokens: Option<u32>,
    pub text_chunks: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_tokens: Option<&'a [u32]>,
    pub itl_ms: ItlMs<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_text: Option<&'a str>,
    /// Sent in the stage's warm-up or cool-down window: kept here, not in the statistics.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub excluded: bool,
}

/// Serializes microsecond gaps as milliseconds without an intermediate vector.
pub struct ItlMs<'a>(&'a [u32]);

impl Serialize for ItlMs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|&us| f64::from(us) / 1000.0))
    }
}
