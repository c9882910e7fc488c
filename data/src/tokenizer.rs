//! The run's tokenizer, from a local `tokenizer.json` (Hugging Face `tokenizers`
//! format); never downloaded.
//!
//! Besides counting, encoding and decoding, it makes texts of an exact token length:
//! it collects words of the vocabulary that are one token each with a leading space
//! (" the", " house", ...). A byte-level or metaspace pre-tokenizer splits text at
//! those spaces, so N such words encode to exactly N tokens, and texts concatenate
//! without merging (a prefix of N tokens plus a suffix of M is N + M). Building a
//! 16k-token text is a string concatenation; each text is checked by encoding it, and
//! adjusted word by word in the rare case a tokenizer merges across words.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};

use volley_core::rng::{Rng, Stream};

use crate::DataError;

pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// Single-token words, each with its leading space.
    words: Vec<String>,
    pub path: PathBuf,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer").field("path", &self.path).field("words", &self.words.len()).finish()
    }
}

/// Words kept for synthetic text; plenty for variety, quick to collect.
const MAX_WORDS: usize = 4096;

impl Tokenizer {
    /// Loads a local `tokenizer.json`.
    pub fn from_file(path: &Path) -> Result<Self, DataError> {
        Self::load(path).map_err(|e| DataError::Tokenizer(format!("{e:#}")))
    }

    fn load(path: &Path) -> Result<Self> {
        use volley_core::foreign_file::{self, Kind};
        // Through the one reader for foreign files: a regular file (a FIFO or a device is
        // refused without blocking), at most 256 MiB.
        let bytes = foreign_file::read(path, Kind::TOKENIZER)?;
        let inner =
            tokenizers::Tokenizer::from_bytes(&bytes).map_err(|e| anyhow!("cannot load tokenizer '{}': {e}", foreign_file::shown(path)))?;
        drop(bytes);
        let mut t = Tokenizer { inner, words: Vec::new(), path: path.to_path_buf() };
        t.words = t.single_token_words();
        if t.words.len() < 16 {
            bail!("tokenizer '{}' has too few single-token words to build synthetic text", path.display());
        }
        let probe = t.synth_text(257, 0);
        if t.count(&probe) != 257 {
            bail!("tokenizer '{}' cannot build texts of an exact token length", path.display());
        }
        Ok(t)
    }

    fn single_token_words(&self) -> Vec<String> {
        let mut vocab: Vec<(String, u32)> = self.inner.get_vocab(false).into_iter().collect();
        vocab.sort_by_key(|(_, id)| *id);
        let mut words = Vec::new();
        for (_, id) in vocab {
            let Ok(decoded) = self.inner.decode(&[id], false) else { continue };
            let word = decoded.trim_start();
            if word.len() < 2 || word.len() > 12 || !word.bytes().all(|b| b.is_ascii_lowercase()) {
                continue;
            }
            let candidate = format!(" {word}");
            if self.encode(&candidate).len() == 1 {
                words.push(candidate);
                if words.len() == MAX_WORDS {
                    break;
                }
            }
        }
        words
    }

    /// The single-token words synthetic text is made of (each with a leading space).
    pub fn words(&self) -> &[String] {
        &self.words
    }

    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.inner.encode(text, false).map(|e| e.get_ids().to_vec()).unwrap_or_default()
    }

    pub fn count(&self, text: &str) -> usize {
        self.inner.encode(text, false).map(|e| e.len()).unwrap_or(0)
    }

    pub fn decode(&self, ids: &[u32]) -> String {
        self.inner.decode(ids, false).unwrap_or_default()
    }

    /// Byte offset where each token of `text` starts.
    pub fn token_starts(&self, text: &str) -> Vec<usize> {
        self.inner.encode(text, false).map(|e| e.get_offsets().iter().map(|&(start, _)| start).collect()).unwrap_or_default()
    }

    /// The longest prefix of `text` with at most `tokens` tokens.
    pub fn truncate(&self, text: &str, tokens: usize) -> String {
        let Ok(enc) = self.inner.encode(text, false) else { return String::new() };
        let offsets = enc.get_offsets();
        if offsets.len() <= tokens {
            return text.to_string();
        }
        let end = offsets[tokens].0.min(text.len());
        let mut end = end;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text[..end].to_string()
    }

    /// A text of exactly `tokens` tokens, determined by `seed`.
    pub fn synth_text(&self, tokens: usize, seed: u64) -> String {
        let mut rng = Rng::new(seed, Stream::Text);
        let mut pick = || &self.words[(rng.next_u64() % self.words.len() as u64) as usize];
        let mut parts: Vec<&String> = (0..tokens).map(|_| pick()).collect();
        let mut text: String = parts.iter().map(|s| s.as_str()).collect();
        // Exact for byte-level and metaspace tokenizers; adjust for anything else.
        for _ in 0..64 {
            let n = self.count(&text);
            if n == tokens {
                break;
            }
            if n > tokens {
                parts.pop();
            } else {
                parts.push(pick());
            }
            text = parts.iter().map(|s| s.as_str()).collect();
        }
        text
    }

    /// How many tokens start in each chunk of `text`, given the byte length of the text
    /// after each chunk (`chunk_ends`, ascending). A token split across chunks counts
    /// for the chunk it starts in.
    pub fn tokens_per_chunk(&self, text: &str, chunk_ends: &[u32]) -> Vec<u32> {
        let mut counts = vec![0u32; chunk_ends.len()];
        let mut chunk = 0;
        for start in self.token_starts(text) {
            while chunk + 1 < chunk_ends.len() && start >= chunk_ends[chunk] as usize {
                chunk += 1;
            }
            if let Some(c) = counts.get_mut(chunk) {
                *c += 1;
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SmolLM2 fixture in the shared folder (`VOLLEY_SHARED_DIR`, else beside the
    /// repository).
    fn smollm2() -> Option<Tokenizer> {
        let shared = std::env::var_os("VOLLEY_SHARED_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
        let path = shared.join("fixtures/smollm2-tokenizer.json");
        path.exists().then(|| Tokenizer::from_file(&path).expect("load fixture tokenizer"))
    }

    #[test]
    fn exact_lengths_and_concatenation() {
        let Some(t) = smollm2() else { panic!("../shared/fixtures/smollm2-tokenizer.json is missing") };
        for n in [0, 1, 2, 16, 999, 1000, 16_000] {
            assert_eq!(t.count(&t.synth_text(n, 7)), n, "n={n}");
        }
        let (a, b) = (t.synth_text(300, 1), t.synth_text(45, 2));
        assert_eq!(t.count(&format!("{a}{b}")), 345);
        assert_eq!(t.synth_text(50, 3), t.synth_text(50, 3));
        assert_ne!(t.synth_text(50, 3), t.synth_text(50, 4));
        // Prefix sharing: the first tokens of prefix+suffix are the prefix's tokens.
        let ids = t.encode(&format!("{a}{b}"));
        assert_eq!(&ids[..300], &t.encode(&a)[..]);
    }

    #[test]
    fn truncate_and_roundtrip() {
        let t = smollm2().unwrap();
        let text = "Hello world, this is a tokenizer test with some words.";
        let cut = t.truncate(text, 4);
        assert_eq!(t.count(&cut), 4);
        assert!(text.starts_with(&cut));
        assert_eq!(t.decode(&t.encode(text)), text);
    }

    #[test]
    fn chunks_map_to_tokens() {
        let t = smollm2().unwrap();
        let text = " the quick brown fox jumps";
        // chunks: " the quick" | " brown fox" | " jumps"
        let ends = [10, 20, 26];
        assert_eq!(t.tokens_per_chunk(text, &ends), vec![2, 2, 1]);
    }
}
