//! Benchmark as code: the simulator in-process, a native Rust workload (no Wasm) of
//! streaming chats, and the report in memory. Run it from the repository root:
//!
//! ```sh
//! cargo run --release --example library_run
//! ```

use std::time::Duration;

use volley::core::{Batch, Info, Load, Message, Plan, ScenarioRequest, Stage, Workload, WorkloadError};
use volley::sim::{SimConfig, Simulator};
use volley::{Run, Target};

/// The simulator's time to first token.
const TTFT: Duration = Duration::from_millis(50);

/// Streaming chats, Poisson arrivals at 20/s for 5 s.
struct Chats;

impl Workload for Chats {
    fn describe(&mut self) -> Result<Info, WorkloadError> {
        Ok(Info::new("chats", "0.1.0", "streaming chats"))
    }

    fn configure(&mut self, _params: &serde_json::Value) -> Result<Plan, WorkloadError> {
        Ok(Plan::new(vec![Stage::new("steady", Load::Poisson { rate: 20.0 }, Some(Duration::from_secs(5)), None)]))
    }

    fn next_requests(&mut self, _stage: u32, _seq: u64, max: u32) -> Result<Batch, WorkloadError> {
        let chat = || ScenarioRequest::chat(vec![Message::user("Hello!")]).stream(true).max_tokens(16);
        Ok(Batch { requests: (0..max).map(|_| chat()).collect(), done: false })
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = SimConfig { ttft: TTFT, itl: Duration::from_millis(10), ..SimConfig::default() };
    let sim = Simulator::start(config, "127.0.0.1:0".parse()?).await?;
    let outcome = Run::new(Target::parse(&sim.url())?, Chats).seed(7).execute().await?;
    let stage = &outcome.report.stages[0];
    let ttft = stage.ttft_ms.ok_or("no TTFT was measured")?;
    println!(
        "{} ok of {} sent; TTFT p50 {:.1} ms, p99 {:.1} ms (the simulator's: {} ms)",
        stage.requests.ok,
        stage.requests.sent,
        ttft.p50,
        ttft.p99,
        TTFT.as_millis()
    );
    sim.shutdown().await;
    Ok(())
}
