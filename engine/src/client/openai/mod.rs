//! OpenAI-compatible completions, chat and embeddings: the requests are written by
//! [`encode`] (its chat messages by [`messages`]); this module reads the responses, one
//! streamed event at a time, or a whole non-streamed body. Borrowed deserialization keeps the common event (a few bytes of
//! text) from allocating strings; the common streamed events take a one-pass scanner
//! ([`scan`]) or are read by difference from the stream's last one ([`repeat`]).
//!
//! For a request whose outcome gives the reply back (a session's, or `keep_text`), the
//! `_kept` readers also join the model's tool calls and keep the finish reason
//! ([`KeptReply`]): tool calls only ever reach the full parser, and a finish reason read
//! on the fast path is read again, once a response; other requests pay for neither.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::parsed::{CallPiece, KeptReply, Parsed, Usage, unexpected_json};
use repeat::Repeat;

pub(crate) mod encode;
pub(crate) mod messages;
pub(crate) mod repeat;
pub(crate) mod scan;

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    /// vLLM and SGLang reasoning parsers stream the thinking part here.
    #[serde(borrow, default)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning: Option<Cow<'a, str>>,
    /// Streamed tool calls: the first delta of each call has its id and name, the
    /// rest carry pieces of its arguments.
    #[serde(borrow, default)]
    tool_calls: Option<Vec<ToolCallDelta<'a>>>,
}

#[derive(Deserialize)]
struct ToolCallDelta<'a> {
    #[serde(default)]
    index: Option<u32>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    function: Option<FunctionDelta<'a>>,
}

#[derive(Deserialize)]
struct FunctionDelta<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    arguments: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    /// Which of the request's `n` choices: the first (0, or none given) is the one a
    /// kept reply keeps. Any JSON, as the fast path skips it.
    #[serde(borrow, default)]
    index: Option<&'a RawValue>,
    /// Completions API.
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    /// Chat API, streamed.
    #[serde(borrow, default)]
    delta: Option<Delta<'a>>,
    /// Chat API, not streamed.
    #[serde(borrow, default)]
    message: Option<Delta<'a>>,
    #[serde(borrow, default)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(borrow, default)]
    choices: Vec<Choice<'a>>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// Parses a streamed event's or a whole body's JSON, appending its generated text to
/// `text` if given: the common shapes on the fast path ([`scan::parse_event`]),
/// anything else in full ([`parse_full`]).
pub fn parse(json: &[u8], text: Option<&mut String>) -> Result<Parsed, String> {
    parse_kept(json, text, None)
}

/// [`parse`], joining the response's tool calls and finish reason into `reply` if given
/// (a request whose outcome keeps them).
pub(crate) fn parse_kept(json: &[u8], text: Option<&mut String>, reply: Option<&mut KeptReply>) -> Result<Parsed, String> {
    parse_scanned(json, text, reply, |_, _| {})
}

/// [`parse`] for the events of one stream: an event that is the last one read with
/// only its text changed is read by difference ([`Repeat`]); one read on the fast path
/// with a single piece of text becomes what the next are read against.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn parse_streamed(json: &[u8], text: Option<&mut String>, repeat: &mut Repeat) -> Result<Parsed, String> {
    parse_streamed_kept(json, text, repeat, None)
}

/// [`parse_streamed`], joining the stream's tool calls and finish reason into `reply`
/// if given.
pub(crate) fn parse_streamed_kept(
    json: &[u8],
    text: Option<&mut String>,
    repeat: &mut Repeat,
    reply: Option<&mut KeptReply>,
) -> Result<Parsed, String> {
    if let Some((piece, parsed)) = repeat.read(json) {
        if let Some(t) = text {
            t.push_str(piece);
        }
        // The event reads as the kept one did, which parsed: so does it.
        if let (Some(reply), Ok(json)) = (reply.filter(|_| parsed.finished), std::str::from_utf8(json)) {
            finish_reasons(json, reply);
        }
        return Ok(parsed);
    }
    parse_scanned(json, text, reply, |parsed, piece| repeat.remember(json, piece, parsed))
}

/// [`parse`], calling `scanned` with what the fast path read and its single piece.
fn parse_scanned(
    json: &[u8],
    mut text: Option<&mut String>,
    reply: Option<&mut KeptReply>,
    scanned: impl FnOnce(&Parsed, scan::Piece),
) -> Result<Parsed, String> {
    let json_text = utf8(json)?;
    let kept = text.as_deref().map_or(0, String::len);
    // The fast path reads no tool calls (it gives such events up): only a finish
    // reason is left to keep, read again where there is one (once a response).
    if let Some((p, piece)) = scan::parse_event(json_text, text.as_deref_mut()) {
        if let Some(piece) = piece {
            scanned(&p, piece);
        }
        if let Some(reply) = reply.filter(|_| p.finished) {
            finish_reasons(json_text, reply);
        }
        return Ok(p);
    }
    // The fast path gave up part way: what it kept of the text goes.
    if let Some(t) = text.as_deref_mut() {
        t.truncate(kept);
    }
    parse_str(json_text, text, reply)
}

/// A choice's `index` is the first choice's: 0, or none.
fn first(index: Option<&RawValue>) -> bool {
    index.is_none_or(|i| i.get() == "0")
}

/// Keeps the finish reasons of an event the fast path read (and so one the full parser
/// reads too), of the first choice.
fn finish_reasons(json: &str, reply: &mut KeptReply) {
    #[derive(Deserialize)]
    struct Finishes<'a> {
        #[serde(borrow, default)]
        choices: Vec<Finish<'a>>,
    }
    #[derive(Deserialize)]
    struct Finish<'a> {
        #[serde(borrow, default)]
        index: Option<&'a RawValue>,
        #[serde(borrow, default)]
        finish_reason: Option<Cow<'a, str>>,
    }
    let Ok(event) = serde_json::from_str::<Finishes<'_>>(json) else { return };
    for choice in event.choices.iter().filter(|c| first(c.index)) {
        if let Some(reason) = &choice.finish_reason {
            reply.finish(reason);
        }
    }
}

/// The event or body as text; one UTF-8 check of the whole, after which parsing from
/// `str` skips the check serde_json otherwise makes per string.
fn utf8(json: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(json).map_err(|e| unexpected_json(json, e))
}

/// [`parse`] without the fast path: serde over the whole JSON (what the fast path is
/// tested against; the fuzz targets too).
#[cfg(any(test, feature = "fuzzing"))]
pub fn parse_full(json: &[u8], text: Option<&mut String>) -> Result<Parsed, String> {
    parse_str(utf8(json)?, text, None)
}

fn parse_str(json: &str, mut text: Option<&mut String>, mut reply: Option<&mut KeptReply>) -> Result<Parsed, String> {
    let body: Body<'_> = serde_json::from_str(json).map_err(|e| unexpected_json(json.as_bytes(), e))?;
    let mut out = Parsed { usage: body.usage, ..Parsed::default() };
    if let Some(err) = body.error {
        out.error = Some(error_message(&err));
    }
    for choice in &body.choices {
        let delta = choice.delta.as_ref().or(choice.message.as_ref());
        let reasoning = [delta.and_then(|d| d.reasoning_content.as_deref()), delta.and_then(|d| d.reasoning.as_deref())];
        let answer = [choice.text.as_deref(), delta.and_then(|d| d.content.as_deref())];
        for (is_reasoning, piece) in reasoning.map(|p| (true, p)).into_iter().chain(answer.map(|p| (false, p))) {
            let Some(piece) = piece else { continue };
            out.add_text(&mut text, piece, is_reasoning);
        }
        for call in delta.and_then(|d| d.tool_calls.as_deref()).unwrap_or_default() {
            let f = call.function.as_ref();
            out.tool_bytes += f.and_then(|f| f.name.as_deref()).map_or(0, str::len);
            out.tool_bytes += f.and_then(|f| f.arguments.as_deref()).map_or(0, str::len);
            out.tool_call_entries += 1;
            out.tool_calls_started += u32::from(call.id.is_some());
            let slot = call.index.map_or(0, |i| i.saturating_add(1));
            out.tool_call_slots = out.tool_call_slots.max(slot);
        }
        out.finished |= choice.finish_reason.is_some();
        // Kept: the first choice's calls and finish reason (more choices, `n` > 1, are
        // not a conversation's).
        if let Some(reply) = reply.as_deref_mut().filter(|_| first(choice.index)) {
            let whole = choice.delta.is_none();
            for (position, call) in delta.and_then(|d| d.tool_calls.as_deref()).unwrap_or_default().iter().enumerate() {
                let f = call.function.as_ref();
                reply.add(CallPiece {
                    index: call.index,
                    position,
                    whole,
                    id: call.id.as_deref(),
                    name: f.and_then(|f| f.name.as_deref()),
                    arguments: f.and_then(|f| f.arguments.as_deref()),
                });
            }
            if let Some(reason) = &choice.finish_reason {
                reply.finish(reason);
            }
        }
    }
    Ok(out)
}

/// The message of an `error` field: a string, or an object with a `message`.
pub fn error_message(err: &serde_json::Value) -> String {
    let msg = match err {
        serde_json::Value::String(s) => s.clone(),
        other => other.get("message").and_then(|m| m.as_str()).map(str::to_string).unwrap_or_else(|| other.to_string()),
    };
    msg.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_event() {
        let e = br#"{"choices":[{"text":" 5, 6","index":0,"finish_reason":null}]}"#;
        let mut t = String::new();
        let p = parse(e, Some(&mut t)).unwrap();
        assert_eq!((p.text_bytes, p.finished, t.as_str()), (5, false, " 5, 6"));
    }

    #[test]
    fn llama_cpp_chat_role_event_has_no_text() {
        let e = br#"{"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"object":"chat.completion.chunk"}"#;
        assert_eq!(parse(e, None).unwrap().text_bytes, 0);
    }

    #[test]
    fn usage_chunk_and_finish() {
        let e = br#"{"choices":[],"usage":{"completion_tokens":7,"prompt_tokens":12,"total_tokens":19}}"#;
        let p = parse(e, None).unwrap();
        assert_eq!(p.usage, Some(Usage { prompt_tokens: Some(12), completion_tokens: Some(7), ..Usage::default() }));
        let c = br#"{"choices":[],"usage":{"completion_tokens":1,"prompt_tokens":9,"prompt_tokens_details":{"cached_tokens":8}}}"#;
        assert_eq!(parse(c, None).unwrap().usage.unwrap().prompt_tokens_details.unwrap().cached_tokens, Some(8));
        let f = br#"{"choices":[{"delta":{},"finish_reason":"length"}]}"#;
        assert!(parse(f, None).unwrap().finished);
    }

    #[test]
    fn escapes_reasoning_and_errors() {
        let e = br#"{"choices":[{"delta":{"reasoning_content":"a\"b","content":"\u00e9"}}]}"#;
        let mut t = String::new();
        assert_eq!(parse(e, Some(&mut t)).unwrap().text_bytes, 5);
        assert_eq!(t, "a\"bé");
        let e = br#"{"error":{"message":"boom","code":500}}"#;
        assert_eq!(parse(e, None).unwrap().error.as_deref(), Some("boom"));
        assert!(parse(b"{not json", None).is_err());
    }

    #[test]
    fn non_streamed_chat_body() {
        let b = br#"{"choices":[{"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#;
        let mut t = String::new();
        let p = parse(b, Some(&mut t)).unwrap();
        assert!(p.finished);
        assert_eq!((t.as_str(), p.usage.unwrap().completion_tokens), ("hello", Some(1)));
    }

    #[test]
    fn reasoning_is_output_but_not_answer() {
        let e = br#"{"choices":[{"delta":{"reasoning_content":"hmm, let me see"}}]}"#;
        let p = parse(e, None).unwrap();
        assert!(p.has_output() && !p.has_answer() && p.mostly_reasoning());
        assert_eq!((p.text_bytes, p.reasoning_bytes), (15, 15));
        let e = br#"{"choices":[{"delta":{"reasoning":"ok","content":"The answer"}}]}"#;
        let p = parse(e, None).unwrap();
        assert!(p.has_answer() && !p.mostly_reasoning());
        let u = br#"{"choices":[],"usage":{"completion_tokens":9,"completion_tokens_details":{"reasoning_tokens":6}}}"#;
        assert_eq!(parse(u, None).unwrap().usage.unwrap().completion_tokens_details.unwrap().reasoning_tokens, Some(6));
    }

    #[test]
    fn tool_call_deltas_are_answer_output() {
        let first = br#"{"choices":[{"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]}}]}"#;
        let p = parse(first, None).unwrap();
        assert!(p.has_output() && p.has_answer());
        assert_eq!((p.tool_bytes, p.tool_calls_started, p.tool_call_slots, p.text_bytes), (11, 1, 1, 0));
        let more = br#"{"choices":[{"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"city\""}}]}}]}"#;
        let p = parse(more, None).unwrap();
        assert_eq!((p.tool_bytes, p.tool_calls_started, p.tool_call_slots), (7, 0, 2));
        // A role-only chunk is not output.
        let role = br#"{"choices":[{"delta":{"role":"assistant","tool_calls":[]}}]}"#;
        assert!(!parse(role, None).unwrap().has_output());
        // Not streamed: the whole message with its calls.
        let body = br#"{"choices":[{"message":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}"#;
        let p = parse(body, None).unwrap();
        assert_eq!((p.tool_call_entries, p.tool_bytes, p.finished), (1, 3, true));
    }

    /// A stream's events read as the exchange reads them for a kept reply: each against
    /// the last (by difference), the calls and finish reason joined into one reply.
    fn kept_stream(events: &[&str]) -> (Vec<volley_core::ToolCall>, Option<String>, String) {
        let (mut repeat, mut reply, mut text) = (Repeat::default(), KeptReply::default(), String::new());
        for e in events {
            parse_streamed_kept(e.as_bytes(), Some(&mut text), &mut repeat, Some(&mut reply)).unwrap();
        }
        let (calls, finish) = reply.into_parts();
        (calls, finish, text)
    }

    fn call(id: &str, name: &str, arguments: &str) -> volley_core::ToolCall {
        volley_core::ToolCall { id: id.into(), name: name.into(), arguments: arguments.into() }
    }

    #[test]
    fn parallel_streamed_calls_are_joined_by_index() {
        let events = [
            r#"{"id":"x","choices":[{"index":0,"delta":{"role":"assistant","content":null},"finish_reason":null}]}"#,
            r#"{"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}"#,
            r#"{"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"ci"}}]},"finish_reason":null}]}"#,
            r#"{"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{\"tz\""}}]},"finish_reason":null}]}"#,
            r#"{"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ty\": \"Par"}}]},"finish_reason":null}]}"#,
            r#"{"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":": \"UTC\"}"}},{"index":0,"function":{"arguments":"is\"}"}}]},"finish_reason":null}]}"#,
            r#"{"id":"x","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"id":"x","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":20}}"#,
        ];
        let (calls, finish, text) = kept_stream(&events);
        assert_eq!(calls, vec![call("call_a", "get_weather", r#"{"city": "Paris"}"#), call("call_b", "get_time", r#"{"tz": "UTC"}"#)]);
        assert_eq!((finish.as_deref(), text.as_str()), (Some("tool_calls"), ""));
        // A server that repeats the id on later pieces: still one call, its id once.
        let again = [
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{\"a\""}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":":1}"}}]}}]}"#,
        ];
        assert_eq!(kept_stream(&again).0, vec![call("c", "f", r#"{"a":1}"#)]);
    }

    #[test]
    fn streamed_calls_without_index_follow_their_ids() {
        let events = [
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"a","function":{"name":"f","arguments":"{\"x\":"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"1}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"b","function":{"name":"g","arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"content":""},"finish_reason":"stop"}]}"#,
        ];
        let (calls, finish, _) = kept_stream(&events);
        assert_eq!(calls, vec![call("a", "f", r#"{"x":1}"#), call("b", "g", "{}")]);
        assert_eq!(finish.as_deref(), Some("stop"));
    }

    #[test]
    fn a_whole_message_gives_its_calls_and_finish_reason() {
        let body = br#"{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[
            {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
            {"id":"call_2","type":"function","function":{"name":"get_time","arguments":"{}"}}]},"finish_reason":"tool_calls"}],
            "usage":{"prompt_tokens":9,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":8}}}"#;
        let mut reply = KeptReply::default();
        let p = parse_kept(body, Some(&mut String::new()), Some(&mut reply)).unwrap();
        assert_eq!(p.tool_call_entries, 2);
        assert_eq!(p.usage.unwrap().prompt_tokens_details.unwrap().cached_tokens, Some(8));
        let (calls, finish) = reply.into_parts();
        assert_eq!(calls, vec![call("call_1", "get_weather", r#"{"city":"Paris"}"#), call("call_2", "get_time", "{}")]);
        assert_eq!(finish.as_deref(), Some("tool_calls"));
    }

    #[test]
    fn finish_reasons_are_kept_on_the_fast_path_and_by_difference() {
        // Text events on the fast path; the last with a finish reason read by difference
        // from the one before it.
        let events = [
            r#"{"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":"length"}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"length"}]}"#,
        ];
        let mut repeat = Repeat::default();
        parse_streamed(events[0].as_bytes(), None, &mut repeat).unwrap();
        assert!(repeat.read(events[1].as_bytes()).is_some(), "read by difference");
        let (calls, finish, text) = kept_stream(&events);
        assert_eq!((calls.len(), finish.as_deref(), text.as_str()), (0, Some("length"), "Hello"));
        // The last one seen is kept; a null is none; a second choice's are not the reply's.
        let events = [
            r#"{"choices":[{"delta":{"content":"a"},"finish_reason":"stop"}]}"#,
            r#"{"choices":[{"delta":{"content":"b"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":1,"delta":{"content":"c","tool_calls":[{"index":0,"id":"z","function":{"name":"n","arguments":"{}"}}]},"finish_reason":"length"}]}"#,
        ];
        assert_eq!(kept_stream(&events), (vec![], Some("stop".into()), "abc".into()));
        // Not streamed, on the fast path.
        let body = br#"{"choices":[{"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}"#;
        assert!(scan::parse_event(std::str::from_utf8(body).unwrap(), None).is_some());
        let mut reply = KeptReply::default();
        parse_kept(body, None, Some(&mut reply)).unwrap();
        assert_eq!(reply.into_parts(), (vec![], Some("stop".into())));
    }

    #[test]
    fn a_reply_changes_nothing_else_the_parser_reads() {
        let events = [
            &br#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{}"}}]}}]}"#[..],
            br#"{"choices":[{"delta":{"content":"x"},"finish_reason":"stop"}],"usage":{"completion_tokens":2}}"#,
            br#"{"choices":[{"message":{"content":null,"tool_calls":[{"id":"c","function":{"name":"f","arguments":"{}"}}]}}]}"#,
            br#"{"choices":[{"text":"a"}]} trailing"#,
        ];
        for e in events {
            let (mut a, mut b) = (String::new(), String::new());
            let with = parse_kept(e, Some(&mut a), Some(&mut KeptReply::default())).map_err(drop);
            assert_eq!((with, a), (parse(e, Some(&mut b)).map_err(drop), b));
        }
    }
}
