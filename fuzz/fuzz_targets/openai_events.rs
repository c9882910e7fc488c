//! OpenAI-compatible streamed events (`engine/src/client/openai/`): the one-pass scanner
//! that reads the common event without building anything, the reading of a stream's
//! events by difference from the last one, and serde, which both must agree with. The
//! input is a stream's events, one a line (a real stream's `data:` payloads).
//!
//! Holds: no panic; for every event the exchange's reading (scanner, serde where it
//! gives up) gives what serde alone gives, the text appended included, or both refuse;
//! what the scanner accepts serde reads the same; read as a stream, each event read
//! against the last gives what serde gives; the TGI and KServe parsers survive the same
//! bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use volley_engine::fuzzing::{OpenAiStream, openai_event, openai_full, openai_scan, other_answers};

fuzz_target!(|data: &[u8]| {
    let mut stream = OpenAiStream::default();
    for event in data.split(|&b| b == b'\n') {
        let mut full_text = String::from("kept:");
        let full = openai_full(event, Some(&mut full_text));
        let mut text = String::from("kept:");
        let read = openai_event(event, Some(&mut text));
        match (&read, &full) {
            (Ok(a), Ok(b)) => assert_eq!((a, &text), (b, &full_text), "the exchange's reading and serde's differ"),
            (Err(_), Err(_)) => {}
            _ => panic!("the exchange's reading {read:?}, serde's {full:?}"),
        }
        if let Ok(json) = std::str::from_utf8(event) {
            let mut scan_text = String::from("kept:");
            if let Some(scanned) = openai_scan(json, Some(&mut scan_text)) {
                assert_eq!(
                    Ok((&scanned, &scan_text)),
                    full.as_ref().map(|f| (f, &full_text)),
                    "the scanner accepted what serde reads otherwise"
                );
            }
        }
        let mut stream_text = String::from("kept:");
        let streamed = stream.event(event, Some(&mut stream_text));
        match (&streamed, &full) {
            (Ok(a), Ok(b)) => assert_eq!((a, &stream_text), (b, &full_text), "read by difference and by serde differ"),
            (Err(_), Err(_)) => {}
            _ => panic!("read in a stream {streamed:?}, by serde {full:?}"),
        }
        let _ = other_answers(event);
    }
});
