//! What a request's prompt says, as text: the strings of a prompt or a message's
//! content, whatever its shape. The token counts, the prefix cache's keys and the
//! embeddings answer all read prompts through it.

use serde_json::Value;

/// The strings of a prompt (a string, a list of strings, or content parts, whose
/// `text` parts count and whose image and audio parts do not).
pub(crate) fn texts(v: &Value) -> Box<dyn Iterator<Item = &str> + '_> {
    match v {
        Value::String(s) => Box::new(std::iter::once(s.as_str())),
        Value::Array(items) => Box::new(items.iter().flat_map(texts)),
        Value::Object(part) => Box::new(part.get("text").and_then(Value::as_str).into_iter()),
        _ => Box::new(std::iter::empty()),
    }
}
