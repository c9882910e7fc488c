//! Scenario packages: one file that carries a component and its manifest, so scenarios
//! can be shared, inspected before they run, pinned by digest and pushed to an OCI
//! registry.
//!
//! - [`manifest`]: what a package says about its scenario (name, version, WIT version,
//!   parameters with defaults and a JSON schema, datasets, author, component digest).
//! - [`params`]: checking an operator's `--params` against the manifest's parameters.
//! - [`archive`]: the file format (a plain POSIX tar: `volley-package.json`, then
//!   `scenario.wasm`), reading with digest verification, writing.
//!
//! Making one (`volley pack`) is [`crate::pack`]; loading one is [`crate::source`].

pub mod archive;
pub mod manifest;
pub mod params;

pub use archive::Package;
pub use manifest::Manifest;

#[cfg(test)]
mod fuzz;
