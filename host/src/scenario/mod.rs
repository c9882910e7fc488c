//! Scenario components: where they come from, how they are compiled, sandboxed and
//! called.
//!
//! - [`source`]: a component's bytes and identity (file or `builtin:NAME`, sha256).
//! - [`engine`]: the wasmtime engine, its epoch ticker, compilation and WIT-version
//!   detection.
//! - [`sandbox`]: what a guest may use: no WASI capability, bounded memory and time.
//! - [`caps`]: the host capabilities a scenario imports (log, random), one module each.
//! - [`v0_1`]: bindings for `volley:scenario@0.1.0` and their conversion to [`crate::model`].
//! - [`instance`]: one instantiated scenario and its guarded calls.
//! - [`producer`]: the thread that owns an instance and produces requests ahead of time.

pub mod builtin;
pub mod caps;
pub mod engine;
pub mod instance;
pub mod producer;
pub mod sandbox;
pub mod source;
pub mod v0_1;

pub use engine::{CompiledScenario, ScenarioEngine, WitVersion};
pub use instance::ScenarioInstance;
pub use sandbox::SandboxLimits;
pub use source::ScenarioSource;
