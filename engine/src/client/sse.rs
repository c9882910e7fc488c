//! An incremental parser for server-sent events (the WHATWG event-stream format), as
//! inference servers use it: `data:` lines, blank-line dispatch, `:` comments (llama.cpp
//! sends `: ping`), LF, CRLF or CR line ends (a CRLF may be split across network
//! chunks), multi-line data joined with `\n`, and an optional space after the colon.
//!
//! It is fed network chunks as they arrive and calls back once per complete event with
//! borrowed bytes; its buffers are reused, so steady-state parsing does not allocate.
//! A line or an event over [`MAX_EVENT`] bytes (a server that never ends a line) stops
//! the parser, which says so ([`SseParser::overflowed`]): its memory stays bounded.

/// Largest line or event kept, bytes; inference servers send a few KiB at most.
pub const MAX_EVENT: usize = 4 << 20;

#[derive(Debug, Default)]
pub struct SseParser {
    /// A line cut off by the end of the previous chunk.
    partial: Vec<u8>,
    data: Vec<u8>,
    event: Vec<u8>,
    has_data: bool,
    /// The previous chunk ended in CR; a LF at the start of the next one belongs to it.
    skip_lf: bool,
    /// A line or event outgrew [`MAX_EVENT`]; nothing more is parsed.
    overflowed: bool,
}

/// One dispatched event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The `event:` field; empty for the default "message" type.
    pub event: &'a [u8],
    pub data: &'a [u8],
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `chunk`, calling `on_event` for every event it completes.
    pub fn feed(&mut self, mut chunk: &[u8], mut on_event: impl FnMut(SseEvent<'_>)) {
        if self.overflowed {
            return;
        }
        if self.skip_lf && !chunk.is_empty() {
            self.skip_lf = false;
            if let [b'\n', rest @ ..] = chunk {
                chunk = rest;
            }
        }
        // Lines are found with memchr (SIMD), not byte by byte: this loop sees every
        // streamed token.
        while let Some(end) = memchr::memchr2(b'\n', b'\r', chunk) {
            let (line, rest) = chunk.split_at(end);
            let crlf = rest[0] == b'\r' && rest.get(1) == Some(&b'\n');
            if rest[0] == b'\r' && rest.len() == 1 {
                self.skip_lf = true;
            }
            chunk = &rest[if crlf { 2 } else { 1 }..];
            // The common event, one `data:` line and its blank line both in this chunk,
            // is handed out as it lies, without copying it.
            if self.partial.is_empty()
                && !self.has_data
                && self.event.is_empty()
                && let (Some(data), Some(blank)) = (data_value(line), blank_line(chunk))
                && data.len() <= MAX_EVENT
            {
                on_event(SseEvent { event: b"", data });
                chunk = &chunk[blank..];
                continue;
            }
            if self.partial.is_empty() {
                self.line(line, &mut on_event);
            } else {
                let mut full = std::mem::take(&mut self.partial);
                full.extend_from_slice(line);
                self.line(&full, &mut on_event);
                full.clear();
                self.partial = full;
            }
            if self.data.len() > MAX_EVENT {
                self.overflow();
                return;
            }
        }
        if self.partial.len() + chunk.len() > MAX_EVENT {
            self.overflow();
            return;
        }
        self.partial.extend_from_slice(chunk);
    }

    /// Whether the stream sent a line or an event over [`MAX_EVENT`] bytes (and parsing
    /// stopped there).
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    fn overflow(&mut self) {
        self.overflowed = true;
        self.partial = Vec::new();
        self.data = Vec::new();
        self.has_data = false;
    }

    /// The stream ended. Dispatches a last event that lacked its closing blank line —
    /// lenient where the specification would drop it, since some servers end that way.
    pub fn finish(&mut self, mut on_event: impl FnMut(SseEvent<'_>)) {
        if self.overflowed {
            return;
        }
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(&line, &mut on_event);
        }
        self.dispatch(&mut on_event);
    }

    fn line(&mut self, line: &[u8], on_event: &mut impl FnMut(SseEvent<'_>)) {
        if line.is_empty() {
            self.dispatch(on_event);
            return;
        }
        if line[0] == b':' {
            return; // comment / keep-alive
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => {
                self.event.clear();
                self.event.extend_from_slice(value);
            }
            _ => {} // id, retry and unknown fields do not matter here
        }
    }

    fn dispatch(&mut self, on_event: &mut impl FnMut(SseEvent<'_>)) {
        if self.has_data {
            on_event(SseEvent { event: &self.event, data: &self.data });
        }
        self.data.clear();
        self.event.clear();
        self.has_data = false;
    }
}

/// The value of a `data:` line (after the optional space).
fn data_value(line: &[u8]) -> Option<&[u8]> {
    let v = line.strip_prefix(b"data:")?;
    Some(v.strip_prefix(b" ").unwrap_or(v))
}

/// The length of the empty line `rest` starts with (its line end: LF, CRLF, or a CR not
/// followed by LF); `None` if it starts otherwise, or with a CR whose LF may be in the
/// next chunk.
fn blank_line(rest: &[u8]) -> Option<usize> {
    match rest {
        [b'\n', ..] => Some(1),
        [b'\r', b'\n', ..] => Some(2),
        [b'\r', _, ..] => Some(1),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<(String, String)> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        let mut push =
            |e: SseEvent<'_>| out.push((String::from_utf8_lossy(e.event).into_owned(), String::from_utf8_lossy(e.data).into_owned()));
        for c in chunks {
            p.feed(c, &mut push);
        }
        p.finish(&mut push);
        out
    }

    fn data(events: &[(String, String)]) -> Vec<&str> {
        events.iter().map(|(_, d)| d.as_str()).collect()
    }

    const LLAMA_CPP: &[u8] = b": ping\n\ndata: {\"a\":1}\n\ndata: {\"a\":2}\n\ndata: [DONE]\n\n";

    #[test]
    fn an_endless_line_or_event_stops_the_parser_with_bounded_memory() {
        let mut p = SseParser::new();
        let mut n = 0;
        let chunk = vec![b'x'; 1 << 20];
        p.feed(b"data: ", |_| n += 1);
        for _ in 0..8 {
            p.feed(&chunk, |_| n += 1);
        }
        p.finish(|_| n += 1);
        assert!(p.overflowed() && n == 0 && p.partial.capacity() == 0);
        let mut p = SseParser::new();
        let line = [b"data: ".as_slice(), &vec![b'y'; 1 << 20], b"\n"].concat();
        for _ in 0..8 {
            p.feed(&line, |_| n += 1);
        }
        assert!(p.overflowed() && n == 0, "many data lines of one event");
    }

    #[test]
    fn comments_and_done() {
        assert_eq!(data(&parse_chunks(&[LLAMA_CPP])), ["{\"a\":1}", "{\"a\":2}", "[DONE]"]);
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        let inputs: [&[u8]; 4] = [
            LLAMA_CPP,
            b"data: one\r\n\r\ndata:two\r\ndata:  three\r\n\r\n:c\r\ndata: [DONE]\r\n\r\n",
            b"event: error\rdata: x\r\rdata: y\n\n",
            b"data:a\n\ndata: b\r\n\r\ndata: c\r\rdata: d\ndata: e\n\nevent: x\ndata: f\n\ndata: g\r\n\r",
        ];
        for input in inputs {
            let whole = parse_chunks(&[input]);
            for i in 0..=input.len() {
                for j in i..=input.len() {
                    let split = parse_chunks(&[&input[..i], &input[i..j], &input[j..]]);
                    assert_eq!(split, whole, "split at {i},{j} of {:?}", String::from_utf8_lossy(input));
                }
            }
        }
    }

    #[test]
    fn single_line_events_and_their_neighbours() {
        let e = parse_chunks(&[b"data:a\n\ndata: b\r\n\r\ndata: c\r\rdata: d\ndata: e\n\nevent: x\ndata: f\n\ndata: g\r\n\r"]);
        let want = [("", "a"), ("", "b"), ("", "c"), ("", "d\ne"), ("x", "f"), ("", "g")];
        assert_eq!(e, want.map(|(a, b)| (a.to_string(), b.to_string())));
    }

    #[test]
    fn crlf_multiline_and_space_rules() {
        let e = parse_chunks(&[b"data: one\r\n\r\ndata:two\r\ndata:  three\r\n\r\n:c\r\ndata: [DONE]\r\n\r\n"]);
        assert_eq!(data(&e), ["one", "two\n three", "[DONE]"]);
    }

    #[test]
    fn cr_only_and_event_field() {
        let e = parse_chunks(&[b"event: error\rdata: x\r\rdata: y\n\n"]);
        assert_eq!(e, [("error".to_string(), "x".to_string()), (String::new(), "y".to_string())]);
    }

    #[test]
    fn unterminated_last_event_is_kept() {
        assert_eq!(data(&parse_chunks(&[b"data: a\n\ndata: b"])), ["a", "b"]);
        assert_eq!(data(&parse_chunks(&[b"data: a\n\ndata: b\n"])), ["a", "b"]);
    }

    #[test]
    fn empty_data_line_is_an_event() {
        assert_eq!(data(&parse_chunks(&[b"data\n\ndata:\n\n"])), ["", ""]);
        assert!(parse_chunks(&[b"id: 3\nretry: 10\n\n"]).is_empty());
    }
}
