//! Scenario packages: one file that carries a component and its manifest, so scenarios
//! can be shared, inspected before they run, pinned by digest and pushed to an OCI
//! registry.
//!
//! - [`manifest`]: what a package says about its scenario (name, version, WIT version,
//!   parameters with defaults and a JSON schema, datasets, author, component digest).
//! - [`params`]: checking an operator's `--params` against the manifest's parameters.
//! - [`archive`]: the file format (a plain POSIX tar: `volley-package.json`, then
//!   `scenario.wasm`), reading with digest verification, writing.
//! - [`pack`]: `volley pack` — a built component plus its project's `volley.json`.

pub mod archive;
pub mod commands;
pub mod manifest;
pub mod pack;
pub mod params;

pub use archive::Package;
pub use manifest::Manifest;

use anyhow::{Result, bail};

use crate::scenario::ScenarioSource;
use crate::scenario::caps::Grants;

/// For a packaged scenario: the operator's parameters against the declared ones.
pub fn check_params(source: &ScenarioSource, params: &serde_json::Value) -> Result<()> {
    match &source.manifest {
        Some(m) => params::check(&m.name, &m.params, params),
        None => Ok(()),
    }
}

/// For a packaged scenario: every dataset it requires is granted.
pub fn check_datasets(source: &ScenarioSource, grants: &Grants) -> Result<()> {
    let Some(m) = &source.manifest else { return Ok(()) };
    for (name, need) in &m.datasets {
        if need.required && !grants.datasets.iter().any(|d| &d.name == name) {
            let what = if need.description.is_empty() { String::new() } else { format!(" ({})", need.description) };
            bail!("package '{}' needs dataset '{name}'{what}: grant it with --dataset {name}=PATH", m.name);
        }
    }
    Ok(())
}
