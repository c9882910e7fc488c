//! Talking to the target: turning scenario requests into HTTP ([`request`]), a
//! lock-free pool of connections ([`pool`]), HTTP/1.1 read and written by the exchange's
//! own task ([`h1`]; HTTP/2 and gRPC on hyper), a body read the same way on either
//! ([`body`]), the server-sent-events parser ([`sse`]), response parsing per protocol
//! into what an event carried ([`parsed`]): [`openai`] (with its fast path for streamed
//! events and the reading of a stream's events by difference), [`responses`] (OpenAI's
//! Responses API), [`anthropic`] (Anthropic's Messages API), [`tgi`], [`kserve`])
//! and the timed exchange of one request ([`exchange`]), which returns its record, ended
//! early by its timeout or the run's cancellation ([`watch`]).

pub(crate) mod anthropic;
pub(crate) mod body;
pub(crate) mod exchange;
pub(crate) mod grpc;
pub(crate) mod h1;
pub(crate) mod kept;
pub(crate) mod kserve;
pub(crate) mod openai;
pub(crate) mod parsed;
pub(crate) mod pool;
pub(crate) mod request;
pub(crate) mod responses;
pub(crate) mod sse;
pub(crate) mod tgi;
pub(crate) mod watch;

#[cfg(test)]
mod fuzz;
