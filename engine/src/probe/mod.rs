//! Looking at the server from the side while the load runs: its Prometheus metrics
//! ([`prometheus`]) and Triton's per-model statistics ([`triton`]). These requests are
//! the operator's (flags), never a scenario's.

pub(crate) mod prometheus;
pub mod triton;
