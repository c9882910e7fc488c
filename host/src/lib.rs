//! # Volley
//!
//! A benchmark engine for GenAI inference servers. Workloads are WebAssembly scenario
//! components (see `wit/` and the `volley-sdk` crate); this crate is the host that runs
//! them: it schedules sends at their planned instants, speaks the serving protocols,
//! times every streamed chunk, and keeps the statistics.
//!
//! Layout, one concern per module:
//! - [`scenario`]: loading, sandboxing and calling scenario components (wasmtime).
//! - [`load`]: arrival processes and the stage drivers that send at planned instants.
//! - [`client`]: the HTTP/1.1 connection pool, SSE parser and protocol exchanges.
//! - [`metrics`]: per-request records and per-stage HDR histograms.
//! - [`report`]: `report.json`, the console summary, the HTML report, comparisons.
//! - [`export`]: live metrics for Prometheus scrapers.
//! - [`coldstart`]: model-load / cold-start timing of launched servers.
//! - [`probe`]: the server's own metrics (Prometheus) and Triton statistics.
//! - [`package`]: scenario packages (manifest + component); [`registry`]: OCI push/pull;
//!   [`new`]: `volley new` project templates.
//! - [`sim`]: a built-in server simulator (OpenAI, TGI, KServe).
//! - [`run`]: one benchmark run, end to end; [`cli`]: the `volley` command.

pub mod bench;
pub mod cancel;
pub mod check;
pub mod cli;
pub mod client;
pub mod coldstart;
pub mod dataset;
pub mod demo;
pub mod export;
pub mod load;
pub mod metrics;
pub mod model;
pub mod new;
pub mod package;
pub mod probe;
pub mod registry;
pub mod report;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod sim;
pub mod target;
pub mod tokenizer;
pub mod util;
