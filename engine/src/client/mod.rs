//! Talking to the target: turning scenario requests into HTTP ([`request`]), a
//! lock-free pool of HTTP/1.1 connections ([`pool`]), the server-sent-events parser
//! ([`sse`]), response parsing per protocol ([`openai`], with its fast path for streamed
//! events [`scan`]; [`tgi`], [`kserve`]) and the
//! timed exchange of one request ([`exchange`]), which returns its record.

pub(crate) mod exchange;
pub(crate) mod grpc;
pub(crate) mod kserve;
pub(crate) mod openai;
pub(crate) mod pool;
pub(crate) mod request;
pub(crate) mod scan;
pub(crate) mod sse;
pub(crate) mod tgi;

#[cfg(test)]
mod fuzz;
