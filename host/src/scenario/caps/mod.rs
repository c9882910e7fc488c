//! Host capabilities a scenario imports, one module per capability, composed here —
//! the way spin composes its host "factors". Each capability owns its state and
//! implements the generated `Host` trait of every WIT version that imports it; adding
//! a capability means adding a module and a line in [`Capabilities`] and the linker
//! functions below.

pub mod log;
pub mod random;

use wasmtime::component::Linker;

use super::sandbox::StoreState;
use super::v0_1::bindings as v0_1;

/// The state of every capability, held in the scenario's `Store`.
pub struct Capabilities {
    pub log: log::LogCap,
    pub random: random::RandomCap,
}

impl Capabilities {
    pub fn new(scenario: &str, seed: u64) -> Self {
        Capabilities { log: log::LogCap::new(scenario), random: random::RandomCap::new(seed) }
    }
}

/// Links the capabilities imported by `volley:scenario@0.1.0`.
pub fn link_v0_1(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    v0_1::volley::scenario::log::add_to_linker::<StoreState, log::LogCap>(linker, |s| &mut s.caps.log)?;
    v0_1::volley::scenario::random::add_to_linker::<StoreState, random::RandomCap>(linker, |s| {
        &mut s.caps.random
    })?;
    Ok(())
}
