//! The `volley:scenario` WIT versions this host runs: one module per version, each
//! behind the same trait and entry points, and one registry ([`WitVersion::SUPPORTED`]).
//!
//! A version module holds its generated bindings, binds the capabilities it imports
//! (`crate::caps`) to its generated `Host` traits, converts its types to and from
//! `volley_core`'s model, and gives its [`Version`] (link and instantiate) and
//! [`Exports`] (the calls). Each module is self-contained: everything that touches its
//! generated bindings is written in it, for that version, and nothing of it is shared
//! with another version — what is shared here works on `volley_core` and `wasmtime`
//! types alone. Adding a version is a new `wit/` folder, one new module and one row in
//! [`WitVersion::SUPPORTED`]; released versions are frozen, which the digests in
//! `frozen.rs` enforce (see docs/wit-versions.md).

#[cfg(test)]
mod frozen;
mod v0_1;
mod v0_2;
mod v0_3;
mod v0_4;
mod v0_5;
mod v0_6;

use volley_core::{Batch, Info, Outcome, Plan, Reaction, ScenarioRequest, Stage, StageResult};
use wasmtime::Store;
use wasmtime::component::{Component, Linker};

use crate::sandbox::StoreState;

/// One instantiated scenario's exports, whatever its WIT version.
pub(crate) trait Exports: Send {
    fn describe(&self, store: &mut Store<StoreState>) -> wasmtime::Result<Info>;

    /// The plan, or the scenario's own reason for refusing its parameters.
    fn configure(&self, store: &mut Store<StoreState>, params: &str) -> wasmtime::Result<Result<Plan, String>>;

    fn next_requests(&self, store: &mut Store<StoreState>, stage: u32, seq: u64, max: u32) -> wasmtime::Result<Batch>;

    /// The outcome's reaction: its follow-up requests (converted as `next_requests`'
    /// are) and whether its session ended. Before 0.6 `on-outcome` returns nothing, and
    /// the reaction is [`Reaction::none`].
    fn on_outcome(&self, store: &mut Store<StoreState>, outcome: Outcome) -> wasmtime::Result<Reaction>;

    /// Adaptive plans (0.4 on); older versions have none.
    fn next_stage(&self, _store: &mut Store<StoreState>, _results: &[StageResult]) -> wasmtime::Result<Option<Stage>> {
        Ok(None)
    }
}

/// Links the host capabilities a version imports.
type Link = fn(&mut Linker<StoreState>) -> wasmtime::Result<()>;

/// Instantiates a component of a version, linked by its [`Link`].
type Instantiate = fn(&mut Store<StoreState>, &Component, &Linker<StoreState>) -> wasmtime::Result<Box<dyn Exports>>;

/// A WIT version's entry points: its package version, what its components import, and
/// how to instantiate them. Each version module gives one as a `static`.
pub(crate) struct Version {
    /// The package version, e.g. "0.4.0".
    semver: &'static str,
    link: Link,
    instantiate: Instantiate,
}

impl Version {
    /// Links the host capabilities this version imports.
    pub(crate) fn link(&self, linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
        (self.link)(linker)
    }

    pub(crate) fn instantiate(
        &self,
        store: &mut Store<StoreState>,
        component: &Component,
        linker: &Linker<StoreState>,
    ) -> wasmtime::Result<Box<dyn Exports>> {
        (self.instantiate)(store, component, linker)
    }
}

/// A version's instantiated bindings, as [`Exports`].
fn boxed<E: Exports + 'static>(instantiated: wasmtime::Result<E>) -> wasmtime::Result<Box<dyn Exports>> {
    Ok(Box::new(instantiated?))
}

/// Converts a guest's requests with `convert`; the first it refuses (why, in one line)
/// fails the call, which the instance reports as a fault naming the scenario.
fn requests<T>(list: Vec<T>, convert: impl FnMut(T) -> Result<ScenarioRequest, String>) -> wasmtime::Result<Vec<ScenarioRequest>> {
    list.into_iter().map(convert).collect::<Result<_, _>>().map_err(|e| wasmtime::format_err!("{e}"))
}

/// A `volley:scenario` version this host can run.
#[derive(Clone, Copy)]
pub struct WitVersion(&'static Version);

impl WitVersion {
    /// Every version this host runs, newest first: the registry.
    pub const SUPPORTED: &'static [WitVersion] = &[
        WitVersion(&v0_6::V0_6),
        WitVersion(&v0_5::V0_5),
        WitVersion(&v0_4::V0_4),
        WitVersion(&v0_3::V0_3),
        WitVersion(&v0_2::V0_2),
        WitVersion(&v0_1::V0_1),
    ];

    /// The newest version: what new projects and the SDK target.
    pub fn newest() -> WitVersion {
        Self::SUPPORTED[0]
    }

    /// The package version, e.g. "0.5.0".
    pub fn semver(self) -> &'static str {
        self.0.semver
    }

    /// The versioned name of the interface a scenario of this version exports.
    pub fn workload_export(self) -> String {
        format!("volley:scenario/workload@{}", self.semver())
    }

    pub(crate) fn module(self) -> &'static Version {
        self.0
    }
}

impl PartialEq for WitVersion {
    fn eq(&self, other: &Self) -> bool {
        self.semver() == other.semver()
    }
}

impl Eq for WitVersion {}

impl std::fmt::Debug for WitVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WitVersion({})", self.semver())
    }
}
