//! The run's tokenizer (host capability `volley:scenario/tokenizer`), given by the
//! operator with `--tokenizer`. Check [`available`] in `configure` and fail with a
//! clear message if your scenario needs one; the other calls stop the run without it.

use crate::bindings::volley::scenario::tokenizer as host;

pub fn available() -> bool {
    // The run's tokenizer is fixed when the scenario is instantiated: asked of the host
    // once, not for every request a shape makes.
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(host::available)
}

/// Tokens in `text`, no special tokens added.
pub fn count(text: &str) -> u32 {
    host::count(text)
}

pub fn encode(text: &str) -> Vec<u32> {
    host::encode(text)
}

pub fn decode(ids: &[u32]) -> String {
    host::decode(ids)
}

/// A text of exactly `tokens` tokens, the same for the same seed. Texts concatenate
/// without merging: `synth_text(n, a) + synth_text(m, b)` is n + m tokens.
pub fn synth_text(tokens: u32, seed: u64) -> String {
    host::synth_text(tokens, seed)
}

/// The longest prefix of `text` of at most `tokens` tokens.
pub fn truncate(text: &str, tokens: u32) -> String {
    host::truncate(text, tokens)
}
