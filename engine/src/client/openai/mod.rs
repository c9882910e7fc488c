//! Reading OpenAI-compatible responses: one streamed event at a time, or a whole
//! non-streamed body. Borrowed deserialization keeps the common event (a few bytes of
//! text) from allocating strings; the common streamed events take a one-pass scanner
//! ([`scan`]) or are read by difference from the stream's last one ([`repeat`]).

use std::borrow::Cow;

use serde::Deserialize;

use super::parsed::{Parsed, Usage};
use repeat::Repeat;

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
    parse_scanned(json, text, |_, _| {})
}

/// [`parse`] for the events of one stream: an event that is the last one read with
/// only its text changed is read by difference ([`Repeat`]); one read on the fast path
/// with a single piece of text becomes what the next are read against.
pub(crate) fn parse_streamed(json: &[u8], text: Option<&mut String>, repeat: &mut Repeat) -> Result<Parsed, String> {
    if let Some((piece, parsed)) = repeat.read(json) {
        if let Some(t) = text {
            t.push_str(piece);
        }
        return Ok(parsed);
    }
    parse_scanned(json, text, |parsed, piece| repeat.remember(json, piece, parsed))
}

/// [`parse`], calling `scanned` with what the fast path read and its single piece.
fn parse_scanned(json: &[u8], mut text: Option<&mut String>, scanned: impl FnOnce(&Parsed, scan::Piece)) -> Result<Parsed, String> {
    let json_text = utf8(json)?;
    let kept = text.as_deref().map_or(0, String::len);
    if let Some((p, piece)) = scan::parse_event(json_text, text.as_deref_mut()) {
        if let Some(piece) = piece {
            scanned(&p, piece);
        }
        return Ok(p);
    }
    // The fast path gave up part way: what it kept of the text goes.
    if let Some(t) = text.as_deref_mut() {
        t.truncate(kept);
    }
    parse_str(json_text, text)
}

/// The event or body as text; one UTF-8 check of the whole, after which parsing from
/// `str` skips the check serde_json otherwise makes per string.
fn utf8(json: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(json).map_err(|e| format!("unexpected response JSON ({e}): {}", shown(json)))
}

fn shown(json: &[u8]) -> String {
    String::from_utf8_lossy(&json[..json.len().min(120)]).into_owned()
}

/// [`parse`] without the fast path: serde over the whole JSON (what the fast path is
/// tested against; the fuzz targets too).
#[cfg(any(test, feature = "fuzzing"))]
pub fn parse_full(json: &[u8], text: Option<&mut String>) -> Result<Parsed, String> {
    parse_str(utf8(json)?, text)
}

fn parse_str(json: &str, mut text: Option<&mut String>) -> Result<Parsed, String> {
    let body: Body<'_> = serde_json::from_str(json).map_err(|e| format!("unexpected response JSON ({e}): {}", shown(json.as_bytes())))?;
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
            out.text_bytes += piece.len();
            if is_reasoning {
                out.reasoning_bytes += piece.len();
            }
            if let Some(t) = text.as_deref_mut() {
                t.push_str(piece);
            }
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
}
