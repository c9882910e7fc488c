//! # volley-sdk: write Volley benchmark scenarios in Rust
//!
//! A Volley scenario is a WebAssembly component that declares a workload — the stages
//! and arrival pattern of a run, and the shape of every request — while the Volley host
//! owns the clock, the network and the statistics. This crate is the idiomatic Rust
//! side of the `volley:scenario@0.6.0` WIT interface: implement [`Scenario`], export it
//! with [`export_scenario!`], and build with `cargo build --target wasm32-wasip2`.
//!
//! ```no_run
//! use std::time::Duration;
//! use volley_sdk::{export_scenario, random, Load, Message, Next, Params, Plan, Request,
//!                  RequestContext, Scenario, Stage};
//!
//! struct Hello {
//!     rate: f64,
//!     max_tokens: u32,
//! }
//!
//! impl Scenario for Hello {
//!     fn describe() -> volley_sdk::Info {
//!         volley_sdk::info!("Poisson arrivals of short streaming chats")
//!     }
//!
//!     fn configure(params: &Params) -> Result<Self, String> {
//!         params.allow_only(&["rate", "max_tokens"])?;
//!         Ok(Hello { rate: params.f64("rate", 2.0)?, max_tokens: params.u32("max_tokens", 32)? })
//!     }
//!
//!     fn plan(&self) -> Plan {
//!         Plan::new().stage(
//!             Stage::new("main", Load::poisson(self.rate)).duration(Duration::from_secs(10)),
//!         )
//!     }
//!
//!     fn next_request(&mut self, _ctx: &RequestContext) -> Next {
//!         let topic = random::choose(&["tides", "comets", "bees"]).unwrap();
//!         Next::Send(
//!             Request::chat(vec![Message::user(format!("Tell me about {topic}."))])
//!                 .max_tokens(self.max_tokens)
//!                 .stream(true),
//!         )
//!     }
//! }
//!
//! export_scenario!(Hello);
//! ```
//!
//! Everything a scenario can reach of the outside world is a host capability: [`log`],
//! the seeded [`random`] stream, the run's [`tokenizer`], the [`datasets`] the
//! operator granted (files of rows, or folders of images and sounds for
//! [`ContentPart`]s) and named [`checks`] counted in the report. There is no file system, network, environment or wall clock;
//! requests name no host, so traffic only ever goes to the operator's target.
//! [`dist`] samples token lengths (fixed, uniform, normal, log-normal) from parameters.

#[doc(hidden)]
pub mod bindings;
pub mod checks;
pub mod datasets;
pub mod dist;
mod export;
pub mod log;
mod params;
mod plan;
pub mod random;
mod request;
pub mod shape;
pub mod tokenizer;

pub use bindings::exports::volley::scenario::workload::Info;
pub use bindings::volley::scenario::types::{
    Api, ContentPart, Delay, ErrorClass, GrantedFile, ImagePart, InlineMedia, Load, Media, Message, Outcome, Percentiles, Plan, Prompt,
    Reaction, Request, Slo, Stage, StageResult, TaskEnd, Tensor, TensorData, Tool, ToolCall, ToolChoice,
};
pub use export::{Next, RequestContext, Scenario};
pub use params::Params;
pub use plan::STAGE_PARAMS;
pub use request::PartMessage;
/// Re-exported for reading structured parameters (`Params::get`).
pub use serde_json;
pub use shape::{RequestShape, SHAPE_PARAMS};

#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::exports::volley::scenario::workload::Guest;
    pub use crate::bindings::volley::scenario::types::Batch;
    pub use crate::export::{Slot, configure, next_requests, next_stage};
}

/// An [`Info`] with the calling crate's package name and version.
#[macro_export]
macro_rules! info {
    ($description:expr) => {
        $crate::Info {
            name: env!("CARGO_PKG_NAME").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: ::std::string::ToString::to_string(&$description),
        }
    };
}
