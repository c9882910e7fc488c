//! Host capabilities a scenario imports, one module per capability, composed here —
//! the way spin composes its host "factors". Each capability owns its state and its
//! behaviour, and knows nothing of WIT versions.
//!
//! Each WIT version module (`crate::wit::v0_*`) binds its own generated `Host` traits to
//! these capabilities and links them, by hand: a binding is a few calls into the
//! capability, and a version's module shares none of it with another version, so a new
//! version never touches a released one.

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
