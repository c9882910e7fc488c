//! `trace-replay`: sends requests at the instants a trace file gives, with the trace's
//! prompt and output lengths. The operator grants the file as dataset `trace`:
//!
//! - CSV (`--dataset trace=azure.csv`): `timestamp,input_tokens,output_tokens` per line,
//!   numeric; a header line is skipped;
//! - JSONL (`--dataset trace=lines:mooncake.jsonl`, `lines:` as the rows carry no
//!   prompt): `timestamp`, `input_length` (or `input_tokens`, `prompt_tokens`),
//!   `output_length` (or `output_tokens`), and optionally the `prompt` itself.
//!
//! Send times are the timestamps' differences, given to the host as each request's gap
//! (load `custom`): integer nanoseconds, so a long trace does not drift.
//!
//! Parameters: `time_unit` (`s`, default, or `ms`), `speedup` (default 1: real time; 2:
//! twice as fast), `max_requests`, `duration_s`, `api` (`completions`, default, or
//! `chat`), `stream` (default true), `model`, `warmup_s`.

use std::time::Duration;

use volley_sdk::datasets::Dataset;
use volley_sdk::serde_json::Value;
use volley_sdk::{Load, Next, Params, Plan, RequestContext, RequestShape, Scenario, Stage, export_scenario};

struct TraceReplay {
    trace: Dataset,
    rows: u64,
    cursor: u64,
    /// Nanoseconds per timestamp unit, divided by the speed-up.
    ns_per_unit: f64,
    previous: Option<f64>,
    stage: Stage,
    /// `api`, `stream` and `model`; the lengths come from the trace.
    shape: RequestShape,
}

/// One trace entry.
struct Entry {
    at: f64,
    input: u32,
    output: u32,
    prompt: Option<String>,
}

fn parse(raw: &str) -> Option<Entry> {
    let raw = raw.trim();
    if raw.starts_with('{') {
        let v: Value = volley_sdk::serde_json::from_str(raw).ok()?;
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

impl Scenario for TraceReplay {
    fn describe() -> volley_sdk::Info {
        volley_sdk::info!("Trace replay: send times and lengths from a granted trace file")
    }

    fn configure(params: &Params) -> Result<Self, String> {
        params.allow_only(&["time_unit", "speedup", "max_requests", "duration_s", "api", "stream", "model", "warmup_s"])?;
        let trace = Dataset::open("trace").map_err(|e| format!("{e} (grant the trace with --dataset trace=PATH)"))?;
        let unit_ns = match params.string("time_unit", "s")?.as_str() {
            "s" => 1e9,
            "ms" => 1e6,
            other => return Err(format!("`time_unit` must be \"s\" or \"ms\", got {other:?}")),
        };
        let speedup = params.f64("speedup", 1.0)?;
        if speedup <= 0.0 {
            return Err(format!("`speedup` must be positive, got {speedup}"));
        }
        let rows = trace.len();
        let mut stage = Stage::new("trace", Load::custom());
        if let Some(n) = params.opt_u64("max_requests")? {
            stage = stage.max_requests(n);
        }
        if params.get("duration_s").is_some() {
            stage = stage.duration(Duration::from_secs_f64(params.f64("duration_s", 0.0)?.max(0.001)));
        }
        if params.get("warmup_s").is_some() {
            stage = stage.warmup(Duration::from_secs_f64(params.f64("warmup_s", 0.0)?.max(0.0)));
        }
        Ok(TraceReplay {
            trace,
            rows,
            cursor: 0,
            ns_per_unit: unit_ns / speedup,
            previous: None,
            stage,
            shape: RequestShape::from_params(params)?,
        })
    }

    fn plan(&self) -> Plan {
        Plan::new().stage(self.stage.clone())
    }

    fn next_request(&mut self, _ctx: &RequestContext) -> Next {
        // Skip what is not an entry (a CSV header, blank lines).
        let entry = loop {
            if self.cursor >= self.rows {
                return Next::Done;
            }
            let row = self.trace.row(self.cursor);
            self.cursor += 1;
            if let Some(e) = row.and_then(|r| parse(&r.raw)) {
                break e;
            }
        };
        let gap_ns = self.previous.map_or(0.0, |p| ((entry.at - p) * self.ns_per_unit).max(0.0));
        self.previous = Some(entry.at);
        let output = entry.output.max(1);
        let r = match entry.prompt {
            Some(p) => self.shape.with_text(p, None, output),
            None => self.shape.sized(entry.input.max(1), output),
        };
        Next::Send(r.gap(Duration::from_nanos(gap_ns as u64)))
    }
}

export_scenario!(TraceReplay);
