//! How an HTTP/1.1 response body ends, decoded in place: a length, chunked transfer
//! coding, or the connection's close (RFC 9112 §6).
//!
//! The decoder works on the connection's read buffer and never copies body bytes: each
//! step drops framing bytes from the buffer's front and says how many bytes of body data
//! now stand there. Every line it waits for (a chunk size, a trailer) is bounded, so a
//! server that never ends one is refused instead of growing the buffer.

use bytes::{Buf, BytesMut};

/// Longest chunk-size line (with extensions) and longest trailer section accepted.
pub(crate) const MAX_LINE: usize = 4 << 10;
pub(crate) const MAX_TRAILERS: usize = 64 << 10;

/// What a response's head says of its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body (a HEAD request, 1xx, 204, 304).
    Empty,
    Length(u64),
    Chunked,
    /// Read until the server closes the connection.
    UntilClose,
}

/// What the front of the buffer holds, after a step.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// This many bytes of body data: the caller takes them and drops them from the buffer.
    Data(usize),
    /// The body is not complete in the buffer: read more.
    NeedMore,
    /// The body has ended; what follows in the buffer is not part of it.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    /// The CRLF after a chunk's data.
    ChunkEnd,
    /// Trailer lines after the last chunk, this many bytes of them seen.
    Trailers(usize),
    UntilClose,
    Done,
}

#[derive(Debug)]
pub(crate) struct BodyDecoder {
    state: State,
}

impl BodyDecoder {
    pub(crate) fn new(framing: Framing) -> Self {
        let state = match framing {
            Framing::Empty | Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::ChunkSize,
            Framing::UntilClose => State::UntilClose,
        };
        BodyDecoder { state }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from the front of `buf`: framing bytes are dropped from it, and the body
    /// data that is then at its front is announced (and counted as taken).
    pub(crate) fn step(&mut self, buf: &mut BytesMut) -> Result<Step, String> {
        loop {
            match self.state {
                State::Done => return Ok(Step::Done),
                State::Length(left) | State::ChunkData(left) => {
                    if buf.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    let n = left.min(buf.len() as u64);
                    self.state = match (self.state, left - n) {
                        (State::Length(_), 0) => State::Done,
                        (State::Length(_), rest) => State::Length(rest),
                        (_, 0) => State::ChunkEnd,
                        (_, rest) => State::ChunkData(rest),
                    };
                    return Ok(Step::Data(n as usize));
                }
                State::UntilClose => {
                    return Ok(if buf.is_empty() { Step::NeedMore } else { Step::Data(buf.len()) });
                }
                State::ChunkSize => {
                    let Some(line) = take_line(buf, MAX_LINE, "a chunk-size line")? else { return Ok(Step::NeedMore) };
                    let size = chunk_size(&line)?;
                    self.state = if size == 0 { State::Trailers(0) } else { State::ChunkData(size) };
                }
                State::ChunkEnd => {
                    match buf.first() {
                        None => return Ok(Step::NeedMore),
                        Some(b'\n') => buf.advance(1),
                        Some(b'\r') if buf.len() < 2 => return Ok(Step::NeedMore),
                        Some(b'\r') if buf[1] == b'\n' => buf.advance(2),
                        Some(_) => return Err("a chunk's data is longer than its size says".into()),
                    }
                    self.state = State::ChunkSize;
                }
                State::Trailers(seen) => {
                    let Some(line) = take_line(buf, MAX_TRAILERS - seen, "the trailers")? else { return Ok(Step::NeedMore) };
                    self.state = if line.is_empty() { State::Done } else { State::Trailers(seen + line.len() + 2) };
                }
            }
        }
    }

    /// The connection closed: the end of a close-delimited body, else a body cut short.
    pub(crate) fn closed(&mut self) -> Result<(), String> {
        match self.state {
            State::UntilClose | State::Done => {
                self.state = State::Done;
                Ok(())
            }
            State::Length(left) => Err(format!("the connection closed with {left} bytes of the body still to come")),
            _ => Err("the connection closed inside a chunked body".into()),
        }
    }
}

/// The next line at the front of `buf` without its line end (LF or CRLF), taken from
/// the buffer; `None` while it is incomplete. A line longer than `max` is refused.
fn take_line(buf: &mut BytesMut, max: usize, what: &str) -> Result<Option<BytesMut>, String> {
    match memchr::memchr(b'\n', buf) {
        Some(end) if end <= max => {
            let mut line = buf.split_to(end + 1);
            line.truncate(end);
            if line.last() == Some(&b'\r') {
                line.truncate(end - 1);
            }
            Ok(Some(line))
        }
        Some(_) => Err(format!("{what} of the response is over {} KiB", max >> 10)),
        None if buf.len() > max => Err(format!("{what} of the response is over {} KiB", max >> 10)),
        None => Ok(None),
    }
}

/// A chunk-size line's size: hex digits, then optional white space and extensions.
fn chunk_size(line: &[u8]) -> Result<u64, String> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let rest = &line[digits..];
    let rest_ok = rest.iter().position(|&b| b == b';').map_or(rest, |i| &rest[..i]).iter().all(|&b| b == b' ' || b == b'\t');
    // 15 hex digits is 2^60 bytes: any longer size is no real body.
    if digits == 0 || digits > 15 || !rest_ok {
        return Err(format!("invalid chunk size line {:?}", String::from_utf8_lossy(&line[..line.len().min(40)])));
    }
    Ok(line[..digits].iter().fold(0u64, |n, &b| n * 16 + u64::from((b as char).to_digit(16).unwrap_or(0))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `wire` fed in pieces of `piece` bytes: the body, and whether it ended.
    fn decode(framing: Framing, wire: &[u8], piece: usize) -> Result<(Vec<u8>, bool, Vec<u8>), String> {
        let mut d = BodyDecoder::new(framing);
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        let mut fed = 0;
        loop {
            match d.step(&mut buf)? {
                Step::Data(n) => {
                    body.extend_from_slice(&buf[..n]);
                    buf.advance(n);
                }
                Step::Done => return Ok((body, true, buf.to_vec())),
                Step::NeedMore if fed == wire.len() => {
                    d.closed()?;
                    return Ok((body, d.is_done(), buf.to_vec()));
                }
                Step::NeedMore => {
                    let end = (fed + piece).min(wire.len());
                    buf.extend_from_slice(&wire[fed..end]);
                    fed = end;
                }
            }
        }
    }

    #[test]
    fn chunked_bodies_decode_whatever_the_read_sizes() {
        let wire = b"5\r\nhello\r\n1;ext=1\r\n \r\nA  \r\n0123456789\r\n0\r\nx-trailer: 1\r\n\r\nNEXT";
        for piece in 1..=wire.len() {
            let (body, done, rest) = decode(Framing::Chunked, wire, piece).unwrap();
            assert_eq!((body.as_slice(), done), (&b"hello 0123456789"[..], true), "piece {piece}");
            // What follows the body stays for the caller (here: unread or in the buffer).
            assert!(b"NEXT".starts_with(&rest), "piece {piece}: {rest:?}");
        }
        let (body, done, _) = decode(Framing::Chunked, b"3\nabc\n0\n\n", 2).unwrap();
        assert_eq!((body.as_slice(), done), (&b"abc"[..], true), "bare LF line ends");
    }

    #[test]
    fn lengths_and_close_delimited_bodies() {
        let (body, done, rest) = decode(Framing::Length(5), b"hello world", 3).unwrap();
        assert_eq!((body.as_slice(), done, rest.as_slice()), (&b"hello"[..], true, &b" "[..]));
        let (body, done, _) = decode(Framing::UntilClose, b"all of it", 4).unwrap();
        assert_eq!((body.as_slice(), done), (&b"all of it"[..], true));
        assert_eq!(decode(Framing::Empty, b"", 1).unwrap().0, b"");
        assert!(decode(Framing::Length(9), b"short", 2).unwrap_err().contains("4 bytes of the body still to come"));
    }

    #[test]
    fn broken_chunked_framing_is_refused() {
        for (wire, want) in [
            (&b"zz\r\n"[..], "invalid chunk size"),
            (b"\r\n", "invalid chunk size"),
            (b"1000000000000000\r\n", "invalid chunk size"),
            (b"3\r\nabcd\r\n", "longer than its size"),
            (b"5\r\nab", "inside a chunked body"),
        ] {
            let err = decode(Framing::Chunked, wire, 1).unwrap_err();
            assert!(err.contains(want), "{wire:?}: {err}");
        }
        // A size line or trailers that never end: refused at the bound, not buffered.
        let endless = vec![b'1'; MAX_LINE + 10];
        assert!(decode(Framing::Chunked, &endless, 512).unwrap_err().contains("over 4 KiB"));
        let mut trailers = b"0\r\n".to_vec();
        trailers.extend(std::iter::repeat_n(b"x: y\r\n".as_slice(), MAX_TRAILERS / 6 + 1).flatten());
        assert!(decode(Framing::Chunked, &trailers, 4096).unwrap_err().contains("trailers"));
    }
}
