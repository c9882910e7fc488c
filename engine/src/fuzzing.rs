//! Thin wrappers over the client's parsers of what a server sends, for the fuzz targets
//! (`fuzz/`, docs/fuzzing.md): HTTP/1.1 response heads and bodies, server-sent events,
//! OpenAI events (the one-pass scanner, reading by difference, serde), TGI and KServe
//! answers, and gRPC frames. Built only with the `fuzzing` feature, so the normal build
//! is unchanged and the parsers stay `pub(crate)`. Each wrapper runs the parser as the
//! exchange runs it, without a connection.

use bytes::{Buf, BytesMut};

use crate::client::h1::body::{BodyDecoder, Framing, Step};
use crate::client::h1::{self, WireError};
use crate::client::openai::repeat::Repeat;
use crate::client::{grpc, kserve, openai, tgi};

pub use crate::client::parsed::Parsed;
pub use crate::client::sse::{MAX_EVENT, SseEvent, SseParser};

/// An HTTP/1.1 response as [`h1_response`] read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H1Response {
    pub status: u16,
    /// How the head said the body ends: `empty`, `length N`, `chunked` or `until close`.
    pub framing: String,
    /// The body's data, framing removed.
    pub body: Vec<u8>,
    /// The body ended as its framing says (else the reads ran out first).
    pub ended: bool,
    /// The connection could carry another request after this response.
    pub reusable: bool,
}

/// Reads one response from `reads`, the bytes each read of the connection returned, as
/// the exchange does: the head (interim 1xx heads skipped), then the body decoded in
/// place; the connection closes after the last read. `Ok(None)`: the reads ended inside
/// the head. `Err`: what the exchange would report.
pub fn h1_response(reads: &[&[u8]], head_request: bool) -> Result<Option<H1Response>, String> {
    let mut reads = reads.iter();
    let mut buf = BytesMut::new();
    let head = loop {
        if !buf.is_empty()
            && let Some(head) = h1::parse_head(&mut buf, head_request).map_err(wire)?
        {
            break head;
        }
        match reads.next() {
            Some(read) => buf.extend_from_slice(read),
            None => return Ok(None),
        }
    };
    let mut decoder = BodyDecoder::new(head.framing);
    let mut body = Vec::new();
    let mut closed = false;
    loop {
        match decoder.step(&mut buf)? {
            Step::Data(n) => {
                body.extend_from_slice(&buf[..n]);
                buf.advance(n);
            }
            Step::Done => break,
            Step::NeedMore => match reads.next() {
                Some(read) => buf.extend_from_slice(read),
                None => {
                    decoder.closed()?;
                    closed = true;
                    break;
                }
            },
        }
    }
    let ended = decoder.is_done();
    // As `H1Conn::reusable`: read to its end, nothing after it, kept open.
    let reusable = !closed && head.keep_alive && ended && buf.is_empty() && reads.all(|r| r.is_empty());
    let framing = match head.framing {
        Framing::Empty => "empty".to_string(),
        Framing::Length(n) => format!("length {n}"),
        Framing::Chunked => "chunked".to_string(),
        Framing::UntilClose => "until close".to_string(),
    };
    Ok(Some(H1Response { status: head.status, framing, body, ended, reusable }))
}

fn wire(e: WireError) -> String {
    match e {
        WireError::Closed(s) | WireError::Broken(s) | WireError::Protocol(s) => s,
    }
}

/// A streamed OpenAI event as the exchange reads it: the one-pass scanner, and serde
/// where the scanner gives up.
pub fn openai_event(json: &[u8], text: Option<&mut String>) -> Result<Parsed, String> {
    openai::parse(json, text)
}

/// The same event read by serde alone (what the scanner must agree with).
pub fn openai_full(json: &[u8], text: Option<&mut String>) -> Result<Parsed, String> {
    openai::parse_full(json, text)
}

/// The scanner alone: `None` where it hands the event to serde.
pub fn openai_scan(json: &str, text: Option<&mut String>) -> Option<Parsed> {
    openai::scan::parse_event(json, text).map(|(parsed, _)| parsed)
}

/// The events of one stream, each read against the last one kept (by difference), as
/// the exchange reads a stream.
#[derive(Default)]
pub struct OpenAiStream {
    repeat: Repeat,
}

impl OpenAiStream {
    pub fn event(&mut self, json: &[u8], text: Option<&mut String>) -> Result<Parsed, String> {
        openai::parse_streamed(json, text, &mut self.repeat)
    }
}

/// Every other answer parser: TGI events and bodies, KServe v1 and v2 bodies.
pub fn other_answers(json: &[u8]) -> [Result<Parsed, String>; 4] {
    let mut text = String::new();
    [tgi::parse_event(json, Some(&mut text)), tgi::parse_body(json, None), kserve::parse_v1(json), kserve::parse_v2(json)]
}

/// gRPC messages split off a stream of body bytes, fed in `reads`: the messages, then
/// the bytes left over (not a whole message) or the error that stopped the split.
pub fn grpc_frames(reads: &[&[u8]]) -> (Vec<Vec<u8>>, Result<usize, String>) {
    let mut frames = grpc::Frames::default();
    let mut messages = Vec::new();
    for read in reads {
        frames.feed(read);
        loop {
            match frames.next() {
                Ok(Some(message)) => messages.push(message.to_vec()),
                Ok(None) => break,
                Err(e) => return (messages, Err(e)),
            }
        }
    }
    let left = frames.leftover();
    (messages, Ok(left))
}

/// A message of a `ModelStreamInfer` stream: the server's error message, if any.
pub fn grpc_stream_response(message: &[u8]) -> Result<Option<String>, String> {
    grpc::stream_response(message)
}

/// A `ModelInfer` answer.
pub fn grpc_unary_response(message: &[u8]) -> Result<(), String> {
    grpc::unary_response(message)
}

/// A `grpc-message` trailer, decoded and made printable.
pub fn grpc_message(raw: &[u8]) -> String {
    grpc::decode_message(raw)
}

/// The HTTP status a gRPC status code stands for.
pub fn grpc_status(code: u32) -> (u16, &'static str) {
    grpc::http_status(code)
}
