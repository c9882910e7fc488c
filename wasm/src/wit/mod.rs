//! The `volley:scenario` WIT versions this host runs: one module per version, each
//! behind the same two traits, and one registry ([`WitVersion::SUPPORTED`]).
//!
//! A version module holds its generated bindings, binds the capabilities it imports
//! (`crate::caps`), converts its types to and from `volley_core`'s model, and
//! implements [`Version`] (link and instantiate) and [`Exports`] (the calls). Adding a
//! version is a new `wit/` folder, one new module and one row in
//! [`WitVersion::SUPPORTED`]; released versions are frozen and never edited (see
//! docs/wit-versions.md).

pub(crate) mod convert;
mod v0_1;
mod v0_2;
mod v0_3;
mod v0_4;
mod v0_5;

use volley_core::{Batch, Info, Outcome, Plan, Stage, StageResult};
use wasmtime::Store;
use wasmtime::component::{Component, Linker};

use crate::sandbox::StoreState;

/// One instantiated scenario's exports, whatever its WIT version.
pub(crate) trait Exports: Send {
    fn describe(&self, store: &mut Store<StoreState>) -> wasmtime::Result<Info>;

    /// The plan, or the scenario's own reason for refusing its parameters.
    fn configure(&self, store: &mut Store<StoreState>, params: &str) -> wasmtime::Result<Result<Plan, String>>;

    fn next_requests(&self, store: &mut Store<StoreState>, stage: u32, seq: u64, max: u32) -> wasmtime::Result<Batch>;

    fn on_outcome(&self, store: &mut Store<StoreState>, outcome: Outcome) -> wasmtime::Result<()>;

    /// Adaptive plans (0.4 on); older versions have none.
    fn next_stage(&self, _store: &mut Store<StoreState>, _results: &[StageResult]) -> wasmtime::Result<Option<Stage>> {
        Ok(None)
    }
}

/// A WIT version: what its components import, and how to instantiate them.
pub(crate) trait Version: Sync {
    /// The package version, e.g. "0.4.0".
    fn semver(&self) -> &'static str;

    /// Links the host capabilities this version imports.
    fn link(&self, linker: &mut Linker<StoreState>) -> wasmtime::Result<()>;

    fn instantiate(
        &self,
        store: &mut Store<StoreState>,
        component: &Component,
        linker: &Linker<StoreState>,
    ) -> wasmtime::Result<Box<dyn Exports>>;
}

/// The [`Version`] and [`Exports`] of a version whose capabilities and exports have the
/// 0.2 shape (log, random, tokenizer, datasets; `next-requests` returns a batch), for the
/// `bindings` module in scope; methods added by the version (`next_stage`) follow in
/// braces.
macro_rules! version_of_batches {
    ($name:ident, $semver:literal { $($extra:tt)* }) => {
        crate::caps::host_traits!(bindings);

        #[doc = concat!("`volley:scenario@", $semver, "`.")]
        pub(super) struct $name;

        impl crate::wit::Version for $name {
            fn semver(&self) -> &'static str {
                $semver
            }

            fn link(&self, linker: &mut wasmtime::component::Linker<crate::sandbox::StoreState>) -> wasmtime::Result<()> {
                crate::caps::link_capabilities!(linker, bindings)
            }

            fn instantiate(
                &self,
                store: &mut wasmtime::Store<crate::sandbox::StoreState>,
                component: &wasmtime::component::Component,
                linker: &wasmtime::component::Linker<crate::sandbox::StoreState>,
            ) -> wasmtime::Result<Box<dyn crate::wit::Exports>> {
                Ok(Box::new(bindings::Scenario::instantiate(store, component, linker)?))
            }
        }

        impl crate::wit::Exports for bindings::Scenario {
            fn describe(&self, store: &mut wasmtime::Store<crate::sandbox::StoreState>) -> wasmtime::Result<volley_core::Info> {
                self.volley_scenario_workload().call_describe(store).map(Into::into)
            }

            fn configure(
                &self,
                store: &mut wasmtime::Store<crate::sandbox::StoreState>,
                params: &str,
            ) -> wasmtime::Result<Result<volley_core::Plan, String>> {
                Ok(self.volley_scenario_workload().call_configure(store, params)?.map(Into::into))
            }

            fn next_requests(
                &self,
                store: &mut wasmtime::Store<crate::sandbox::StoreState>,
                stage: u32,
                seq: u64,
                max: u32,
            ) -> wasmtime::Result<volley_core::Batch> {
                self.volley_scenario_workload().call_next_requests(store, stage, seq, max).map(Into::into)
            }

            fn on_outcome(&self, store: &mut wasmtime::Store<crate::sandbox::StoreState>, outcome: volley_core::Outcome) -> wasmtime::Result<()> {
                self.volley_scenario_workload().call_on_outcome(store, &outcome.into())
            }

            $($extra)*
        }
    };
}

pub(crate) use version_of_batches;

/// A `volley:scenario` version this host can run.
#[derive(Clone, Copy)]
pub struct WitVersion(&'static dyn Version);

impl WitVersion {
    /// Every version this host runs, newest first: the registry.
    pub const SUPPORTED: &'static [WitVersion] =
        &[WitVersion(&v0_5::V0_5), WitVersion(&v0_4::V0_4), WitVersion(&v0_3::V0_3), WitVersion(&v0_2::V0_2), WitVersion(&v0_1::V0_1)];

    /// The newest version: what new projects and the SDK target.
    pub fn newest() -> WitVersion {
        Self::SUPPORTED[0]
    }

    /// The package version, e.g. "0.5.0".
    pub fn semver(self) -> &'static str {
        self.0.semver()
    }

    /// The versioned name of the interface a scenario of this version exports.
    pub fn workload_export(self) -> String {
        format!("volley:scenario/workload@{}", self.semver())
    }

    pub(crate) fn module(self) -> &'static dyn Version {
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
