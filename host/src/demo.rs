//! `volley demo`: the simulator in-process on a free loopback port, and
//! `builtin:chat-poisson` against it for a few seconds — Volley end to end with
//! nothing to install or start.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::cancel::Cancel;
use crate::run::{RunOptions, RunResult, run};
use crate::sim::{SimConfig, Simulator};

pub struct DemoOptions {
    pub seconds: f64,
    pub rate: f64,
    pub out_dir: PathBuf,
    pub seed: u64,
}

pub async fn demo(opts: DemoOptions, cancel: Arc<Cancel>) -> Result<RunResult> {
    let config = SimConfig {
        ttft: Duration::from_millis(120),
        itl: Duration::from_millis(15),
        jitter: 0.2,
        tokens_per_chunk: 1,
        default_output_tokens: 48,
        model: "volley-sim".into(),
        seed: opts.seed,
        ..SimConfig::default()
    };
    let sim = Simulator::start(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .context("cannot start the simulator")?;
    eprintln!(
        "volley demo: simulator on {} (TTFT 120 ms, ITL 15 ms, ±20 % jitter); running builtin:chat-poisson for {} s at {}/s",
        sim.url(),
        opts.seconds,
        opts.rate
    );
    let mut run_opts = RunOptions::new("builtin:chat-poisson", sim.url());
    run_opts.params = serde_json::json!({"rate": opts.rate, "duration_s": opts.seconds, "max_tokens": 48}).to_string();
    run_opts.out_dir = Some(opts.out_dir);
    run_opts.seed = opts.seed;
    let result = run(run_opts, cancel).await;
    sim.shutdown().await;
    result
}
