//! The target's model list (`/v1/models`): the first model it announces is the one
//! requests name when neither the scenario nor `--model` names one.
//!
//! The answer is read through the bounded reader ([`super::answer`]): at most
//! [`MODEL_LIST_BYTES`], only `data[0].id` kept. The name is the server's choice and is
//! checked like a scenario's names: at most the policy's `max_name_bytes`, and
//! printable. A lookup that fails for any reason (no answer, a status, a body that is
//! not a model list, a name refused) is a warning, not an error: the run goes on and its
//! requests name no model unless the scenario or `--model` does (a server that needs one
//! then answers each request with its own error, which the report records).

use std::time::Duration;

use serde::Deserialize;
use volley_core::text::{is_printable, printable};
use volley_net::Checked;

use super::answer::{self, First, MODEL_LIST_BYTES};

/// How long the model list may take.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Deserialize)]
struct ModelList {
    #[serde(default)]
    data: First<Model>,
}

#[derive(Deserialize)]
struct Model {
    id: String,
}

/// The first model `to` lists, or the warning to show (one line, naming the URL).
pub async fn lookup(to: &Checked, max_name_bytes: usize) -> Result<String, String> {
    let url = printable(&to.to_string(), 200);
    let failed = |why: String| format!("the model lookup failed: {why}; requests name no model unless the scenario or --model does");
    // The reader's errors name the URL themselves.
    let (status, body) = answer::fetch(to, LOOKUP_TIMEOUT, MODEL_LIST_BYTES).await.map_err(failed)?;
    if status != 200 {
        return Err(failed(format!("{url} answered HTTP {status}")));
    }
    first_model(&body, max_name_bytes).map_err(|why| failed(format!("{url}: {why}")))
}

/// `data[0].id` of a model list, checked like a scenario's names.
pub fn first_model(body: &[u8], max_name_bytes: usize) -> Result<String, String> {
    let list: ModelList = answer::json(body).map_err(|e| format!("the answer is {e}"))?;
    let Some(model) = list.data.0 else {
        return Err("it lists no model".into());
    };
    if model.id.is_empty() {
        return Err("its first model has an empty id".into());
    }
    if model.id.len() > max_name_bytes {
        return Err(format!(
            "refused by the policy (max_name_bytes = {max_name_bytes}): the model name it announces is {} bytes long",
            model.id.len()
        ));
    }
    if !is_printable(&model.id) {
        return Err(format!("the model name it announces has control characters ('{}')", printable(&model.id, 64)));
    }
    Ok(model.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_model_and_nothing_else() {
        let body = br#"{"object": "list", "data": [{"id": "smollm", "object": "model", "meta": {"n_params": 1}}, {"id": "b"}]}"#;
        assert_eq!(first_model(body, 128).unwrap(), "smollm");
        assert_eq!(first_model(br#"{"data": []}"#, 128).unwrap_err(), "it lists no model");
        assert_eq!(first_model(br#"{"object": "list"}"#, 128).unwrap_err(), "it lists no model");
        assert!(first_model(br#"{"data": [{"name": "x"}]}"#, 128).unwrap_err().contains("missing field `id`"));
        assert!(first_model(b"<html>501</html>", 128).unwrap_err().starts_with("the answer is not JSON"));
    }

    #[test]
    fn a_name_is_checked_like_a_scenarios() {
        let long = format!(r#"{{"data": [{{"id": "{}"}}]}}"#, "m".repeat(129));
        let e = first_model(long.as_bytes(), 128).unwrap_err();
        assert!(e.contains("max_name_bytes = 128") && e.contains("129 bytes"), "{e}");
        assert_eq!(first_model(format!(r#"{{"data": [{{"id": "{}"}}]}}"#, "m".repeat(128)).as_bytes(), 128).unwrap().len(), 128);
        let e = first_model(br#"{"data": [{"id": "a\u001b]52;c;aGk=\u0007\nforged"}]}"#, 128).unwrap_err();
        assert!(e.contains(r"a\u{1b}]52;c;aGk=\u{7}\nforged") && !e.contains('\n') && !e.contains('\u{1b}'), "{e}");
    }

    #[test]
    fn a_list_of_millions_keeps_one() {
        let mut body = String::from(r#"{"data": [{"id": "first"}"#);
        body.push_str(&r#",{"id": "x"}"#.repeat(300_000));
        body.push_str("]}");
        assert_eq!(first_model(body.as_bytes(), 128).unwrap(), "first");
        // The issue's answer: an array of zeros where the list should be.
        let zeros = format!("[{}0]", "0,".repeat(1_000_000));
        assert!(first_model(zeros.as_bytes(), 128).unwrap_err().contains("not the expected JSON"));
    }
}
