//! Host capabilities a scenario imports, one module per capability, composed here —
//! the way spin composes its host "factors". Each capability owns its state and its
//! behaviour, and knows nothing of WIT versions.
//!
//! A WIT version module (`crate::wit::v0_*`) binds its generated `Host` traits to these
//! capabilities with [`host_traits!`] (0.2 and later) or by hand, and links them with
//! [`link_capabilities!`]; a new version whose imports change writes its own binding
//! for what changed, and no other version's module is touched.

pub mod checks;
pub mod datasets;
pub mod log;
pub mod media;
pub mod random;
pub mod tokenizer;

use std::sync::Arc;

use volley_data::{Dataset, Tokenizer};

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
    /// 0.5 on: checks, and the media of content parts.
    pub checks: checks::ChecksCap,
    pub media: media::MediaCap,
}

impl Capabilities {
    /// `tokenizer_input` bounds the text one tokenizer call may be given.
    pub fn new(scenario: &str, seed: u64, grants: &Grants, tokenizer_input: usize) -> Self {
        Capabilities {
            log: log::LogCap::new(scenario),
            random: random::RandomCap::new(seed),
            tokenizer: tokenizer::TokenizerCap::new(grants.tokenizer.clone(), tokenizer_input),
            datasets: datasets::DatasetsCap::new(&grants.datasets),
            checks: checks::ChecksCap::default(),
            media: media::MediaCap::new(&grants.datasets),
        }
    }
}

/// Implements the generated, trappable `Host` traits of log, random, tokenizer and
/// datasets (as 0.2 to 0.4 define them) for the capabilities, given a version's
/// bindings module.
macro_rules! host_traits {
    ($b:path) => {
        use $b as __bindings;

        impl __bindings::volley::scenario::log::Host for $crate::caps::log::LogCap {
            fn log(&mut self, level: __bindings::volley::scenario::log::Level, message: String) -> wasmtime::Result<()> {
                use __bindings::volley::scenario::log::Level as L;
                let level = match level {
                    L::Debug => $crate::caps::log::Level::Debug,
                    L::Info => $crate::caps::log::Level::Info,
                    L::Warn => $crate::caps::log::Level::Warn,
                    L::Error => $crate::caps::log::Level::Error,
                };
                self.write(level, &message);
                Ok(())
            }
        }

        impl __bindings::volley::scenario::random::Host for $crate::caps::random::RandomCap {
            fn next_u64(&mut self) -> wasmtime::Result<u64> {
                Ok($crate::caps::random::RandomCap::next_u64(self))
            }

            fn next_f64(&mut self) -> wasmtime::Result<f64> {
                Ok($crate::caps::random::RandomCap::next_f64(self))
            }
        }

        impl __bindings::volley::scenario::tokenizer::Host for $crate::caps::tokenizer::TokenizerCap {
            fn available(&mut self) -> wasmtime::Result<bool> {
                Ok($crate::caps::tokenizer::TokenizerCap::available(self))
            }

            fn count(&mut self, text: String) -> wasmtime::Result<u32> {
                $crate::caps::tokenizer::TokenizerCap::count(self, &text)
            }

            fn encode(&mut self, text: String) -> wasmtime::Result<Vec<u32>> {
                $crate::caps::tokenizer::TokenizerCap::encode(self, &text)
            }

            fn decode(&mut self, ids: Vec<u32>) -> wasmtime::Result<String> {
                $crate::caps::tokenizer::TokenizerCap::decode(self, &ids)
            }

            fn synth_text(&mut self, tokens: u32, seed: u64) -> wasmtime::Result<String> {
                $crate::caps::tokenizer::TokenizerCap::synth_text(self, tokens, seed)
            }

            fn truncate(&mut self, text: String, tokens: u32) -> wasmtime::Result<String> {
                $crate::caps::tokenizer::TokenizerCap::truncate(self, &text, tokens)
            }
        }

        impl __bindings::volley::scenario::datasets::Host for $crate::caps::datasets::DatasetsCap {}

        impl __bindings::volley::scenario::datasets::HostDataset for $crate::caps::datasets::DatasetsCap {
            fn open(
                &mut self,
                name: String,
            ) -> wasmtime::Result<Result<wasmtime::component::Resource<$crate::caps::datasets::DatasetHandle>, String>> {
                $crate::caps::datasets::DatasetsCap::open(self, &name)
            }

            fn len(&mut self, handle: wasmtime::component::Resource<$crate::caps::datasets::DatasetHandle>) -> wasmtime::Result<u64> {
                $crate::caps::datasets::DatasetsCap::len(self, &handle)
            }

            fn row(
                &mut self,
                handle: wasmtime::component::Resource<$crate::caps::datasets::DatasetHandle>,
                index: u64,
            ) -> wasmtime::Result<Option<__bindings::volley::scenario::datasets::Row>> {
                use __bindings::volley::scenario::types::Message;
                let row = $crate::caps::datasets::DatasetsCap::row(self, &handle, index)?;
                Ok(row.map(|r| __bindings::volley::scenario::datasets::Row {
                    messages: r.messages.into_iter().map(|m| Message { role: m.role, content: m.content }).collect(),
                    raw: r.raw,
                }))
            }

            fn drop(&mut self, handle: wasmtime::component::Resource<$crate::caps::datasets::DatasetHandle>) -> wasmtime::Result<()> {
                $crate::caps::datasets::DatasetsCap::close(self, handle)
            }
        }
    };
}

/// Links log, random, tokenizer and datasets from a version's bindings module.
macro_rules! link_capabilities {
    ($linker:expr, $b:path) => {{
        use $b as __link;
        use $crate::caps::{datasets::DatasetsCap, log::LogCap, random::RandomCap, tokenizer::TokenizerCap};
        __link::volley::scenario::log::add_to_linker::<_, LogCap>($linker, |s| &mut s.caps.log)?;
        __link::volley::scenario::random::add_to_linker::<_, RandomCap>($linker, |s| &mut s.caps.random)?;
        __link::volley::scenario::tokenizer::add_to_linker::<_, TokenizerCap>($linker, |s| &mut s.caps.tokenizer)?;
        __link::volley::scenario::datasets::add_to_linker::<_, DatasetsCap>($linker, |s| &mut s.caps.datasets)?;
        Ok(())
    }};
}

pub(crate) use host_traits;
pub(crate) use link_capabilities;
