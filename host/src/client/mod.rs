//! Talking to the target: turning scenario requests into HTTP ([`request`]), a
//! lock-free pool of HTTP/1.1 connections ([`pool`]), the server-sent-events parser
//! ([`sse`]), response parsing per protocol ([`openai`], [`tgi`], [`kserve`]) and the
//! timed exchange of one request ([`exchange`]).

pub mod exchange;
pub mod kserve;
pub mod openai;
pub mod pool;
pub mod request;
pub mod sse;
pub mod tgi;
