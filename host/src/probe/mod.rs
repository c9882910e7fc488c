//! Looking at the server from the side while the load runs: its Prometheus metrics
//! ([`prometheus`]) and Triton's per-model statistics ([`triton`]), over a small HTTP
//! GET helper ([`get`]). These requests are the operator's (flags), never a scenario's.

pub mod get;
pub mod prometheus;
pub mod triton;
