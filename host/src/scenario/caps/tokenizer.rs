//! Capability `volley:scenario/tokenizer`: the run's tokenizer (`--tokenizer`). Without
//! one, every call but `available` stops the run with a message saying so.

use std::sync::Arc;

use wasmtime::component::HasData;

use crate::scenario::v0_2::bindings::volley::scenario::tokenizer as v0_2;
use crate::scenario::v0_3::bindings::volley::scenario::tokenizer as v0_3;
use crate::scenario::v0_4::bindings::volley::scenario::tokenizer as v0_4;
use crate::tokenizer::Tokenizer;

/// Longest synthetic text a scenario may ask for, in tokens.
const MAX_SYNTH_TOKENS: u32 = 1 << 20;

pub struct TokenizerCap {
    tokenizer: Option<Arc<Tokenizer>>,
}

impl HasData for TokenizerCap {
    type Data<'a> = &'a mut TokenizerCap;
}

impl TokenizerCap {
    pub fn new(tokenizer: Option<Arc<Tokenizer>>) -> Self {
        TokenizerCap { tokenizer }
    }

    fn get(&self, call: &str) -> wasmtime::Result<&Tokenizer> {
        self.tokenizer.as_deref().ok_or_else(|| {
            wasmtime::format_err!("it called tokenizer.{call} but the run has no tokenizer (give --tokenizer tokenizer.json)")
        })
    }
}

/// The `tokenizer` host trait of 0.2 and later.
macro_rules! tokenizer_host {
    ($v:ident) => {
        impl $v::Host for TokenizerCap {
            fn available(&mut self) -> wasmtime::Result<bool> {
                Ok(self.tokenizer.is_some())
            }

            fn count(&mut self, text: String) -> wasmtime::Result<u32> {
                Ok(self.get("count")?.count(&text) as u32)
            }

            fn encode(&mut self, text: String) -> wasmtime::Result<Vec<u32>> {
                Ok(self.get("encode")?.encode(&text))
            }

            fn decode(&mut self, ids: Vec<u32>) -> wasmtime::Result<String> {
                Ok(self.get("decode")?.decode(&ids))
            }

            fn synth_text(&mut self, tokens: u32, seed: u64) -> wasmtime::Result<String> {
                if tokens > MAX_SYNTH_TOKENS {
                    wasmtime::bail!("it asked tokenizer.synth-text for {tokens} tokens (at most {MAX_SYNTH_TOKENS})");
                }
                Ok(self.get("synth-text")?.synth_text(tokens as usize, seed))
            }

            fn truncate(&mut self, text: String, tokens: u32) -> wasmtime::Result<String> {
                Ok(self.get("truncate")?.truncate(&text, tokens as usize))
            }
        }
    };
}

tokenizer_host!(v0_2);
tokenizer_host!(v0_3);
tokenizer_host!(v0_4);
