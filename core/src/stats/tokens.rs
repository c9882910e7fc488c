//! Per-token inter-token latency that stays right when a server packs several tokens
//! into one streamed chunk.
//!
//! Inter-token latency is reported two ways: per chunk (the gap between chunks that
//! carried text) and per token (each gap divided among the tokens of the chunk that
//! ended it). Tokens per chunk come from the tokenizer when there is one (each token
//! belongs to the chunk its first byte arrived in), else from spreading the output
//! count evenly over the chunks.

use serde::{Deserialize, Serialize};

use crate::record::RequestRecord;

/// Where per-token ITL came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChunkTokenSource {
    /// The tokenizer counted the tokens in each chunk.
    Tokenizer,
    /// The output count spread evenly over the chunks.
    Average,
}

/// Per-token gaps of a record, as (gap in µs, tokens it applies to), and their source.
/// The first chunk's gap is its TTFT, so it is not an inter-token gap.
pub fn per_token_gaps(rec: &RequestRecord) -> (Vec<(u32, u32)>, Option<ChunkTokenSource>) {
    let mut out = Vec::new();
    let source = each_token_gap(rec, |gap, n| out.push((gap, n)));
    (out, source)
}

/// [`per_token_gaps`] handed to `each` one by one, without a list (the collector's path).
pub fn each_token_gap(rec: &RequestRecord, mut each: impl FnMut(u32, u32)) -> Option<ChunkTokenSource> {
    if rec.itl_us.is_empty() {
        return None;
    }
    if let Some(counts) = &rec.chunk_tokens {
        let mut carried = 0u64;
        for (k, &gap) in rec.itl_us.iter().enumerate() {
            // itl_us[k] is the gap before chunk k + 1.
            let n = counts.get(k + 1).copied().unwrap_or(0);
            carried += u64::from(gap);
            if n > 0 {
                each((carried / u64::from(n)) as u32, n);
                carried = 0;
            }
        }
        return Some(ChunkTokenSource::Tokenizer);
    }
    if rec.output_tokens == 0 || rec.text_chunks == 0 {
        return None;
    }
    let per_chunk = f64::from(rec.output_tokens) / f64::from(rec.text_chunks);
    let n = per_chunk.round().max(1.0) as u32;
    rec.itl_us.iter().for_each(|&gap| each((f64::from(gap) / per_chunk) as u32, n));
    Some(ChunkTokenSource::Average)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::request::Api;

    fn rec(itl: &[u32], chunks: u32, tokens: u32) -> RequestRecord {
        let mut r = RequestRecord::new(0, 0, Api::Completions, true, Instant::now());
        r.itl_us = itl.to_vec();
        r.text_chunks = chunks;
        r.output_tokens = tokens;
        r
    }

    #[test]
    fn averages_when_no_tokenizer() {
        // 3 tokens per 30 ms chunk: 10 ms per token, each gap applying to 3 tokens.
        let (gaps, src) = per_token_gaps(&rec(&[30_000, 30_000], 3, 9));
        assert_eq!(gaps, vec![(10_000, 3), (10_000, 3)]);
        assert_eq!(src, Some(ChunkTokenSource::Average));
    }

    #[test]
    fn tokenizer_counts_split_gaps_and_carry_empty_chunks() {
        let mut r = rec(&[30_000, 5_000, 20_000], 4, 6);
        r.chunk_tokens = Some(vec![1, 3, 0, 2]);
        let (gaps, src) = per_token_gaps(&r);
        assert_eq!(gaps, vec![(10_000, 3), (12_500, 2)]);
        assert_eq!(src, Some(ChunkTokenSource::Tokenizer));
    }
}
