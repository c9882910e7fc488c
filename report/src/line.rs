//! A line of `requests.jsonl` (and a row of `requests.csv`): one request's record with
//! times relative to the run's start, in milliseconds.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::value::RawValue;
use volley_core::time::micros;
use volley_core::{Api, ErrorClass, RequestRecord, TokenSource};

use crate::numbers::{flag, int, us_as_ms_json};

#[derive(Serialize, Clone)]
pub struct RecordLine<'a> {
    pub stage: u32,
    pub stage_name: &'a str,
    pub seq: u64,
    pub tag: Option<&'a str>,
    pub model: Option<&'a str>,
    pub batch_size: u32,
    pub session: Option<u64>,
    /// Its place in its session (1: the first request), when the session is a task.
    pub turn: Option<u32>,
    /// A follow-up's asked delay (tool plus think time) after the outcome it followed.
    pub delay_ms: Option<Ms>,
    pub api: Api,
    pub stream: bool,
    pub ok: bool,
    pub status: u16,
    pub error: Option<ErrorClass>,
    pub error_message: Option<&'a str>,
    pub planned_ms: Ms,
    pub sent_ms: Option<Ms>,
    /// Opened its connection (and paid `connect_ms`, `tls_ms`).
    pub new_connection: bool,
    pub connect_ms: Option<Ms>,
    pub tls_ms: Option<Ms>,
    /// From the send: the request's last byte written, the answer's first byte read,
    /// the response headers parsed.
    pub written_ms: Option<Ms>,
    pub first_byte_ms: Option<Ms>,
    pub headers_ms: Option<Ms>,
    pub schedule_lag_ms: Option<Ms>,
    pub ttft_ms: Option<Ms>,
    pub ttfo_ms: Option<Ms>,
    pub ttst_ms: Option<Ms>,
    pub latency_ms: Option<Ms>,
    pub latency_from_planned_ms: Ms,
    pub tpot_ms: Option<Ms>,
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

/// Milliseconds, held as the whole microseconds every time of a record has: written
/// from the integer, serialized as the `f64` milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ms(pub u64);

impl Ms {
    fn of(d: Duration) -> Self {
        Ms(micros(d))
    }
}

impl Serialize for Ms {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0 as f64 / 1000.0)
    }
}

/// Serializes microsecond gaps as milliseconds without an intermediate vector.
#[derive(Clone, Copy)]
pub struct ItlMs<'a>(&'a [u32]);

impl Serialize for ItlMs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|&us| f64::from(us) / 1000.0))
    }
}

impl<'a> RecordLine<'a> {
    /// The JSONL view of `r`, times relative to the run's start.
    pub fn new(r: &'a RequestRecord, stage_name: &'a str, epoch: Instant) -> Self {
        let rel = |t: Instant| Ms::of(t.saturating_duration_since(epoch));
        let us = |us: u32| Ms(u64::from(us));
        RecordLine {
            stage: r.stage,
            stage_name,
            seq: r.seq,
            tag: r.tag.as_deref(),
            model: r.model.as_deref(),
            batch_size: r.batch_size,
            session: r.session,
            turn: r.turn,
            delay_ms: r.delay.map(|d| Ms::of(d.total())),
            api: r.api,
            stream: r.stream,
            ok: r.ok(),
            status: r.status,
            error: r.error,
            error_message: r.error_message.as_deref(),
            planned_ms: rel(r.planned),
            sent_ms: r.sent.map(rel),
            new_connection: r.new_connection,
            connect_ms: r.connect_us.map(us),
            tls_ms: r.tls_us.map(us),
            written_ms: r.since_sent(r.written).map(Ms::of),
            first_byte_ms: r.since_sent(r.first_byte).map(Ms::of),
            headers_ms: r.since_sent(r.headers).map(Ms::of),
            schedule_lag_ms: r.schedule_lag().map(Ms::of),
            ttft_ms: r.ttft().map(Ms::of),
            ttfo_ms: r.ttfo().map(Ms::of),
            ttst_ms: r.ttst().map(Ms::of),
            latency_ms: r.latency().map(Ms::of),
            latency_from_planned_ms: Ms::of(r.done.saturating_duration_since(r.planned)),
            tpot_ms: r.tpot().map(Ms::of),
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

    /// The line with `r`'s request body and response text (the record it was made of).
    pub fn with_text(mut self, r: &'a RequestRecord) -> Self {
        self.request_body =
            r.request_body.as_ref().and_then(|b| std::str::from_utf8(b).ok()).and_then(|s| serde_json::from_str::<&RawValue>(s).ok());
        self.response_text = r.text.as_deref();
        self
    }
}

/// A JSON string, escaped.
fn string(out: &mut Vec<u8>, s: &str) {
    // Names and labels rarely need escaping: then the bytes go as they are.
    if s.bytes().all(|c| c >= 0x20 && c != b'"' && c != b'\\') {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// A key after the first, with its punctuation: `,"name":`.
macro_rules! k {
    ($name:literal) => {
        concat!(",\"", $name, "\":").as_bytes()
    };
}

fn opt<T>(out: &mut Vec<u8>, v: Option<T>, write: impl FnOnce(&mut Vec<u8>, T)) {
    match v {
        Some(v) => write(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

impl RecordLine<'_> {
    /// Appends the line as JSON (no newline): the bytes serde_json writes for it, without
    /// `core::fmt` or allocation (the per-request hot path of `requests.jsonl`).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let key = |out: &mut Vec<u8>, k: &[u8]| out.extend_from_slice(k);
        let ms = |out: &mut Vec<u8>, k: &[u8], v: Option<Ms>| {
            key(out, k);
            opt(out, v, |out, v| us_as_ms_json(out, v.0));
        };
        let count = |out: &mut Vec<u8>, k: &[u8], v: Option<u32>| {
            key(out, k);
            opt(out, v, int);
        };
        out.extend_from_slice(b"{\"stage\":");
        int(out, self.stage);
        key(out, k!("stage_name"));
        string(out, self.stage_name);
        key(out, k!("seq"));
        int(out, self.seq);
        key(out, k!("tag"));
        opt(out, self.tag, string);
        key(out, k!("model"));
        opt(out, self.model, string);
        key(out, k!("batch_size"));
        int(out, self.batch_size);
        key(out, k!("session"));
        opt(out, self.session, int);
        count(out, k!("turn"), self.turn);
        ms(out, k!("delay_ms"), self.delay_ms);
        key(out, k!("api"));
        string(out, self.api.as_str());
        key(out, k!("stream"));
        flag(out, self.stream);
        key(out, k!("ok"));
        flag(out, self.ok);
        key(out, k!("status"));
        int(out, self.status);
        key(out, k!("error"));
        opt(out, self.error, |out, e| string(out, e.as_str()));
        key(out, k!("error_message"));
        opt(out, self.error_message, string);
        ms(out, k!("planned_ms"), Some(self.planned_ms));
        ms(out, k!("sent_ms"), self.sent_ms);
        key(out, k!("new_connection"));
        flag(out, self.new_connection);
        ms(out, k!("connect_ms"), self.connect_ms);
        ms(out, k!("tls_ms"), self.tls_ms);
        ms(out, k!("written_ms"), self.written_ms);
        ms(out, k!("first_byte_ms"), self.first_byte_ms);
        ms(out, k!("headers_ms"), self.headers_ms);
        ms(out, k!("schedule_lag_ms"), self.schedule_lag_ms);
        ms(out, k!("ttft_ms"), self.ttft_ms);
        ms(out, k!("ttfo_ms"), self.ttfo_ms);
        ms(out, k!("ttst_ms"), self.ttst_ms);
        ms(out, k!("latency_ms"), self.latency_ms);
        ms(out, k!("latency_from_planned_ms"), Some(self.latency_from_planned_ms));
        ms(out, k!("tpot_ms"), self.tpot_ms);
        count(out, k!("max_tokens"), self.max_tokens);
        count(out, k!("output_tokens"), Some(self.output_tokens));
        key(out, k!("token_source"));
        string(out, self.token_source.as_str());
        count(out, k!("reasoning_tokens"), self.reasoning_tokens);
        count(out, k!("tool_calls"), Some(self.tool_calls));
        count(out, k!("prompt_tokens"), self.prompt_tokens);
        count(out, k!("requested_prompt_tokens"), self.requested_prompt_tokens);
        count(out, k!("cached_tokens"), self.cached_tokens);
        count(out, k!("text_chunks"), Some(self.text_chunks));
        if let Some(tokens) = self.chunk_tokens {
            key(out, k!("chunk_tokens"));
            list(out, tokens, int);
        }
        key(out, k!("itl_ms"));
        list(out, self.itl_ms.0, |out, us| us_as_ms_json(out, u64::from(us)));
        if let Some(body) = self.request_body {
            key(out, k!("request_body"));
            out.extend_from_slice(body.get().as_bytes());
        }
        if let Some(text) = self.response_text {
            key(out, k!("response_text"));
            string(out, text);
        }
        if self.excluded {
            key(out, k!("excluded"));
            flag(out, true);
        }
        out.push(b'}');
    }
}

fn list(out: &mut Vec<u8>, items: &[u32], write: impl Fn(&mut Vec<u8>, u32)) {
    out.push(b'[');
    for (i, &v) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(out, v);
    }
    out.push(b']');
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn lines(r: &RequestRecord, epoch: Instant) -> (String, String) {
        let mut line = RecordLine::new(r, "stage \"one\"\n", epoch).with_text(r);
        line.excluded = r.seq % 2 == 1;
        let mut fast = Vec::new();
        line.write_json(&mut fast);
        (String::from_utf8(fast).unwrap(), serde_json::to_string(&line).unwrap())
    }

    #[test]
    fn the_fast_writer_writes_what_serde_json_writes() {
        let epoch = Instant::now();
        let at = |us: u64| epoch + Duration::from_nanos(us * 1000 + us % 1000);
        let mut r = RequestRecord::new(3, 0, Api::ChatCompletions, true, at(1_234_567));
        r.done = at(2_000_001);
        assert_eq!(lines(&r, epoch).0, lines(&r, epoch).1);
        r.seq = 1;
        r.sent = Some(at(1_240_000));
        r.written = Some(at(1_240_010));
        r.first_byte = Some(at(1_300_000));
        r.headers = Some(at(1_300_100));
        r.first_token = Some(at(1_300_100));
        r.first_answer = Some(at(1_400_100));
        r.status = 200;
        r.tag = Some("tag, with \"quotes\"".into());
        r.model = Some("m/ü".into());
        r.session = Some(u64::MAX);
        r.connect_us = Some(1_001);
        r.tls_us = Some(0);
        r.new_connection = true;
        r.max_tokens = Some(64);
        r.output_tokens = 3;
        r.text_chunks = 3;
        r.prompt_tokens = Some(7);
        r.itl_us = vec![0, 1, 999, 1000, 1001, 123_456, u32::MAX];
        r.chunk_tokens = Some(vec![1, 2, 3]);
        r.text = Some("a\tb\u{1}\"c\"".into());
        r.request_body = Some(r#"{"model": "m", "n": [1, 2]}"#.as_bytes().to_vec().into());
        let (fast, serde) = lines(&r, epoch);
        assert_eq!(fast, serde);
        r.fail(ErrorClass::HttpStatus, "HTTP 500: \\ broke");
        r.seq = 2;
        let (fast, serde) = lines(&r, epoch);
        assert_eq!(fast, serde);
    }
}
