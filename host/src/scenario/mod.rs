//! Scenario components: where they come from, how they are compiled, sandboxed and
//! called.
//!
//! - [`source`]: a component's bytes and identity (file or `builtin:NAME`, sha256).
//! - [`cache`]: compiled components on disk, keyed by digest and engine configuration.
//! - [`engine`]: the wasmtime engine, its epoch ticker, compilation and WIT-version
//!   detection.
//! - [`sandbox`]: what a guest may use: no WASI capability, bounded memory and time.
//! - [`caps`]: the host capabilities a scenario imports (log, random), one module each.
//! - [`v0_1`] … [`v0_4`]: bindings for each `volley:scenario` version and their
//!   conversion to [`crate::model`] (shared parts in [`convert`]).
//! - [`instance`]: one instantiated scenario and its guarded calls.
//! - [`producer`]: the thread that owns an instance and produces requests ahead of time.

pub mod builtin;
pub mod cache;
pub mod caps;
mod convert;
pub mod engine;
pub mod instance;
pub mod producer;
pub mod sandbox;
pub mod source;
pub mod v0_1;
pub mod v0_2;
pub mod v0_3;
pub mod v0_4;

pub use engine::{CompiledScenario, ScenarioEngine, WitVersion};
pub use instance::ScenarioInstance;
pub use sandbox::SandboxLimits;
pub use source::ScenarioSource;
