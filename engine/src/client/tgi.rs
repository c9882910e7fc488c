//! TGI's native API: the request (`/generate_stream` or `/generate`, its prompt as one
//! string of `inputs`, with `parameters`), and the response read back: `/generate_stream`
//! events (one token each, the last one with `generated_text` and `details`) and
//! `/generate` bodies.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::json;

use volley_core::{Prompt, ScenarioRequest};

use super::openai::error_message;
use super::openai::messages::WireMessage;
use super::parsed::{Parsed, Usage};
use super::wire::{Wire, WireBody};

/// A `/generate_stream` (streamed) or `/generate` request.
pub(crate) fn request(r: &ScenarioRequest) -> Wire {
    let inputs = match &r.prompt {
        Prompt::Text(t) => t.clone(),
        // TGI's native API takes one string; a conversation is sent as its text.
        Prompt::Chat(m) => m.iter().map(WireMessage::text).collect::<Vec<_>>().join("\n"),
    };
    let mut parameters = json!({ "details": true });
    if let Some(n) = r.max_tokens {
        parameters["max_new_tokens"] = n.into();
    }
    let path = if r.stream { "/generate_stream" } else { "/generate" };
    Wire::post_json(path.into(), WireBody::Json(json!({ "inputs": inputs, "parameters": parameters })), r.stream)
}

#[derive(Deserialize)]
struct Token<'a> {
    #[serde(borrow, default)]
    text: Cow<'a, str>,
    #[serde(default)]
    special: bool,
}

#[derive(Deserialize)]
struct Details {
    #[serde(default)]
    generated_tokens: Option<u32>,
}

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow, default)]
    token: Option<Token<'a>>,
    #[serde(borrow, default)]
    generated_text: Option<Cow<'a, str>>,
    #[serde(default)]
    details: Option<Details>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

fn usage(details: Option<&Details>) -> Option<Usage> {
    details.and_then(|d| d.generated_tokens).map(|n| Usage { completion_tokens: Some(n), ..Usage::default() })
}

/// One `/generate_stream` event.
pub fn parse_event(json: &[u8], text: Option<&mut String>) -> Result<Parsed, String> {
    let e: Event<'_> = serde_json::from_slice(json).map_err(|err| format!("unexpected TGI event ({err})"))?;
    let mut out = Parsed { usage: usage(e.details.as_ref()), finished: e.generated_text.is_some(), ..Parsed::default() };
    if let Some(err) = e.error {
        out.error = Some(error_message(&err));
    }
    if let Some(t) = e.token.filter(|t| !t.special) {
        out.tokens = 1;
        out.text_bytes = t.text.len();
        if let Some(buf) = text {
            buf.push_str(&t.text);
        }
    }
    Ok(out)
}

/// A `/generate` body: an object, or (some versions) a one-element array.
pub fn parse_body(json: &[u8], text: Option<&mut String>) -> Result<Parsed, String> {
    let value: serde_json::Value = serde_json::from_slice(json).map_err(|e| format!("unexpected TGI response ({e})"))?;
    let obj = match &value {
        serde_json::Value::Array(items) => items.first().cloned().unwrap_or_default(),
        v => v.clone(),
    };
    let mut out = Parsed::default();
    if let Some(err) = obj.get("error") {
        out.error = Some(error_message(err));
        return Ok(out);
    }
    let generated = obj.get("generated_text").and_then(|t| t.as_str()).ok_or("TGI response without generated_text")?;
    out.finished = true;
    out.text_bytes = generated.len();
    if let Some(buf) = text {
        buf.push_str(generated);
    }
    let n = obj.pointer("/details/generated_tokens").and_then(|n| n.as_u64()).map(|n| n as u32);
    out.usage = n.map(|n| Usage { completion_tokens: Some(n), ..Usage::default() });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use volley_core::{Api, ContentPart, Media, Message};

    #[test]
    fn stream_and_parameters() {
        let mut r = ScenarioRequest::new(Api::TgiGenerate, Prompt::Text("hi".into()));
        r.max_tokens = Some(5);
        r.stream = true;
        let w = request(&r);
        assert_eq!(w.path, "/generate_stream");
        assert!(w.stream);
        let b = w.json();
        assert_eq!((b["inputs"].as_str(), b["parameters"]["max_new_tokens"].as_u64()), (Some("hi"), Some(5)));
        assert_eq!(b["parameters"]["details"].as_bool(), Some(true));
        r.stream = false;
        let w = request(&r);
        assert_eq!((w.path.as_ref(), w.stream), ("/generate", false));
    }

    #[test]
    fn a_chat_prompt_is_sent_as_its_text() {
        // TGI takes the text only.
        let mut m = Message::with_parts(
            "user",
            vec![
                ContentPart::Image { media: Media::from_bytes("image/png", b"\x89PNG"), detail: Some("low".into()) },
                ContentPart::Text("what is it?".into()),
                ContentPart::Audio(Media::from_bytes("audio/wav", b"RIFF")),
            ],
        );
        m.content = "look:".into();
        let w = request(&ScenarioRequest::new(Api::TgiGenerate, Prompt::Chat(vec![m])));
        assert_eq!(w.json()["inputs"], "look:\nwhat is it?");
    }

    #[test]
    fn stream_events() {
        let mut text = String::new();
        let e = br#"{"index":1,"token":{"id":5,"text":" Hello","logprob":-0.1,"special":false},"generated_text":null,"details":null}"#;
        let p = parse_event(e, Some(&mut text)).unwrap();
        assert_eq!((p.tokens, p.finished, text.as_str()), (1, false, " Hello"));
        let last = br#"{"index":2,"token":{"id":2,"text":"</s>","logprob":0.0,"special":true},"generated_text":" Hello","details":{"finish_reason":"eos_token","generated_tokens":2,"seed":null}}"#;
        let p = parse_event(last, Some(&mut text)).unwrap();
        assert_eq!((p.tokens, p.finished), (0, true));
        assert_eq!(p.usage.unwrap().completion_tokens, Some(2));
        let err = br#"{"error":"Input validation error","error_type":"validation"}"#;
        assert_eq!(parse_event(err, None).unwrap().error.as_deref(), Some("Input validation error"));
    }

    #[test]
    fn bodies() {
        let b = br#"{"generated_text":" a b c","details":{"finish_reason":"length","generated_tokens":3}}"#;
        let p = parse_body(b, None).unwrap();
        assert_eq!((p.finished, p.usage.unwrap().completion_tokens), (true, Some(3)));
        assert!(parse_body(br#"[{"generated_text":"x"}]"#, None).unwrap().finished);
        assert!(parse_body(br#"{"foo":1}"#, None).is_err());
    }
}
