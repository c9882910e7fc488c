//! HTTP/1.1 on the send path, read and written by the exchange's own task.
//!
//! hyper's client runs each connection as a task of its own and hands every request,
//! response and body frame across channels to it; on a load generator that is most of
//! the user time per request. Here a connection is a plain object that one exchange at a
//! time owns: the request goes out in one write (head and body together), the response
//! head is parsed with `httparse`, and the body is decoded in place ([`body`]) as the
//! exchange reads it, each piece stamped with the instant its read returned. HTTP/2 (and
//! so gRPC) stays on hyper.
//!
//! Bounds: a response head over [`MAX_HEAD`] bytes or [`MAX_HEADERS`] headers, chunk-size
//! lines and trailers past theirs, and any framing that does not parse are protocol
//! errors; the read buffer grows only to [`MAX_READ`] per read.

pub(crate) mod body;

use std::io;
use std::mem::MaybeUninit;
use std::time::Instant;

use bytes::{Buf, BytesMut};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Uri};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use volley_net::target::Connected;

use body::{BodyDecoder, Framing, Step};

/// Largest response head accepted.
pub(crate) const MAX_HEAD: usize = 64 << 10;
/// Most header lines in a response head.
pub(crate) const MAX_HEADERS: usize = 100;
/// First and largest read sizes: a read that fills the buffer doubles the next one.
const FIRST_READ: usize = 4 << 10;
pub(crate) const MAX_READ: usize = 64 << 10;
/// Bodies up to this size go out in the same write as the head.
const COPY_BODY: usize = 64 << 10;

/// Why an exchange on a connection failed (hyper's HTTP/2 errors are sorted into the
/// same kinds by the exchange).
#[derive(Debug)]
pub(crate) enum WireError {
    /// The connection failed or ended before the response's first byte: on a reused
    /// connection, one the server had already closed.
    Closed(String),
    /// The connection failed or ended inside the response.
    Broken(String),
    /// The server's bytes are not an HTTP/1.1 response.
    Protocol(String),
}

/// A response head's status and when it came.
pub(crate) struct Head {
    pub status: u16,
    /// When the read that brought the response's first bytes returned.
    pub first_byte: Instant,
}

/// One HTTP/1.1 connection to the target.
pub(crate) struct H1Conn {
    io: Connected,
    /// Bytes read and not yet consumed.
    buf: BytesMut,
    /// Bytes at the front of `buf` last handed out as body data.
    taken: usize,
    read_size: usize,
    /// When the last read returned.
    read_at: Instant,
    /// The request being written.
    out: Vec<u8>,
    body: BodyDecoder,
    /// The current response lets the connection carry another request after it.
    keep_alive: bool,
}

impl H1Conn {
    pub(crate) fn new(io: Connected) -> Self {
        H1Conn {
            io,
            buf: BytesMut::new(),
            taken: 0,
            read_size: FIRST_READ,
            read_at: Instant::now(),
            out: Vec::new(),
            body: BodyDecoder::new(Framing::Empty),
            keep_alive: false,
        }
    }

    /// Writes a request; returns when its last byte was handed to the kernel.
    pub(crate) async fn send<'h>(
        &mut self,
        method: &Method,
        uri: &Uri,
        headers: impl Iterator<Item = (&'h HeaderName, &'h HeaderValue)>,
        body: &[u8],
    ) -> Result<Instant, WireError> {
        self.out.clear();
        encode_head(&mut self.out, method, uri, headers, body.len());
        let copied = body.len() <= COPY_BODY;
        if copied {
            self.out.extend_from_slice(body);
        }
        let closed = |e: io::Error| WireError::Closed(format!("the request could not be written: {e}"));
        self.io.write_all(&self.out).await.map_err(closed)?;
        if !copied {
            self.io.write_all(body).await.map_err(closed)?;
        }
        // A no-op on TCP; TLS may still hold the last record.
        self.io.flush().await.map_err(closed)?;
        Ok(Instant::now())
    }

    /// Reads the response head (skipping interim 1xx responses). `head_request`: the
    /// request was a HEAD, so the response has no body whatever its headers say.
    pub(crate) async fn head(&mut self, head_request: bool) -> Result<Head, WireError> {
        // The last response's last piece, if its reader stopped once it knew it had all.
        self.buf.advance(std::mem::take(&mut self.taken));
        self.keep_alive = false;
        self.body = BodyDecoder::new(Framing::Empty);
        let mut first_byte = None;
        loop {
            if !self.buf.is_empty() {
                let first_byte = *first_byte.get_or_insert(self.read_at);
                if let Some(status) = self.parse_head(head_request)? {
                    return Ok(Head { status, first_byte });
                }
            }
            let began = first_byte.is_some();
            match self.fill().await {
                Ok(0) if began => return Err(WireError::Broken("the connection closed inside the response head".into())),
                Ok(0) => return Err(WireError::Closed("the connection closed before any response".into())),
                Ok(_) => {}
                Err(e) if began => return Err(WireError::Broken(format!("reading the response head failed: {e}"))),
                Err(e) => return Err(WireError::Closed(format!("the connection failed before any response: {e}"))),
            }
        }
    }

    /// Parses a final response head from the front of the buffer: its status once it is
    /// complete (`None` until then); interim 1xx heads are dropped.
    fn parse_head(&mut self, head_request: bool) -> Result<Option<u16>, WireError> {
        let Some(head) = parse_head(&mut self.buf, head_request)? else { return Ok(None) };
        self.keep_alive = head.keep_alive;
        self.body = BodyDecoder::new(head.framing);
        Ok(Some(head.status))
    }

    /// The next piece of the response body, when it was read, and whether the body ends
    /// with it; `None` at its end.
    pub(crate) async fn chunk(&mut self) -> Result<Option<(&[u8], Instant, bool)>, WireError> {
        self.buf.advance(std::mem::take(&mut self.taken));
        loop {
            match self.body.step(&mut self.buf).map_err(WireError::Protocol)? {
                Step::Data(n) => {
                    self.taken = n;
                    return Ok(Some((&self.buf[..n], self.read_at, self.body.is_done())));
                }
                Step::Done => return Ok(None),
                Step::NeedMore => match self.fill().await {
                    Ok(0) => self.body.closed().map_err(WireError::Broken)?,
                    Ok(_) => {}
                    Err(e) => return Err(WireError::Broken(e.to_string())),
                },
            }
        }
    }

    /// Whether the connection can carry another request: its response was read to the
    /// end, nothing followed it, and the server keeps the connection open.
    pub(crate) fn reusable(&self) -> bool {
        self.keep_alive && self.body.is_done() && self.buf.len() == self.taken
    }

    /// One read into the buffer; the bytes read (0: the connection closed).
    async fn fill(&mut self) -> io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < self.read_size / 2 {
            self.buf.reserve(self.read_size);
        }
        let room = self.buf.capacity() - self.buf.len();
        let n = self.io.read_buf(&mut self.buf).await?;
        self.read_at = Instant::now();
        if n == room && self.read_size < MAX_READ {
            self.read_size *= 2;
        }
        Ok(n)
    }
}

/// A final response head, as [`parse_head`] read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ParsedHead {
    pub status: u16,
    /// How its body ends (none for a HEAD request, 204 and 304).
    pub framing: Framing,
    /// The connection can carry another request after this response.
    pub keep_alive: bool,
}

/// Parses a final response head from the front of `buf`, dropping it (and any interim
/// 1xx heads before it) from the buffer; `None` while it is incomplete. `head_request`:
/// the request was a HEAD, so the response has no body whatever its headers say.
#[inline]
pub(crate) fn parse_head(buf: &mut BytesMut, head_request: bool) -> Result<Option<ParsedHead>, WireError> {
    loop {
        // Left uninitialized: httparse fills what it parses, and a hundred empty
        // headers written before every response were a third of this function.
        let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut []);
        match httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut resp, buf, &mut headers) {
            Ok(httparse::Status::Complete(len)) => {
                let status = resp.code.unwrap_or(0);
                let meaning = Meaning::of(&resp)?;
                buf.advance(len);
                match status {
                    101 => return Err(WireError::Protocol("the server switched protocols (101) unasked".into())),
                    100..=199 => continue,
                    _ => {}
                }
                let framing = if head_request || status == 204 || status == 304 { Framing::Empty } else { meaning.framing };
                let keep_alive = meaning.keep_alive && framing != Framing::UntilClose;
                return Ok(Some(ParsedHead { status, framing, keep_alive }));
            }
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                return Err(WireError::Protocol(format!("the response head is over {} KiB", MAX_HEAD >> 10)));
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(WireError::Protocol(format!("the response has over {MAX_HEADERS} headers")));
            }
            Err(e) => return Err(WireError::Protocol(format!("invalid HTTP/1.1 response head: {e}"))),
        }
    }
}

/// What a response's headers say of its body and of the connection after it.
struct Meaning {
    framing: Framing,
    keep_alive: bool,
}

impl Meaning {
    fn of(resp: &httparse::Response<'_, '_>) -> Result<Meaning, WireError> {
        let mut chunked = None;
        let mut length: Option<u64> = None;
        // HTTP/1.1 keeps the connection unless told; HTTP/1.0 only when told.
        let mut keep_alive = resp.version == Some(1);
        for h in resp.headers.iter() {
            let name = h.name.as_bytes();
            if name.eq_ignore_ascii_case(b"transfer-encoding") {
                // The last coding decides: chunked, or a body that ends with the connection.
                let last = h.value.rsplit(|&b| b == b',').next().unwrap_or_default();
                chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            } else if name.eq_ignore_ascii_case(b"content-length") {
                for v in h.value.split(|&b| b == b',') {
                    let v = v.trim_ascii();
                    let n = (!v.is_empty() && v.len() <= 19 && v.iter().all(u8::is_ascii_digit))
                        .then(|| v.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')))
                        .filter(|n| length.is_none_or(|l| l == *n))
                        .ok_or_else(|| WireError::Protocol(format!("invalid content-length {:?}", String::from_utf8_lossy(h.value))))?;
                    length = Some(n);
                }
            } else if name.eq_ignore_ascii_case(b"connection") {
                for token in h.value.split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"close") {
                        keep_alive = false;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") && resp.version == Some(0) {
                        keep_alive = true;
                    }
                }
            }
        }
        let framing = match (chunked, length) {
            (Some(true), _) => Framing::Chunked,
            (Some(false), _) => Framing::UntilClose,
            (None, Some(n)) => Framing::Length(n),
            (None, None) => Framing::UntilClose,
        };
        Ok(Meaning { framing, keep_alive })
    }
}

/// A request head: request line, headers, and the body's length where a body goes.
fn encode_head<'h>(
    out: &mut Vec<u8>,
    method: &Method,
    uri: &Uri,
    headers: impl Iterator<Item = (&'h HeaderName, &'h HeaderValue)>,
    body_len: usize,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(uri.path_and_query().map_or("/", |p| p.as_str()).as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // As hyper does: a length for every body, and for an empty one where a body is
    // expected (not on GET, HEAD, DELETE, OPTIONS, CONNECT, TRACE).
    let bodiless = matches!(*method, Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS | Method::CONNECT | Method::TRACE);
    if body_len > 0 || !bodiless {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(itoa::Buffer::new().format(body_len).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests;
