//! The per-request record: everything measured about one request, kept as it completes
//! (a line of `requests.jsonl`) and folded into the stage's histograms.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::outcome::{ErrorClass, Outcome};
use crate::request::{Api, Delay, ToolCall};

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
    /// The scenario's number for the request, given back in its outcome.
    pub key: Option<u64>,
    /// The scenario asked for the response text in the outcome.
    pub keep_text: bool,
    pub max_tokens: Option<u32>,
    /// When the schedule said to send.
    pub planned: Instant,
    /// When the request was handed to the connection; None if it never was.
    pub sent: Option<Instant>,
    /// The request opened its connection, which took this long to connect and, for
    /// https, to finish the TLS handshake (µs); reused connections paid neither.
    pub new_connection: bool,
    pub connect_us: Option<u32>,
    pub tls_us: Option<u32>,
    /// The request's last bytes were written to the socket.
    pub written: Option<Instant>,
    /// The answer's first bytes were read.
    pub first_byte: Option<Instant>,
    /// The response headers were parsed.
    pub headers: Option<Instant>,
    /// The first event that carried output of any kind (answer, reasoning, tool call).
    pub first_token: Option<Instant>,
    /// The first event that carried answer output (not reasoning only).
    pub first_answer: Option<Instant>,
    pub done: Instant,
    pub status: u16,
    pub error: Option<ErrorClass>,
    pub error_message: Option<String>,
    /// Gaps between consecutive chunks that carried text, in microseconds.
    pub itl_us: Vec<u32>,
    /// Streamed events that carried output (text, reasoning or a tool call).
    pub text_chunks: u32,
    /// Of those, the ones that were mostly reasoning.
    pub reasoning_chunks: u32,
    /// Per output chunk, whether it was mostly reasoning; kept only with `text` and only
    /// once a reasoning chunk arrived (missing entries at the end are answer chunks).
    pub chunk_reasoning: Vec<bool>,
    pub output_tokens: u32,
    pub token_source: TokenSource,
    /// Output tokens that were reasoning, when known (the server's
    /// `completion_tokens_details.reasoning_tokens`, else the tokenizer, else chunks).
    pub reasoning_tokens: Option<u32>,
    /// Where `reasoning_tokens` came from.
    pub reasoning_source: TokenSource,
    /// Tool calls the response made.
    pub tool_calls: u32,
    /// Those calls (id, name, arguments joined from the streamed pieces), kept for
    /// requests with a session or `keep_text`.
    pub calls: Vec<ToolCall>,
    /// The server's finish reason, kept with `calls`.
    pub finish_reason: Option<String>,
    /// The request's place in its session: 1 for the session's first request.
    pub turn: Option<u32>,
    /// A follow-up's wait after the outcome it followed (its planned instant is that
    /// outcome's completion plus this).
    pub delay: Option<Delay>,
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
            key: None,
            keep_text: false,
            max_tokens: None,
            planned,
            sent: None,
            new_connection: false,
            connect_us: None,
            tls_us: None,
            written: None,
            first_byte: None,
            headers: None,
            first_token: None,
            first_answer: None,
            done: planned,
            status: 0,
            error: None,
            error_message: None,
            itl_us: Vec::new(),
            text_chunks: 0,
            reasoning_chunks: 0,
            chunk_reasoning: Vec::new(),
            output_tokens: 0,
            token_source: TokenSource::None,
            reasoning_tokens: None,
            reasoning_source: TokenSource::None,
            tool_calls: 0,
            calls: Vec::new(),
            finish_reason: None,
            turn: None,
            delay: None,
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

    /// From the send to `at` (a moment of the exchange), if both are known.
    pub fn since_sent(&self, at: Option<Instant>) -> Option<Duration> {
        Some(at?.saturating_duration_since(self.sent?))
    }

    /// Time to first output token (TTFO): the first answer, reasoning excluded.
    pub fn ttfo(&self) -> Option<Duration> {
        Some(self.first_answer?.saturating_duration_since(self.sent?))
    }

    /// Time to second token (TTST): to the event that carried the second output token.
    /// Tokens per event are the tokenizer's counts when there are some, else the output
    /// count spread evenly over the events, else one per event. None with fewer than two
    /// output tokens.
    pub fn ttst(&self) -> Option<Duration> {
        let ttft = self.ttft()?;
        if self.output_tokens < 2 || self.text_chunks == 0 {
            return None;
        }
        // The index of the chunk where the running token count reaches two.
        let chunk = match &self.chunk_tokens {
            Some(counts) => {
                let mut total = 0u32;
                counts.iter().position(|&n| {
                    total += n;
                    total >= 2
                })?
            }
            None => {
                let per_chunk = f64::from(self.output_tokens) / f64::from(self.text_chunks);
                ((2.0 / per_chunk).ceil() as usize).max(1) - 1
            }
        };
        let gaps = self.itl_us.get(..chunk)?;
        Some(ttft + Duration::from_micros(gaps.iter().map(|&g| u64::from(g)).sum()))
    }

    /// Output tokens that were answer, when the reasoning count is known.
    pub fn answer_tokens(&self) -> Option<u32> {
        Some(self.output_tokens.saturating_sub(self.reasoning_tokens?))
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
            key: self.key,
            ok: self.ok(),
            status: self.status,
            error: self.error,
            ttft: self.ttft(),
            latency: self.latency().unwrap_or_default(),
            output_tokens: self.output_tokens,
            prompt_tokens: self.prompt_tokens,
            text: if self.keeps_text() { self.text.clone() } else { None },
            tool_calls: if self.keeps_text() { self.calls.clone() } else { Vec::new() },
            finish_reason: self.finish_reason.clone(),
            cached_tokens: self.cached_tokens,
            completed: self.done,
        }
    }

    /// Whether the outcome gives the response back (text and tool calls): for requests
    /// with a session or `keep_text`.
    pub fn keeps_text(&self) -> bool {
        self.session.is_some() || self.keep_text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streamed(gaps_us: &[u32], tokens: u32) -> RequestRecord {
        let t0 = Instant::now();
        let mut r = RequestRecord::new(0, 0, Api::ChatCompletions, true, t0);
        r.sent = Some(t0);
        r.first_token = Some(t0 + Duration::from_millis(50));
        r.itl_us = gaps_us.to_vec();
        r.text_chunks = gaps_us.len() as u32 + 1;
        r.output_tokens = tokens;
        r.done = t0 + Duration::from_secs(1);
        r
    }

    #[test]
    fn second_token_is_in_the_second_event_at_one_token_each() {
        let r = streamed(&[10_000, 20_000], 3);
        assert_eq!(r.ttst(), Some(Duration::from_millis(60)));
    }

    #[test]
    fn second_token_in_the_first_event_when_events_carry_several() {
        // 8 tokens over 2 events: 4 each, so the second token came with the first.
        let r = streamed(&[10_000], 8);
        assert_eq!(r.ttst(), Some(Duration::from_millis(50)));
    }

    #[test]
    fn tokenizer_counts_place_the_second_token() {
        let mut r = streamed(&[10_000, 20_000, 5_000], 4);
        r.chunk_tokens = Some(vec![1, 0, 2, 1]);
        assert_eq!(r.ttst(), Some(Duration::from_millis(80)));
        // One token: no second token.
        let one = streamed(&[], 1);
        assert_eq!(one.ttst(), None);
    }

    #[test]
    fn first_answer_and_answer_tokens() {
        let mut r = streamed(&[10_000], 10);
        r.first_answer = r.first_token.map(|t| t + Duration::from_millis(10));
        assert_eq!(r.ttfo(), Some(Duration::from_millis(60)));
        assert_eq!(r.answer_tokens(), None, "unknown without a reasoning count");
        r.reasoning_tokens = Some(4);
        assert_eq!(r.answer_tokens(), Some(6));
    }
}
