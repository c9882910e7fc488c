//! Compatibility fixture for `volley:scenario@0.4.0`: calls every import of 0.4 (log,
//! random, tokenizer, datasets) in `configure` and implements every export (`describe`,
//! `configure`, `next-requests`, `on-outcome`, `next-stage`). An adaptive plan: a first
//! stage of `requests` requests (default 7, every API of 0.3) on a `custom` load (each
//! request's `gap-ns`), then `next-stage`, given its result, adds one `concurrency-ramp`
//! stage with a warm-up, a cool-down and an SLO, of 4 chat requests, and then ends the
//! run. Text prompts come from the dataset granted as `rows` when there is one, else
//! from the tokenizer when there is one. Run by tests/e2e/compat.rs.
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

wit_bindgen::generate!({
    path: "../../../wit/v0.4",
    world: "scenario",
});

use exports::volley::scenario::workload::{Guest, Info};
use volley::scenario::datasets::Dataset;
use volley::scenario::log::{Level, log};
use volley::scenario::types::{Api, Batch, Load, Message, Outcome, Plan, Prompt, Request, Slo, Stage, StageResult, Tensor, TensorData};
use volley::scenario::{random, tokenizer};

static REQUESTS: AtomicU64 = AtomicU64::new(7);
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
            log(Level::Warn, &format!("fixture 0.4: no dataset: {e}"));
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

/// The adaptive stage's requests.
const RAMP_REQUESTS: u64 = 4;

/// Request `seq` of the first stage: the APIs of 0.3 in turn, 10 ms apart.
fn request(seq: u64) -> Request {
    let prompts = PROMPTS.lock().unwrap();
    let text = prompts.get(seq as usize % prompts.len().max(1)).cloned().unwrap_or_else(|| format!("fixture 0.4 request {seq}"));
    let base = Request {
        api: Api::Completions,
        model: None,
        prompt: Prompt::Text(text.clone()),
        max_tokens: Some(3),
        stream: false,
        headers: vec![],
        body_extra: None,
        tag: None,
        session: None,
        prompt_tokens: Some(8),
        inputs: vec![],
        model_version: None,
        body: None,
        method: None,
        path: None,
        batch_size: None,
        gap_ns: Some(10_000_000),
    };
    match seq % 7 {
        0 => Request { tag: Some("completions".into()), stream: true, ..base },
        1 => Request {
            api: Api::ChatCompletions,
            prompt: Prompt::Chat(vec![Message { role: "user".into(), content: text }]),
            tag: Some("chat".into()),
            stream: true,
            ..base
        },
        2 => Request { api: Api::Embeddings, tag: Some("embeddings".into()), max_tokens: None, ..base },
        3 => Request { api: Api::TgiGenerate, tag: Some("tgi".into()), ..base },
        4 => Request {
            api: Api::KserveV1,
            model: Some("fixture".into()),
            body: Some("{\"instances\": [[1, 2, 3]]}".into()),
            tag: Some("kserve-v1".into()),
            ..base
        },
        5 => Request {
            api: Api::KserveV2,
            model: Some("fixture".into()),
            model_version: Some("2".into()),
            inputs: vec![Tensor {
                name: "INPUT0".into(),
                datatype: "FP32".into(),
                shape: vec![2, 2],
                data: TensorData::Numbers(vec![1.0, 2.0, 3.0, 4.0]),
            }],
            batch_size: Some(2),
            tag: Some("kserve-v2".into()),
            ..base
        },
        _ => Request {
            api: Api::Http,
            method: Some("POST".into()),
            path: Some("/predict".into()),
            body: Some(text),
            tag: Some("http".into()),
            ..base
        },
    }
}

struct Fixture;

impl Guest for Fixture {
    fn describe() -> Info {
        Info { name: "fixture-v0_4".into(), version: "0.4.0".into(), description: "calls every import and export of WIT 0.4".into() }
    }

    fn configure(params: String) -> Result<Plan, String> {
        let n = param_u64(&params, "requests").unwrap_or(7);
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
                "fixture 0.4: imports ok (random {}, tokenizer {}, dataset rows {})",
                a % 1000,
                synth.is_some(),
                rows.as_ref().map_or(0, Vec::len)
            ),
        );
        *PROMPTS.lock().unwrap() = rows.filter(|r| !r.is_empty()).or(synth.map(|t| vec![t])).unwrap_or_default();
        Ok(Plan {
            stages: vec![Stage {
                name: "custom".into(),
                load: Load::Custom,
                duration_ms: Some(30_000),
                max_requests: Some(n),
                warmup_ms: None,
                cooldown_ms: None,
                slo: None,
            }],
            observe_outcomes: true,
            adaptive: true,
        })
    }

    fn next_requests(stage: u32, seq: u64, max: u32) -> Batch {
        if stage == 1 {
            let end = RAMP_REQUESTS.min(seq + u64::from(max));
            let chat = |s: u64| Request {
                api: Api::ChatCompletions,
                prompt: Prompt::Chat(vec![Message { role: "user".into(), content: format!("fixture 0.4 ramp {s}") }]),
                stream: true,
                tag: Some("ramp".into()),
                gap_ns: None,
                ..request(0)
            };
            return Batch { requests: (seq..end).map(chat).collect(), done: end >= RAMP_REQUESTS };
        }
        let n = REQUESTS.load(Ordering::Relaxed);
        let end = n.min(seq + u64::from(max));
        Batch { requests: (seq..end).map(request).collect(), done: end >= n }
    }

    fn on_outcome(outcome: Outcome) {
        PROMPT_TOKENS.fetch_add(u64::from(outcome.prompt_tokens.unwrap_or(0)), Ordering::Relaxed);
        let ok = OK.fetch_add(u64::from(outcome.ok), Ordering::Relaxed) + u64::from(outcome.ok);
        let seen = OUTCOMES.fetch_add(1, Ordering::Relaxed) + 1;
        if seen == REQUESTS.load(Ordering::Relaxed) + RAMP_REQUESTS {
            log(Level::Info, &format!("fixture 0.4: {seen} outcomes, {ok} ok"));
        }
    }

    /// One more stage after the first, then none.
    fn next_stage(results: Vec<StageResult>) -> Option<Stage> {
        let r = results.last()?;
        log(Level::Info, &format!("fixture 0.4: next-stage after {} stage(s): '{}' sent {}, ok {}", results.len(), r.name, r.sent, r.ok));
        (results.len() == 1).then(|| Stage {
            name: "ramp".into(),
            load: Load::ConcurrencyRamp((1, 2)),
            duration_ms: Some(5_000),
            max_requests: Some(RAMP_REQUESTS),
            warmup_ms: Some(1),
            cooldown_ms: Some(1),
            slo: Some(Slo { ttft_ms: Some(10_000.0), itl_ms: None, latency_ms: Some(10_000.0) }),
        })
    }
}

export!(Fixture);
