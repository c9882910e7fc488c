//! Normalising a row of any supported format into messages.

use std::borrow::Cow;

use serde::Deserialize;

use super::Format;
use crate::trace::TraceRow;
use volley_core::Message;

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub messages: Vec<Message>,
    /// The row as it is in the file.
    pub raw: String,
    /// A request trace's row, typed.
    pub trace: Option<TraceRow>,
}

#[derive(Deserialize)]
struct JsonRow<'a> {
    #[serde(borrow, default)]
    messages: Option<Vec<ChatMessage<'a>>>,
    #[serde(borrow, default)]
    conversations: Option<Vec<Turn<'a>>>,
    #[serde(borrow, default)]
    prompt: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ChatMessage<'a> {
    #[serde(borrow)]
    role: Cow<'a, str>,
    #[serde(borrow)]
    content: Cow<'a, str>,
}

/// A ShareGPT turn.
#[derive(Deserialize)]
struct Turn<'a> {
    #[serde(borrow)]
    from: Cow<'a, str>,
    #[serde(borrow)]
    value: Cow<'a, str>,
}

/// ShareGPT speaker names to chat roles.
fn role(from: &str) -> String {
    match from.to_ascii_lowercase().as_str() {
        "human" | "user" => "user".into(),
        "gpt" | "assistant" | "chatgpt" | "bard" | "bing" | "model" => "assistant".into(),
        "system" => "system".into(),
        other => other.to_string(),
    }
}

/// Parses one row's bytes; the error says what is wrong, without a location.
pub fn parse(format: Format, bytes: &[u8]) -> Result<Row, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    match format {
        Format::Text | Format::Folder | Format::Trace(_) => {
            Ok(Row { messages: vec![Message::user(text)], raw: text.to_string(), trace: None })
        }
        Format::Jsonl | Format::ShareGpt => {
            let row: JsonRow<'_> = serde_json::from_str(text).map_err(|e| {
                let e = e.to_string();
                if e.contains("invalid type") && e.contains("expected struct") {
                    "the row is not a JSON object".to_string()
                } else {
                    format!("invalid JSON: {e}")
                }
            })?;
            check_fields(&row)?;
            let messages: Vec<Message> = if let Some(m) = row.messages {
                m.into_iter().map(|m| Message::new(m.role.into_owned(), m.content.into_owned())).collect()
            } else if let Some(turns) = row.conversations {
                turns.into_iter().map(|t| Message::new(role(&t.from), t.value.into_owned())).collect()
            } else {
                vec![Message::user(row.prompt.or(row.text).unwrap_or_default().into_owned())]
            };
            Ok(Row { messages, raw: text.to_string(), trace: None })
        }
    }
}

/// Checks a row without building it (index time): same rules as [`parse`].
pub fn check(format: Format, bytes: &[u8]) -> Result<(), String> {
    if format == Format::Text {
        return std::str::from_utf8(bytes).map(|_| ()).map_err(|e| format!("not UTF-8: {e}"));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    let row: JsonRow<'_> = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    check_fields(&row)
}

/// The rules a JSON row must meet, shared by [`parse`] and [`check`]: one of the known
/// fields, taken in this order, and not an empty conversation.
fn check_fields(row: &JsonRow<'_>) -> Result<(), String> {
    let n = match (&row.messages, &row.conversations, &row.prompt, &row.text) {
        (Some(m), _, _, _) => m.len(),
        (None, Some(c), _, _) => c.len(),
        (None, None, Some(_), _) | (None, None, None, Some(_)) => 1,
        (None, None, None, None) => return Err("no `messages`, `conversations`, `prompt` or `text` field".into()),
    };
    if n == 0 {
        return Err("the conversation is empty".into());
    }
    Ok(())
}
