//! Compatibility fixture for `volley:scenario@0.1.0`: calls every import of 0.1 (log,
//! random) in `configure` and implements every export (`describe`, `configure`,
//! `next-request`, `next-requests`, `on-outcome`). One constant-rate stage of `requests`
//! chat and completion requests (default 6); `next-requests` gives a short list at the end,
//! which in 0.1 means "done". Run by tests/e2e/compat.rs.

use std::sync::atomic::{AtomicU64, Ordering};

wit_bindgen::generate!({
    path: "../../../wit/v0.1",
    world: "scenario",
});

use exports::volley::scenario::workload::{Guest, Info};
use volley::scenario::log::{Level, log};
use volley::scenario::random;
use volley::scenario::types::{Api, Load, Message, Outcome, Plan, Prompt, Request, Stage};

static REQUESTS: AtomicU64 = AtomicU64::new(6);
static OUTCOMES: AtomicU64 = AtomicU64::new(0);
static OK: AtomicU64 = AtomicU64::new(0);

/// `"requests": N` from the operator's parameters, if given.
fn param_u64(params: &str, key: &str) -> Option<u64> {
    let rest = &params[params.find(&format!("\"{key}\""))? + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    rest[..rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len())].parse().ok()
}

fn request(seq: u64) -> Request {
    let (api, prompt) = if seq.is_multiple_of(2) {
        (Api::ChatCompletions, Prompt::Chat(vec![Message { role: "user".into(), content: format!("fixture 0.1 request {seq}") }]))
    } else {
        (Api::Completions, Prompt::Text(format!("fixture 0.1 request {seq}")))
    };
    Request {
        api,
        model: None,
        prompt,
        max_tokens: Some(3),
        stream: true,
        headers: vec![],
        body_extra: Some("{\"temperature\": 0}".into()),
        tag: Some(if seq.is_multiple_of(2) { "chat" } else { "completion" }.into()),
        session: None,
    }
}

struct Fixture;

impl Guest for Fixture {
    fn describe() -> Info {
        Info { name: "fixture-v0_1".into(), version: "0.1.0".into(), description: "calls every import and export of WIT 0.1".into() }
    }

    fn configure(params: String) -> Result<Plan, String> {
        let n = param_u64(&params, "requests").unwrap_or(6);
        REQUESTS.store(n, Ordering::Relaxed);
        let (a, b) = (random::next_u64(), random::next_f64());
        if !(0.0..1.0).contains(&b) {
            return Err(format!("random next-f64 gave {b}"));
        }
        log(Level::Debug, "fixture 0.1: a debug line");
        log(Level::Info, &format!("fixture 0.1: imports ok (random {})", a % 1000));
        log(Level::Warn, "fixture 0.1: a warning");
        log(Level::Error, "fixture 0.1: an error line (not an error)");
        Ok(Plan {
            stages: vec![Stage { name: "fixture".into(), load: Load::Constant(50.0), duration_ms: Some(30_000), max_requests: Some(n) }],
            observe_outcomes: true,
        })
    }

    fn next_request(_stage: u32, seq: u64) -> Option<Request> {
        (seq < REQUESTS.load(Ordering::Relaxed)).then(|| request(seq))
    }

    fn next_requests(stage: u32, seq: u64, max: u32) -> Vec<Request> {
        (seq..seq + u64::from(max)).map_while(|s| Self::next_request(stage, s)).collect()
    }

    fn on_outcome(outcome: Outcome) {
        let ok = OK.fetch_add(u64::from(outcome.ok), Ordering::Relaxed) + u64::from(outcome.ok);
        let seen = OUTCOMES.fetch_add(1, Ordering::Relaxed) + 1;
        if seen == REQUESTS.load(Ordering::Relaxed) {
            log(Level::Info, &format!("fixture 0.1: {seen} outcomes, {ok} ok"));
        }
    }
}

export!(Fixture);
