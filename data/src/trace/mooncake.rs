//! Mooncake's trace format (FAST '25, `kvcache-ai/Mooncake`), JSONL: per request
//! `timestamp` (ms), `input_length`, `output_length` and `hash_ids`, the ids of the
//! prompt's blocks (512 tokens in the published traces) where equal ids mean equal
//! blocks after equal prefixes. Multi-turn variants add `session_id` (a string or a
//! number) and `delay` (ms between the session's previous answer and this request);
//! a session's later turns wait for its previous one. `input_tokens`/`output_tokens`
//! are accepted for the lengths.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use serde::Deserialize;

use super::{OnError, Trace, TraceRow, each_line, malformed, micros, relative, tokens};

#[derive(Deserialize)]
struct Line {
    timestamp: Option<f64>,
    #[serde(alias = "input_tokens")]
    input_length: Option<f64>,
    #[serde(alias = "output_tokens")]
    output_length: Option<f64>,
    #[serde(default)]
    hash_ids: Vec<u64>,
    session_id: Option<SessionId>,
    delay: Option<f64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SessionId {
    Text(String),
    Number(u64),
}

pub(super) fn read(reader: impl BufRead, path: &Path, on_error: OnError) -> Result<Trace> {
    let mut rows = Vec::new();
    let mut absolute = Vec::new();
    let mut skipped = 0;
    // Each session's last row and its time, and one shared name per session.
    let mut sessions: HashMap<String, (u64, i128, Arc<str>)> = HashMap::new();
    each_line(reader, path, |lineno, text| match parse(text, &sessions) {
        Ok((row, at, key)) => {
            if let (Some(key), Some(name)) = (key, &row.session) {
                sessions.insert(key, (rows.len() as u64, at, name.clone()));
            }
            rows.push(row);
            absolute.push(at);
            Ok(())
        }
        Err(why) => malformed(path, lineno, &why, on_error, &mut skipped),
    })?;
    relative(&mut rows, &absolute);
    Ok(Trace { rows, skipped })
}

/// One line as a row, its absolute time (µs) and its session's key.
fn parse(text: &str, sessions: &HashMap<String, (u64, i128, Arc<str>)>) -> Result<(TraceRow, i128, Option<String>), String> {
    let line: Line = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let input = tokens(line.input_length.ok_or("no `input_length`")?, "input_length")?;
    let output = tokens(line.output_length.ok_or("no `output_length`")?, "output_length")?;
    let delay_us = match line.delay {
        Some(d) => u64::try_from(micros(d, 1e3, "delay")?).map_err(|_| format!("`delay` must not be negative, got {d}"))?,
        None => 0,
    };
    let key = line.session_id.map(|s| match s {
        SessionId::Text(t) => t,
        SessionId::Number(n) => n.to_string(),
    });
    let earlier = key.as_ref().and_then(|k| sessions.get(k));
    let at = match (line.timestamp, earlier) {
        (Some(t), _) => micros(t, 1e3, "timestamp")?,
        // A later turn without a time of its own: ordered after its session's last.
        (None, Some((_, at, _))) => *at,
        (None, None) => return Err("no `timestamp` (a session's first request needs one)".into()),
    };
    let row = TraceRow {
        input_tokens: input,
        output_tokens: output,
        hash_ids: line.hash_ids,
        session: key.as_ref().map(|k| earlier.map_or_else(|| Arc::from(k.as_str()), |(_, _, name)| name.clone())),
        after: earlier.map(|(last, _, _)| vec![*last]).unwrap_or_default(),
        delay_us: if earlier.is_some() { delay_us } else { 0 },
        ..TraceRow::default()
    };
    Ok((row, at, key))
}
