//! Compatibility fixture for `volley:scenario@0.6.0`: calls every
//! import of 0.6 (log, random, tokenizer, datasets, checks) in `configure` and implements
//! every export (`describe`, `configure`, `next-requests`, `on-outcome` returning a
//! reaction, `next-stage`). An adaptive plan of one `sessions(2)` stage of `tasks` agent
//! tasks (default 4), each of two turns:
//!
//! 1. `next-requests` opens the task (session `seq + 1`): a system message and a user
//!    message of parts, offering a tool.
//! 2. Its outcome's reaction is one follow-up after a delay (tool and think time) with
//!    the tools, a tool choice, the assistant message carrying the model's tool calls (or
//!    one made up when the model made none) and a tool message answering each call.
//! 3. The follow-up's outcome ends the task (`completed`, or `failed` when a turn failed).
//!
//! Every request carries a `key` (its session × 10, plus 1 for a follow-up), and every
//! outcome is checked to give it back (check `key-returned`).
//!
//! `next-stage` then ends the run. With `"bad_follow_up": 1` each follow-up names an image
//! of a dataset that was not granted, which the host must refuse. Run by
//! tests/e2e/compat.rs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

wit_bindgen::generate!({
    path: "../../../wit/v0.6",
    world: "scenario",
});

use exports::volley::scenario::workload::{Guest, Info};
use volley::scenario::checks::check;
use volley::scenario::datasets::Dataset;
use volley::scenario::log::{Level, log};
use volley::scenario::types::{
    Api, Batch, ContentPart, Delay, GrantedFile, ImagePart, Load, Media, Message, Outcome, Plan, Prompt, Reaction, Request, Stage,
    StageResult, TaskEnd, Tool, ToolCall, ToolChoice,
};
use volley::scenario::{random, tokenizer};

static TASKS: AtomicU64 = AtomicU64::new(4);
static BAD_FOLLOW_UP: AtomicBool = AtomicBool::new(false);
static ENDED: AtomicU64 = AtomicU64::new(0);
static COMPLETED: AtomicU64 = AtomicU64::new(0);
/// Outcomes that carried tool calls.
static WITH_TOOL_CALLS: AtomicU64 = AtomicU64::new(0);
static PROMPTS: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Each open task's first turn, by session: its user text.
static OPEN: Mutex<Option<HashMap<u64, String>>> = Mutex::new(None);

/// The follow-up's wait: 5 ms of tool time and 5 ms of think time.
const TOOL_NS: u64 = 5_000_000;
const THINK_NS: u64 = 5_000_000;

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

/// Every dataset function, when `rows` was granted: its rows' first messages (0.6's
/// message record: no parts, tool calls or tool-call id in a dataset row).
fn dataset_calls() -> Result<Option<Vec<String>>, String> {
    let rows = match Dataset::open("rows") {
        Ok(d) => d,
        Err(e) => {
            log(Level::Warn, &format!("fixture 0.6: no dataset: {e}"));
            return Ok(None);
        }
    };
    let len = rows.len();
    let mut prompts = Vec::new();
    for i in 0..len {
        let row = rows.row(i).ok_or(format!("row {i} of {len} is missing"))?;
        if let Some(m) = row.messages.first() {
            if !m.parts.is_empty() || !m.tool_calls.is_empty() || m.tool_call_id.is_some() {
                return Err(format!("row {i}'s message has parts or tool calls"));
            }
            prompts.push(m.content.clone());
        }
    }
    if rows.row(len).is_some() {
        return Err("a row past the end".into());
    }
    Ok(Some(prompts))
}

fn message(role: &str, content: &str) -> Message {
    Message { role: role.into(), content: content.into(), parts: vec![], tool_calls: vec![], tool_call_id: None }
}

fn search_tool() -> Tool {
    Tool {
        name: "search".into(),
        description: "Searches the fixture's notes.".into(),
        parameters: r#"{"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}"#.into(),
    }
}

fn chat(session: u64, messages: Vec<Message>, tool_choice: Option<ToolChoice>, delay: Option<Delay>) -> Request {
    Request {
        api: Api::ChatCompletions,
        model: None,
        prompt: Prompt::Chat(messages),
        max_tokens: Some(3),
        stream: true,
        headers: vec![],
        body_extra: None,
        tag: Some(if delay.is_some() { "follow-up" } else { "opening" }.into()),
        session: Some(session),
        prompt_tokens: None,
        inputs: vec![],
        model_version: None,
        body: None,
        method: None,
        path: None,
        batch_size: None,
        gap_ns: None,
        keep_text: true,
        tools: vec![search_tool()],
        tool_choice,
        delay,
        // Each turn sends the whole conversation (the host keeping it is tested by the
        // agent scenarios).
        history: None,
        // Given back in the outcome: checked there.
        key: Some(session * 10 + u64::from(delay.is_some())),
    }
}

/// Task `seq`'s first turn.
fn opening(seq: u64) -> Request {
    let prompts = PROMPTS.lock().unwrap();
    let text = prompts.get(seq as usize % prompts.len().max(1)).cloned().unwrap_or_else(|| format!("fixture 0.6 task {seq}"));
    let session = seq + 1;
    OPEN.lock().unwrap().get_or_insert_with(HashMap::new).insert(session, text.clone());
    let user = Message { parts: vec![ContentPart::Text(text)], ..message("user", "") };
    chat(session, vec![message("system", "You are the fixture agent."), user], Some(ToolChoice::Auto), None)
}

/// The turn after `outcome` (a task's first): the model's tool calls answered.
fn follow_up(session: u64, user: String, outcome: &Outcome) -> Request {
    let calls = if outcome.tool_calls.is_empty() {
        vec![ToolCall { id: format!("call-{session}"), name: "search".into(), arguments: r#"{"q": "fixture"}"#.into() }]
    } else {
        outcome.tool_calls.clone()
    };
    let mut user = message("user", &user);
    if BAD_FOLLOW_UP.load(Ordering::Relaxed) {
        let missing = Media::Granted(GrantedFile { dataset: "missing".into(), index: 0 });
        user.parts.push(ContentPart::Image(ImagePart { media: missing, detail: None }));
    }
    let mut messages = vec![user, Message { tool_calls: calls.clone(), ..message("assistant", "") }];
    messages.extend(calls.iter().map(|c| Message { tool_call_id: Some(c.id.clone()), ..message("tool", "3 notes found") }));
    let choice = match session % 3 {
        0 => ToolChoice::Required,
        1 => ToolChoice::Function("search".into()),
        _ => ToolChoice::None,
    };
    chat(session, messages, Some(choice), Some(Delay { tool_ns: TOOL_NS, think_ns: THINK_NS }))
}

struct Fixture;

impl Guest for Fixture {
    fn describe() -> Info {
        Info { name: "fixture-v0_6".into(), version: "0.6.0".into(), description: "calls every import and export of WIT 0.6".into() }
    }

    fn configure(params: String) -> Result<Plan, String> {
        let tasks = param_u64(&params, "tasks").unwrap_or(4);
        TASKS.store(tasks, Ordering::Relaxed);
        BAD_FOLLOW_UP.store(param_u64(&params, "bad_follow_up") == Some(1), Ordering::Relaxed);
        let (a, b) = (random::next_u64(), random::next_f64());
        if !(0.0..1.0).contains(&b) {
            return Err(format!("random next-f64 gave {b}"));
        }
        let synth = tokenizer_calls()?;
        let rows = dataset_calls()?;
        check("configured", true);
        check("tokenizer", synth.is_some());
        check("rows", rows.is_some());
        log(
            Level::Info,
            &format!(
                "fixture 0.6: imports ok (random {}, tokenizer {}, dataset rows {})",
                a % 1000,
                synth.is_some(),
                rows.as_ref().map_or(0, Vec::len)
            ),
        );
        *PROMPTS.lock().unwrap() = rows.filter(|r| !r.is_empty()).or(synth.map(|t| vec![t])).unwrap_or_default();
        Ok(Plan {
            stages: vec![Stage {
                name: "agents".into(),
                load: Load::Sessions(2),
                duration_ms: Some(30_000),
                max_requests: None,
                warmup_ms: None,
                cooldown_ms: None,
                slo: None,
            }],
            observe_outcomes: true,
            adaptive: true,
        })
    }

    /// Opens tasks until `tasks` were opened.
    fn next_requests(_stage: u32, seq: u64, max: u32) -> Batch {
        let n = TASKS.load(Ordering::Relaxed);
        let end = n.min(seq + u64::from(max));
        Batch { requests: (seq..end).map(opening).collect(), done: end >= n }
    }

    fn on_outcome(outcome: Outcome) -> Reaction {
        check("turn-ok", outcome.ok);
        check("key-returned", outcome.key.is_some() && outcome.key.map(|k| k / 10) == outcome.session);
        if !outcome.tool_calls.is_empty() {
            WITH_TOOL_CALLS.fetch_add(1, Ordering::Relaxed);
        }
        let Some(session) = outcome.session else {
            return Reaction { requests: vec![], end: None };
        };
        let first = OPEN.lock().unwrap().get_or_insert_with(HashMap::new).remove(&session);
        let reaction = match first {
            Some(user) if outcome.ok => return Reaction { requests: vec![follow_up(session, user, &outcome)], end: None },
            Some(_) => Reaction { requests: vec![], end: Some(TaskEnd::Failed) },
            None if outcome.ok => Reaction { requests: vec![], end: Some(TaskEnd::Completed) },
            None => Reaction { requests: vec![], end: Some(TaskEnd::Failed) },
        };
        let completed = COMPLETED.fetch_add(u64::from(reaction.end == Some(TaskEnd::Completed)), Ordering::Relaxed)
            + u64::from(reaction.end == Some(TaskEnd::Completed));
        let ended = ENDED.fetch_add(1, Ordering::Relaxed) + 1;
        if ended == TASKS.load(Ordering::Relaxed) {
            log(
                Level::Info,
                &format!(
                    "fixture 0.6: {ended} tasks ended, {completed} completed; last finish {:?}, cached {:?}; {} outcomes with tool calls",
                    outcome.finish_reason,
                    outcome.cached_tokens,
                    WITH_TOOL_CALLS.load(Ordering::Relaxed)
                ),
            );
        }
        reaction
    }

    /// No stage after the first.
    fn next_stage(results: Vec<StageResult>) -> Option<Stage> {
        let r = results.last()?;
        log(Level::Info, &format!("fixture 0.6: next-stage after '{}': sent {}, ok {}; done", r.name, r.sent, r.ok));
        None
    }
}

export!(Fixture);
