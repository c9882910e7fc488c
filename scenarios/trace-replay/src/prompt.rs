//! Prompt text of a trace row's length: from Mooncake's `hash_ids` (block `i` of id `h`
//! is the same text wherever `h` appears, so equal ids share byte-identical token
//! blocks and a server's prefix cache hits as the trace says), from a session's own
//! text (a session's turns share the prefix a growing conversation shares), or fresh.
//!
//! With the run's tokenizer (`--tokenizer`), texts are single-token words, so a prompt is
//! exactly its row's input length in that tokenizer and blocks concatenate without
//! merging; without one, each token is a whitespace word (what a server without a
//! tokenizer, the simulator's fallback, counts).

use volley_sdk::tokenizer;

/// Seeds of block texts, apart from sessions' and fresh texts.
const BLOCK_SEED: u64 = 0x6b6c_6f63_6b00_0000;
const SESSION_SEED: u64 = 0x7365_7373_0000_0000;

/// `tokens` tokens of text `seed`: every shorter length of the same seed is a prefix.
fn text(tokens: u32, seed: u64) -> String {
    if tokens == 0 {
        return String::new();
    }
    if tokenizer::available() {
        return tokenizer::synth_text(tokens, seed);
    }
    let mut s = String::with_capacity(tokens as usize * 12);
    for i in 0..tokens {
        s.push_str(&format!("w{seed:x}.{i} "));
    }
    s
}

/// A prompt of `input` tokens whose blocks of `block` tokens are the texts of
/// `hash_ids`; past the listed blocks, fresh text of seed `fresh`.
pub fn from_blocks(input: u32, hash_ids: &[u64], block: u32, fresh: u64) -> String {
    let mut prompt = String::new();
    let mut left = input;
    for id in hash_ids {
        if left == 0 {
            break;
        }
        let n = left.min(block);
        prompt.push_str(&text(n, BLOCK_SEED ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        left -= n;
    }
    prompt.push_str(&text(left, fresh));
    prompt
}

/// A prompt of `input` tokens of session `session`'s text.
pub fn of_session(input: u32, session: u64) -> String {
    text(input, SESSION_SEED ^ session.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// A prompt of `input` tokens nothing else shares.
pub fn fresh(input: u32, seed: u64) -> String {
    text(input, seed)
}
