//! # volley-wasm
//!
//! Scenarios as WebAssembly components: where they come from ([`source`], builtins,
//! packages, OCI registries), how they are compiled ([`runtime`], with a compile cache)
//! and sandboxed ([`sandbox`]), the host capabilities they import ([`caps`]), the WIT
//! versions they are built against ([`wit`]), and [`WasmScenario`], which runs one as a
//! [`volley_core::Workload`].

pub mod builtin;
mod cache;
mod caps;
mod clock;
mod instance;
pub mod pack;
pub mod package;
pub mod registry;
mod runtime;
mod sandbox;
mod source;
mod stderr;
mod tick;
mod wasi;
mod wit;

pub use caps::Grants;
pub use instance::WasmScenario;
pub use package::{Manifest, Package};
pub use runtime::{CompileNotice, CompiledScenario, ScenarioEngine};
pub use sandbox::SandboxLimits;
pub use source::ScenarioSource;
pub use wit::WitVersion;

/// Why a scenario could not be loaded, compiled, packed or pulled, in one line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WasmError {
    /// The scenario, package or registry reference cannot be used.
    #[error("{0}")]
    Source(String),
    /// The scenario itself failed (instantiation, `describe`, `configure`).
    #[error(transparent)]
    Workload(#[from] volley_core::WorkloadError),
}

impl WasmError {
    /// A failure described by a chain of contexts, as one line.
    pub(crate) fn from_anyhow(e: anyhow::Error) -> Self {
        WasmError::Source(format!("{e:#}").split_whitespace().collect::<Vec<_>>().join(" "))
    }
}
