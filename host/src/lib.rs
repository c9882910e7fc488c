//! # Volley
//!
//! A benchmark engine for GenAI inference servers, as a library ("benchmark as code")
//! and as the `volley` command. This crate is the facade: it re-exports the crates
//! that do the work, each with one job (docs/architecture.md, "Crates"):
//!
//! - [`core`]: plans, requests, records, the [`Workload`](core::Workload) trait,
//!   seeded streams and stage statistics — no I/O;
//! - [`engine`]: the [`Run`] builder, scheduling, the HTTP client and protocols, the
//!   collector, probes, launched servers and cold starts;
//! - [`report`]: `report.json` and the [`Sink`](report::Sink)s that write a run's
//!   outputs (JSONL, CSV, HTML, the terminal, memory);
//! - [`wasm`]: scenarios as sandboxed WebAssembly components, packages, registries;
//! - [`sim`]: the built-in server simulator;
//! - [`export`]: OTLP and Prometheus exporters; [`data`]: tokenizers and datasets;
//!   [`net`]: targets and the probes' HTTP client.
//!
//! ## Benchmark as code
//!
//! A native workload (plain Rust, no Wasm) of streaming chats against the simulator,
//! started in-process; the report comes back in memory and no file is written:
//!
//! ```
//! use std::time::Duration;
//! use volley::core::{Batch, Info, Load, Message, Plan, ScenarioRequest, Stage, Workload, WorkloadError};
//! use volley::sim::{SimConfig, Simulator};
//! use volley::{Run, Target};
//!
//! /// Streaming chats, Poisson arrivals at 20/s for 2 s.
//! struct Chats;
//!
//! impl Workload for Chats {
//!     fn describe(&mut self) -> Result<Info, WorkloadError> {
//!         Ok(Info::new("chats", "0.1.0", "streaming chats"))
//!     }
//!     fn configure(&mut self, _params: &serde_json::Value) -> Result<Plan, WorkloadError> {
//!         Ok(Plan::new(vec![Stage::new("steady", Load::Poisson { rate: 20.0 }, Some(Duration::from_secs(2)), None)]))
//!     }
//!     fn next_requests(&mut self, _stage: u32, _seq: u64, max: u32) -> Result<Batch, WorkloadError> {
//!         let chat = || ScenarioRequest::chat(vec![Message::user("Hello!")]).stream(true).max_tokens(16);
//!         Ok(Batch { requests: (0..max).map(|_| chat()).collect(), done: false })
//!     }
//! }
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let config = SimConfig { ttft: Duration::from_millis(50), ..SimConfig::default() };
//!     let sim = Simulator::start(config, "127.0.0.1:0".parse()?).await?;
//!     let outcome = Run::new(Target::parse(&sim.url())?, Chats).execute().await?;
//!     let ttft = outcome.report.stages[0].ttft_ms.ok_or("no TTFT")?;
//!     println!("TTFT p50 {:.1} ms (the simulator's: 50 ms)", ttft.p50);
//!     Ok(())
//! }
//! ```
//!
//! Outputs are sinks added to the run (`.sink(JsonlSink::create(..)?)`,
//! [`report::MemorySink`], an exporter); a Wasm scenario is a
//! [`wasm::WasmScenario`], a workload like any other.

pub use volley_core as core;
pub use volley_data as data;
pub use volley_engine as engine;
pub use volley_export as export;
pub use volley_net as net;
pub use volley_report as report;
pub use volley_sim as sim;
pub use volley_store as store;
pub use volley_wasm as wasm;

pub use volley_engine::{Run, RunError, RunOutcome};
pub use volley_net::Target;

/// The run's tokenizer (`--tokenizer`), where earlier releases had it.
pub mod tokenizer {
    pub use volley_data::tokenizer::*;
}

/// Scenario components, where earlier releases had them: builtins, sources and WIT
/// versions (see [`crate::wasm`]).
pub mod scenario {
    pub use volley_wasm::builtin;
    pub use volley_wasm::{ScenarioSource, WitVersion};
}
