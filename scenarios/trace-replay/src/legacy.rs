//! Rows of a trace granted line by line (`lines:PATH`), read by the scenario: a CSV
//! `timestamp,input_tokens,output_tokens` per line (a header line is skipped), or a JSON
//! object with `timestamp`, `input_length` (or `input_tokens`, `prompt_tokens`),
//! `output_length` (or `output_tokens`) and optionally the `prompt` itself. The typed
//! readings (`mooncake:`, `burstgpt:`, `azure:`, `otel:`) are the host's, and preferred.

use volley_sdk::serde_json::{self, Value};

/// One line's request.
pub struct Entry {
    /// In the trace's own unit (`time_unit`).
    pub at: f64,
    pub input: u32,
    pub output: u32,
    pub prompt: Option<String>,
}

/// The line's request; none for what is not one (a CSV header, a blank line).
pub fn parse(raw: &str) -> Option<Entry> {
    let raw = raw.trim();
    if raw.starts_with('{') {
        let v: Value = serde_json::from_str(raw).ok()?;
        let num = |keys: &[&str]| keys.iter().find_map(|k| v.get(*k).and_then(Value::as_f64));
        return Some(Entry {
            at: num(&["timestamp", "time", "arrival_time"])?,
            input: num(&["input_length", "input_tokens", "prompt_tokens"]).unwrap_or(0.0) as u32,
            output: num(&["output_length", "output_tokens", "generated_tokens"]).unwrap_or(16.0) as u32,
            prompt: v.get("prompt").and_then(Value::as_str).map(str::to_string),
        });
    }
    let mut fields = raw.split([',', '\t']).map(str::trim);
    let at = fields.next()?.parse::<f64>().ok()?; // a header line is not a number
    let input = fields.next().and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0) as u32;
    let output = fields.next().and_then(|f| f.parse::<f64>().ok()).unwrap_or(16.0) as u32;
    Some(Entry { at, input, output, prompt: None })
}
