//! Talking to the target. One module per protocol owns its encoding and decoding:
//! [`openai`] (completions, chat and embeddings; written by [`openai::encode`], read with
//! a fast path for streamed events and the reading of a stream's events by difference),
//! [`responses`] (OpenAI's Responses API), [`anthropic`] (Anthropic's Messages API),
//! [`tgi`], [`kserve`] (v1 and v2 over REST), [`grpc`] (KServe v2 over gRPC) and [`http`]
//! (plain HTTP). Adding an API is one module and one row of the encoder's `match`.
//!
//! Around them: what a protocol's module writes ([`wire`]), the encoder that turns it
//! into a ready-to-send request, body-extra, headers, policy and kept histories
//! ([`request`], with the conversations a session keeps in [`kept`]), what a response
//! event carried, whatever its protocol ([`parsed`]), a lock-free pool of connections
//! ([`pool`]), HTTP/1.1 read and written by the exchange's own task ([`h1`]; HTTP/2 and
//! gRPC on hyper), a body read the same way on either ([`body`]), the server-sent-events
//! parser ([`sse`]), and the timed exchange of one request ([`exchange`]), which returns
//! its record, ended early by its timeout or the run's cancellation ([`watch`]).

pub(crate) mod anthropic;
pub(crate) mod body;
pub(crate) mod exchange;
pub(crate) mod grpc;
pub(crate) mod h1;
pub(crate) mod http;
pub(crate) mod kept;
pub(crate) mod kserve;
pub(crate) mod openai;
pub(crate) mod parsed;
pub(crate) mod pool;
pub(crate) mod request;
pub(crate) mod responses;
pub(crate) mod source;
pub(crate) mod sse;
pub(crate) mod tgi;
pub(crate) mod watch;
pub(crate) mod wire;

#[cfg(test)]
mod fuzz;
