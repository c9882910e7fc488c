//! Token-accurate timing against the simulator: per-token and per-chunk ITL, token
//! counts with and without the server's usage, multi-turn history and shared prefixes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::support::*;
use serde_json::{Value, json};
use volley::sim::SimConfig;
use volley::tokenizer::Tokenizer;

fn tokenizer() -> Arc<Tokenizer> {
    Arc::new(Tokenizer::from_file(std::path::Path::new(&tokenizer_path())).expect("load tokenizer"))
}

fn sim_with_tokenizer(ttft_ms: u64, itl_ms: u64, tokens_per_chunk: u32, usage: bool) -> SimConfig {
    SimConfig {
        ttft: Duration::from_millis(ttft_ms),
        itl: Duration::from_millis(itl_ms),
        tokens_per_chunk,
        tokenizer: Some(tokenizer()),
        usage,
        ..SimConfig::default()
    }
}

fn within(x: f64, want: f64, tolerance: f64) -> bool {
    (x - want).abs() <= want * tolerance
}

async fn three_tokens_per_chunk(usage: bool) -> (Value, Vec<Value>) {
    // 3 tokens per chunk, 30 ms between chunks: 10 ms per token.
    let sim = start_sim(sim_with_tokenizer(50, 30, 3, usage)).await;
    let out = TempDir::new("itl");
    let params = json!({"prompt_tokens": 64, "output_tokens": 24, "load": "concurrency", "n": 2, "requests": 8});
    let args = with(run_args("builtin:synthetic", &sim.url(), params, &out), &["--tokenizer", &tokenizer_path()]);
    run_volley_async(args, Duration::from_secs(60)).await.assert_success();
    (read_report(out.path()), read_records(out.path()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_token_and_per_chunk_itl_with_usage() {
    let (report, records) = three_tokens_per_chunk(true).await;
    let stage = &report["stages"][0];
    let (chunk, token) = (ms(&stage["itl_ms"]["p50"]), ms(&stage["itl_per_token_ms"]["p50"]));
    assert!(within(chunk, 30.0, 0.1), "per-chunk ITL p50 {chunk} ms, want 30");
    assert!(within(token, 10.0, 0.1), "per-token ITL p50 {token} ms, want 10");
    assert_eq!(stage["itl_per_token_source"]["tokenizer"], 8);
    for r in &records {
        assert_eq!((r["output_tokens"].as_u64(), r["token_source"].as_str()), (Some(24), Some("usage")), "{r}");
        assert_eq!(r["text_chunks"], 8, "24 tokens in chunks of 3");
        assert_eq!(r["chunk_tokens"], json!([3, 3, 3, 3, 3, 3, 3, 3]));
    }
    assert_eq!(stage["output_tokens"]["short"], 0);
    assert_eq!(stage["prompt_tokens"]["mismatched"], 0);
    assert_eq!(stage["prompt_tokens"]["compared"], 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokenizer_counts_what_the_server_does_not() {
    let (report, records) = three_tokens_per_chunk(false).await;
    let stage = &report["stages"][0];
    for r in &records {
        assert_eq!(r["token_source"], "tokenizer", "{r}");
        assert_eq!(r["output_tokens"], 24, "the simulator generated 24 tokens: {r}");
    }
    assert!(within(ms(&stage["itl_per_token_ms"]["p50"]), 10.0, 0.1));
    assert_eq!(stage["output_tokens"]["source"]["tokenizer"], 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunk_count_is_the_fallback_without_usage_or_tokenizer() {
    let sim = start_sim(SimConfig {
        tokens_per_chunk: 3,
        usage: false,
        ttft: Duration::ZERO,
        itl: Duration::from_millis(1),
        ..SimConfig::default()
    })
    .await;
    let out = TempDir::new("chunks");
    let params = json!({"rate": 50, "max_requests": 4, "duration_s": 5, "max_tokens": 9, "api": "completions"});
    run_volley_async(run_args("builtin:chat-poisson", &sim.url(), params, &out), Duration::from_secs(60)).await.assert_success();
    for r in read_records(out.path()) {
        // Honest about what it knows: 3 chunks, counted as 3 tokens, source "chunks".
        assert_eq!((r["output_tokens"].as_u64(), r["token_source"].as_str()), (Some(3), Some("chunks")), "{r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_turn_carries_each_answer_into_the_next_turn() {
    let sim = start_sim(sim_with_tokenizer(5, 1, 1, true)).await;
    let out = TempDir::new("multiturn");
    let params = json!({"conversations": 3, "turns": 3, "concurrency": 2, "user_tokens": 8, "output_tokens": 6});
    let args = with(run_args("builtin:multi-turn", &sim.url(), params, &out), &["--tokenizer", &tokenizer_path(), "--record-text"]);
    run_volley_async(args, Duration::from_secs(60)).await.assert_success();
    let records = read_records(out.path());
    assert_eq!(records.len(), 9, "3 conversations × 3 turns");
    let mut by_session: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
    for r in &records {
        assert_eq!(r["ok"], true, "{r}");
        by_session.entry(r["session"].as_u64().unwrap()).or_default().push(r);
    }
    assert_eq!(by_session.len(), 3);
    for turns in by_session.values_mut() {
        turns.sort_by_key(|r| r["tag"].as_str().unwrap().to_string());
        for k in 1..turns.len() {
            let messages = turns[k]["request_body"]["messages"].as_array().unwrap();
            let previous = &turns[k - 1];
            let answer = previous["response_text"].as_str().unwrap();
            assert!(!answer.is_empty());
            // Turn k carries turn k−1's whole conversation, then its answer, then a new question.
            let prev_messages = previous["request_body"]["messages"].as_array().unwrap();
            assert_eq!(&messages[..prev_messages.len()], &prev_messages[..]);
            assert_eq!(messages[prev_messages.len()], json!({"role": "assistant", "content": answer}));
            assert_eq!(messages.len(), prev_messages.len() + 2);
            assert_eq!(messages.last().unwrap()["role"], "user");
        }
    }
    let tags = &read_report(out.path())["stages"][0]["tags"];
    for t in ["turn-1", "turn-2", "turn-3"] {
        assert_eq!(tags[t]["ok"], 3, "{tags}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_prefix_groups_share_exactly_their_prefix() {
    let sim = start_sim(sim_with_tokenizer(0, 0, 1, true)).await;
    let out = TempDir::new("prefix");
    let params = json!({"groups": 3, "prompts_per_group": 4, "prefix_tokens": 64, "suffix_tokens": 16, "output_tokens": 2, "rate": 100});
    let args = with(run_args("builtin:shared-prefix", &sim.url(), params, &out), &["--tokenizer", &tokenizer_path(), "--record-text"]);
    run_volley_async(args, Duration::from_secs(60)).await.assert_success();
    let tok = tokenizer();
    let mut groups: BTreeMap<String, Vec<Vec<u32>>> = BTreeMap::new();
    for r in read_records(out.path()) {
        let ids = tok.encode(r["request_body"]["prompt"].as_str().unwrap());
        assert_eq!(ids.len(), 80, "64 prefix + 16 suffix tokens");
        assert_eq!(r["prompt_tokens"], 80, "the server counted the same");
        groups.entry(r["tag"].as_str().unwrap().to_string()).or_default().push(ids);
    }
    assert_eq!(groups.len(), 3);
    let prefixes: Vec<&[u32]> = groups.values().map(|g| &g[0][..64]).collect();
    for (g, prompts) in groups.values().enumerate() {
        assert_eq!(prompts.len(), 4);
        for p in prompts {
            assert_eq!(&p[..64], prefixes[g], "same first 64 tokens within a group");
        }
        let suffixes: std::collections::BTreeSet<&[u32]> = prompts.iter().map(|p| &p[64..]).collect();
        assert_eq!(suffixes.len(), 4, "suffixes differ within a group");
    }
    for a in 0..3 {
        for b in a + 1..3 {
            assert_ne!(prefixes[a], prefixes[b], "groups {a} and {b} have different prefixes");
        }
    }
}
