//! Agent traces as OpenTelemetry spans in OTLP's JSON encoding (what an OTLP/HTTP JSON
//! receiver or the collector's file exporter writes: `ExportTraceServiceRequest`
//! documents, one per line or concatenated), Volley's own `--otlp-spans` recordings
//! among them.
//!
//! A request is a span whose `gen_ai.operation.name` is an inference (`chat`,
//! `text_completion`, `generate_content`); its lengths are `gen_ai.usage.input_tokens`
//! and `gen_ai.usage.output_tokens` (0 when absent: a failed request), its model
//! `gen_ai.request.model` (else `gen_ai.response.model`), its tool calls
//! `volley.tool_calls`. A request's session is its `gen_ai.conversation.id`; without
//! one, its trace, when the trace holds an `invoke_agent` span or more than one
//! request. The session's structure comes from the requests' times ([`super::links`]). Content (prompts, answers) is never read: a capture stripped of
//! it replays the same.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use serde_json::value::RawValue;
use volley_core::text::clip;

use super::links::{self, Timed};
use super::{OnError, Trace, TraceRow};

/// The largest OTLP JSON file read: it is held whole while its spans are picked out.
const MAX_BYTES: u64 = 1 << 30;

/// The GenAI operations that are a request to a model.
const INFERENCE: [&str; 3] = ["chat", "text_completion", "generate_content"];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Export<'a> {
    #[serde(borrow, default)]
    resource_spans: Vec<ResourceSpans<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceSpans<'a> {
    #[serde(borrow, default)]
    scope_spans: Vec<ScopeSpans<'a>>,
}

#[derive(Deserialize)]
struct ScopeSpans<'a> {
    #[serde(borrow, default)]
    spans: Vec<Span<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Span<'a> {
    #[serde(borrow, default)]
    trace_id: Cow<'a, str>,
    #[serde(borrow, default)]
    name: Cow<'a, str>,
    start_time_unix_nano: Option<&'a RawValue>,
    end_time_unix_nano: Option<&'a RawValue>,
    #[serde(borrow, default)]
    attributes: Vec<Attribute<'a>>,
}

/// An attribute, its value left unparsed until its key is one read here.
#[derive(Deserialize)]
struct Attribute<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(borrow)]
    value: &'a RawValue,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnyValue<'a> {
    #[serde(borrow)]
    string_value: Option<Cow<'a, str>>,
    int_value: Option<&'a RawValue>,
    double_value: Option<f64>,
}

impl Span<'_> {
    fn attribute(&self, key: &str) -> Option<AnyValue<'_>> {
        let a = self.attributes.iter().find(|a| a.key == key)?;
        serde_json::from_str(a.value.get()).ok()
    }

    fn text(&self, key: &str) -> Option<String> {
        self.attribute(key)?.string_value.map(Cow::into_owned)
    }

    /// An integer attribute (OTLP JSON writes int64 as a string; some writers a number).
    fn integer(&self, key: &str) -> Result<Option<u64>, String> {
        let Some(v) = self.attribute(key) else { return Ok(None) };
        if let Some(raw) = v.int_value {
            return number(raw).map(Some).ok_or_else(|| format!("`{key}` is not a whole number: {}", clip(raw.get(), 40)));
        }
        match v.double_value {
            Some(d) if d >= 0.0 && d.fract() == 0.0 && d < 1e18 => Ok(Some(d as u64)),
            Some(d) => Err(format!("`{key}` is not a whole number: {d}")),
            None => Err(format!("`{key}` has no integer value")),
        }
    }

    fn operation(&self) -> Option<String> {
        self.text("gen_ai.operation.name")
    }
}

/// A non-negative integer written as a JSON number or a string of digits.
fn number(raw: &RawValue) -> Option<u64> {
    let s = raw.get().trim_matches('"');
    s.parse::<u64>().ok()
}

/// A request span, read.
struct Request {
    /// The conversation, else the trace.
    trace: String,
    conversation: bool,
    row: TraceRow,
    start_ns: u64,
    end_ns: u64,
}

pub(super) fn read(file: &File, path: &Path, on_error: OnError) -> Result<Trace> {
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1).read_to_end(&mut bytes).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > MAX_BYTES {
        bail!("{}: an OTLP JSON trace is read whole, and this one is over {} GiB", path.display(), MAX_BYTES >> 30);
    }
    let mut requests = Vec::new();
    let mut agents: HashSet<String> = HashSet::new();
    let mut skipped = 0u64;
    let mut seen = 0u64;
    for doc in serde_json::Deserializer::from_slice(&bytes).into_iter::<Export<'_>>() {
        let doc = doc.map_err(|e| anyhow!("{}:{}:{}: not OTLP JSON: {e}", path.display(), e.line(), e.column()))?;
        for span in doc.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans) {
            seen += 1;
            let operation = span.operation();
            if operation.as_deref() == Some("invoke_agent") {
                agents.insert(span.trace_id.to_string());
            }
            if !operation.is_some_and(|o| INFERENCE.contains(&o.as_str())) {
                continue;
            }
            match request(span) {
                Ok(r) => requests.push(r),
                Err(_) if on_error == OnError::Skip => skipped += 1,
                Err(why) => bail!("{}: malformed span {seen} ({}): {why}", path.display(), clip(&span.name, 40)),
            }
        }
    }
    // A trace is a session when an agent span marks it or it holds more than one request.
    let mut per_trace: HashMap<&str, usize> = HashMap::new();
    for r in &requests {
        *per_trace.entry(r.trace.as_str()).or_default() += 1;
    }
    let sessions: HashSet<String> =
        per_trace.iter().filter(|(t, n)| **n > 1 || agents.contains(**t)).map(|(t, _)| (*t).to_string()).collect();
    // Conversations are sessions whatever their traces hold.
    let sessions: HashSet<String> =
        sessions.into_iter().chain(requests.iter().filter(|r| r.conversation).map(|r| r.trace.clone())).collect();
    let mut names: HashMap<String, Arc<str>> = HashMap::new();
    let timed = requests
        .into_iter()
        .map(|mut r| {
            if sessions.contains(&r.trace) {
                r.row.session = Some(names.entry(r.trace.clone()).or_insert_with(|| Arc::from(r.trace.as_str())).clone());
            }
            Timed { row: r.row, start_ns: r.start_ns, end_ns: r.end_ns }
        })
        .collect();
    Ok(Trace { rows: links::link(timed)?, skipped })
}

fn request(span: &Span<'_>) -> Result<Request, String> {
    if span.trace_id.is_empty() {
        return Err("no `traceId`".into());
    }
    let time = |v: Option<&RawValue>, what: &str| v.and_then(number).ok_or_else(|| format!("no usable `{what}`"));
    let start_ns = time(span.start_time_unix_nano, "startTimeUnixNano")?;
    let end_ns = time(span.end_time_unix_nano, "endTimeUnixNano")?;
    if end_ns < start_ns {
        return Err("it ends before it starts".into());
    }
    let count = |keys: [&str; 2]| -> Result<u32, String> {
        for k in keys {
            if let Some(n) = span.integer(k)? {
                return u32::try_from(n).map_err(|_| format!("`{k}` is past any prompt: {n}"));
            }
        }
        Ok(0)
    };
    let row = TraceRow {
        input_tokens: count(["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"])?,
        output_tokens: count(["gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"])?,
        model: span.text("gen_ai.request.model").or_else(|| span.text("gen_ai.response.model")).map(Arc::from),
        tool_calls: count(["volley.tool_calls", "volley.tool_calls"])?,
        ..TraceRow::default()
    };
    let conversation = span.text("gen_ai.conversation.id").filter(|c| !c.is_empty());
    let (trace, conversation) = match conversation {
        Some(c) => (format!("conversation {c}"), true),
        None => (span.trace_id.to_string(), false),
    };
    Ok(Request { trace, conversation, row, start_ns, end_ns })
}
