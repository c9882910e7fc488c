//! Looking at the server from the side while the load runs: its model list
//! ([`models`]), its Prometheus metrics ([`prometheus`], kept within [`series`]'s
//! bounds), Triton's per-model statistics ([`triton`]) and the GPUs of this machine
//! ([`gpu`]); and, once before the run, what the server says of itself ([`server_info`])
//! and what the load generator's machine is ([`host`]), for the report's metadata. Every answer of the server is read by one bounded reader ([`answer`]).
//! These requests are the operator's (flags), never a scenario's.

pub(crate) mod answer;
pub mod gpu;
pub(crate) mod host;
pub(crate) mod models;
pub(crate) mod prometheus;
pub(crate) mod series;
pub(crate) mod server_info;
pub mod triton;
