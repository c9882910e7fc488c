//! `trace-replay` (also `builtin:mooncake` and `builtin:otel-replay`): replays a request
//! trace the operator grants as dataset `trace` — arrivals at the trace's times, its
//! input and output lengths, its shared prefixes and its sessions.
//!
//! How the host reads the trace is named in the grant (docs/authoring.md, "Traces"):
//!
//! - `--dataset trace=mooncake:PATH`: Mooncake JSONL (`timestamp` ms, `input_length`,
//!   `output_length`, `hash_ids`; `session_id` and `delay` for multi-turn). Each prompt
//!   is built from its `hash_ids`: blocks of `block_tokens` (default 512) tokens, the
//!   same text wherever an id appears, so the server's prefix cache hits as the trace
//!   implies;
//! - `--dataset trace=burstgpt:PATH` and `azure:PATH`: BurstGPT's and Azure's CSV
//!   (timestamps, lengths, BurstGPT's model). Requests are tagged by the trace's model,
//!   so the report breaks them down by the trace's model mix; `models` maps a trace's
//!   model to one the target serves;
//! - `--dataset trace=otel:PATH`: agent traces as OTLP JSON spans (a Volley run's own
//!   `--otlp-spans`, recorded by an OTLP/HTTP JSON receiver, among them). Each trace is a
//!   session: its first requests go at their recorded times, every later one after the
//!   requests it waited for answered, plus the recorded tool and think time; prompts
//!   are the session's own text (its turns share a prefix, as a conversation does);
//! - `--dataset trace=lines:PATH`: today's CSV `timestamp,input_tokens,output_tokens` or
//!   JSONL lines, read by the scenario (`time_unit` says seconds or ms).
//!
//! Parameters: `speedup` (default 1: the trace's pace; 2: twice as fast), `block_tokens`
//! (default 512), `models` (an object: trace model to target model), `max_requests`,
//! `duration_s`, `warmup_s`, `time_unit` (`lines:` only), and the request shape's `api`
//! (`completions`, default, or `chat`), `stream` (default true) and `model`.

mod legacy;
mod prompt;
mod sessions;

use std::collections::HashMap;
use std::time::Duration;

use volley_sdk::datasets::{Dataset, TraceRow};
use volley_sdk::serde_json::Value;
use volley_sdk::{
    Load, Next, Outcome, Params, Plan, Reaction, Request, RequestContext, RequestShape, Scenario, Stage, TaskEnd, export_scenario, random,
};

use sessions::Sessions;

struct TraceReplay {
    trace: Dataset,
    rows: u64,
    cursor: u64,
    /// Nanoseconds of replay per microsecond of trace (1,000 / speed-up).
    ns_per_us: f64,
    /// `lines:` traces: microseconds per unit of their timestamps.
    us_per_unit: f64,
    /// The last root's time in the trace, µs.
    previous: Option<f64>,
    stage: Stage,
    shape: RequestShape,
    block_tokens: u32,
    models: HashMap<String, String>,
    sessions: Sessions,
    observe: bool,
}

impl Scenario for TraceReplay {
    fn describe() -> volley_sdk::Info {
        volley_sdk::info!("Trace replay: arrivals, lengths, shared prefixes and sessions of a granted trace")
    }

    fn configure(params: &Params) -> Result<Self, String> {
        params.allow_only(&[
            "time_unit",
            "speedup",
            "block_tokens",
            "models",
            "max_requests",
            "duration_s",
            "api",
            "stream",
            "model",
            "warmup_s",
        ])?;
        let trace = Dataset::open("trace").map_err(|e| {
            format!("{e} (grant the trace with --dataset trace=mooncake:PATH, burstgpt:PATH, azure:PATH, otel:PATH or lines:PATH)")
        })?;
        let us_per_unit = match params.string("time_unit", "s")?.as_str() {
            "s" => 1e6,
            "ms" => 1e3,
            other => return Err(format!("`time_unit` must be \"s\" or \"ms\", got {other:?}")),
        };
        let speedup = params.f64("speedup", 1.0)?;
        if !(speedup > 0.0 && speedup.is_finite()) {
            return Err(format!("`speedup` must be a positive number, got {speedup}"));
        }
        let block_tokens = params.u32("block_tokens", 512)?;
        if block_tokens == 0 {
            return Err("`block_tokens` must be at least 1".into());
        }
        let models = match params.get("models") {
            None => HashMap::new(),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())).ok_or_else(|| format!("`models.{k}` must be a model name")))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("`models` must be an object: trace model to target model".into()),
        };
        let rows = trace.len();
        // The sessions' structure, read once: which rows wait for which.
        let mut sessions = Sessions::default();
        for i in 0..rows {
            if let Some(t) = trace.row(i).and_then(|r| r.trace)
                && let Some(name) = &t.session
            {
                sessions.add(i, name, &t.after);
            }
        }
        let observe = !sessions.ids.is_empty();
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
            ns_per_us: 1e3 / speedup,
            us_per_unit,
            previous: None,
            stage,
            shape: RequestShape::from_params(params)?,
            block_tokens,
            models,
            sessions,
            observe,
        })
    }

    fn plan(&self) -> Plan {
        Plan::new().stage(self.stage.clone()).observe_outcomes(self.observe)
    }

    fn next_request(&mut self, _ctx: &RequestContext) -> Next {
        loop {
            if self.cursor >= self.rows {
                return Next::Done;
            }
            let index = self.cursor;
            self.cursor += 1;
            let Some(row) = self.trace.row(index) else { continue };
            let (at_us, request) = match row.trace {
                // Rows that wait for others go as follow-ups, from `react`.
                Some(_) if self.sessions.follows(index) => continue,
                Some(t) => (t.at_us as f64, self.request(index, &t)),
                None => match legacy::parse(&row.raw) {
                    Some(e) => {
                        let output = e.output.max(1);
                        let r = match e.prompt {
                            Some(p) => self.shape.with_text(p, None, output),
                            None => self.shape.sized(e.input.max(1), output),
                        };
                        (e.at * self.us_per_unit, r)
                    }
                    // Not a request: a CSV header, a blank line.
                    None => continue,
                },
            };
            let gap_ns = self.previous.map_or(0.0, |p| ((at_us - p) * self.ns_per_us).max(0.0));
            self.previous = Some(at_us);
            return Next::Send(request.gap(Duration::from_nanos(gap_ns as u64)));
        }
    }

    fn react(&mut self, outcome: Outcome) -> Reaction {
        let (Some(index), Some(session)) = (outcome.key, outcome.session) else { return Reaction::none() };
        let (ready, ended) = self.sessions.answered(index, session, outcome.ok);
        let mut follow = Vec::with_capacity(ready.len());
        for k in ready {
            if let Some(t) = self.trace.row(k).and_then(|r| r.trace) {
                let delay = Duration::from_nanos((t.delay_us as f64 * self.ns_per_us) as u64);
                follow.push(self.request(k, &t).delay(Duration::ZERO, delay));
            }
        }
        match ended {
            Some(ok) if follow.is_empty() => Reaction::end(if ok { TaskEnd::Completed } else { TaskEnd::Failed }),
            _ => Reaction::follow(follow),
        }
    }
}

impl TraceReplay {
    /// Row `index` as a request: its prompt, exact output, model and session.
    fn request(&self, index: u64, t: &TraceRow) -> Request {
        let session = t.session.as_ref().and_then(|s| self.sessions.ids.get(s).copied());
        let text = if !t.hash_ids.is_empty() {
            prompt::from_blocks(t.input_tokens, &t.hash_ids, self.block_tokens, random::u64())
        } else if let Some(id) = session {
            prompt::of_session(t.input_tokens, id)
        } else {
            prompt::fresh(t.input_tokens, random::u64())
        };
        let known = volley_sdk::tokenizer::available().then_some(t.input_tokens);
        let mut r = self.shape.with_text(text, known, t.output_tokens.max(1));
        if let Some(m) = &t.model {
            if let Some(target) = self.models.get(m.as_str()) {
                r = r.model(target.clone());
            }
            r = r.tag(m.clone());
        }
        if let Some(id) = session {
            r = r.session(id).key(index);
        }
        r
    }
}

export_scenario!(TraceReplay);
