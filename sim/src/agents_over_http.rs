//! Tool calls and the prefix KV cache, over real HTTP on loopback (unit tests of the
//! whole simulator: no second test binary).

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::{SimConfig, Simulator};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

pub(crate) fn quick() -> SimConfig {
    SimConfig { ttft: Duration::from_millis(2), itl: Duration::from_millis(1), ..SimConfig::default() }
}

pub(crate) async fn start(config: SimConfig) -> Simulator {
    Simulator::start(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await.expect("start the simulator")
}

pub(crate) struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    /// From sending the request to its first body bytes.
    first_bytes: Duration,
    /// ... and to its last.
    last_bytes: Duration,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    /// The SSE events of a stream, `[DONE]` left out (and required last).
    fn events(&self) -> Vec<Value> {
        let text = std::str::from_utf8(&self.body).unwrap();
        let mut datas: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).map(|e| e.strip_prefix("data: ").unwrap()).collect();
        assert_eq!(datas.pop(), Some("[DONE]"), "{text}");
        datas.into_iter().map(|d| serde_json::from_str(d).unwrap()).collect()
    }
}

pub(crate) async fn send(sim: &Simulator, method: &str, path: &str, body: Option<&Value>) -> Reply {
    let tcp = TcpStream::connect(sim.addr()).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(conn);
    let bytes = body.map(|b| Bytes::from(serde_json::to_vec(b).unwrap())).unwrap_or_default();
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "sim")
        .header("content-type", "application/json")
        .body(Full::new(bytes))
        .unwrap();
    let sent = Instant::now();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let (mut buf, mut first_bytes, mut last_bytes) = (Vec::new(), None, Duration::ZERO);
    while let Some(frame) = body.frame().await {
        if let Some(d) = frame.unwrap().data_ref() {
            last_bytes = sent.elapsed();
            first_bytes.get_or_insert(last_bytes);
            buf.extend_from_slice(d);
        }
    }
    Reply { status, body: buf, first_bytes: first_bytes.unwrap_or_default(), last_bytes }
}

async fn chat(sim: &Simulator, body: Value) -> Reply {
    let r = send(sim, "POST", "/v1/chat/completions", Some(&body)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r
}

pub(crate) async fn stats(sim: &Simulator) -> Value {
    let r = send(sim, "GET", "/sim/stats", None).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v, serde_json::to_value(sim.stats()).unwrap(), "/sim/stats serves the snapshot");
    v
}

fn tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                           "required": ["city"]}}},
        {"type": "function", "function": {"name": "search", "description": "Search the web",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}},
        {"type": "function", "function": {"name": "clock", "description": "The time", "parameters": {"type": "object"}}},
    ])
}

/// The properties each offered tool's arguments must have, by name.
pub(crate) fn schema_keys(name: &str) -> Vec<&'static str> {
    match name {
        "get_weather" => vec!["city", "days"],
        "search" => vec!["query"],
        "clock" => vec![],
        other => panic!("{other} was not offered"),
    }
}

/// A call as (id, name, arguments), checked against the offered tools.
fn check_call(id: &str, name: &str, arguments: &str) -> (String, String, String) {
    let args: Value = serde_json::from_str(arguments).unwrap_or_else(|e| panic!("{e}: {arguments}"));
    let mut keys: Vec<&str> = args.as_object().expect("arguments are an object").keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, schema_keys(name), "{name}: {arguments}");
    for v in args.as_object().unwrap().values() {
        assert!(v.is_string() || v.is_number(), "{arguments}");
    }
    assert!(id.starts_with("call_"), "{id}");
    (id.to_string(), name.to_string(), arguments.to_string())
}

/// The calls of a streamed answer, rebuilt from their deltas, and its usage.
fn streamed_calls(events: &[Value]) -> (Vec<(String, String, String)>, Value) {
    let mut calls: Vec<(String, String, String)> = Vec::new();
    let mut finishes = Vec::new();
    let mut usage = Value::Null;
    for e in events {
        if !e["usage"].is_null() {
            usage = e["usage"].clone();
        }
        let Some(choice) = e["choices"].get(0) else { continue };
        finishes.push(choice["finish_reason"].clone());
        assert!(choice["delta"].get("content").is_none(), "no text in a tool-call answer: {e}");
        for d in choice["delta"]["tool_calls"].as_array().into_iter().flatten() {
            let k = d["index"].as_u64().unwrap() as usize;
            if let Some(id) = d["id"].as_str() {
                assert_eq!(k, calls.len(), "calls open in order: {e}");
                assert_eq!((d["type"].as_str(), d["function"]["arguments"].as_str()), (Some("function"), Some("")), "{e}");
                calls.push((id.to_string(), d["function"]["name"].as_str().unwrap().to_string(), String::new()));
            } else {
                assert!(d.get("type").is_none() && d["function"].get("name").is_none(), "{e}");
                calls[k].2.push_str(d["function"]["arguments"].as_str().unwrap());
            }
        }
    }
    let last = finishes.pop().unwrap();
    assert_eq!(last, "tool_calls");
    assert!(finishes.iter().all(Value::is_null), "only the last chunk finishes: {finishes:?}");
    (calls.iter().map(|(i, n, a)| check_call(i, n, a)).collect(), usage)
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_offering_tools_get_tool_calls_streamed_and_not() {
    let sim = start(SimConfig { parallel_tools: 2..=2, ..quick() }).await;
    let offered = tools();

    let whole = chat(&sim, json!({"model": "m", "messages": [user("weather in paris")], "tools": offered})).await.json();
    let choice = &whole["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{whole}");
    assert!(choice["message"]["content"].is_null(), "{whole}");
    let calls = choice["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2, "--parallel-tools 2: {whole}");
    let mut all: Vec<(String, String, String)> = calls
        .iter()
        .map(|c| {
            assert_eq!(c["type"], "function");
            check_call(c["id"].as_str().unwrap(), c["function"]["name"].as_str().unwrap(), c["function"]["arguments"].as_str().unwrap())
        })
        .collect();
    let pieces_per_call = 3;
    let usage = &whole["usage"];
    assert_eq!(usage["completion_tokens"].as_u64(), Some(2 * pieces_per_call), "{usage}");
    assert_eq!(usage["prompt_tokens"].as_u64(), Some(3));

    let body = json!({"messages": [user("find volley")], "tools": offered, "tool_choice": "auto", "stream": true,
                      "stream_options": {"include_usage": true}});
    let events = chat(&sim, body).await.events();
    assert_eq!(events[0]["choices"][0]["delta"]["role"], "assistant");
    let (calls, usage) = streamed_calls(&events);
    assert_eq!(calls.len(), 2);
    // One output chunk per argument piece, then the usage chunk.
    let pieces =
        events.iter().filter(|e| e["choices"][0]["delta"]["tool_calls"][0].as_object().is_some_and(|d| !d.contains_key("id"))).count();
    assert_eq!(pieces, 2 * pieces_per_call as usize, "{events:?}");
    assert_eq!(usage["completion_tokens"].as_u64(), Some(2 * pieces_per_call), "{usage}");
    all.extend(calls);

    let ids: HashSet<&str> = all.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(ids.len(), 4, "ids are unique: {all:?}");
    let st = stats(&sim).await;
    assert_eq!((st["tool_calls_issued"].as_u64(), st["tool_call_answers"].as_u64()), (Some(4), Some(2)), "{st}");
    assert_eq!(st["tokens_generated"].as_u64(), Some(4 * pieces_per_call), "{st}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_call_streams_follow_ttft_and_itl() {
    let ttft = Duration::from_millis(60);
    let itl = Duration::from_millis(30);
    let sim = start(SimConfig { ttft, itl, parallel_tools: 1..=1, ..SimConfig::default() }).await;
    let body = json!({"messages": [user("hi")], "tools": tools(), "tool_choice": {"type": "function", "function": {"name": "search"}},
                      "stream": true});
    let r = chat(&sim, body).await;
    let (calls, _) = streamed_calls(&r.events());
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].1, "search", "a named tool_choice calls that function");
    // The first chunk at TTFT; three argument pieces, so two gaps of ITL after it.
    let first = r.first_bytes.as_secs_f64() * 1000.0;
    assert!((first - 60.0).abs() < 25.0, "first chunk after {first:.1} ms");
    let rest = (r.last_bytes - r.first_bytes).as_secs_f64() * 1000.0;
    assert!((rest - 60.0).abs() < 25.0, "two gaps of 30 ms took {rest:.1} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_results_answering_issued_ids_get_text_and_are_counted() {
    let sim = start(SimConfig { parallel_tools: 2..=2, ..quick() }).await;
    let offered = tools();
    let first = chat(&sim, json!({"messages": [user("plan a trip")], "tools": offered})).await.json();
    let message = first["choices"][0]["message"].clone();
    let ids: Vec<String> = message["tool_calls"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 2);

    let mut history = vec![user("plan a trip"), message];
    history.extend(ids.iter().map(|id| json!({"role": "tool", "tool_call_id": id, "content": "sunny 21"})));
    let body = json!({"messages": history, "tools": offered, "max_tokens": 5, "stream": true});
    let events = chat(&sim, body).await.events();
    let text: String = events.iter().filter_map(|e| e["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text.split_whitespace().count(), 5, "a text answer after tool results: {events:?}");
    assert!(events.iter().all(|e| e["choices"][0]["delta"].get("tool_calls").is_none()), "{events:?}");
    assert_eq!(events.last().unwrap()["choices"][0]["finish_reason"], "length");

    let st = stats(&sim).await;
    let trio = |st: &Value, what: &str| {
        ["received", "matched", "unknown"].map(|k| st[format!("{what}_{k}")].as_u64().unwrap_or_else(|| panic!("{what}_{k}: {st}")))
    };
    assert_eq!(trio(&st, "tool_results"), [2, 2, 0], "{st}");
    assert_eq!(trio(&st, "assistant_tool_calls"), [2, 2, 0], "{st}");
    assert_eq!(st["tool_call_answers"].as_u64(), Some(1));

    // An id the simulator never issued: answered all the same, counted unknown.
    let forged = json!({"messages": [user("x"), {"role": "tool", "tool_call_id": "call_999999_0", "content": "?"}],
                        "tools": offered, "max_tokens": 2});
    let reply = chat(&sim, forged).await.json();
    assert_eq!(reply["choices"][0]["finish_reason"], "length", "{reply}");
    assert!(reply["choices"][0]["message"]["content"].is_string(), "{reply}");
    let st = stats(&sim).await;
    assert_eq!(trio(&st, "tool_results"), [3, 2, 1], "{st}");

    // "required" calls tools even after a tool result.
    let body = json!({"messages": [user("x"), {"role": "tool", "tool_call_id": ids[0], "content": "1"}],
                      "tools": offered, "tool_choice": "required"});
    let reply = chat(&sim, body).await.json();
    assert_eq!(reply["choices"][0]["finish_reason"], "tool_calls", "{reply}");
    let st = stats(&sim).await;
    assert_eq!(trio(&st, "tool_results"), [4, 3, 1], "{st}");
    assert_eq!((st["tool_call_answers"].as_u64(), st["tool_calls_issued"].as_u64()), (Some(2), Some(4)), "{st}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_choice_none_and_rate_zero_answer_with_text() {
    let sim = start(quick()).await;
    let body = json!({"messages": [user("hi")], "tools": tools(), "tool_choice": "none", "max_tokens": 3});
    let reply = chat(&sim, body).await.json();
    assert_eq!(reply["choices"][0]["finish_reason"], "length", "{reply}");
    assert!(reply["choices"][0]["message"].get("tool_calls").is_none(), "{reply}");
    // tool_choice absent, rate 1 (the default): tool calls, one (the default count).
    let reply = chat(&sim, json!({"messages": [user("hi")], "tools": tools()})).await.json();
    assert_eq!(reply["choices"][0]["message"]["tool_calls"].as_array().map(Vec::len), Some(1), "{reply}");
    // No tools offered: text.
    let reply = chat(&sim, json!({"messages": [user("hi")], "tools": [], "max_tokens": 2})).await.json();
    assert_eq!(reply["choices"][0]["finish_reason"], "length", "{reply}");

    let never = start(SimConfig { tool_call_rate: 0.0, ..quick() }).await;
    for choice in [json!("auto"), Value::Null] {
        let mut body = json!({"messages": [user("hi")], "tools": tools(), "max_tokens": 3, "stream": true});
        if !choice.is_null() {
            body["tool_choice"] = choice;
        }
        let events = chat(&never, body).await.events();
        let text: String = events.iter().filter_map(|e| e["choices"][0]["delta"]["content"].as_str()).collect();
        assert_eq!(text.split_whitespace().count(), 3, "{events:?}");
        assert_eq!(events.last().unwrap()["choices"][0]["finish_reason"], "length");
    }
    assert_eq!(stats(&never).await["tool_call_answers"].as_u64(), Some(0));
}

/// `n` words `w{from}` .. `w{from + n - 1}`.
pub(crate) fn words(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prefix_cache_serves_shared_prefixes_and_its_prefill_shows_in_ttft() {
    let prefill_us = 200;
    let config = SimConfig {
        ttft: Duration::from_millis(5),
        prefix_cache_blocks: 10_000,
        block_tokens: 16,
        prefill_per_token: Duration::from_micros(prefill_us),
        ..quick()
    };
    let sim = start(config).await;
    let shared = words(0, 400);
    let ask = |suffix: String| {
        json!({"messages": [user(&format!("{shared} {suffix}"))], "max_tokens": 1, "stream": true,
               "stream_options": {"include_usage": true}})
    };
    let usage = |r: &Reply| r.events().last().unwrap()["usage"].clone();
    // A warm-up on another prompt, so the miss measured below is not a first request.
    chat(&sim, json!({"messages": [user(&words(5000, 20))], "max_tokens": 1})).await;

    let miss = chat(&sim, ask(words(1000, 20))).await;
    let hit = chat(&sim, ask(words(2000, 20))).await;
    let (miss_usage, hit_usage) = (usage(&miss), usage(&hit));
    assert_eq!(miss_usage["prompt_tokens"].as_u64(), Some(420), "{miss_usage}");
    assert_eq!(miss_usage["prompt_tokens_details"]["cached_tokens"].as_u64(), Some(0), "{miss_usage}");
    assert_eq!(hit_usage["prompt_tokens_details"]["cached_tokens"].as_u64(), Some(400 / 16 * 16), "{hit_usage}");

    // TTFT = 5 ms + 200 µs × uncached tokens: 89 ms for the miss, 9 ms for the hit.
    let gap = (miss.first_bytes.as_secs_f64() - hit.first_bytes.as_secs_f64()) * 1000.0;
    let want = (prefill_us * 400) as f64 / 1000.0;
    assert!((gap - want).abs() <= 25.0, "miss {:?}, hit {:?}: {gap:.1} ms apart, want {want}", miss.first_bytes, hit.first_bytes);
    let floor = 5.0 + (prefill_us * 420) as f64 / 1000.0;
    assert!(miss.first_bytes.as_secs_f64() * 1000.0 >= floor - 2.0, "{:?}", miss.first_bytes);

    // Non-streamed bodies report it too.
    let body = chat(&sim, json!({"messages": [user(&format!("{shared} {}", words(3000, 7)))], "max_tokens": 1})).await.json();
    assert_eq!(body["usage"]["prompt_tokens_details"]["cached_tokens"].as_u64(), Some(400), "{body}");

    let st = stats(&sim).await;
    let (prompt, hits) = (st["prefix_cache_prompt_tokens"].as_u64().unwrap(), st["prefix_cache_hit_tokens"].as_u64().unwrap());
    assert_eq!((prompt, hits), (20 + 420 + 420 + 407, 400 + 400), "{st}");
    assert_eq!(st["prefix_cache_hit_ratio"].as_f64(), Some(hits as f64 / prompt as f64), "{st}");
    assert_eq!(st["prefix_cache_evictions"].as_u64(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prefix_cache_evicts_least_recently_used_blocks() {
    // Four blocks of 16 tokens: room for one 64-token prompt.
    let sim = start(SimConfig { prefix_cache_blocks: 4, block_tokens: 16, ..quick() }).await;
    let cached = |r: Value| r["usage"]["prompt_tokens_details"]["cached_tokens"].as_u64().unwrap();
    let ask = |from: usize| json!({"messages": [user(&words(from, 64))], "max_tokens": 1});
    assert_eq!(cached(chat(&sim, ask(0)).await.json()), 0);
    assert_eq!(cached(chat(&sim, ask(0)).await.json()), 64, "all four blocks");
    assert_eq!(cached(chat(&sim, ask(100)).await.json()), 0);
    assert_eq!(stats(&sim).await["prefix_cache_evictions"].as_u64(), Some(4), "the first prompt's blocks went");
    assert_eq!(cached(chat(&sim, ask(0)).await.json()), 0, "evicted");
    assert_eq!(cached(chat(&sim, ask(0)).await.json()), 64);
    let st = stats(&sim).await;
    assert_eq!(st["prefix_cache_evictions"].as_u64(), Some(8), "{st}");
    assert_eq!((st["prefix_cache_prompt_tokens"].as_u64(), st["prefix_cache_hit_tokens"].as_u64()), (Some(5 * 64), Some(128)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_cache_prefill_costs_every_prompt_token() {
    let sim = start(SimConfig { ttft: Duration::from_millis(5), prefill_per_token: Duration::from_micros(200), ..quick() }).await;
    let ask = json!({"messages": [user(&words(0, 400))], "max_tokens": 1, "stream": true, "stream_options": {"include_usage": true}});
    chat(&sim, ask.clone()).await;
    let r = chat(&sim, ask).await;
    let ms = r.first_bytes.as_secs_f64() * 1000.0;
    assert!((ms - 85.0).abs() <= 25.0, "5 ms + 400 × 200 µs, measured {ms:.1} ms");
    let usage = r.events().last().unwrap()["usage"].clone();
    assert!(usage.get("prompt_tokens_details").is_none(), "no cache, no cached_tokens: {usage}");
    let st = stats(&sim).await;
    assert_eq!((st["prefix_cache_prompt_tokens"].as_u64(), st["prefix_cache_hit_ratio"].as_f64()), (Some(0), Some(0.0)));
}
