//! Compatibility fixture for `volley:scenario@0.2.0`: calls every import of 0.2 (log,
//! random, tokenizer, datasets) in `configure` and implements every export (`describe`,
//! `configure`, `next-requests` returning a batch, `on-outcome`). One constant-rate stage
//! of `requests` requests (default 6) with `prompt-tokens`; the prompts come from the
//! dataset granted as `rows` when there is one, else from the tokenizer when there is
//! one. Run by tests/e2e/compat.rs.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

wit_bindgen::generate!({
    path: "../../../wit/v0.2",
    world: "scenario",
});

use exports::volley::scenario::workload::{Guest, Info};
use volley::scenario::datasets::Dataset;
use volley::scenario::log::{Level, log};
use volley::scenario::types::{Api, Batch, Load, Message, Outcome, Plan, Prompt, Request, Stage};
use volley::scenario::{random, tokenizer};

static REQUESTS: AtomicU64 = AtomicU64::new(6);
static OUTCOMES: AtomicU64 = AtomicU64::new(0);
static OK: AtomicU64 = AtomicU64::new(0);
static PROMPT_TOKENS: AtomicU64 = AtomicU64::new(0);
/// The prompts: the granted rows' first messages, or synthesized texts.
static PROMPTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn param_u64(params: &str, key: &str) -> Option<u64> {
    let rest = &params[params.find(&format!("\"{key}\""))? + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    rest[..rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len())].parse().ok()
}

/// Every tokenizer function, when the operator gave a tokenizer: a text of 8 tokens.
fn tokenizer_calls() -> Result<Option<String>, String> {
    if !tokenizer::available() {
        return Ok(None);
    }
    let text = tokenizer::synth_text(8, 42);
    let n = tokenizer::count(&text);
    let ids = tokenizer::encode(&text);
    let back = tokenizer::decode(&ids);
    let cut = tokenizer::truncate(&text, 4);
    if n != 8 || ids.len() != 8 || back.is_empty() || tokenizer::count(&cut) > 4 {
        return Err(format!("tokenizer: count {n}, {} ids, truncated to {} tokens", ids.len(), tokenizer::count(&cut)));
    }
    Ok(Some(text))
}

/// Every dataset function, when `rows` was granted: its rows' first messages.
fn dataset_calls() -> Result<Option<Vec<String>>, String> {
    let rows = match Dataset::open("rows") {
        Ok(d) => d,
        Err(e) => {
            log(Level::Warn, &format!("fixture 0.2: no dataset: {e}"));
            return Ok(None);
        }
    };
    let len = rows.len();
    let mut prompts = Vec::new();
    for i in 0..len {
        let row = rows.row(i).ok_or(format!("row {i} of {len} is missing"))?;
        prompts.extend(row.messages.first().map(|m| m.content.clone()));
    }
    if rows.row(len).is_some() {
        return Err("a row past the end".into());
    }
    Ok(Some(prompts))
}

fn request(seq: u64) -> Request {
    let prompts = PROMPTS.lock().unwrap();
    let text = prompts.get(seq as usize % prompts.len().max(1)).cloned().unwrap_or_else(|| format!("fixture 0.2 request {seq}"));
    let chat = seq.is_multiple_of(2);
    Request {
        api: if chat { Api::ChatCompletions } else { Api::Completions },
        model: None,
        prompt: if chat { Prompt::Chat(vec![Message { role: "user".into(), content: text }]) } else { Prompt::Text(text) },
        max_tokens: Some(3),
        stream: true,
        headers: vec![],
        body_extra: None,
        tag: Some("fixture".into()),
        session: None,
        prompt_tokens: Some(8),
    }
}

struct Fixture;

impl Guest for Fixture {
    fn describe() -> Info {
        Info { name: "fixture-v0_2".into(), version: "0.2.0".into(), description: "calls every import and export of WIT 0.2".into() }
    }

    fn configure(params: String) -> Result<Plan, String> {
        let n = param_u64(&params, "requests").unwrap_or(6);
        REQUESTS.store(n, Ordering::Relaxed);
        let (a, b) = (random::next_u64(), random::next_f64());
        if !(0.0..1.0).contains(&b) {
            return Err(format!("random next-f64 gave {b}"));
        }
        let synth = tokenizer_calls()?;
        let rows = dataset_calls()?;
        log(
            Level::Info,
            &format!(
                "fixture 0.2: imports ok (random {}, tokenizer {}, dataset rows {})",
                a % 1000,
                synth.is_some(),
                rows.as_ref().map_or(0, Vec::len)
            ),
        );
        *PROMPTS.lock().unwrap() = rows.filter(|r| !r.is_empty()).or(synth.map(|t| vec![t])).unwrap_or_default();
        Ok(Plan {
            stages: vec![Stage { name: "fixture".into(), load: Load::Constant(50.0), duration_ms: Some(30_000), max_requests: Some(n) }],
            observe_outcomes: true,
        })
    }

    fn next_requests(_stage: u32, seq: u64, max: u32) -> Batch {
        let n = REQUESTS.load(Ordering::Relaxed);
        let end = n.min(seq + u64::from(max));
        Batch { requests: (seq..end).map(request).collect(), done: end >= n }
    }

    fn on_outcome(outcome: Outcome) {
        PROMPT_TOKENS.fetch_add(u64::from(outcome.prompt_tokens.unwrap_or(0)), Ordering::Relaxed);
        let ok = OK.fetch_add(u64::from(outcome.ok), Ordering::Relaxed) + u64::from(outcome.ok);
        let seen = OUTCOMES.fetch_add(1, Ordering::Relaxed) + 1;
        if seen == REQUESTS.load(Ordering::Relaxed) {
            log(Level::Info, &format!("fixture 0.2: {seen} outcomes, {ok} ok"));
        }
    }
}

export!(Fixture);
