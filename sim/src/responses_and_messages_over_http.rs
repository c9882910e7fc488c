//! The Responses API (`/v1/responses`) and the Messages API (`/v1/messages`) over real
//! HTTP on loopback: answer shapes and usage, streamed event order and timing, tool
//! calls and the ids' ground truth, prefix-cache hits.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

use crate::agents_over_http::{quick, schema_keys, send, start, stats, words};
use crate::{SimConfig, Simulator};

/// One SSE event of a stream: when it arrived (from sending the request), its name, its data.
struct Event {
    at: Duration,
    name: String,
    data: Value,
}

/// POSTs `body` and reads the stream, stamping each event with its arrival.
async fn stream(sim: &Simulator, path: &str, body: &Value) -> Vec<Event> {
    let tcp = TcpStream::connect(sim.addr()).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(conn);
    let req = Request::builder()
        .method("POST")
        .uri(path)
        .header("host", "sim")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(body).unwrap())))
        .unwrap();
    let sent = Instant::now();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body();
    let (mut text, mut events) = (String::new(), Vec::new());
    while let Some(frame) = body.frame().await {
        let Some(d) = frame.unwrap().data_ref().cloned() else { continue };
        let at = sent.elapsed();
        text.push_str(std::str::from_utf8(&d).unwrap());
        while let Some(end) = text.find("\n\n") {
            let raw: String = text.drain(..end + 2).collect();
            let (head, data) = raw.trim_end().split_once('\n').unwrap_or_else(|| panic!("event and data lines: {raw:?}"));
            let name = head.strip_prefix("event: ").unwrap_or_else(|| panic!("{raw:?}")).to_string();
            let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            assert_eq!(data["type"], name.as_str(), "the data's type is the event's name");
            events.push(Event { at, name, data });
        }
    }
    assert!(text.is_empty(), "no partial event at the end: {text:?}");
    events
}

fn names(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.name.as_str()).collect()
}

async fn post(sim: &Simulator, path: &str, body: Value) -> Value {
    let r = send(sim, "POST", path, Some(&body)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

/// Tools as the Responses API offers them (the names and schemas of the chat tests').
fn responses_tools() -> Value {
    json!([
        {"type": "function", "name": "get_weather", "description": "Weather in a city",
         "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}},
        {"type": "function", "name": "search", "description": "Search the web",
         "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}},
        {"type": "function", "name": "clock", "parameters": {"type": "object"}},
    ])
}

/// ... and as the Messages API does.
fn messages_tools() -> Value {
    json!([
        {"name": "get_weather", "description": "Weather in a city",
         "input_schema": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}},
        {"name": "search", "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}}},
        {"name": "clock", "input_schema": {"type": "object"}},
    ])
}

/// Arguments parse and follow the named tool's schema.
fn check_arguments(name: &str, args: &Value) {
    let mut keys: Vec<&str> = args.as_object().unwrap_or_else(|| panic!("an object: {args}")).keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, schema_keys(name), "{name}: {args}");
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The median delay to the first delta and between deltas, in ms, over nine streams
/// (medians, so a descheduled moment on a busy 2-core machine does not decide).
async fn delta_timing(sim: &Simulator, path: &str, body: &Value, delta: &str) -> (f64, f64) {
    let (mut firsts, mut gaps) = (Vec::new(), Vec::new());
    for _ in 0..9 {
        let events = stream(sim, path, body).await;
        let at: Vec<f64> = events.iter().filter(|e| e.name == delta).map(|e| e.at.as_secs_f64() * 1000.0).collect();
        firsts.push(at[0]);
        gaps.extend(at.windows(2).map(|w| w[1] - w[0]));
    }
    let (first, gap) = (median(firsts), median(gaps));
    eprintln!("{path}: first delta {first:.2} ms, deltas {gap:.2} ms apart (medians)");
    (first, gap)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_answers_with_a_message_and_chat_counted_usage() {
    let sim = start(quick()).await;
    let body = json!({"model": "m", "instructions": "be brief", "input": "hello there world", "max_output_tokens": 4});
    let r = post(&sim, "/v1/responses", body).await;
    assert_eq!((r["object"].as_str(), r["status"].as_str(), r["model"].as_str()), (Some("response"), Some("completed"), Some("m")));
    assert!(r["id"].as_str().unwrap().starts_with("resp_"), "{r}");
    let item = &r["output"][0];
    assert_eq!((item["type"].as_str(), item["role"].as_str()), (Some("message"), Some("assistant")), "{r}");
    assert!(item["id"].as_str().unwrap().starts_with("msg_"), "{r}");
    assert_eq!(item["content"][0]["type"], "output_text");
    assert_eq!(item["content"][0]["text"].as_str().unwrap().split_whitespace().count(), 4, "{r}");
    let u = &r["usage"];
    assert_eq!((u["input_tokens"].as_u64(), u["output_tokens"].as_u64(), u["total_tokens"].as_u64()), (Some(5), Some(4), Some(9)), "{u}");
    assert_eq!(
        (u["input_tokens_details"]["cached_tokens"].as_u64(), u["output_tokens_details"]["reasoning_tokens"].as_u64()),
        (Some(0), Some(0))
    );

    // The same text as a chat prompt counts the same.
    let chat = post(
        &sim,
        "/v1/chat/completions",
        json!({"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there world"}], "max_tokens": 1}),
    )
    .await;
    assert_eq!(chat["usage"]["prompt_tokens"], u["input_tokens"]);

    // Items: a message with text and image parts.
    let body = json!({"input": [{"role": "user", "content": [{"type": "input_text", "text": "what is this"},
                                                             {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]}],
                      "max_output_tokens": 2});
    let r = post(&sim, "/v1/responses", body).await;
    assert_eq!(r["usage"]["input_tokens"].as_u64(), Some(3), "{r}");
    assert_eq!(stats(&sim).await["image_parts"].as_u64(), Some(1));

    // Bad bodies: 400 with a JSON error, never a panic.
    for bad in [
        &b"{"[..],
        b"[]",
        b"{}",
        b"{\"input\": 5}",
        b"{\"input\": [1]}",
        b"{\"input\": [{\"content\": \"x\"}]}",
        b"{\"input\": \"x\", \"max_output_tokens\": -1}",
        b"{\"input\": \"x\", \"stream\": \"yes\"}",
        b"{\"input\": \"x\", \"tools\": {}}",
        b"{\"input\": \"x\", \"tool_choice\": 3}",
    ] {
        let r = send(
            &sim,
            "POST",
            "/v1/responses",
            Some(&serde_json::from_slice(bad).unwrap_or(Value::String(String::from_utf8_lossy(bad).into()))),
        )
        .await;
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(bad));
        assert!(r.json()["error"]["message"].is_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_stream_their_events_at_ttft_and_itl() {
    let sim = start(SimConfig { ttft: Duration::from_millis(40), itl: Duration::from_millis(10), ..SimConfig::default() }).await;
    let body = json!({"input": "hi", "max_output_tokens": 5, "stream": true});
    let events = stream(&sim, "/v1/responses", &body).await;
    let mut want = vec!["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"];
    want.extend(["response.output_text.delta"; 5]);
    want.extend(["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]);
    assert_eq!(names(&events), want);
    let seq: Vec<u64> = events.iter().map(|e| e.data["sequence_number"].as_u64().unwrap()).collect();
    assert_eq!(seq, (0..events.len() as u64).collect::<Vec<_>>());
    let text: String =
        events.iter().filter(|e| e.name == "response.output_text.delta").map(|e| e.data["delta"].as_str().unwrap()).collect();
    let item_id = events[2].data["item"]["id"].as_str().unwrap();
    for e in &events[3..11] {
        assert_eq!((e.data["item_id"].as_str(), e.data["output_index"].as_u64()), (Some(item_id), Some(0)), "{}", e.data);
    }
    assert_eq!(events[9].data["text"], text.as_str());
    let done = &events.last().unwrap().data["response"];
    assert_eq!((done["status"].as_str(), done["output"][0]["content"][0]["text"].as_str()), (Some("completed"), Some(text.as_str())));
    assert_eq!((done["usage"]["input_tokens"].as_u64(), done["usage"]["output_tokens"].as_u64()), (Some(1), Some(5)), "{done}");
    // The opening events come at once, the text at TTFT.
    assert!(events[3].at < Duration::from_millis(20), "{:?}", events[3].at);

    let (first, gap) = delta_timing(&sim, "/v1/responses", &body, "response.output_text.delta").await;
    assert!((first - 40.0).abs() <= 3.0, "first delta after {first:.2} ms (median), want 40");
    assert!((gap - 10.0).abs() <= 1.5, "deltas {gap:.2} ms apart (median), want 10");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_call_tools_and_the_call_ids_sent_back_are_matched() {
    let sim = start(SimConfig { parallel_tools: 2..=2, ..quick() }).await;
    let r = post(&sim, "/v1/responses", json!({"input": "weather in paris", "tools": responses_tools()})).await;
    let calls = r["output"].as_array().unwrap().clone();
    assert_eq!(calls.len(), 2, "{r}");
    for c in &calls {
        assert_eq!((c["type"].as_str(), c["status"].as_str()), (Some("function_call"), Some("completed")), "{c}");
        assert!(c["call_id"].as_str().unwrap().starts_with("call_") && c["id"].as_str().unwrap().starts_with("fc_"), "{c}");
        check_arguments(c["name"].as_str().unwrap(), &serde_json::from_str(c["arguments"].as_str().unwrap()).unwrap());
    }
    assert_eq!(r["usage"]["output_tokens"].as_u64(), Some(6), "three argument pieces a call: {r}");

    // Streamed: each call opens, its arguments come in pieces, it closes.
    let body = json!({"input": "find volley", "tools": responses_tools(), "tool_choice": "required", "stream": true});
    let events = stream(&sim, "/v1/responses", &body).await;
    let mut want = vec!["response.created", "response.in_progress"];
    for _ in 0..2 {
        want.push("response.output_item.added");
        want.extend(["response.function_call_arguments.delta"; 3]);
        want.extend(["response.function_call_arguments.done", "response.output_item.done"]);
    }
    want.push("response.completed");
    assert_eq!(names(&events), want);
    for k in 0..2 {
        let e = |n: usize| &events[2 + 6 * k + n].data;
        let (added, done) = (&e(0)["item"], &e(5)["item"]);
        assert_eq!((added["arguments"].as_str(), added["status"].as_str()), (Some(""), Some("in_progress")));
        let joined: String = (1..4).map(|n| e(n)["delta"].as_str().unwrap()).collect();
        assert_eq!(e(4)["arguments"].as_str(), Some(joined.as_str()));
        assert_eq!((done["arguments"].as_str(), done["call_id"].as_str()), (Some(joined.as_str()), added["call_id"].as_str()));
        check_arguments(done["name"].as_str().unwrap(), &serde_json::from_str(&joined).unwrap());
        assert!((1..4).all(|n| e(n)["item_id"] == added["id"] && e(n)["output_index"] == k), "{}", e(1));
    }
    let completed = &events.last().unwrap().data["response"];
    assert_eq!(completed["output"].as_array().map(Vec::len), Some(2));

    // The calls and their outputs sent back: a text answer, and every id matched.
    let mut input = vec![json!({"role": "user", "content": "weather in paris"})];
    input.extend(
        calls.iter().map(|c| json!({"type": "function_call", "call_id": c["call_id"], "name": c["name"], "arguments": c["arguments"]})),
    );
    input.extend(calls.iter().map(|c| json!({"type": "function_call_output", "call_id": c["call_id"], "output": "sunny 21"})));
    input.push(json!({"type": "function_call_output", "call_id": "call_999999_0", "output": "?"}));
    let r = post(&sim, "/v1/responses", json!({"input": input, "tools": responses_tools(), "max_output_tokens": 3})).await;
    assert_eq!(r["output"][0]["type"], "message", "after tool results, text: {r}");
    let st = stats(&sim).await;
    let trio = |what: &str| ["received", "matched", "unknown"].map(|k| st[format!("{what}_{k}")].as_u64().unwrap());
    assert_eq!(trio("tool_results"), [3, 2, 1], "{st}");
    assert_eq!(trio("assistant_tool_calls"), [2, 2, 0], "{st}");
    assert_eq!((st["tool_call_answers"].as_u64(), st["tool_calls_issued"].as_u64()), (Some(2), Some(4)), "{st}");
    let ids: HashSet<&str> = calls.iter().chain(completed["output"].as_array().unwrap()).map(|c| c["call_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 4, "ids are unique");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_answer_with_text_and_anthropic_usage() {
    let sim = start(quick()).await;
    let body = json!({"model": "claude-sim", "system": "be brief", "max_tokens": 4,
                      "messages": [{"role": "user", "content": "hello there world"}]});
    let r = post(&sim, "/v1/messages", body).await;
    assert_eq!((r["type"].as_str(), r["role"].as_str(), r["model"].as_str()), (Some("message"), Some("assistant"), Some("claude-sim")));
    assert!(r["id"].as_str().unwrap().starts_with("msg_"), "{r}");
    assert_eq!((r["stop_reason"].as_str(), r["stop_sequence"].clone()), (Some("max_tokens"), Value::Null));
    assert_eq!(r["content"][0]["type"], "text");
    assert_eq!(r["content"][0]["text"].as_str().unwrap().split_whitespace().count(), 4, "{r}");
    assert_eq!(r["usage"], json!({"input_tokens": 5, "output_tokens": 4, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}));

    // System as text blocks, content as blocks with an image: counted as chat counts them.
    let body = json!({"system": [{"type": "text", "text": "be brief"}], "max_tokens": 1,
                      "messages": [{"role": "user", "content": [{"type": "text", "text": "what is this"},
                                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]}]});
    let r = post(&sim, "/v1/messages", body).await;
    assert_eq!(r["usage"]["input_tokens"].as_u64(), Some(5), "{r}");
    assert_eq!(stats(&sim).await["image_parts"].as_u64(), Some(1));

    for bad in [
        &b"{"[..],
        b"[]",
        b"{}",
        b"{\"messages\": 5}",
        b"{\"messages\": [{\"content\": \"x\"}]}",
        b"{\"messages\": [{\"role\": \"user\", \"content\": 5}]}",
        b"{\"messages\": [], \"max_tokens\": \"9\"}",
        b"{\"messages\": [], \"system\": 3}",
        b"{\"messages\": [], \"tool_choice\": \"auto\"}",
    ] {
        let r = send(
            &sim,
            "POST",
            "/v1/messages",
            Some(&serde_json::from_slice(bad).unwrap_or(Value::String(String::from_utf8_lossy(bad).into()))),
        )
        .await;
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(bad));
        let e = r.json();
        assert_eq!((e["type"].as_str(), e["error"]["message"].is_string()), (Some("error"), true), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_stream_their_events_at_ttft_and_itl() {
    let sim = start(SimConfig { ttft: Duration::from_millis(40), itl: Duration::from_millis(10), ..SimConfig::default() }).await;
    let body = json!({"max_tokens": 5, "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let events = stream(&sim, "/v1/messages", &body).await;
    let mut want = vec!["message_start", "content_block_start", "ping"];
    want.extend(["content_block_delta"; 5]);
    want.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names(&events), want);
    let start_usage = &events[0].data["message"]["usage"];
    assert_eq!((start_usage["input_tokens"].as_u64(), start_usage["output_tokens"].as_u64()), (Some(1), Some(1)), "{start_usage}");
    assert_eq!(start_usage["cache_read_input_tokens"].as_u64(), Some(0));
    assert_eq!(events[1].data["content_block"], json!({"type": "text", "text": ""}));
    assert!(events[3..8].iter().all(|e| e.data["index"] == 0 && e.data["delta"]["type"] == "text_delta"));
    let delta = &events[9].data;
    assert_eq!((delta["delta"]["stop_reason"].as_str(), delta["usage"]["output_tokens"].as_u64()), (Some("max_tokens"), Some(5)));
    assert!(events[2].at < Duration::from_millis(20), "message_start comes at once: {:?}", events[2].at);

    let (first, gap) = delta_timing(&sim, "/v1/messages", &body, "content_block_delta").await;
    assert!((first - 40.0).abs() <= 3.0, "first delta after {first:.2} ms (median), want 40");
    assert!((gap - 10.0).abs() <= 1.5, "deltas {gap:.2} ms apart (median), want 10");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_use_tools_and_the_tool_use_ids_sent_back_are_matched() {
    let sim = start(SimConfig { parallel_tools: 2..=2, ..quick() }).await;
    let ask = json!({"max_tokens": 100, "tools": messages_tools(), "messages": [{"role": "user", "content": "weather in paris"}]});
    let r = post(&sim, "/v1/messages", ask).await;
    assert_eq!(r["stop_reason"], "tool_use", "{r}");
    let blocks = r["content"].as_array().unwrap().clone();
    assert_eq!(blocks.len(), 2, "{r}");
    for b in &blocks {
        assert_eq!(b["type"], "tool_use");
        assert!(b["id"].as_str().unwrap().starts_with("toolu_"), "{b}");
        check_arguments(b["name"].as_str().unwrap(), &b["input"]);
    }

    let body = json!({"max_tokens": 100, "tools": messages_tools(), "tool_choice": {"type": "any"}, "stream": true,
                      "messages": [{"role": "user", "content": "find volley"}]});
    let events = stream(&sim, "/v1/messages", &body).await;
    let mut want = vec!["message_start", "content_block_start", "ping"];
    want.extend(["content_block_delta"; 3]);
    want.extend(["content_block_stop", "content_block_start"]);
    want.extend(["content_block_delta"; 3]);
    want.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names(&events), want);
    let mut streamed_ids = Vec::new();
    // The first call opens before the ping, the second after the first one stops.
    for (k, open, deltas) in [(0, 1, 3), (1, 7, 8)] {
        let block = &events[open].data["content_block"];
        assert_eq!(
            (events[open].data["index"].as_u64(), block["type"].as_str(), block["input"].clone()),
            (Some(k), Some("tool_use"), json!({}))
        );
        let joined: String = events[deltas..deltas + 3]
            .iter()
            .map(|e| {
                assert_eq!((e.data["index"].as_u64(), e.data["delta"]["type"].as_str()), (Some(k), Some("input_json_delta")));
                e.data["delta"]["partial_json"].as_str().unwrap()
            })
            .collect();
        check_arguments(block["name"].as_str().unwrap(), &serde_json::from_str(&joined).unwrap());
        streamed_ids.push(block["id"].as_str().unwrap().to_string());
    }
    assert_eq!(events[12].data["delta"]["stop_reason"], "tool_use");

    // The tool_use blocks and their results sent back: a text answer, every id matched.
    let results: Vec<Value> =
        blocks.iter().map(|b| json!({"type": "tool_result", "tool_use_id": b["id"], "content": "sunny 21"})).collect();
    let mut results = results;
    results.push(json!({"type": "tool_result", "tool_use_id": "toolu_999999_0", "content": [{"type": "text", "text": "?"}]}));
    let follow = json!({"max_tokens": 3, "tools": messages_tools(), "messages": [
        {"role": "user", "content": "weather in paris"},
        {"role": "assistant", "content": blocks},
        {"role": "user", "content": results}]});
    let r = post(&sim, "/v1/messages", follow).await;
    assert_eq!((r["stop_reason"].as_str(), r["content"][0]["type"].as_str()), (Some("max_tokens"), Some("text")), "{r}");
    let st = stats(&sim).await;
    let trio = |what: &str| ["received", "matched", "unknown"].map(|k| st[format!("{what}_{k}")].as_u64().unwrap());
    assert_eq!(trio("tool_results"), [3, 2, 1], "{st}");
    assert_eq!(trio("assistant_tool_calls"), [2, 2, 0], "{st}");
    assert_eq!((st["tool_call_answers"].as_u64(), st["tool_calls_issued"].as_u64()), (Some(2), Some(4)), "{st}");
    let ids: HashSet<&str> = blocks.iter().map(|b| b["id"].as_str().unwrap()).chain(streamed_ids.iter().map(String::as_str)).collect();
    assert_eq!(ids.len(), 4, "ids are unique");

    // A named tool, one call only, and "none".
    let one = json!({"max_tokens": 9, "tools": messages_tools(), "tool_choice": {"type": "tool", "name": "search", "disable_parallel_tool_use": true},
                     "messages": [{"role": "user", "content": "x"}]});
    let r = post(&sim, "/v1/messages", one).await;
    assert_eq!((r["content"].as_array().map(Vec::len), r["content"][0]["name"].as_str()), (Some(1), Some("search")), "{r}");
    let none = json!({"max_tokens": 2, "tools": messages_tools(), "tool_choice": {"type": "none"}, "messages": [{"role": "user", "content": "x"}]});
    assert_eq!(post(&sim, "/v1/messages", none).await["stop_reason"], "max_tokens");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_apis_report_prefix_cache_hits_on_a_repeated_long_prompt() {
    let sim = start(SimConfig { prefix_cache_blocks: 1000, block_tokens: 16, ..quick() }).await;
    let prompt = words(0, 70);
    let ask = json!({"input": prompt, "max_output_tokens": 1});
    let cached = |r: &Value| r["usage"]["input_tokens_details"]["cached_tokens"].as_u64();
    assert_eq!(cached(&post(&sim, "/v1/responses", ask.clone()).await), Some(0));
    let r = post(&sim, "/v1/responses", ask).await;
    assert_eq!((r["usage"]["input_tokens"].as_u64(), cached(&r)), (Some(70), Some(64)), "{r}");
    let events = stream(&sim, "/v1/responses", &json!({"input": prompt, "max_output_tokens": 1, "stream": true})).await;
    assert_eq!(cached(&events.last().unwrap().data["response"]), Some(64));

    // The same user text through Messages: the chat-form prompt is the same, so it hits too.
    let ask = json!({"max_tokens": 1, "messages": [{"role": "user", "content": prompt}]});
    let r = post(&sim, "/v1/messages", ask).await;
    let u = &r["usage"];
    assert_eq!((u["input_tokens"].as_u64(), u["cache_read_input_tokens"].as_u64()), (Some(6), Some(64)), "uncached and cached: {u}");
    let events =
        stream(&sim, "/v1/messages", &json!({"max_tokens": 1, "stream": true, "messages": [{"role": "user", "content": prompt}]})).await;
    assert_eq!(events[0].data["message"]["usage"]["cache_read_input_tokens"].as_u64(), Some(64));
    let st = stats(&sim).await;
    assert_eq!((st["prefix_cache_prompt_tokens"].as_u64(), st["prefix_cache_hit_tokens"].as_u64()), (Some(5 * 70), Some(4 * 64)), "{st}");
}
