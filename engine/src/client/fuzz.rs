//! Property tests (bounded fuzzing) of everything the client reads from a server or a
//! scenario: the SSE framing, the OpenAI (chat, Responses), Anthropic Messages, TGI and
//! KServe response parsers, the path grammar and the request encoder. Each case count is small enough for CI; set
//! `PROPTEST_CASES` to fuzz longer.

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::Value;

use volley_core::{Api, Message, Prompt, ScenarioRequest, Tensor, TensorData, Tool, ToolCall, ToolChoice};
use volley_net::Target;

use super::http::check_path;
use super::request::RequestEncoder;
use super::sse::{SseEvent, SseParser};
use super::{anthropic, kserve, openai, responses, tgi};

fn events(chunks: &[&[u8]]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut parser = SseParser::new();
    let mut out = Vec::new();
    let mut push = |e: SseEvent<'_>| out.push((e.event.to_vec(), e.data.to_vec()));
    for c in chunks {
        parser.feed(c, &mut push);
    }
    parser.finish(&mut push);
    out
}

/// Bytes that look like an event stream often enough to reach every branch.
fn sse_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"data: ".to_vec()),
        Just(b"data:".to_vec()),
        Just(b"event: x".to_vec()),
        Just(b": comment".to_vec()),
        Just(b"id: 1".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"[DONE]".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..12),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|p| p.concat())
}

/// JSON values of bounded depth and size, with the keys the parsers look for.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("choices".to_string()),
        Just("text".to_string()),
        Just("delta".to_string()),
        Just("content".to_string()),
        Just("reasoning_content".to_string()),
        Just("usage".to_string()),
        Just("completion_tokens".to_string()),
        Just("prompt_tokens".to_string()),
        Just("token".to_string()),
        Just("details".to_string()),
        Just("generated_tokens".to_string()),
        Just("generated_text".to_string()),
        Just("outputs".to_string()),
        Just("predictions".to_string()),
        Just("data".to_string()),
        Just("error".to_string()),
        Just("message".to_string()),
        // The Responses API's and Anthropic's.
        Just("type".to_string()),
        Just("response".to_string()),
        Just("output".to_string()),
        Just("item".to_string()),
        Just("call_id".to_string()),
        Just("arguments".to_string()),
        Just("index".to_string()),
        Just("content_block".to_string()),
        Just("partial_json".to_string()),
        Just("stop_reason".to_string()),
        Just("input_tokens".to_string()),
        Just("output_tokens".to_string()),
        Just("response.output_text.delta".to_string()),
        Just("content_block_delta".to_string()),
        "[a-z_]{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        ".{0,16}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn parse_everything(bytes: &[u8]) {
    let mut text = String::new();
    let _ = openai::parse(bytes, Some(&mut text));
    let _ = openai::parse(bytes, None);
    let _ = openai::parse_full(bytes, None);
    // The same event twice in a stream: the second read against the first.
    let mut repeat = super::openai::repeat::Repeat::default();
    let _ = openai::parse_streamed(bytes, None, &mut repeat);
    let _ = openai::parse_streamed(bytes, Some(&mut text), &mut repeat);
    // A kept reply (a session's): tool calls and finish reasons joined as well.
    let mut reply = super::parsed::KeptReply::default();
    let _ = openai::parse_kept(bytes, Some(&mut text), Some(&mut reply));
    let _ = openai::parse_streamed_kept(bytes, Some(&mut text), &mut repeat, Some(&mut reply));
    let _ = reply.into_parts();
    let mut reply = super::parsed::KeptReply::default();
    let _ = responses::parse_event(bytes, Some(&mut text), Some(&mut reply));
    let _ = responses::parse_body(bytes, Some(&mut text), Some(&mut reply));
    let _ = responses::parse_event(bytes, None, None);
    let _ = anthropic::parse_event(bytes, Some(&mut text), Some(&mut reply));
    let _ = anthropic::parse_body(bytes, Some(&mut text), Some(&mut reply));
    let _ = anthropic::parse_event(bytes, None, None);
    let _ = reply.into_parts();
    let _ = tgi::parse_event(bytes, Some(&mut text));
    let _ = tgi::parse_body(bytes, Some(&mut text));
    let _ = kserve::parse_v1(bytes);
    let _ = kserve::parse_v2(bytes);
}

/// Path-like strings: the characters the grammar cares about, in any order, mostly
/// starting with '/' and mostly harmless, so both answers are common.
fn path_like() -> impl Strategy<Value = String> {
    let harmless = prop_oneof![Just("/"), Just("a"), Just("v2"), Just("%41"), Just("?"), Just("&x=1"), Just(":"), Just("."), Just("-")];
    let risky = prop_oneof![
        Just(".."),
        Just("%"),
        Just("%2e"),
        Just("%2F"),
        Just("#"),
        Just("@"),
        Just("\\"),
        Just(" "),
        Just("\u{7f}"),
        Just("é"),
        Just("//"),
    ];
    let piece = prop_oneof![12 => harmless, 1 => risky];
    (prop_oneof![9 => Just("/"), 1 => Just(""), 1 => Just("//")], proptest::collection::vec(piece, 0..12))
        .prop_map(|(lead, p)| format!("{lead}{}", p.concat()))
}

/// Decodes `%XX` escapes (the route as a server that decodes before routing sees it).
fn decoded(route: &str) -> String {
    let b = route.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = route.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn api() -> impl Strategy<Value = Api> {
    prop_oneof![
        Just(Api::Completions),
        Just(Api::ChatCompletions),
        Just(Api::Embeddings),
        Just(Api::TgiGenerate),
        Just(Api::KserveV1),
        Just(Api::KserveV2),
        Just(Api::Http),
        Just(Api::Responses),
        Just(Api::Messages),
    ]
}

fn short() -> impl Strategy<Value = String> {
    prop_oneof![".{0,12}", "[a-zA-Z0-9_./-]{0,12}", path_like()]
}

/// Plain messages, mostly; an assistant's tool calls; a tool's result.
fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        6 => (short(), short()).prop_map(|(role, content)| Message::new(role, content)),
        1 => (short(), proptest::collection::vec((short(), short(), short()), 1..3)).prop_map(|(content, calls)| {
            Message::assistant_calls(content, calls.into_iter().map(|(id, name, arguments)| ToolCall { id, name, arguments }).collect())
        }),
        1 => (short(), short()).prop_map(|(id, content)| Message::tool_result(id, content)),
    ]
}

/// A tool whose parameters are mostly a JSON object, else any JSON or not JSON.
fn tool() -> impl Strategy<Value = Tool> {
    let parameters = prop_oneof![
        3 => json_value().prop_map(|v| serde_json::json!({"type": "object", "properties": {"p": v}}).to_string()),
        1 => json_value().prop_map(|v| v.to_string()),
        1 => short(),
    ];
    (short(), short(), parameters).prop_map(|(name, description, parameters)| Tool { name, description, parameters })
}

fn tool_choice() -> impl Strategy<Value = ToolChoice> {
    prop_oneof![Just(ToolChoice::Auto), Just(ToolChoice::None), Just(ToolChoice::Required), short().prop_map(ToolChoice::Function)]
}

/// A chat request of an agent: tools, a choice, calls and results.
fn agent_request() -> impl Strategy<Value = ScenarioRequest> {
    let messages = proptest::collection::vec(message(), 0..4);
    (messages, proptest::collection::vec(tool(), 0..3), proptest::option::of(tool_choice()), any::<bool>()).prop_map(
        |(messages, tools, tool_choice, stream)| ScenarioRequest { tools, tool_choice, ..ScenarioRequest::chat(messages).stream(stream) },
    )
}

fn scenario_request() -> impl Strategy<Value = ScenarioRequest> {
    let header = (prop_oneof![Just("x-tenant".to_string()), Just("Host".to_string()), short()], short());
    let tensor = (
        short(),
        prop_oneof![Just("FP32".to_string()), Just("BYTES".to_string()), short()],
        proptest::collection::vec(prop_oneof![any::<i64>(), -2i64..5], 0..4),
        any::<bool>(),
        0usize..6,
    )
        .prop_map(|(name, datatype, shape, strings, n)| Tensor {
            name,
            datatype,
            shape,
            data: if strings { TensorData::Strings(vec!["s".into(); n]) } else { TensorData::Numbers(vec![1.0; n]) },
        });
    let message = message();
    let prompt = prop_oneof![short().prop_map(Prompt::Text), proptest::collection::vec(message, 0..3).prop_map(Prompt::Chat),];
    let tool = tool();
    let tool_choice = tool_choice();
    (
        (api(), proptest::option::of(short()), prompt, proptest::option::of(any::<u32>()), any::<bool>()),
        (proptest::collection::vec(header, 0..3), proptest::option::of(prop_oneof![short(), json_value().prop_map(|v| v.to_string())])),
        (proptest::option::of(short()), proptest::collection::vec(tensor, 0..3), proptest::option::of(short())),
        (proptest::option::of(short()), proptest::option::of(short()), proptest::option::of(path_like())),
        (prop_oneof![6 => Just(Vec::new()), 1 => proptest::collection::vec(tool, 1..3)], proptest::option::weighted(0.15, tool_choice)),
    )
        .prop_map(
            |(
                (api, model, prompt, max_tokens, stream),
                (headers, body_extra),
                (tag, inputs, model_version),
                (body, method, path),
                (tools, tool_choice),
            )| {
                ScenarioRequest {
                    tools,
                    tool_choice,
                    model,
                    max_tokens,
                    stream,
                    headers,
                    body_extra,
                    tag,
                    inputs,
                    model_version,
                    body,
                    method,
                    path,
                    ..ScenarioRequest::new(api, prompt)
                }
            },
        )
}

/// 512 cases each unless `PROPTEST_CASES` says otherwise.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    /// Wherever a stream is cut into reads, the events are the same.
    #[test]
    fn sse_events_do_not_depend_on_read_boundaries(bytes in sse_bytes(), cuts in proptest::collection::vec(any::<usize>(), 0..6)) {
        let whole = events(&[&bytes]);
        let mut at: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        at.sort_unstable();
        let mut chunks = Vec::new();
        let mut from = 0;
        for c in at {
            chunks.push(&bytes[from..c]);
            from = c;
        }
        chunks.push(&bytes[from..]);
        prop_assert_eq!(events(&chunks), whole.clone());
        // Nothing is invented: the events' data never outgrows the input.
        let total: usize = whole.iter().map(|(e, d)| e.len() + d.len()).sum();
        prop_assert!(total <= bytes.len());
    }

    #[test]
    fn response_parsers_survive_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        parse_everything(&bytes);
    }

    #[test]
    fn response_parsers_survive_any_json(value in json_value()) {
        parse_everything(value.to_string().as_bytes());
    }

    /// A path the grammar accepts stays under the target's base path, whatever the
    /// server decodes: no authority, no dot segments, nothing after a fragment.
    #[test]
    fn accepted_paths_stay_under_the_target(path in path_like()) {
        if check_path(&path).is_ok() {
            let uri: hyper::Uri = format!("/base{path}").parse().expect("an accepted path parses as a URI");
            prop_assert!(uri.authority().is_none() && uri.scheme().is_none());
            prop_assert!(uri.path().starts_with("/base/") || uri.path() == "/base");
            let route = decoded(uri.path());
            prop_assert!(!route.split('/').any(|s| s == "." || s == ".."), "{} decodes to {}", path, route);
            prop_assert!(!route.contains('\\'), "{} decodes to {}", path, route);
        }
    }

    /// An agent's chat request is sent when every tool's parameters are a JSON object,
    /// and then carries its tools and messages as they were; else it is refused.
    #[test]
    fn agent_requests_carry_what_they_were_given(r in agent_request()) {
        let target = Target::parse("http://127.0.0.1:1/base").unwrap();
        let mut encoder = RequestEncoder::new(&target, Some("m".into()), Arc::default(), &[]);
        let objects = r.tools.iter().all(|t| serde_json::from_str::<Value>(&t.parameters).is_ok_and(|v| v.is_object()));
        match encoder.encode(r.clone(), 0, 0) {
            Ok(p) => {
                prop_assert!(objects);
                let v: Value = serde_json::from_slice(&p.body).unwrap();
                for (i, t) in r.tools.iter().enumerate() {
                    let f = &v["tools"][i]["function"];
                    prop_assert_eq!((f["name"].as_str(), f["description"].as_str()), (Some(t.name.as_str()), Some(t.description.as_str())));
                    prop_assert_eq!(&f["parameters"], &serde_json::from_str::<Value>(&t.parameters).unwrap());
                }
                prop_assert_eq!(v.get("tools").is_some(), !r.tools.is_empty());
                let Prompt::Chat(messages) = &r.prompt else { unreachable!() };
                for (m, w) in messages.iter().zip(v["messages"].as_array().unwrap()) {
                    prop_assert_eq!(w["tool_call_id"].as_str(), m.tool_call_id.as_deref());
                    prop_assert_eq!(w.get("tool_calls").is_some(), !m.tool_calls.is_empty());
                    for (c, wc) in m.tool_calls.iter().zip(w["tool_calls"].as_array().into_iter().flatten()) {
                        prop_assert_eq!(&wc["id"], c.id.as_str());
                        prop_assert_eq!(&wc["function"]["arguments"], c.arguments.as_str());
                    }
                }
            }
            Err(e) => prop_assert!(!objects, "{}", e),
        }
    }

    /// Whatever a scenario asks for, the encoder answers with a request for the
    /// target, or a refusal: never a panic, another host, or a host-owned header.
    #[test]
    fn encoded_requests_go_only_to_the_target(r in scenario_request()) {
        let target = Target::parse("http://127.0.0.1:1/base").unwrap();
        let mut encoder = RequestEncoder::new(&target, Some("m".into()), Arc::default(), &[]);
        if let Ok(p) = encoder.encode(r, 0, 0) {
            prop_assert!(p.uri.authority().is_none() && p.uri.scheme().is_none(), "{}", p.uri);
            prop_assert!(p.uri.path().starts_with("/base/"), "{}", p.uri);
            for (name, _) in &p.headers {
                prop_assert!(!matches!(name.as_str(), "host" | "content-length" | "transfer-encoding" | "authorization" | "cookie"), "{}", name);
            }
            // A chat body (tools, calls and results included) is JSON.
            if p.api == Api::ChatCompletions {
                prop_assert!(serde_json::from_slice::<Value>(&p.body).is_ok(), "{}", String::from_utf8_lossy(&p.body));
            }
        }
    }
}

/// The properties above are not vacuous: the generators reach both answers.
#[test]
fn the_generators_reach_accepted_and_refused_inputs() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let target = Target::parse("http://127.0.0.1:1/base").unwrap();
    let mut encoder = RequestEncoder::new(&target, Some("m".into()), Arc::default(), &[]);
    let (mut paths, mut requests, mut agents) = ([0u32; 2], [0u32; 2], [0u32; 2]);
    for _ in 0..2000 {
        let p = path_like().new_tree(&mut runner).unwrap().current();
        paths[check_path(&p).is_ok() as usize] += 1;
        let r = scenario_request().new_tree(&mut runner).unwrap().current();
        requests[encoder.encode(r, 0, 0).is_ok() as usize] += 1;
        let r = agent_request().new_tree(&mut runner).unwrap().current();
        agents[encoder.encode(r, 0, 0).is_ok() as usize] += 1;
    }
    assert!(agents.iter().all(|n| *n >= 50), "agent requests refused/accepted: {agents:?}");
    assert!(paths.iter().all(|n| *n >= 50), "paths refused/accepted: {paths:?}");
    assert!(requests.iter().all(|n| *n >= 50), "requests refused/accepted: {requests:?}");
}
