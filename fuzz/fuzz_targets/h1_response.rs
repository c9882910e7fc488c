//! HTTP/1.1 responses as the exchange reads them (`engine/src/client/h1/`): the head
//! (httparse, then what its headers say of the body and the connection), then the body
//! decoded in place (a length, chunked transfer coding with its size lines and trailers,
//! or until the connection closes).
//!
//! Holds: no panic; the same response read in one piece and in the input's own reads
//! (any cut, down to a byte) gives the same answer; a body never outgrows the input, has
//! exactly its length when it ended by one, and is empty for a HEAD request; a final
//! status is never an interim 1xx.

#![no_main]

use libfuzzer_sys::fuzz_target;
use volley_engine::fuzzing::{H1Response, h1_response};

fn check(data: &[u8], got: &Result<Option<H1Response>, String>, head_request: bool) {
    let Ok(Some(r)) = got else { return };
    assert!(!(100..200).contains(&r.status), "a final status {}", r.status);
    assert!(r.body.len() <= data.len(), "a body of {} bytes from {} bytes", r.body.len(), data.len());
    if let Some(n) = r.framing.strip_prefix("length ") {
        let n: usize = n.parse().expect("a length");
        assert!(!r.ended || r.body.len() == n, "a body of {} bytes ended with length {n}", r.body.len());
    }
    if head_request {
        assert!(r.body.is_empty() && r.ended && r.framing == "empty", "a HEAD response with a body: {r:?}");
    }
    if r.reusable {
        assert!(r.ended, "a connection kept after a body that did not end");
    }
}

fuzz_target!(|data: &[u8]| {
    for head_request in [false, true] {
        let whole = h1_response(&[data], head_request);
        check(data, &whole, head_request);
        let pieces = volley_fuzz::reads(data);
        let split = h1_response(&pieces, head_request);
        match (&whole, &split) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "read whole and in {} pieces", pieces.len()),
            (Err(_), Err(_)) => {}
            _ => panic!("read whole: {whole:?}; in {} pieces: {split:?}", pieces.len()),
        }
        if let Err(e) = &whole {
            volley_fuzz::one_line("h1", e);
        }
    }
});
