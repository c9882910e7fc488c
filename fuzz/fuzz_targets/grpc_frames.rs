//! gRPC frames of a KServe v2 answer (`engine/src/client/grpc.rs`): messages split off
//! the body's bytes (a compression flag, a 32-bit length, the message), each decoded as
//! a `ModelStreamInferResponse` and a `ModelInferResponse` (prost), and the
//! `grpc-message` trailer's percent-decoding.
//!
//! Holds: no panic; the same messages however the body is cut into reads; every byte is
//! accounted for (five framing bytes and the message, each, then the leftover); what
//! reaches the terminal (the server's error message, the trailer) is printable.

#![no_main]

use libfuzzer_sys::fuzz_target;
use volley_engine::fuzzing::{grpc_frames, grpc_message, grpc_status, grpc_stream_response, grpc_unary_response};

fuzz_target!(|data: &[u8]| {
    let whole = grpc_frames(&[data]);
    let pieces = volley_fuzz::reads(data);
    let split = grpc_frames(&pieces);
    match (&whole, &split) {
        ((a, Ok(left_a)), (b, Ok(left_b))) => assert_eq!((a, left_a), (b, left_b), "read whole and in {} pieces", pieces.len()),
        ((_, Err(_)), (_, Err(_))) => {}
        _ => panic!("read whole: {whole:?}; in {} pieces: {split:?}", pieces.len()),
    }
    let (messages, left) = whole;
    if let Ok(left) = left {
        let framed: usize = messages.iter().map(|m| 5 + m.len()).sum();
        assert_eq!(framed + left, data.len(), "bytes lost or invented");
    }
    for message in &messages {
        match grpc_stream_response(message) {
            Ok(Some(error)) => volley_fuzz::printable("a stream's error message", &error),
            Ok(None) => {}
            Err(e) => volley_fuzz::printable("a stream response", &e),
        }
        if let Err(e) = grpc_unary_response(message) {
            volley_fuzz::printable("a unary response", &e);
        }
    }
    volley_fuzz::printable("grpc-message", &grpc_message(data));
    if let Some(code) = data.first_chunk::<4>() {
        let (status, _) = grpc_status(u32::from_be_bytes(*code));
        assert!((200..600).contains(&status));
    }
});
