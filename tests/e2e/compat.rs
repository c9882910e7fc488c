//! WIT versioning: components built against older `volley:scenario` versions (kept as
//! binary fixtures, built before the WIT moved on) still run on this host; and one
//! fixture component per version (`tests/guests/fixture-v0_X`, built from source with
//! wit-bindgen against `wit/v0.X`) calls every import and implements every export of its
//! version, and runs here against the simulator.

use std::time::Duration;

use crate::support::*;
use serde_json::{Value, json};
use volley::sim::SimConfig;

fn fixture(version: &str, name: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(version).join(name).display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v0_1_component_still_runs() {
    let sim = start_sim(SimConfig { ttft: Duration::from_millis(20), itl: Duration::from_millis(2), ..SimConfig::default() }).await;
    let params = json!({"rate": 20, "max_requests": 10, "duration_s": 10, "max_tokens": 5});
    for version in ["v0.1", "v0.2", "v0.3", "v0.4", "v0.5"] {
        let out = TempDir::new("compat");
        let args = run_args(&fixture(version, "chat-poisson.wasm"), &sim.url(), params.clone(), &out);
        run_volley_async(args, Duration::from_secs(60)).await.assert_success();
        let report = read_report(out.path());
        assert_eq!(report["scenario"]["wit"].as_str(), Some(&version[1..]).map(|v| format!("{v}.0")).as_deref());
        assert_eq!(report["stages"][0]["requests"]["ok"], 10);
        // The simulator centres its timer error on the planned instant: ±1 ms.
        assert!(ms(&report["stages"][0]["ttft_ms"]["p50"]) >= 19.0);
    }
    // The shipped builtin is built against the current WIT.
    let out = TempDir::new("compat-new");
    run_volley_async(run_args("builtin:chat-poisson", &sim.url(), json!({"max_requests": 2, "rate": 20}), &out), Duration::from_secs(60))
        .await
        .assert_success();
    let newest = volley::scenario::WitVersion::SUPPORTED[0].semver();
    assert_eq!(read_report(out.path())["scenario"]["wit"], newest);
}

/// The fixture of WIT 0.`minor` (the package `fixture-v0_X`; `support::guests` names a
/// component by its file, `fixture_v0_X.wasm`, reading underscores as dashes).
fn fixture_guest(minor: u32) -> &'static str {
    guest(&format!("fixture-v0-{minor}"))
}

/// What a fixture run is granted: the tokenizer, a JSONL dataset `rows` of three
/// conversations, and a folder `images` of two image files.
struct Grants {
    dir: TempDir,
}

impl Grants {
    fn new() -> Grants {
        let dir = TempDir::new("fixture-grants");
        let rows: String =
            (0..3).map(|i| format!("{{\"messages\": [{{\"role\": \"user\", \"content\": \"row {i} says hello\"}}]}}\n")).collect();
        std::fs::write(dir.path().join("rows.jsonl"), rows).unwrap();
        let images = dir.path().join("images");
        std::fs::create_dir_all(&images).unwrap();
        std::fs::write(images.join("a.png"), b"\x89PNG\r\n\x1a\nfirst").unwrap();
        std::fs::write(images.join("b.jpg"), b"\xff\xd8\xffsecond").unwrap();
        Grants { dir }
    }

    fn args(&self) -> Vec<String> {
        let d = self.dir.path();
        vec![
            "--tokenizer".into(),
            tokenizer_path(),
            "--dataset".into(),
            format!("rows={}", d.join("rows.jsonl").display()),
            "--dataset".into(),
            format!("images={}", d.join("images").display()),
            "--record-text".into(),
        ]
    }
}

fn fixture_sim() -> SimConfig {
    SimConfig { ttft: Duration::from_millis(5), itl: Duration::from_millis(1), ..SimConfig::default() }
}

/// Runs the fixture of 0.`minor` against `sim` with every grant; the run must succeed.
async fn run_fixture(minor: u32, sim: &volley::sim::Simulator, params: Value) -> (Output, Value, Vec<Value>) {
    let grants = Grants::new();
    let out = TempDir::new("fixture");
    let args = run_args(fixture_guest(minor), &sim.url(), params, &out);
    let args = with(args, &grants.args().iter().map(String::as_str).collect::<Vec<_>>());
    let o = run_volley_async(args, Duration::from_secs(60)).await;
    o.assert_success();
    let report = read_report(out.path());
    assert_eq!(report["scenario"]["wit"], format!("0.{minor}.0"), "{}", o.stderr);
    (o, report, read_records(out.path()))
}

/// The scenario's log lines reach the operator.
fn assert_logged(o: &Output, line: &str) {
    assert!(o.stderr.contains(line), "expected the log line {line:?} in:\n{}", o.stderr);
}

fn checks(stage: &Value, name: &str) -> (u64, u64) {
    let c = &stage["checks"][name];
    (c["passes"].as_u64().unwrap_or_else(|| panic!("no check {name} in {stage}")), c["fails"].as_u64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_0_1_fixture_runs_log_random_and_a_short_list() {
    let sim = start_sim(fixture_sim()).await;
    let (o, report, _) = run_fixture(1, &sim, json!({"requests": 5})).await;
    // 0.1 imports log and random only: the grants are not its concern.
    assert_logged(&o, "info: fixture 0.1: imports ok");
    assert_logged(&o, "warn: fixture 0.1: a warning");
    assert_logged(&o, "error: fixture 0.1: an error line");
    assert!(!o.stderr.contains("a debug line"), "debug lines are shown only when asked:\n{}", o.stderr);
    // A list shorter than asked ends the stage (0.1's own meaning); every outcome arrived.
    assert_logged(&o, "fixture 0.1: 5 outcomes, 5 ok");
    assert_eq!(report["stages"][0]["requests"]["ok"], 5);
    assert_eq!(sim.stats().requests, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_0_2_fixture_runs_the_tokenizer_and_datasets() {
    let sim = start_sim(fixture_sim()).await;
    let (o, report, records) = run_fixture(2, &sim, json!({"requests": 6})).await;
    assert_logged(&o, "info: fixture 0.2: imports ok");
    assert_logged(&o, "tokenizer true, dataset rows 3)");
    assert_logged(&o, "fixture 0.2: 6 outcomes, 6 ok");
    assert_eq!(report["stages"][0]["requests"]["ok"], 6);
    // The prompts are the granted rows, and each says its intended length.
    let bodies: Vec<String> = records.iter().map(|r| r["request_body"].to_string()).collect();
    assert!(bodies.iter().all(|b| b.contains("says hello")), "{bodies:?}");
    assert!(records.iter().all(|r| r["requested_prompt_tokens"] == 8), "{records:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_0_3_fixture_sends_every_api() {
    let sim = start_sim(fixture_sim()).await;
    let (o, report, records) = run_fixture(3, &sim, json!({"requests": 7})).await;
    assert_logged(&o, "info: fixture 0.3: imports ok");
    assert_logged(&o, "tokenizer true, dataset rows 3)");
    assert_logged(&o, "fixture 0.3: 7 outcomes, 7 ok");
    assert_eq!(report["stages"][0]["requests"]["ok"], 7, "{}", report["stages"][0]);
    let mut tags: Vec<&str> = records.iter().map(|r| r["tag"].as_str().unwrap()).collect();
    tags.sort_unstable();
    assert_eq!(tags, ["chat", "completions", "embeddings", "http", "kserve-v1", "kserve-v2", "tgi"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_0_4_fixture_runs_custom_gaps_and_an_adaptive_ramp() {
    let sim = start_sim(fixture_sim()).await;
    let (o, report, _) = run_fixture(4, &sim, json!({"requests": 7})).await;
    assert_logged(&o, "info: fixture 0.4: imports ok");
    // next-stage saw the first stage's result, then its own stage's, and ended the run.
    assert_logged(&o, "fixture 0.4: next-stage after 1 stage(s): 'custom' sent 7, ok 7");
    assert_logged(&o, "fixture 0.4: next-stage after 2 stage(s): 'ramp'");
    assert_logged(&o, "fixture 0.4: 11 outcomes, 11 ok");
    let stages = report["stages"].as_array().unwrap();
    let names: Vec<&str> = stages.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["custom", "ramp"]);
    assert_eq!(stages[0]["requests"]["ok"], 7);
    // The ramp's warm-up and cool-down leave requests out of its statistics, not unsent.
    let ramp = &stages[1];
    let sent = ramp["requests"]["sent"].as_u64().unwrap() + ramp["excluded"].as_u64().unwrap_or(0);
    assert_eq!(sent, 4, "{ramp}");
    assert_eq!(ramp["requests"]["ok"], ramp["requests"]["sent"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_0_5_fixture_sends_media_and_counts_checks() {
    let sim = start_sim(fixture_sim()).await;
    let (o, report, _) = run_fixture(5, &sim, json!({"requests": 6})).await;
    assert_logged(&o, "info: fixture 0.5: imports ok");
    assert_logged(&o, "tokenizer true, dataset rows 3, images 2)");
    assert_logged(&o, "fixture 0.5: 6 outcomes, 6 ok");
    assert_logged(&o, "fixture 0.5: next-stage after 'multimodal': sent 6, ok 6; done");
    let stage = &report["stages"][0];
    assert_eq!(stage["requests"]["ok"], 6);
    // Checks made in configure and in on-outcome (with the kept text) are counted.
    assert_eq!(checks(stage, "answered"), (6, 0), "{}", stage["checks"]);
    for name in ["configured", "tokenizer", "rows"] {
        assert_eq!(checks(stage, name), (1, 0), "{name}: {}", stage["checks"]);
    }
    // One image part a request: granted files, read and encoded by the host.
    assert_eq!(sim.stats().image_parts, 6);
}

/// 0.6's promise: a task's follow-up, returned by `on-outcome`, is sent after its delay
/// with its tools, tool choice, tool calls and tool results, and the reaction's `end`
/// closes the task. Needs the engine's session scheduling (the `sessions` load, reactions'
/// follow-ups), which is being written beside this host module.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_0_6_fixture_runs_agent_tasks_with_follow_ups() {
    let sim = start_sim(SimConfig { tool_calls: true, cached_tokens: 4, ..fixture_sim() }).await;
    let (o, report, records) = run_fixture(6, &sim, json!({"tasks": 4})).await;
    assert_logged(&o, "info: fixture 0.6: imports ok");
    assert_logged(&o, "tokenizer true, dataset rows 3)");
    assert_logged(&o, "fixture 0.6: 4 tasks ended, 4 completed");
    assert_logged(&o, "fixture 0.6: next-stage after 'agents': sent 8, ok 8; done");
    let stage = &report["stages"][0];
    // Two turns a task: the opening and one follow-up.
    assert_eq!(stage["requests"]["ok"], 8, "{stage}");
    assert_eq!(checks(stage, "turn-ok"), (8, 0), "{}", stage["checks"]);
    assert_eq!(checks(stage, "key-returned"), (8, 0), "each outcome gives its request's key back: {}", stage["checks"]);
    assert_eq!(sim.stats().requests, 8);
    let follow_ups: Vec<&Value> = records.iter().filter(|r| r["tag"] == "follow-up").collect();
    assert_eq!(follow_ups.len(), 4);
    let mut sessions: Vec<u64> = follow_ups.iter().map(|r| r["session"].as_u64().unwrap()).collect();
    sessions.sort_unstable();
    assert_eq!(sessions, [1, 2, 3, 4]);
    for r in follow_ups {
        let body = &r["request_body"];
        assert_eq!(body["tools"][0]["function"]["name"], "search", "{body}");
        assert!(!body["tool_choice"].is_null(), "{body}");
        let messages = body["messages"].as_array().unwrap();
        let assistant = messages.iter().find(|m| m["role"] == "assistant").unwrap();
        let id = &assistant["tool_calls"][0]["id"];
        assert!(messages.iter().any(|m| m["role"] == "tool" && &m["tool_call_id"] == id), "{body}");
    }
}

/// The 0.6 host module without the engine: the fixture driven as a `Workload` through the
/// library, so what `on-outcome`'s reaction becomes is seen directly (follow-ups with
/// their tools, tool choice, delay, tool calls and results; the task's end), and a
/// follow-up the host refuses is a one-line fault naming the scenario.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_0_6_host_module_turns_reactions_into_follow_ups() {
    use std::time::Instant;
    use volley::core::{Delay, Load, Message, Outcome, Prompt, StageResult, TaskEnd, ToolCall, ToolChoice, Workload};
    use volley::wasm::{Grants, SandboxLimits, ScenarioEngine, ScenarioSource, WasmScenario};

    tokio::task::spawn_blocking(|| {
        let source = ScenarioSource::load(fixture_guest(6)).unwrap();
        let compiled = ScenarioEngine::new().unwrap().compile(&source).unwrap();
        assert_eq!(compiled.version.semver(), "0.6.0");
        let mut w = WasmScenario::instantiate(&compiled, SandboxLimits::default(), 1, &Grants::default()).unwrap();
        assert_eq!(w.describe().unwrap().name, "fixture-v0_6");
        let plan = w.configure(&json!({"tasks": 2})).unwrap();
        assert_eq!(plan.stages[0].load, Load::Sessions { n: 2 });
        assert!(plan.observe_outcomes && plan.adaptive);

        w.start_stage(0);
        let batch = w.next_requests(0, 0, 8).unwrap();
        assert!(batch.done);
        let sessions: Vec<Option<u64>> = batch.requests.iter().map(|r| r.session).collect();
        assert_eq!(sessions, [Some(1), Some(2)]);
        let opening = &batch.requests[0];
        assert_eq!((opening.tools.len(), &opening.tool_choice, opening.delay), (1, &Some(ToolChoice::Auto), None));

        let outcome = |seq: u64, session: u64, ok: bool, tool_calls: Vec<ToolCall>| Outcome {
            stage: 0,
            seq,
            session: Some(session),
            key: None,
            ok,
            status: if ok { 200 } else { 500 },
            error: None,
            ttft: Some(Duration::from_millis(1)),
            latency: Duration::from_millis(2),
            output_tokens: 3,
            prompt_tokens: Some(10),
            text: Some(String::new()),
            tool_calls,
            finish_reason: Some("tool_calls".into()),
            cached_tokens: Some(4),
            completed: Instant::now(),
        };
        // Task 1's first turn: one follow-up answering the model's tool call.
        let call = ToolCall { id: "m1".into(), name: "search".into(), arguments: "{\"q\": \"a\"}".into() };
        let reaction = w.on_outcome(outcome(0, 1, true, vec![call.clone()])).unwrap();
        assert_eq!(reaction.end, None);
        assert_eq!(reaction.requests.len(), 1);
        let next = &reaction.requests[0];
        assert_eq!(next.session, Some(1));
        assert_eq!(next.delay, Some(Delay { tool: Duration::from_millis(5), think: Duration::from_millis(5) }));
        assert_eq!(next.tool_choice, Some(ToolChoice::Function("search".into())));
        assert_eq!(next.tools[0].name, "search");
        let Prompt::Chat(messages) = &next.prompt else { panic!("a chat") };
        assert_eq!(messages[1], Message::assistant_calls("", vec![call]));
        assert_eq!(messages[2], Message::tool_result("m1", "3 notes found"));
        // Its follow-up's outcome ends the task; a failed first turn fails task 2.
        let end = w.on_outcome(outcome(2, 1, true, vec![])).unwrap();
        assert_eq!((end.requests.len(), end.end), (0, Some(TaskEnd::Completed)));
        let failed = w.on_outcome(outcome(1, 2, false, vec![])).unwrap();
        assert_eq!((failed.requests.len(), failed.end), (0, Some(TaskEnd::Failed)));

        // Checks in on-outcome count in the outcome's stage.
        let checks = w.checks();
        let turn = checks.tallies.iter().find(|t| t.name == "turn-ok").unwrap();
        assert_eq!((turn.stage, turn.passes, turn.fails), (0, 2, 1));
        // next-stage sees a sessions load as itself, and ends the run.
        let result = StageResult {
            index: 0,
            name: "agents".into(),
            load: Load::Sessions { n: 2 },
            sent: 3,
            ok: 2,
            failed: 1,
            sending_s: 0.1,
            send_rate: 30.0,
            throughput: 20.0,
            output_tokens_per_s: 60.0,
            ttft: None,
            itl: None,
            tpot: None,
            latency: None,
            schedule_lag: None,
            goodput: None,
            slo_attainment: None,
        };
        assert_eq!(w.next_stage(&[result]).unwrap(), None);

        // A follow-up the host refuses (an image of a dataset not granted) stops the run
        // as a refused request from next-requests does: one line naming the scenario.
        let mut w = WasmScenario::instantiate(&compiled, SandboxLimits::default(), 1, &Grants::default()).unwrap();
        w.configure(&json!({"tasks": 1, "bad_follow_up": 1})).unwrap();
        w.start_stage(0);
        assert_eq!(w.next_requests(0, 0, 8).unwrap().requests.len(), 1);
        let err = w.on_outcome(outcome(0, 1, true, vec![])).unwrap_err().to_string();
        assert!(!err.contains('\n'), "{err}");
        assert!(err.contains("scenario 'fixture_v0_6'") && err.contains("dataset 'missing', which was not granted"), "{err}");
        assert!(err.contains("in on-outcome"), "{err}");
    })
    .await
    .unwrap();
}
