//! Compatibility fixture for `volley:scenario@0.5.0`: calls every import of 0.5 (log,
//! random, tokenizer, datasets, checks) in `configure` and implements every export
//! (`describe`, `configure`, `next-requests`, `on-outcome`, `next-stage`). An adaptive
//! plan of one stage of `requests` multimodal chat requests (default 6, `chat-parts`: a
//! text part, an image — file `seq` of the folder granted as `images` when there is one,
//! else inline bytes — and inline audio), each keeping its response text, which
//! `on-outcome` checks (`answered`); `next-stage` then ends the run. Text comes from the
//! dataset granted as `rows` when there is one, else from the tokenizer when there is
//! one. Run by tests/e2e/compat.rs.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

wit_bindgen::generate!({
    path: "../../../wit/v0.5",
    world: "scenario",
});

use exports::volley::scenario::workload::{Guest, Info};
use volley::scenario::checks::check;
use volley::scenario::datasets::Dataset;
use volley::scenario::log::{Level, log};
use volley::scenario::types::{
    Api, Batch, ContentPart, GrantedFile, ImagePart, InlineMedia, Load, Media, Outcome, PartMessage, Plan, Prompt, Request, Stage,
    StageResult,
};
use volley::scenario::{random, tokenizer};

static REQUESTS: AtomicU64 = AtomicU64::new(6);
static OUTCOMES: AtomicU64 = AtomicU64::new(0);
static OK: AtomicU64 = AtomicU64::new(0);
/// Files in the folder granted as `images` (0: none granted).
static IMAGES: AtomicU64 = AtomicU64::new(0);
static PROMPTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn param_u64(params: &str, key: &str) -> Option<u64> {
    let rest = &params[params.find(&format!("\"{key}\""))? + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    rest[..rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len())].parse().ok()
}

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

/// Every dataset function on `name`, when it was granted: its rows (first message, raw).
fn dataset_calls(name: &str) -> Result<Option<Vec<(String, String)>>, String> {
    let d = match Dataset::open(name) {
        Ok(d) => d,
        Err(e) => {
            log(Level::Warn, &format!("fixture 0.5: no dataset {name}: {e}"));
            return Ok(None);
        }
    };
    let len = d.len();
    let mut rows = Vec::new();
    for i in 0..len {
        let row = d.row(i).ok_or(format!("row {i} of {len} is missing"))?;
        rows.push((row.messages.first().map(|m| m.content.clone()).unwrap_or_default(), row.raw));
    }
    if d.row(len).is_some() {
        return Err("a row past the end".into());
    }
    Ok(Some(rows))
}

/// A WAV header and a few samples: the simulator does not decode audio.
const WAV: &[u8] =
    b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00";

fn request(seq: u64) -> Request {
    let prompts = PROMPTS.lock().unwrap();
    let text = prompts.get(seq as usize % prompts.len().max(1)).cloned().unwrap_or_else(|| format!("fixture 0.5 request {seq}"));
    let images = IMAGES.load(Ordering::Relaxed);
    let image = if images > 0 {
        Media::Granted(GrantedFile { dataset: "images".into(), index: seq % images })
    } else {
        Media::Inline(InlineMedia { mime: "image/png".into(), data: b"\x89PNG\r\n\x1a\nfixture".to_vec() })
    };
    let parts = vec![
        ContentPart::Text(text),
        ContentPart::Image(ImagePart { media: image, detail: Some("low".into()) }),
        ContentPart::Audio(Media::Inline(InlineMedia { mime: "audio/wav".into(), data: WAV.to_vec() })),
    ];
    Request {
        api: Api::ChatCompletions,
        model: None,
        prompt: Prompt::ChatParts(vec![PartMessage { role: "user".into(), parts }]),
        max_tokens: Some(3),
        stream: true,
        headers: vec![],
        body_extra: None,
        tag: Some("multimodal".into()),
        session: None,
        prompt_tokens: None,
        inputs: vec![],
        model_version: None,
        body: None,
        method: None,
        path: None,
        batch_size: None,
        gap_ns: None,
        keep_text: true,
    }
}

struct Fixture;

impl Guest for Fixture {
    fn describe() -> Info {
        Info { name: "fixture-v0_5".into(), version: "0.5.0".into(), description: "calls every import and export of WIT 0.5".into() }
    }

    fn configure(params: String) -> Result<Plan, String> {
        let n = param_u64(&params, "requests").unwrap_or(6);
        REQUESTS.store(n, Ordering::Relaxed);
        let (a, b) = (random::next_u64(), random::next_f64());
        if !(0.0..1.0).contains(&b) {
            return Err(format!("random next-f64 gave {b}"));
        }
        let synth = tokenizer_calls()?;
        let rows = dataset_calls("rows")?;
        let images = dataset_calls("images")?;
        check("configured", true);
        check("tokenizer", synth.is_some());
        check("rows", rows.is_some());
        log(
            Level::Info,
            &format!(
                "fixture 0.5: imports ok (random {}, tokenizer {}, dataset rows {}, images {})",
                a % 1000,
                synth.is_some(),
                rows.as_ref().map_or(0, Vec::len),
                images.as_ref().map_or(0, Vec::len)
            ),
        );
        IMAGES.store(images.map_or(0, |i| i.len() as u64), Ordering::Relaxed);
        let rows: Option<Vec<String>> = rows.map(|r| r.into_iter().map(|(m, _)| m).collect());
        *PROMPTS.lock().unwrap() = rows.filter(|r| !r.is_empty()).or(synth.map(|t| vec![t])).unwrap_or_default();
        Ok(Plan {
            stages: vec![Stage {
                name: "multimodal".into(),
                load: Load::Constant(50.0),
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

    fn next_requests(_stage: u32, seq: u64, max: u32) -> Batch {
        let n = REQUESTS.load(Ordering::Relaxed);
        let end = n.min(seq + u64::from(max));
        Batch { requests: (seq..end).map(request).collect(), done: end >= n }
    }

    fn on_outcome(outcome: Outcome) {
        check("answered", outcome.ok && outcome.text.as_deref().is_some_and(|t| !t.is_empty()));
        let ok = OK.fetch_add(u64::from(outcome.ok), Ordering::Relaxed) + u64::from(outcome.ok);
        let seen = OUTCOMES.fetch_add(1, Ordering::Relaxed) + 1;
        if seen == REQUESTS.load(Ordering::Relaxed) {
            log(Level::Info, &format!("fixture 0.5: {seen} outcomes, {ok} ok"));
        }
    }

    /// No stage after the first.
    fn next_stage(results: Vec<StageResult>) -> Option<Stage> {
        let r = results.last()?;
        log(Level::Info, &format!("fixture 0.5: next-stage after '{}': sent {}, ok {}; done", r.name, r.sent, r.ok));
        None
    }
}

export!(Fixture);
