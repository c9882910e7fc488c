//! Capability `volley:scenario/tokenizer`: the run's tokenizer (`--tokenizer`). Without
//! one, every call but `available` stops the run with a message saying so.

use std::sync::Arc;

use wasmtime::component::HasData;

use volley_data::Tokenizer;

/// Longest synthetic text a scenario may ask for, in tokens.
const MAX_SYNTH_TOKENS: u32 = 1 << 20;

pub struct TokenizerCap {
    tokenizer: Option<Arc<Tokenizer>>,
    /// Bytes of text one call may be given (the policy's `max_tokenizer_input_bytes`):
    /// the host's work for a call is bounded, not the guest's to choose.
    max_input: usize,
}

impl HasData for TokenizerCap {
    type Data<'a> = &'a mut TokenizerCap;
}

impl TokenizerCap {
    pub fn new(tokenizer: Option<Arc<Tokenizer>>, max_input: usize) -> Self {
        TokenizerCap { tokenizer, max_input }
    }

    fn input<'a>(&self, call: &str, text: &'a str) -> wasmtime::Result<&'a str> {
        if text.len() > self.max_input {
            wasmtime::bail!(
                "it gave tokenizer.{call} {} bytes of text (at most {}, the policy's max_tokenizer_input_bytes)",
                text.len(),
                self.max_input
            );
        }
        Ok(text)
    }

    pub fn available(&self) -> bool {
        self.tokenizer.is_some()
    }

    pub fn count(&self, text: &str) -> wasmtime::Result<u32> {
        Ok(self.get("count")?.count(self.input("count", text)?) as u32)
    }

    pub fn encode(&self, text: &str) -> wasmtime::Result<Vec<u32>> {
        Ok(self.get("encode")?.encode(self.input("encode", text)?))
    }

    pub fn decode(&self, ids: &[u32]) -> wasmtime::Result<String> {
        // A token is a few bytes of text: as many ids as that many bytes allow.
        if ids.len() > self.max_input / 4 {
            wasmtime::bail!("it gave tokenizer.decode {} ids (at most {})", ids.len(), self.max_input / 4);
        }
        Ok(self.get("decode")?.decode(ids))
    }

    pub fn synth_text(&self, tokens: u32, seed: u64) -> wasmtime::Result<String> {
        if tokens > MAX_SYNTH_TOKENS {
            wasmtime::bail!("it asked tokenizer.synth-text for {tokens} tokens (at most {MAX_SYNTH_TOKENS})");
        }
        Ok(self.get("synth-text")?.synth_text(tokens as usize, seed))
    }

    pub fn truncate(&self, text: &str, tokens: u32) -> wasmtime::Result<String> {
        Ok(self.get("truncate")?.truncate(self.input("truncate", text)?, tokens as usize))
    }

    fn get(&self, call: &str) -> wasmtime::Result<&Tokenizer> {
        self.tokenizer.as_deref().ok_or_else(|| {
            wasmtime::format_err!("it called tokenizer.{call} but the run has no tokenizer (give --tokenizer tokenizer.json)")
        })
    }
}
