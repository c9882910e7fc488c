//! `volley bench-guest`: the cost of calling a scenario, for the benchmark command
//! (`scripts/bench.sh`). Times `next-requests` on an instantiated scenario, one request
//! per call and in the producer's batches, and prints the medians as JSON.

use std::time::Instant;

use anyhow::Result;
use clap::Args;
use serde_json::json;
use volley::core::Workload;
use volley::report::console::ConsoleWriter;
use volley::wasm::{Grants, SandboxLimits, ScenarioEngine, ScenarioSource, WasmScenario};

#[derive(Args, Debug)]
pub struct BenchGuestArgs {
    scenario: String,
    #[arg(long, default_value = "{}")]
    params: String,
    #[arg(long, default_value_t = 20_000)]
    calls: u32,
    /// Requests asked per call
    #[arg(long, default_value_t = 1)]
    batch: u32,
}

pub(super) fn bench_guest(a: BenchGuestArgs) -> Result<super::exit::Exit> {
    let r = guest_call_cost(&a.scenario, &a.params, a.calls.max(1), a.batch.max(1))?;
    ConsoleWriter::stdout().line(&r.to_string());
    Ok(super::exit::Exit::Ok)
}

/// Median and p99 nanoseconds per call of `next-requests(max = batch)` over `calls`
/// calls, and per request.
fn guest_call_cost(scenario: &str, params: &str, calls: u32, batch: u32) -> Result<serde_json::Value> {
    let source = ScenarioSource::load(scenario)?;
    let engine = ScenarioEngine::new()?;
    let compiled = engine.compile(&source)?;
    let mut instance = WasmScenario::instantiate(&compiled, SandboxLimits::default(), 1, &Grants::default())?;
    instance.describe()?;
    instance.configure(&super::scenario::parse_params(params)?)?;
    instance.start_stage(0);
    let mut seq = 0u64;
    // Warm up: the first calls fault in memory and fill caches.
    for _ in 0..calls.min(1000) {
        seq += instance.next_requests(0, seq, batch)?.requests.len() as u64;
    }
    let mut ns: Vec<u64> = Vec::with_capacity(calls as usize);
    for _ in 0..calls {
        let t = Instant::now();
        let b = instance.next_requests(0, seq, batch)?;
        ns.push(t.elapsed().as_nanos() as u64);
        seq += b.requests.len() as u64;
    }
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() as f64 - 1.0) * q) as usize];
    Ok(json!({
        "scenario": scenario,
        "batch": batch,
        "calls": calls,
        "median_ns_per_call": at(0.5),
        "p99_ns_per_call": at(0.99),
        "median_ns_per_request": at(0.5) / u64::from(batch.max(1)),
    }))
}
