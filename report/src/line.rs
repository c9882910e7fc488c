//! A line of `requests.jsonl` (and a row of `requests.csv`): one request's record with
//! times relative to the run's start, in milliseconds.

use std::time::Instant;

use serde::Serialize;
use serde_json::value::RawValue;
use volley_core::time::ms;
use volley_core::{Api, ErrorClass, RequestRecord, TokenSource};

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
    /// Opened its connection (and paid `connect_ms`, `tls_ms`).
    pub new_connection: bool,
    pub connect_ms: Option<f64>,
    pub tls_ms: Option<f64>,
    /// From the send: the request's last byte written, the answer's first byte read,
    /// the response headers parsed.
    pub written_ms: Option<f64>,
    pub first_byte_ms: Option<f64>,
    pub headers_ms: Option<f64>,
    pub schedule_lag_ms: Option<f64>,
    pub ttft_ms: Option<f64>,
    pub ttfo_ms: Option<f64>,
    pub ttst_ms: Option<f64>,
    pub latency_ms: Option<f64>,
    pub latency_from_planned_ms: f64,
    pub tpot_ms: Option<f64>,
    pub max_tokens: Option<u32>,
    pub output_tokens: u32,
    pub token_source: TokenSource,
    pub reasoning_tokens: Option<u32>,
    pub tool_calls: u32,
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

impl<'a> RecordLine<'a> {
    /// The JSONL view of `r`, times relative to the run's start.
    pub fn new(r: &'a RequestRecord, stage_name: &'a str, epoch: Instant) -> Self {
        let rel = |t: Instant| ms(t.saturating_duration_since(epoch));
        RecordLine {
            stage: r.stage,
            stage_name,
            seq: r.seq,
            tag: r.tag.as_deref(),
            model: r.model.as_deref(),
            batch_size: r.batch_size,
            session: r.session,
            api: r.api,
            stream: r.stream,
            ok: r.ok(),
            status: r.status,
            error: r.error,
            error_message: r.error_message.as_deref(),
            planned_ms: rel(r.planned),
            sent_ms: r.sent.map(rel),
            new_connection: r.new_connection,
            connect_ms: r.connect_us.map(|us| f64::from(us) / 1000.0),
            tls_ms: r.tls_us.map(|us| f64::from(us) / 1000.0),
            written_ms: r.since_sent(r.written).map(ms),
            first_byte_ms: r.since_sent(r.first_byte).map(ms),
            headers_ms: r.since_sent(r.headers).map(ms),
            schedule_lag_ms: r.schedule_lag().map(ms),
            ttft_ms: r.ttft().map(ms),
            ttfo_ms: r.ttfo().map(ms),
            ttst_ms: r.ttst().map(ms),
            latency_ms: r.latency().map(ms),
            latency_from_planned_ms: ms(r.done.saturating_duration_since(r.planned)),
            tpot_ms: r.tpot().map(ms),
            max_tokens: r.max_tokens,
            output_tokens: r.output_tokens,
            token_source: r.token_source,
            reasoning_tokens: r.reasoning_tokens,
            tool_calls: r.tool_calls,
            prompt_tokens: r.prompt_tokens,
            requested_prompt_tokens: r.requested_prompt_tokens,
            cached_tokens: r.cached_tokens,
            text_chunks: r.text_chunks,
            chunk_tokens: r.chunk_tokens.as_deref(),
            itl_ms: ItlMs(&r.itl_us),
            request_body: None,
            response_text: None,
            excluded: false,
        }
    }

    /// [`RecordLine::new`] plus the request body and the response text.
    pub fn with_text(r: &'a RequestRecord, stage_name: &'a str, epoch: Instant) -> Self {
        let mut line = Self::new(r, stage_name, epoch);
        line.request_body = r
            .request_body
            .as_ref()
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|s| serde_json::from_str::<&RawValue>(s).ok());
        line.response_text = r.text.as_deref();
        line
    }
}
