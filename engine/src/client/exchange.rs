//! One timed request/response exchange.
//!
//! Every network chunk is timestamped on arrival with the monotonic clock before it is
//! parsed; TTFT is the first chunk that carries generated text, ITL the gaps between
//! such chunks. A record comes back whatever happens: success, failure, timeout or
//! cancellation.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST, HeaderName, HeaderValue, TE};
use hyper::{Method, Request, Response};
use volley_core::{Api, Cancel, ErrorClass, RequestRecord, TokenSource};

use super::body::Body;
use super::grpc;
use super::h1::WireError;
use super::openai;
use super::openai::repeat::Repeat;
use super::parsed::{KeptReply, MAX_TEXT, Parsed, Usage};
use super::pool::{Connection, Pool, Sender, micros};
use super::request::PreparedRequest;
use super::sse::{self, SseParser};
use super::watch::{Expired, Watch};
use super::{anthropic, kserve, responses, tgi};

/// Largest non-streamed response body read; larger is a protocol error.
const MAX_BODY: usize = 64 << 20;
/// Characters of an error response kept for the message.
const ERROR_SNIPPET: usize = 300;
/// Bytes of an error body read for it (room for multi-byte text and white space).
const ERROR_BYTES: usize = ERROR_SNIPPET * 4;

/// Everything the send path shares, built once per run.
pub(crate) struct SendContext {
    pub pool: Pool,
    pub authority: HeaderValue,
    /// The operator's `--header`s, added to every request.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub timeout: Duration,
    pub cancel: Arc<Cancel>,
    /// One permit per request in flight (the policy's `max_in_flight`).
    pub in_flight: Arc<tokio::sync::Semaphore>,
    /// Keep every response's text (for counting tokens with the run's tokenizer, or
    /// for `--record-text`); sessions always keep theirs.
    pub keep_text: bool,
    /// Keep request bodies for `--record-text`.
    pub keep_body: bool,
    /// While the launched server starts (`--launch-at process`), a refused connection
    /// is retried until then instead of failing the request.
    pub retry_refused_until: Option<Instant>,
}

// Statics, not consts: the header list below lends them out.
static HOST_NAME: HeaderName = HOST;
static CONTENT_TYPE_NAME: HeaderName = CONTENT_TYPE;
static ACCEPT_NAME: HeaderName = ACCEPT;
static TE_NAME: HeaderName = TE;
static EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream");
static TRAILERS: HeaderValue = HeaderValue::from_static("trailers");

/// One streamed event of `api`; `repeat` holds the stream's last event to read the next
/// against; `reply`, where the outcome keeps them, the tool calls and finish reason.
fn parse_event(
    api: Api,
    data: &[u8],
    text: Option<&mut String>,
    repeat: &mut Repeat,
    reply: Option<&mut KeptReply>,
) -> Result<Parsed, String> {
    match api {
        Api::TgiGenerate => tgi::parse_event(data, text),
        Api::Responses => responses::parse_event(data, text, reply),
        Api::Messages => anthropic::parse_event(data, text, reply),
        _ => openai::parse_streamed_kept(data, text, repeat, reply),
    }
}

/// A whole response body of `api`.
fn parse_body(api: Api, body: &[u8], text: Option<&mut String>, reply: Option<&mut KeptReply>) -> Result<Parsed, String> {
    match api {
        Api::Completions | Api::ChatCompletions | Api::Embeddings => openai::parse_kept(body, text, reply),
        Api::TgiGenerate => tgi::parse_body(body, text),
        Api::KserveV1 => kserve::parse_v1(body),
        Api::KserveV2 => kserve::parse_v2(body),
        Api::Http => Ok(Parsed { finished: true, ..Parsed::default() }),
        Api::Responses => responses::parse_body(body, text, reply),
        Api::Messages => anthropic::parse_body(body, text, reply),
    }
}

/// Sends `req` (planned for `planned`) and measures it; `watch` ends it at the run's
/// timeout or cancellation.
pub(crate) async fn send(ctx: &SendContext, mut req: PreparedRequest, planned: Instant, mut watch: Pin<&mut Watch<'_>>) -> RequestRecord {
    let mut rec = RequestRecord::new(req.stage, req.seq, req.api, req.stream, planned);
    // Moved, not cloned: the wire needs neither, and each clone is an atomic count that
    // the collector's thread later drops.
    rec.tag = req.tag.take();
    rec.model = req.model.take();
    rec.batch_size = req.batch_size;
    rec.session = req.session;
    rec.key = req.key;
    rec.turn = req.turn;
    rec.delay = req.delay;
    rec.keep_text = req.keep_text;
    rec.max_tokens = req.max_tokens;
    rec.requested_prompt_tokens = req.prompt_tokens;
    if ctx.keep_text || req.session.is_some() || req.keep_text {
        rec.text = Some(String::new());
    }
    if ctx.keep_body {
        rec.request_body = Some(req.body.clone());
    }
    watch.as_mut().arm(ctx.timeout);
    tokio::select! {
        biased;
        why = watch.expired() => match why {
            Expired::Cancelled => rec.fail(ErrorClass::Cancelled, "the run was interrupted"),
            Expired::TimedOut => rec.fail(ErrorClass::Timeout, format!("no complete response within {} s", ctx.timeout.as_secs_f64())),
        },
        () = perform_held(ctx, &req, &mut rec) => {}
    }
    rec.done = Instant::now();
    rec
}

/// [`perform`], and while a launched server is still starting (`--launch-at process`)
/// a 503 is answered by sending again, as a scale-from-zero activator holds requests
/// until the server takes them. Outside that window a 503 is an error like any other.
async fn perform_held(ctx: &SendContext, req: &PreparedRequest, rec: &mut RequestRecord) {
    loop {
        perform(ctx, req, rec).await;
        if rec.status != 503 || ctx.retry_refused_until.is_none_or(|t| Instant::now() >= t) {
            return;
        }
        rec.status = 0;
        rec.error = None;
        rec.error_message = None;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A request's headers, in the order they go out on either protocol: the host, the
/// body's content type, what it accepts (gRPC's trailers, or an event stream), then the
/// run's headers and the request's own.
fn request_headers<'a>(ctx: &'a SendContext, req: &'a PreparedRequest) -> impl Iterator<Item = (&'a HeaderName, &'a HeaderValue)> {
    let accept = if req.grpc { Some((&TE_NAME, &TRAILERS)) } else { req.stream.then_some((&ACCEPT_NAME, &EVENT_STREAM)) };
    [Some((&HOST_NAME, &ctx.authority)), req.content_type.as_ref().map(|v| (&CONTENT_TYPE_NAME, v)), accept]
        .into_iter()
        .flatten()
        .chain(ctx.headers.iter().chain(&req.headers).map(|(k, v)| (k, v)))
}

/// The request for hyper's HTTP/2 client.
fn build(ctx: &SendContext, req: &PreparedRequest) -> Request<Full<bytes::Bytes>> {
    let mut http = Request::new(Full::new(req.body.clone()));
    *http.method_mut() = req.method.clone();
    *http.uri_mut() = req.uri.clone();
    let h = http.headers_mut();
    for (k, v) in request_headers(ctx, req) {
        h.append(k.clone(), v.clone());
    }
    http
}

impl WireError {
    /// Fails `rec` for a request that got no response.
    fn fail_unanswered(self, rec: &mut RequestRecord) {
        match self {
            WireError::Closed(e) | WireError::Broken(e) => rec.fail(ErrorClass::Incomplete, format!("no response: {e}")),
            WireError::Protocol(e) => rec.fail(ErrorClass::Protocol, format!("no response: {e}")),
        }
    }

    /// Fails `rec` for a body not read to its end; `what` names it ("stream", "body").
    fn fail_body(self, rec: &mut RequestRecord, what: &str) {
        match self {
            WireError::Closed(e) | WireError::Broken(e) => rec.fail(ErrorClass::Incomplete, format!("{what} broke: {e}")),
            WireError::Protocol(e) => rec.fail(ErrorClass::Protocol, e),
        }
    }
}

/// Sends the request on `conn` and reads the response's head: its status, and on
/// HTTP/2 the response (its headers and body); on HTTP/1.1 the body waits on the
/// connection.
async fn start(
    ctx: &SendContext,
    req: &PreparedRequest,
    conn: &mut Connection,
    rec: &mut RequestRecord,
) -> Result<(u16, Option<Response<Incoming>>), WireError> {
    match &mut conn.sender {
        Sender::H1(_) if req.grpc => Err(WireError::Protocol("gRPC needs HTTP/2, and the server chose HTTP/1.1".into())),
        Sender::H1(h1) => {
            rec.written = Some(h1.send(&req.method, &req.uri, request_headers(ctx, req), &req.body).await?);
            let head = h1.head(req.method == Method::HEAD).await?;
            rec.first_byte = Some(head.first_byte);
            Ok((head.status, None))
        }
        Sender::H2(h2) => match h2.send_request(build(ctx, req)).await {
            Ok(r) => Ok((r.status().as_u16(), Some(r))),
            Err(e) if e.is_canceled() || e.is_incomplete_message() => Err(WireError::Closed(e.to_string())),
            Err(e) if e.is_parse() => Err(WireError::Protocol(e.to_string())),
            Err(e) => Err(WireError::Broken(e.to_string())),
        },
    }
}

async fn perform(ctx: &SendContext, req: &PreparedRequest, rec: &mut RequestRecord) {
    let mut conn = loop {
        match ctx.pool.acquire().await {
            Ok(c) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused && ctx.retry_refused_until.is_some_and(|t| Instant::now() < t) => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => return rec.fail(ErrorClass::Connect, format!("cannot connect: {e}")),
        }
    };
    rec.sent = Some(Instant::now());
    let mut started = start(ctx, req, &mut conn, rec).await;
    if matches!(started, Err(WireError::Closed(_))) && conn.reused {
        // The server had closed this idle connection: no response byte came back, so
        // the request was never served. Once more, on a new connection; the send time
        // is the retry's.
        ctx.pool.note_stale(&conn);
        conn = match ctx.pool.connect().await {
            Ok(c) => c,
            Err(e) => return rec.fail(ErrorClass::Connect, format!("cannot connect: {e}")),
        };
        rec.sent = Some(Instant::now());
        (rec.written, rec.first_byte) = (None, None);
        started = start(ctx, req, &mut conn, rec).await;
    }
    if let Some(setup) = conn.setup {
        rec.new_connection = true;
        rec.connect_us = Some(setup.connect_us);
        rec.tls_us = setup.tls_us;
    }
    let (status, h2) = match started {
        Ok(s) => s,
        Err(e) => return e.fail_unanswered(rec),
    };
    rec.headers = Some(Instant::now());
    rec.status = status;
    let success = (200..300).contains(&status);
    let reusable = match (h2, &mut conn.sender) {
        (Some(response), _) if req.grpc && success => {
            // A gRPC error with no message comes as headers only ("trailers-only").
            let grpc_status = grpc_status(response.headers());
            read_grpc(grpc_status, req.stream, &mut response.into_body(), rec).await
        }
        (Some(response), _) => read_body(Body::h2(response.into_body()), success, req, rec).await,
        (None, Sender::H1(h1)) => read_body(Body::H1(h1), success, req, rec).await,
        (None, Sender::H2(_)) => {
            rec.fail(ErrorClass::Protocol, "an HTTP/2 exchange lost its response");
            false
        }
    };
    if reusable {
        ctx.pool.release(conn, req.stream);
    }
}

/// Reads the body: of a success, streamed or whole; of an error status, its start for
/// the message. `true` if it was read to its end.
async fn read_body(mut body: Body<'_>, success: bool, req: &PreparedRequest, rec: &mut RequestRecord) -> bool {
    if !success {
        let (snippet, complete) = read_snippet(&mut body).await;
        rec.fail(ErrorClass::HttpStatus, format!("HTTP {}: {}", rec.status, snippet));
        complete
    } else if req.stream {
        read_stream(req.api, &mut body, rec).await
    } else {
        read_whole(req.api, &mut body, rec).await
    }
}

/// Most events one response may carry: a stream that goes on past it (a server that
/// never stops) fails as a protocol error, so a record's chunk timings stay bounded.
const MAX_STREAM_EVENTS: u32 = 1 << 20;

/// Reads an event stream to its end; `true` if the body ended cleanly.
async fn read_stream(api: Api, body: &mut Body<'_>, rec: &mut RequestRecord) -> bool {
    let mut parser = SseParser::new();
    let mut state = StreamState::default();
    let mut last_text: Option<Instant> = None;
    let mut text = rec.text.take();
    let mut events = 0u32;
    let mut repeat = Repeat::default();
    // The tool calls and finish reason, for an outcome that gives them back; the lean
    // path (none) reads nothing more.
    let mut reply = rec.keeps_text().then(KeptReply::default);
    let mut on_event = |data: &[u8], at: Instant, rec: &mut RequestRecord, text: &mut Option<String>| {
        if data == b"[DONE]" {
            state.done = true;
            return;
        }
        match parse_event(api, data, text.as_mut(), &mut repeat, reply.as_mut()) {
            Ok(p) => {
                if p.has_output() {
                    match last_text {
                        None => {
                            rec.first_token = Some(at);
                            // Room for the gaps the request asked for, which spares the
                            // list its first few regrowths (bounded: a server may send more
                            // or fewer).
                            let expected = rec.max_tokens.unwrap_or(0).clamp(16, 1024);
                            rec.itl_us.reserve(expected as usize);
                        }
                        Some(prev) => rec.itl_us.push(gap_us(prev, at)),
                    }
                    last_text = Some(at);
                    rec.text_chunks += 1;
                    if let Some(t) = text.as_ref() {
                        rec.chunk_ends.push(t.len() as u32);
                    }
                    if p.has_answer() && rec.first_answer.is_none() {
                        rec.first_answer = Some(at);
                    }
                    note_reasoning(rec, p.mostly_reasoning(), text.is_some());
                }
                state.tool_calls.add(&p);
                state.finished |= p.finished;
                if let Some(usage) = p.usage {
                    // Anthropic's come in two events (the input, then the output).
                    state.usage = Some(state.usage.map_or(usage, |before| before.merge(usage)));
                }
                if let Some(e) = p.error {
                    rec.fail(ErrorClass::ServerError, e);
                }
            }
            Err(e) => rec.fail(ErrorClass::Protocol, e),
        }
    };
    let clean = loop {
        match body.next().await {
            Ok(None) => break true,
            Err(e) => {
                e.fail_body(rec, "stream");
                break false;
            }
            Ok(Some((bytes, at))) => {
                parser.feed(bytes, |ev| {
                    events += 1;
                    on_event(ev.data, at, rec, &mut text)
                });
                if parser.overflowed() {
                    rec.fail(ErrorClass::Protocol, format!("the server sent a line or event over {} MiB", sse::MAX_EVENT >> 20));
                    break false;
                }
                if events > MAX_STREAM_EVENTS {
                    rec.fail(ErrorClass::Protocol, format!("the stream went on past {MAX_STREAM_EVENTS} events"));
                    break false;
                }
                if text.as_ref().is_some_and(|t| t.len() > MAX_TEXT) {
                    // Keep measuring; stop keeping the text.
                    text = None;
                }
            }
        }
    };
    let at = Instant::now();
    parser.finish(|ev| on_event(ev.data, at, rec, &mut text));
    rec.text = text;
    if clean && !state.done && !state.finished {
        rec.fail(ErrorClass::Incomplete, "the stream ended without a finish reason or [DONE]");
    }
    rec.tool_calls = state.tool_calls.count();
    if let Some(reply) = reply {
        (rec.calls, rec.finish_reason) = reply.into_parts();
    }
    apply_usage(rec, state.usage);
    clean
}

/// `grpc-status` and `grpc-message` from headers or trailers.
fn grpc_status(h: &hyper::HeaderMap) -> Option<(u32, String)> {
    let code = h.get("grpc-status")?.to_str().ok()?.trim().parse().ok()?;
    let message = h.get("grpc-message").map(|m| grpc::decode_message(m.as_bytes())).unwrap_or_default();
    Some((code, message))
}

/// Reads a gRPC response: each message timed as it arrives (a stream's responses are its
/// output chunks: TTFT to the first, ITL between them), then the status in the trailers,
/// mapped to HTTP's for the error classes. `true` if the body ended cleanly.
async fn read_grpc(mut status: Option<(u32, String)>, stream: bool, body: &mut Incoming, rec: &mut RequestRecord) -> bool {
    let mut frames = grpc::Frames::default();
    let mut responses = 0u32;
    let mut last: Option<Instant> = None;
    let clean = loop {
        match body.frame().await {
            None => break true,
            Some(Err(e)) => {
                rec.fail(ErrorClass::Incomplete, format!("the gRPC stream broke: {e}"));
                break false;
            }
            Some(Ok(frame)) => {
                let at = Instant::now();
                if let Some(t) = frame.trailers_ref() {
                    status = grpc_status(t).or(status);
                    continue;
                }
                let Some(bytes) = frame.data_ref() else { continue };
                frames.feed(bytes);
                loop {
                    let msg = match frames.next() {
                        Ok(Some(m)) => m,
                        Ok(None) => break,
                        Err(e) => {
                            rec.fail(ErrorClass::Protocol, e);
                            return false;
                        }
                    };
                    responses += 1;
                    let parsed = if stream { grpc::stream_response(&msg) } else { grpc::unary_response(&msg).map(|()| None) };
                    match parsed {
                        Ok(None) => {}
                        Ok(Some(server_error)) => rec.fail(ErrorClass::ServerError, server_error),
                        Err(e) => rec.fail(ErrorClass::Protocol, e),
                    }
                    if stream {
                        match last {
                            None => rec.first_token = Some(at),
                            Some(prev) => rec.itl_us.push(gap_us(prev, at)),
                        }
                        last = Some(at);
                        rec.text_chunks += 1;
                    }
                }
                if responses > MAX_STREAM_EVENTS {
                    rec.fail(ErrorClass::Protocol, format!("the stream went on past {MAX_STREAM_EVENTS} responses"));
                    break false;
                }
            }
        }
    };
    if stream {
        // A stream's responses are all answer output.
        rec.first_answer = rec.first_token;
        rec.output_tokens = responses;
        rec.token_source = TokenSource::Chunks;
    }
    match status {
        Some((0, _)) if frames.leftover() > 0 => rec.fail(ErrorClass::Incomplete, "the gRPC response ended inside a message"),
        Some((0, _)) if responses == 0 && !stream => rec.fail(ErrorClass::Protocol, "the gRPC call succeeded without a response message"),
        Some((0, _)) => {}
        Some((code, message)) => {
            let (http, name) = grpc::http_status(code);
            rec.status = http;
            rec.fail(ErrorClass::HttpStatus, format!("gRPC {code} {name}: {message}"));
        }
        None if clean => rec.fail(ErrorClass::Protocol, "the gRPC response ended without a grpc-status"),
        None => {}
    }
    clean
}

#[derive(Default)]
struct StreamState {
    done: bool,
    finished: bool,
    usage: Option<Usage>,
    tool_calls: ToolCalls,
}

/// Tool calls of one streamed response: the slots their `index` names (OpenAI's
/// streaming form, where only a call's first delta has its id), else the deltas that
/// started one with an id.
#[derive(Default)]
struct ToolCalls {
    started: u32,
    slots: u32,
}

impl ToolCalls {
    fn add(&mut self, p: &Parsed) {
        self.started = self.started.saturating_add(p.tool_calls_started);
        self.slots = self.slots.max(p.tool_call_slots);
    }

    fn count(&self) -> u32 {
        if self.slots > 0 { self.slots } else { self.started }
    }
}

/// Counts an output chunk as reasoning or not; with the text kept, also per chunk (the
/// flags start at the first reasoning chunk, so answer-only streams keep none).
fn note_reasoning(rec: &mut RequestRecord, reasoning: bool, keeping_text: bool) {
    if reasoning {
        rec.reasoning_chunks += 1;
    }
    if keeping_text && (reasoning || !rec.chunk_reasoning.is_empty()) {
        rec.chunk_reasoning.resize(rec.text_chunks as usize - 1, false);
        rec.chunk_reasoning.push(reasoning);
    }
}

/// Reads a non-streamed JSON body; `true` if it was read to its end.
async fn read_whole(api: Api, body: &mut Body<'_>, rec: &mut RequestRecord) -> bool {
    let mut buf = Vec::new();
    loop {
        match body.next_piece().await {
            Ok(None) => break,
            Err(e) => {
                e.fail_body(rec, "body");
                return false;
            }
            // A body that came whole in one piece (most do) is read where it lies.
            Ok(Some((bytes, _, true))) if buf.is_empty() && bytes.len() <= MAX_BODY => {
                take_body(api, bytes, rec);
                return true;
            }
            Ok(Some((bytes, _, _))) => {
                if buf.len() + bytes.len() > MAX_BODY {
                    rec.fail(ErrorClass::Protocol, format!("response body over {} MiB", MAX_BODY >> 20));
                    return false;
                }
                buf.extend_from_slice(bytes);
            }
        }
    }
    take_body(api, &buf, rec);
    true
}

/// Reads a whole response `body` into `rec`.
fn take_body(api: Api, body: &[u8], rec: &mut RequestRecord) {
    let mut reply = rec.keeps_text().then(KeptReply::default);
    match parse_body(api, body, rec.text.as_mut(), reply.as_mut()) {
        Ok(p) => {
            if let Some(reply) = reply {
                (rec.calls, rec.finish_reason) = reply.into_parts();
            }
            if let Some(e) = &p.error {
                rec.fail(ErrorClass::ServerError, e.clone());
            }
            // A whole message lists each call once.
            rec.tool_calls = p.tool_call_entries;
            if p.reasoning_bytes == 0 {
                rec.reasoning_tokens = Some(0);
            }
            apply_usage(rec, p.usage);
        }
        Err(e) => rec.fail(ErrorClass::Protocol, e),
    }
}

/// The gap between two chunks' instants, µs. Chunks read from one network read share its
/// instant, so their gap of zero takes no subtraction.
fn gap_us(prev: Instant, at: Instant) -> u32 {
    if at == prev { 0 } else { micros(at - prev) }
}

fn apply_usage(rec: &mut RequestRecord, usage: Option<Usage>) {
    rec.prompt_tokens = usage.and_then(|u| u.prompt_tokens);
    rec.cached_tokens = usage.and_then(|u| u.prompt_tokens_details).and_then(|d| d.cached_tokens);
    match usage.and_then(|u| u.completion_tokens) {
        Some(n) => {
            rec.output_tokens = n;
            rec.token_source = TokenSource::Usage;
        }
        None if rec.stream => {
            rec.output_tokens = rec.text_chunks;
            rec.token_source = TokenSource::Chunks;
        }
        None => rec.token_source = TokenSource::None,
    }
    let reported = usage.and_then(|u| u.completion_tokens_details).and_then(|d| d.reasoning_tokens);
    if let Some(n) = reported {
        rec.reasoning_tokens = Some(n);
        rec.reasoning_source = TokenSource::Usage;
    } else if rec.stream {
        // Until the collector's tokenizer counts them: reasoning chunks, scaled by the
        // tokens per chunk when the server counted the output.
        rec.reasoning_tokens = Some(match (rec.reasoning_chunks, rec.text_chunks) {
            (0, _) | (_, 0) => 0,
            (r, c) => (u64::from(rec.output_tokens) * u64::from(r) / u64::from(c)) as u32,
        });
        rec.reasoning_source = TokenSource::Chunks;
    }
}

/// The start of an error body, and whether the body was read to its end.
async fn read_snippet(body: &mut Body<'_>) -> (String, bool) {
    let mut buf = Vec::new();
    let complete = loop {
        match body.next().await {
            Ok(None) => break true,
            Err(_) => break false,
            Ok(Some((bytes, _))) => {
                let room = ERROR_BYTES - buf.len();
                buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
                if buf.len() >= ERROR_BYTES {
                    break false;
                }
            }
        }
    };
    let text = String::from_utf8_lossy(&buf);
    (text.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(ERROR_SNIPPET).collect(), complete)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(events: &[&[u8]]) -> u32 {
        let mut c = ToolCalls::default();
        for e in events {
            c.add(&openai::parse(e, None).unwrap());
        }
        c.count()
    }

    #[test]
    fn tool_calls_are_counted_by_index_even_when_a_server_repeats_the_id() {
        let first = br#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":""}}]}}]}"#;
        let again = br#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a","function":{"arguments":"{}"}}]}}]}"#;
        let second = br#"{"choices":[{"delta":{"tool_calls":[{"index":1,"id":"b","function":{"name":"g"}}]}}]}"#;
        assert_eq!(calls(&[first, again, again]), 1);
        assert_eq!(calls(&[first, again, second]), 2);
        // Without indices: each id starts a call.
        let no_index = br#"{"choices":[{"delta":{"tool_calls":[{"id":"a","function":{"name":"f"}}]}}]}"#;
        assert_eq!(calls(&[no_index, no_index]), 2);
        assert_eq!(calls(&[br#"{"choices":[{"delta":{"content":"hi"}}]}"#]), 0);
    }

    /// `r` answered on loopback with `body` (an event stream or a JSON body, by the
    /// request's `stream`), read as the exchange reads it; the record as it comes back.
    async fn answered(r: volley_core::ScenarioRequest, body: &str) -> RequestRecord {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let kind = if r.stream { "text/event-stream" } else { "application/json" };
        let response = format!("HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut b = vec![0u8; 1 << 16];
            let _ = s.read(&mut b).await.unwrap();
            s.write_all(response.as_bytes()).await.unwrap();
            // Until the client closes: nothing it sent is left unread.
            while s.read(&mut b).await.unwrap() > 0 {}
        });
        let target = volley_net::Target::parse(&format!("http://{addr}")).unwrap();
        let mut encoder = super::super::request::RequestEncoder::new(&target, Some("m".into()), Arc::default(), &[]);
        let req = encoder.encode(r, 0, 0).unwrap();
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut conn = super::super::h1::H1Conn::new(volley_net::target::Connected::Plain(tcp));
        let mut rec = RequestRecord::new(0, 0, req.api, req.stream, Instant::now());
        (rec.session, rec.keep_text) = (req.session, req.keep_text);
        if rec.keeps_text() {
            rec.text = Some(String::new());
        }
        let host = HeaderValue::from_static("t");
        conn.send(&req.method, &req.uri, [(&HOST_NAME, &host)].into_iter(), &req.body).await.unwrap();
        rec.status = conn.head(false).await.unwrap().status;
        assert!(read_body(Body::H1(&mut conn), true, &req, &mut rec).await);
        drop(conn);
        server.await.unwrap();
        rec
    }

    fn events(data: &[&str]) -> String {
        data.iter().map(|d| format!("data: {d}\n\n")).collect()
    }

    const PARALLEL: &[&str] = &[
        r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":null}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{\"tz\":"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"\"UTC\"}"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        r#"{"choices":[],"usage":{"prompt_tokens":40,"completion_tokens":25,"prompt_tokens_details":{"cached_tokens":32}}}"#,
        "[DONE]",
    ];

    fn chat(session: Option<u64>, keep_text: bool, stream: bool) -> volley_core::ScenarioRequest {
        let mut r = volley_core::ScenarioRequest::chat(vec![volley_core::Message::user("hi")]).stream(stream);
        (r.session, r.keep_text) = (session, keep_text);
        r
    }

    fn call(id: &str, name: &str, arguments: &str) -> volley_core::ToolCall {
        volley_core::ToolCall { id: id.into(), name: name.into(), arguments: arguments.into() }
    }

    #[tokio::test]
    async fn a_kept_stream_gives_back_its_joined_calls_and_finish_reason() {
        for (session, keep_text) in [(Some(7), false), (None, true)] {
            let rec = answered(chat(session, keep_text, true), &events(PARALLEL)).await;
            assert!(rec.ok(), "{:?}", rec.error_message);
            assert_eq!(
                rec.calls,
                vec![call("call_a", "get_weather", r#"{"city":"Paris"}"#), call("call_b", "get_time", r#"{"tz":"UTC"}"#)]
            );
            assert_eq!((rec.tool_calls, rec.finish_reason.as_deref()), (2, Some("tool_calls")));
            assert_eq!((rec.prompt_tokens, rec.cached_tokens, rec.output_tokens), (Some(40), Some(32), 25));
            let outcome = rec.outcome();
            assert_eq!(
                (outcome.tool_calls, outcome.finish_reason, outcome.cached_tokens),
                (rec.calls.clone(), rec.finish_reason.clone(), Some(32))
            );
        }
    }

    #[tokio::test]
    async fn a_lean_record_keeps_no_calls_and_counts_them_all_the_same() {
        let rec = answered(chat(None, false, true), &events(PARALLEL)).await;
        assert!(rec.ok(), "{:?}", rec.error_message);
        assert_eq!((rec.calls.len(), rec.finish_reason.as_deref(), rec.text.as_deref()), (0, None, None));
        assert_eq!((rec.tool_calls, rec.cached_tokens), (2, Some(32)));
        let body = r#"{"choices":[{"message":{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":2}}}"#;
        let rec = answered(chat(None, false, false), body).await;
        assert_eq!((rec.calls.len(), rec.finish_reason.as_deref(), rec.tool_calls, rec.cached_tokens), (0, None, 1, Some(2)));
    }

    #[tokio::test]
    async fn a_kept_body_gives_back_its_calls_finish_reason_and_cached_tokens() {
        let body = r#"{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[
            {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
            {"id":"call_2","type":"function","function":{"name":"get_time","arguments":"{}"}}]},"finish_reason":"tool_calls"}],
            "usage":{"prompt_tokens":9,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":8}}}"#;
        let rec = answered(chat(Some(1), false, false), body).await;
        assert!(rec.ok(), "{:?}", rec.error_message);
        assert_eq!(rec.calls, vec![call("call_1", "get_weather", r#"{"city":"Paris"}"#), call("call_2", "get_time", "{}")]);
        assert_eq!((rec.tool_calls, rec.finish_reason.as_deref(), rec.cached_tokens), (2, Some("tool_calls"), Some(8)));
        // A text answer: its finish reason, on the scanner's fast path.
        let body = r#"{"choices":[{"message":{"role":"assistant","content":"hello"},"finish_reason":"length"}],"usage":{"prompt_tokens":4,"completion_tokens":1}}"#;
        let rec = answered(chat(Some(1), false, false), body).await;
        assert_eq!(
            (rec.text.as_deref(), rec.finish_reason.as_deref(), rec.calls.len(), rec.cached_tokens),
            (Some("hello"), Some("length"), 0, None)
        );
    }
}
