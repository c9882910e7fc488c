//! Volley as a library: a native workload (plain Rust, no Wasm) run in-process on a
//! current-thread runtime with its report in memory and no file written, and a Wasm
//! scenario that faults, whose partial report still comes back.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use volley::core::{Batch, Info, Load, Message, Plan, ScenarioRequest, Stage, Workload, WorkloadError};
use volley::report::MemorySink;
use volley::sim::SimConfig;
use volley::wasm::{Grants, SandboxLimits, ScenarioEngine, ScenarioSource, WasmScenario};
use volley::{Run, Target};

use crate::support::*;

/// 30 streaming chats in a burst, then 20 more at a constant 100/s.
struct Chats;

impl Workload for Chats {
    fn describe(&mut self) -> Result<Info, WorkloadError> {
        Ok(Info::new("chats", "0.1.0", "streaming chats"))
    }

    fn configure(&mut self, _params: &serde_json::Value) -> Result<Plan, WorkloadError> {
        Ok(Plan::new(vec![
            Stage::new("burst", Load::Burst { n: 30 }, None, None),
            Stage::new("steady", Load::Constant { rate: 100.0 }, None, Some(20)),
        ]))
    }

    fn next_requests(&mut self, _stage: u32, _seq: u64, max: u32) -> Result<Batch, WorkloadError> {
        let chat = || ScenarioRequest::chat(vec![Message::user("Hello!")]).stream(true).max_tokens(8);
        Ok(Batch { requests: (0..max).map(|_| chat()).collect(), done: false })
    }
}

/// Entries of a directory (none when it does not exist).
fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default()
}

/// The child half of [`a_native_workload_runs_in_memory_on_a_current_thread_runtime`]:
/// a `#[tokio::test]` (current-thread) run with only an in-memory sink.
#[tokio::test]
#[ignore = "run by a_native_workload_runs_in_memory_on_a_current_thread_runtime in an empty directory"]
async fn in_memory_run_child() {
    let sim = start_sim(SimConfig { ttft: Duration::from_millis(20), itl: Duration::from_millis(2), ..SimConfig::default() }).await;
    let records = MemorySink::new();
    let outcome = Run::new(Target::parse(&sim.url()).unwrap(), Chats).sink(records.clone()).execute().await.expect("the run starts");
    assert!(outcome.fault.is_none());
    let r = &outcome.report;
    assert_eq!(r.scenario.source, "native:Chats");
    assert_eq!((r.scenario.digest.as_deref(), r.scenario.wit.as_deref()), (None, None));
    assert_eq!(r.stages.len(), 2);
    assert_eq!((r.stages[0].requests.ok, r.stages[1].requests.ok), (30, 20));
    let ttft = r.stages[0].ttft_ms.expect("streamed chats have a TTFT").p50;
    assert!((18.0..=60.0).contains(&ttft), "TTFT p50 {ttft} ms against a 20 ms simulator");
    assert_eq!(records.len(), 50, "every record reached the in-memory sink");
    assert!(records.records().iter().all(|m| m.record.ok() && m.record.output_tokens == 8));
    assert_eq!(sim.stats().requests, 50);
}

#[test]
fn a_native_workload_runs_in_memory_on_a_current_thread_runtime() {
    // The run happens in a child process whose working and temporary directories are
    // empty, so "no file written" is something that can be seen.
    let cwd = TempDir::new("lib-cwd");
    let tmp = TempDir::new("lib-tmp");
    let me = std::env::current_exe().expect("the test binary");
    let out = Command::new(me)
        .args(["library::in_memory_run_child", "--exact", "--ignored", "--test-threads", "1"])
        .current_dir(cwd.path())
        .env("TMPDIR", tmp.path())
        .output()
        .expect("run the child test");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "the child test ran: {text}");
    assert_eq!(entries(cwd.path()), Vec::<String>::new(), "files in the working directory");
    assert_eq!(entries(tmp.path()), Vec::<String>::new(), "files in the temporary directory");
}

#[tokio::test]
async fn a_faulting_wasm_scenario_still_returns_its_partial_report() {
    let sim = start_sim(SimConfig { ttft: Duration::from_millis(2), itl: Duration::from_millis(1), ..SimConfig::default() }).await;
    let workload = tokio::task::spawn_blocking(|| {
        let source = ScenarioSource::load(guest("fault-late")).unwrap();
        let compiled = ScenarioEngine::new().unwrap().compile(&source).unwrap();
        WasmScenario::instantiate(&compiled, SandboxLimits::default(), 1, &Grants::default()).unwrap()
    })
    .await
    .unwrap();
    let records = MemorySink::new();
    let outcome = Run::new(Target::parse(&sim.url()).unwrap(), workload).sink(records.clone()).execute().await.expect("the run starts");
    let fault = outcome.fault.expect("the scenario faulted").to_string();
    assert!(fault.contains("scenario 'fault_late' trapped") && fault.contains("stage 1 is broken on purpose"), "{fault}");
    let r = &outcome.report;
    assert!(r.interrupted, "a fault interrupts the run");
    assert_eq!(r.stages[0].name, "good");
    assert_eq!(r.stages[0].requests.ok, 5, "the first stage is reported in full");
    assert_eq!(records.len(), 5);
    assert!(r.scenario.digest.as_deref().is_some_and(|d| d.starts_with("sha256:")));
}
