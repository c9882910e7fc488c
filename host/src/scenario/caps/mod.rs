//! Host capabilities a scenario imports, one module per capability, composed here —
//! the way spin composes its host "factors". Each capability owns its state and
//! implements the generated `Host` trait of every WIT version that imports it; adding
//! a capability means adding a module, a field of [`Capabilities`], and a line in the
//! linker function of each WIT version that has it.

pub mod datasets;
pub mod log;
pub mod random;
pub mod tokenizer;

use std::sync::Arc;

use wasmtime::component::Linker;

use super::sandbox::StoreState;
use super::v0_1::bindings as v0_1;
use super::v0_2::bindings as v0_2;
use super::v0_3::bindings as v0_3;
use super::v0_4::bindings as v0_4;
use crate::dataset::Dataset;
use crate::tokenizer::Tokenizer;

/// What the operator grants a scenario beyond log and random.
#[derive(Clone, Default)]
pub struct Grants {
    pub tokenizer: Option<Arc<Tokenizer>>,
    pub datasets: Vec<Arc<Dataset>>,
}

/// The state of every capability, held in the scenario's `Store`.
pub struct Capabilities {
    pub log: log::LogCap,
    pub random: random::RandomCap,
    pub tokenizer: tokenizer::TokenizerCap,
    pub datasets: datasets::DatasetsCap,
}

impl Capabilities {
    pub fn new(scenario: &str, seed: u64, grants: &Grants) -> Self {
        Capabilities {
            log: log::LogCap::new(scenario),
            random: random::RandomCap::new(seed),
            tokenizer: tokenizer::TokenizerCap::new(grants.tokenizer.clone()),
            datasets: datasets::DatasetsCap::new(&grants.datasets),
        }
    }
}

/// Links the capabilities imported by `volley:scenario@0.1.0`.
pub fn link_v0_1(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    v0_1::volley::scenario::log::add_to_linker::<_, log::LogCap>(linker, |s| &mut s.caps.log)?;
    v0_1::volley::scenario::random::add_to_linker::<_, random::RandomCap>(linker, |s| &mut s.caps.random)?;
    Ok(())
}

/// Links log, random, tokenizer and datasets from the bindings module `$v`.
macro_rules! link_all {
    ($linker:expr, $v:ident) => {{
        $v::volley::scenario::log::add_to_linker::<_, log::LogCap>($linker, |s| &mut s.caps.log)?;
        $v::volley::scenario::random::add_to_linker::<_, random::RandomCap>($linker, |s| &mut s.caps.random)?;
        $v::volley::scenario::tokenizer::add_to_linker::<_, tokenizer::TokenizerCap>($linker, |s| &mut s.caps.tokenizer)?;
        $v::volley::scenario::datasets::add_to_linker::<_, datasets::DatasetsCap>($linker, |s| &mut s.caps.datasets)?;
        Ok(())
    }};
}

/// Links the capabilities imported by `volley:scenario@0.2.0`.
pub fn link_v0_2(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    link_all!(linker, v0_2)
}

/// Links the capabilities imported by `volley:scenario@0.3.0` (the same as 0.2's).
pub fn link_v0_3(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    link_all!(linker, v0_3)
}

/// Links the capabilities imported by `volley:scenario@0.4.0` (the same as 0.3's).
pub fn link_v0_4(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    link_all!(linker, v0_4)
}
