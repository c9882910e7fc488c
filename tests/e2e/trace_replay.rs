//! Replaying published traces: a Mooncake trace's shared blocks become byte-identical
//! token blocks and the simulator's prefix cache hits as the trace implies; a Volley
//! agent run recorded as OTLP JSON spans replays with the recording's sessions, request
//! counts, token lengths and inter-request delays.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;
use bytes::Bytes;
use serde_json::json;
use volley::data::dataset::Dataset;
use volley::data::{OnError, TraceRow};
use volley::sim::SimConfig;
use volley::tokenizer::Tokenizer;

const BLOCK: usize = 512;

/// The simulator's prefix cache counts blocks of this many tokens.
const SIM_BLOCK: usize = 16;

/// The test's Mooncake trace: three system prompts of two blocks each, conversations
/// that grow by a block a turn (so each turn's blocks are the last turn's plus one), and
/// one-off requests whose last block is partial and unique.
fn mooncake_rows() -> Vec<(u64, Vec<u64>, usize)> {
    let mut rows = Vec::new();
    let mut conversations: Vec<Vec<u64>> = Vec::new();
    let mut next_id = 100u64;
    for i in 0..30u64 {
        let family = i % 3;
        let system = vec![family * 10, family * 10 + 1];
        let (ids, input) = if i % 5 == 4 {
            // A one-off: the system blocks, then a unique partial block.
            next_id += 1;
            let mut ids = system.clone();
            ids.push(next_id);
            (ids, 2 * BLOCK + 37 + (i as usize * 13) % 400)
        } else {
            let c = (i as usize / 3) % 2 + family as usize * 2;
            if conversations.len() <= c {
                conversations.resize(c + 1, Vec::new());
            }
            if conversations[c].is_empty() {
                conversations[c] = system.clone();
            }
            next_id += 1;
            conversations[c].push(next_id);
            let ids = conversations[c].clone();
            let n = ids.len();
            (ids, n * BLOCK)
        };
        rows.push((1_000 + i * 20, ids, input));
    }
    rows
}

/// The prompt tokens a prefix cache of `SIM_BLOCK`-token blocks serves, over all
/// prompt tokens, as the trace's ids imply: a block hits when its id was sent before at
/// least as long, and every block before it hit.
fn implied_hit_ratio(rows: &[(u64, Vec<u64>, usize)]) -> f64 {
    let mut seen: HashMap<u64, usize> = HashMap::new();
    let (mut hit, mut total) = (0usize, 0usize);
    for (_, ids, input) in rows {
        total += input;
        for (i, id) in ids.iter().enumerate() {
            let len = (input - i * BLOCK).min(BLOCK);
            let before = seen.get(id).copied().unwrap_or(0);
            if before >= len && len.is_multiple_of(SIM_BLOCK) {
                hit += len;
            } else {
                hit += before.min(len) / SIM_BLOCK * SIM_BLOCK;
                break;
            }
        }
        for (i, id) in ids.iter().enumerate() {
            let len = (input - i * BLOCK).min(BLOCK);
            let e = seen.entry(*id).or_default();
            *e = (*e).max(len);
        }
    }
    hit as f64 / total as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mooncake_trace_shares_its_blocks_and_the_prefix_cache_hits_as_it_implies() {
    let tokenizer = Arc::new(Tokenizer::from_file(Path::new(&tokenizer_path())).unwrap());
    let sim = start_sim(SimConfig {
        ttft: Duration::from_millis(2),
        itl: Duration::from_millis(1),
        tokenizer: Some(tokenizer.clone()),
        prefix_cache_blocks: 100_000,
        block_tokens: SIM_BLOCK as u32,
        ..SimConfig::default()
    })
    .await;
    let dir = TempDir::new("mooncake");
    let rows = mooncake_rows();
    let trace = dir.path().join("mooncake.jsonl");
    let lines: Vec<String> = rows
        .iter()
        .map(|(t, ids, input)| json!({"timestamp": t, "input_length": input, "output_length": 4, "hash_ids": ids}).to_string())
        .collect();
    std::fs::write(&trace, lines.join("\n") + "\n").unwrap();
    let out = TempDir::new("mooncake-out");
    let grant = format!("trace=mooncake:{}", trace.display());
    let args = with(
        run_args("builtin:mooncake", &sim.url(), json!({}), &out),
        &["--dataset", &grant, "--tokenizer", &tokenizer_path(), "--record-text"],
    );
    run_volley_async(args, Duration::from_secs(120)).await.assert_success();

    let mut records = read_records(out.path());
    records.sort_by_key(|r| r["seq"].as_u64());
    assert_eq!(records.len(), rows.len(), "one request a trace row");
    let mut blocks: HashMap<u64, Vec<u32>> = HashMap::new();
    for (r, (_, ids, input)) in records.iter().zip(&rows) {
        let prompt = r["request_body"]["prompt"].as_str().expect("a completions prompt in the recorded body");
        let tokens = tokenizer.encode(prompt);
        let off = (tokens.len() as f64 - *input as f64).abs() / *input as f64;
        assert!(off <= 0.01, "seq {}: {} tokens for an input length of {input}", r["seq"], tokens.len());
        for (i, id) in ids.iter().enumerate() {
            let block = &tokens[(i * BLOCK).min(tokens.len())..((i + 1) * BLOCK).min(tokens.len())];
            match blocks.get(id) {
                // Equal ids: the same tokens (a shorter block is a prefix of a longer).
                Some(b) => {
                    let n = b.len().min(block.len());
                    assert_eq!(&b[..n], &block[..n], "block {id} differs between requests");
                }
                None => {
                    assert!(
                        blocks.values().all(|b| b.len() < 16 || block.len() < 16 || b[..16] != block[..16]),
                        "block {id} repeats another id's"
                    );
                    blocks.insert(*id, block.to_vec());
                }
            }
        }
    }
    let implied = implied_hit_ratio(&rows);
    let stats = sim.stats();
    eprintln!("prefix cache hit ratio: simulator {:.4}, implied by the trace {implied:.4}", stats.prefix_cache_hit_ratio);
    assert!(implied > 0.3, "the trace shares prefixes: {implied}");
    assert!(
        (stats.prefix_cache_hit_ratio - implied).abs() <= 0.02,
        "the simulator's prefix cache hit {:.4} of prompt tokens; the trace implies {implied:.4}",
        stats.prefix_cache_hit_ratio
    );
}

/// An OTLP/HTTP receiver that keeps the JSON bodies of `/v1/traces` as they came.
async fn json_receiver() -> (String, Arc<Mutex<Vec<Bytes>>>) {
    let got: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    let store = got.clone();
    let url = http_sink(move |r| {
        assert!(r.content_type.starts_with("application/json"), "OTLP/HTTP JSON bodies, not {}", r.content_type);
        if r.path == "/v1/traces" {
            store.lock().unwrap().push(r.body);
        }
    })
    .await;
    (url, got)
}

/// What a receiver got, written as the JSON lines a recording keeps, read back as a trace.
fn recorded(bodies: &Mutex<Vec<Bytes>>, path: &Path) -> Vec<TraceRow> {
    let mut text = Vec::new();
    for b in bodies.lock().unwrap().iter() {
        text.extend_from_slice(b);
        text.push(b'\n');
    }
    std::fs::write(path, text).unwrap();
    let d = Dataset::open("trace", Path::new(&format!("otel:{}", path.display())), OnError::Fail).unwrap();
    (0..d.len()).map(|i| d.row(i).unwrap().unwrap().trace.unwrap()).collect()
}

/// Sessions in the order of their first requests, each its requests in send order.
fn sessions(rows: &[TraceRow]) -> Vec<(&str, Vec<&TraceRow>)> {
    let mut sessions: Vec<(&str, Vec<&TraceRow>)> = Vec::new();
    for r in rows {
        let name = r.session.as_deref().expect("every request of an agent run is in a session");
        match sessions.iter_mut().find(|(n, _)| *n == name) {
            Some((_, s)) => s.push(r),
            None => sessions.push((name, vec![r])),
        }
    }
    for (_, s) in &mut sessions {
        s.sort_by_key(|r| (r.at_us / 1_000, r.after.len(), r.input_tokens));
    }
    sessions
}

/// The `q` quantile of `v` (sorted here).
fn quantile(v: &mut [u64], q: f64) -> u64 {
    v.sort_unstable();
    v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_run_recorded_as_otlp_json_replays_with_its_sessions_lengths_and_delays() {
    let tokenizer = Arc::new(Tokenizer::from_file(Path::new(&tokenizer_path())).unwrap());
    let sim = start_sim(SimConfig {
        ttft: Duration::from_millis(5),
        itl: Duration::from_millis(1),
        tokenizer: Some(tokenizer),
        parallel_tools: 1..=2,
        ..SimConfig::default()
    })
    .await;
    let dir = TempDir::new("otel-replay");
    let otlp =
        |url: &str| ["--otlp-endpoint".to_string(), url.to_string(), "--otlp-protocol".into(), "http/json".into(), "--otlp-spans".into()];

    // The recording: agent tasks with tool rounds, sub-agents fanned out and joined.
    let (url, got) = json_receiver().await;
    let params = json!({"tasks": 30, "sessions": 5, "steps": 2, "sub_agents": 2, "tool_ms": [20, 40], "think_ms": [5, 10],
                        "tool_choice": "required", "system_tokens": 60, "task_tokens": 30, "result_tokens": 25, "max_tokens": 8});
    let out = TempDir::new("otel-record");
    let mut args = with(run_args("builtin:agent", &sim.url(), params, &out), &["--tokenizer", &tokenizer_path()]);
    args.extend(otlp(&url));
    run_volley_async(args, Duration::from_secs(120)).await.assert_success();
    let recording = dir.path().join("recording.jsonl");
    let original = recorded(&got, &recording);

    // The replay of that recording, recorded the same way.
    let (url, got) = json_receiver().await;
    let out = TempDir::new("otel-replayed");
    let grant = format!("trace=otel:{}", recording.display());
    let mut args = with(
        run_args("builtin:otel-replay", &sim.url(), json!({"api": "chat"}), &out),
        &["--dataset", &grant, "--tokenizer", &tokenizer_path()],
    );
    args.extend(otlp(&url));
    run_volley_async(args, Duration::from_secs(120)).await.assert_success();
    let replay = recorded(&got, &dir.path().join("replay.jsonl"));

    // The replay numbers sessions in the order the recording's first requests went, and
    // its own recording names each by that number.
    let (a, b) = (sessions(&original), sessions(&replay));
    assert_eq!(a.len(), 30, "every task recorded");
    assert_eq!(b.len(), a.len(), "as many sessions replayed as recorded");
    let (mut recorded_delays, mut replayed_delays, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    for (k, (_, sa)) in a.iter().enumerate() {
        let name = format!("conversation {k}");
        let sb = &b.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("no replayed session {k}")).1;
        let shape = |s: &[&TraceRow]| s.iter().map(|r| r.after.len()).collect::<Vec<_>>();
        assert_eq!(sb.len(), sa.len(), "session {k}: requests");
        assert_eq!(shape(sb), shape(sa), "session {k}: what each request waited for");
        for (ra, rb) in sa.iter().zip(sb) {
            for (x, y, what) in [(ra.input_tokens, rb.input_tokens, "input"), (ra.output_tokens, rb.output_tokens, "output")] {
                assert!((f64::from(x) - f64::from(y)).abs() <= f64::from(x) * 0.01, "session {k}: {what} tokens {y}, recorded {x}");
            }
            if !ra.after.is_empty() {
                recorded_delays.push(ra.delay_us);
                replayed_delays.push(rb.delay_us);
                errors.push(ra.delay_us.abs_diff(rb.delay_us));
            }
        }
    }
    assert!(errors.len() >= 30 * 4, "the sessions' follow-ups: {}", errors.len());
    for q in [0.5, 0.99] {
        let (x, y) = (quantile(&mut recorded_delays, q), quantile(&mut replayed_delays, q));
        // Timers on a loaded 2-core machine fire late by a few ms; a replay that ignored the
        // recorded waits would be tens of ms off.
        let tolerance = 5_000 + x / 10;
        assert!(x.abs_diff(y) <= tolerance, "inter-request delay p{}: replayed {y} µs, recorded {x} µs", q * 100.0);
    }
    // Request by request, too: the replay keeps each recorded wait, not only their spread.
    let typical = quantile(&mut errors, 0.5);
    eprintln!(
        "delays: recorded p50 {} / p99 {} µs, replayed p50 {} / p99 {} µs; per request off by p50 {typical} / p99 {} µs over {}",
        quantile(&mut recorded_delays, 0.5),
        quantile(&mut recorded_delays, 0.99),
        quantile(&mut replayed_delays, 0.5),
        quantile(&mut replayed_delays, 0.99),
        quantile(&mut errors, 0.99),
        errors.len()
    );
    assert!(typical <= 3_000, "a replayed delay is typically {typical} µs off its recorded one: {errors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burstgpt_trace_keeps_its_model_mix_times_and_lengths_and_counts_a_skipped_row() {
    let sim = start_sim(SimConfig { ttft: Duration::from_millis(1), itl: Duration::ZERO, ..SimConfig::default() }).await;
    let dir = TempDir::new("burstgpt");
    let trace = dir.path().join("burst.csv");
    let mut csv = String::from("Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n");
    for i in 0..12 {
        let model = if i % 3 == 0 { "GPT-4" } else { "ChatGPT" };
        csv.push_str(&format!("{},{model},{},{},0,Conversation log\n", 100.0 + f64::from(i) * 0.02, 20 + i, 3 + i % 2));
    }
    csv.push_str("100.3,ChatGPT,many,1,0,Conversation log\n");
    std::fs::write(&trace, csv).unwrap();
    let out = TempDir::new("burstgpt-out");
    let grant = format!("trace=burstgpt:{}", trace.display());
    let params = json!({"models": {"GPT-4": "big-model"}, "api": "chat"});
    let args = with(
        run_args("builtin:trace-replay", &sim.url(), params, &out),
        &["--dataset", &grant, "--dataset-errors", "skip", "--record-text"],
    );
    run_volley_async(args, Duration::from_secs(60)).await.assert_success();
    let report = read_report(out.path());
    assert_eq!((report["datasets"][0]["format"].as_str(), report["datasets"][0]["skipped"].as_u64()), (Some("burstgpt"), Some(1)));
    let tags = &report["stages"][0]["tags"];
    assert_eq!((tags["GPT-4"]["ok"].as_u64(), tags["ChatGPT"]["ok"].as_u64()), (Some(4), Some(8)), "{tags}");
    let mut records = read_records(out.path());
    records.sort_by_key(|r| r["seq"].as_u64());
    for (i, r) in records.iter().enumerate() {
        let gpt4 = i % 3 == 0;
        assert_eq!(r["request_body"]["model"].as_str() == Some("big-model"), gpt4, "{r}");
        assert_eq!(r["output_tokens"].as_u64(), Some(3 + i as u64 % 2));
    }
    // Sent at the trace's pace: 20 ms apart, the first at the stage's start.
    let last = records.last().unwrap()["planned_ms"].as_f64().unwrap() - records[0]["planned_ms"].as_f64().unwrap();
    assert!((last - 220.0).abs() < 1.0, "eleven gaps of 20 ms planned over {last} ms");
}
