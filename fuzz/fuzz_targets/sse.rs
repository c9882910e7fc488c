//! Server-sent events (`engine/src/client/sse.rs`): the incremental parser every streamed
//! answer goes through, with its fast path for the common one-line event.
//!
//! Holds: no panic; the events are the same however the stream is cut into reads; they
//! are the events of a plain line-by-line reading of the format (below, written from the
//! WHATWG rules the parser follows: LF, CRLF or CR line ends, `:` comments, `data` lines
//! joined with `\n`, one optional space after the colon, a last event without its blank
//! line kept); their bytes never outgrow the stream's.

#![no_main]

use libfuzzer_sys::fuzz_target;
use volley_engine::fuzzing::{MAX_EVENT, SseEvent, SseParser};

type Events = Vec<(Vec<u8>, Vec<u8>)>;

fn parse(reads: &[&[u8]]) -> (Events, bool) {
    let mut parser = SseParser::new();
    let mut out = Vec::new();
    let mut push = |e: SseEvent<'_>| out.push((e.event.to_vec(), e.data.to_vec()));
    for read in reads {
        parser.feed(read, &mut push);
    }
    parser.finish(&mut push);
    (out, parser.overflowed())
}

/// The format read line by line, with nothing kept between reads.
fn reference(stream: &[u8]) -> Events {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < stream.len() {
        match stream[i] {
            b'\n' => {
                lines.push(&stream[start..i]);
                start = i + 1;
            }
            b'\r' => {
                lines.push(&stream[start..i]);
                if stream.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    let last = &stream[start..];
    let (mut events, mut event, mut data, mut has_data) = (Vec::new(), Vec::new(), Vec::new(), false);
    let mut dispatch = |event: &mut Vec<u8>, data: &mut Vec<u8>, has_data: &mut bool| {
        if *has_data {
            events.push((event.clone(), data.clone()));
        }
        event.clear();
        data.clear();
        *has_data = false;
    };
    for line in lines.into_iter().chain((!last.is_empty()).then_some(last)) {
        if line.is_empty() {
            dispatch(&mut event, &mut data, &mut has_data);
            continue;
        }
        if line[0] == b':' {
            continue;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(at) => (&line[..at], line[at + 1..].strip_prefix(b" ").unwrap_or(&line[at + 1..])),
            None => (line, &[][..]),
        };
        match field {
            b"data" => {
                if has_data {
                    data.push(b'\n');
                }
                data.extend_from_slice(value);
                has_data = true;
            }
            b"event" => event = value.to_vec(),
            _ => {}
        }
    }
    dispatch(&mut event, &mut data, &mut has_data);
    events
}

fuzz_target!(|data: &[u8]| {
    let (whole, overflowed) = parse(&[data]);
    let pieces = volley_fuzz::reads(data);
    let (split, split_overflowed) = parse(&pieces);
    assert_eq!((&split, split_overflowed), (&whole, overflowed), "read whole and in {} pieces", pieces.len());
    if data.len() <= MAX_EVENT {
        assert!(!overflowed, "{} bytes overflowed the parser", data.len());
        assert_eq!(whole, reference(data), "the parser and the line-by-line reading differ");
    }
    let bytes: usize = whole.iter().map(|(e, d)| e.len() + d.len()).sum();
    assert!(bytes <= data.len(), "{bytes} bytes of events from {} bytes", data.len());
});
