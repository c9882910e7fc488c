//! The simulator's prefix KV cache, modelled on vLLM's automatic prefix caching: a
//! prompt is cut into full blocks of `block_tokens` tokens, block `i`'s key hashes block
//! `i − 1`'s key with block `i`'s tokens (so a block hits only when its whole prefix
//! matches), a lookup counts the leading blocks present, and every full block of the
//! prompt is then inserted or refreshed, least recently used evicted first.
//!
//! Tokens are the ones the simulator counts for `usage.prompt_tokens` (the tokenizer's,
//! else whitespace words), so `cached_tokens` never exceeds `prompt_tokens` and the
//! hit ratio a client computes from usage is the ratio kept here. What is not a counted
//! token but makes two prompts differ (a message's role and boundary, a tool message's
//! `tool_call_id`, an assistant message's tool calls) is folded into the key of the
//! next token instead.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher, Hash, Hasher};

use serde_json::Value;

/// Hashes with fixed keys: the same text gets the same hash for the whole run.
type Fixed = BuildHasherDefault<DefaultHasher>;

pub(crate) fn hash_of<T: Hash + ?Sized>(v: &T) -> u64 {
    Fixed::default().hash_one(v)
}

/// A prompt as the keys of its full blocks, built token by token.
pub(crate) struct BlockKeys {
    block_tokens: u32,
    /// Folded into the next token (a message boundary, its role, tool-call fields).
    pending: u64,
    /// The key of the last full block (0 before the first).
    prev: u64,
    current: DefaultHasher,
    in_block: u32,
    pub tokens: u32,
    pub keys: Vec<u64>,
}

impl BlockKeys {
    pub(crate) fn new(block_tokens: u32) -> Self {
        let mut current = DefaultHasher::new();
        0u64.hash(&mut current);
        BlockKeys { block_tokens: block_tokens.max(1), pending: 0, prev: 0, current, in_block: 0, tokens: 0, keys: Vec::new() }
    }

    /// Something that is not a token but must tell prompts apart: it becomes part of
    /// the next token's identity.
    pub(crate) fn mark(&mut self, what: u64) {
        self.pending = hash_of(&(self.pending, what));
    }

    pub(crate) fn token(&mut self, t: u64) {
        (t, std::mem::take(&mut self.pending)).hash(&mut self.current);
        self.in_block += 1;
        self.tokens += 1;
        if self.in_block == self.block_tokens {
            let key = self.current.finish();
            self.keys.push(key);
            self.prev = key;
            self.current = DefaultHasher::new();
            self.prev.hash(&mut self.current);
            self.in_block = 0;
        }
    }

    /// The tokens of one text, counted as `Shared::count_tokens` counts them.
    pub(crate) fn text(&mut self, text: &str, tokenizer: Option<&volley_data::Tokenizer>) {
        match tokenizer {
            Some(t) => t.encode(text).into_iter().for_each(|id| self.token(u64::from(id))),
            None => text.split_whitespace().for_each(|w| self.token(hash_of(w))),
        }
    }

    /// A chat prompt: each message's role and boundary, its content's tokens, and its
    /// tool-call fields, in order.
    pub(crate) fn messages(&mut self, messages: &[Value], tokenizer: Option<&volley_data::Tokenizer>) {
        for m in messages {
            self.mark(hash_of("\u{1}message"));
            self.mark(hash_of(m.get("role").and_then(Value::as_str).unwrap_or("")));
            if let Some(id) = m.get("tool_call_id").and_then(Value::as_str) {
                self.mark(hash_of(id));
            }
            for call in m.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
                let f = call.get("function");
                let field = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
                let fields = (field(call.get("id")), field(f.and_then(|f| f.get("name"))), field(f.and_then(|f| f.get("arguments"))));
                self.mark(hash_of(&fields));
            }
            if let Some(content) = m.get("content") {
                for t in super::content::texts(content) {
                    self.text(t, tokenizer);
                }
            }
        }
    }
}

/// Blocks by key, least recently used first out.
pub(crate) struct PrefixCache {
    capacity: usize,
    block_tokens: u32,
    /// Key → its last use.
    blocks: HashMap<u64, u64, Fixed>,
    /// Last use → key (uses are unique, so this orders the blocks by recency).
    by_use: BTreeMap<u64, u64>,
    clock: u64,
}

/// One lookup's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lookup {
    pub cached_tokens: u32,
    pub evictions: u64,
}

impl PrefixCache {
    pub(crate) fn new(capacity: u64, block_tokens: u32) -> Self {
        let capacity = usize::try_from(capacity).unwrap_or(usize::MAX);
        // Never reserve more than a modest amount up front: the maps grow with use.
        let reserve = capacity.min(1 << 16);
        PrefixCache {
            capacity,
            block_tokens: block_tokens.max(1),
            blocks: HashMap::with_capacity_and_hasher(reserve, Fixed::default()),
            by_use: BTreeMap::new(),
            clock: 0,
        }
    }

    /// Counts the prompt's leading blocks present, then inserts or refreshes all of its
    /// full blocks. They are touched last block first, so the first blocks of a prompt
    /// are the most recent and a prefix is evicted from its tail, as vLLM frees blocks.
    pub(crate) fn lookup_and_insert(&mut self, keys: &[u64]) -> Lookup {
        let hits = keys.iter().take_while(|k| self.blocks.contains_key(k)).count();
        let mut evictions = 0;
        for &key in keys.iter().rev() {
            self.clock += 1;
            if let Some(used) = self.blocks.insert(key, self.clock) {
                self.by_use.remove(&used);
            }
            self.by_use.insert(self.clock, key);
            while self.blocks.len() > self.capacity {
                let Some((_, old)) = self.by_use.pop_first() else { break };
                self.blocks.remove(&old);
                evictions += 1;
            }
        }
        let cached_tokens = u32::try_from(hits).unwrap_or(u32::MAX).saturating_mul(self.block_tokens);
        Lookup { cached_tokens, evictions }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.blocks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(text: &str, b: u32) -> BlockKeys {
        let mut k = BlockKeys::new(b);
        k.text(text, None);
        k
    }

    #[test]
    fn full_blocks_only_and_chained() {
        let a = keys("a b c d e f g", 3);
        assert_eq!((a.tokens, a.keys.len()), (7, 2));
        // Same second block after a different first block: a different key.
        let b = keys("x b c d e f", 3);
        assert_eq!(b.keys.len(), 2);
        assert_ne!(a.keys[0], b.keys[0]);
        assert_ne!(a.keys[1], b.keys[1]);
        let c = keys("a b c d e f", 3);
        assert_eq!(a.keys, c.keys);
    }

    #[test]
    fn roles_and_boundaries_tell_prompts_apart() {
        let chat = |msgs: Value| {
            let mut k = BlockKeys::new(2);
            k.messages(msgs.as_array().unwrap(), None);
            k
        };
        let one = chat(json!([{"role": "user", "content": "a b"}, {"role": "user", "content": "c d"}]));
        let two = chat(json!([{"role": "user", "content": "a"}, {"role": "user", "content": "b c d"}]));
        let three = chat(json!([{"role": "system", "content": "a b"}, {"role": "user", "content": "c d"}]));
        let same = chat(json!([{"role": "user", "content": "a b"}, {"role": "user", "content": "c d"}]));
        assert_eq!(one.tokens, 4);
        assert_eq!(one.keys, same.keys);
        assert_ne!(one.keys[0], two.keys[0]);
        assert_ne!(one.keys[0], three.keys[0]);
        // A tool message's id and an assistant's tool calls count too.
        let t1 = chat(json!([{"role": "tool", "tool_call_id": "call_1_0", "content": "a b"}]));
        let t2 = chat(json!([{"role": "tool", "tool_call_id": "call_2_0", "content": "a b"}]));
        assert_ne!(t1.keys, t2.keys);
        let c1 = chat(json!([{"role": "assistant", "content": null,
            "tool_calls": [{"id": "x", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "user", "content": "a b"}]));
        let c2 = chat(json!([{"role": "assistant", "content": null,
            "tool_calls": [{"id": "x", "type": "function", "function": {"name": "g", "arguments": "{}"}}]},
            {"role": "user", "content": "a b"}]));
        assert_eq!(c1.tokens, 2);
        assert_ne!(c1.keys, c2.keys);
    }

    #[test]
    fn hits_count_leading_blocks_and_lru_evicts_tails_first() {
        let mut c = PrefixCache::new(4, 2);
        let a = keys("a b c d e f", 2).keys;
        assert_eq!(c.lookup_and_insert(&a), Lookup { cached_tokens: 0, evictions: 0 });
        assert_eq!(c.lookup_and_insert(&a), Lookup { cached_tokens: 6, evictions: 0 });
        let b = keys("a b c d x y", 2).keys;
        assert_eq!(c.lookup_and_insert(&b).cached_tokens, 4);
        assert_eq!(c.len(), 4);
        // A new prompt of two blocks evicts two: the least recent is a's tail ("e f"),
        // then b's tail ("x y").
        let z = keys("p q r s", 2).keys;
        assert_eq!(c.lookup_and_insert(&z), Lookup { cached_tokens: 0, evictions: 2 });
        assert_eq!(c.len(), 4);
        assert_eq!(c.lookup_and_insert(&a).cached_tokens, 4, "a's first two blocks stayed");
    }

    #[test]
    fn a_prompt_larger_than_the_cache_keeps_its_first_blocks() {
        let mut c = PrefixCache::new(2, 1);
        let a = keys("a b c d", 1).keys;
        assert_eq!(c.lookup_and_insert(&a), Lookup { cached_tokens: 0, evictions: 2 });
        assert_eq!(c.len(), 2);
        assert_eq!(c.lookup_and_insert(&a).cached_tokens, 2);
    }

    #[test]
    fn zero_capacity_holds_nothing() {
        let mut c = PrefixCache::new(0, 4);
        let a = keys("a b c d", 4).keys;
        assert_eq!(c.lookup_and_insert(&a).cached_tokens, 0);
        assert_eq!(c.lookup_and_insert(&a).cached_tokens, 0);
        assert_eq!(c.len(), 0);
    }
}
