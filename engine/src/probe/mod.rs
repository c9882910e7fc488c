//! Looking at the server from the side while the load runs: its Prometheus metrics
//! ([`prometheus`]), Triton's per-model statistics ([`triton`]) and the GPUs of this
//! machine ([`gpu`]). These requests are
//! the operator's (flags), never a scenario's.

pub mod gpu;
pub(crate) mod prometheus;
pub mod triton;
