//! `volley demo`: the simulator in-process on a free loopback port, and
//! `builtin:chat-poisson` against it for a few seconds — Volley end to end with
//! nothing to install or start.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser};
use volley::sim::{SimConfig, Simulator};

use super::run::RunArgs;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// How long to send, seconds
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Poisson rate, requests per second
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    #[arg(long, default_value = "results/demo")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// `volley run`'s flags, parsed from the arguments the demo composes.
#[derive(Parser)]
struct DemoRun {
    #[command(flatten)]
    run: RunArgs,
}

pub(super) async fn demo(a: DemoArgs, policy: volley::core::Policy) -> Result<ExitCode> {
    if !(a.seconds > 0.0 && a.rate > 0.0) {
        bail!("--seconds and --rate must be positive");
    }
    let cancel = super::signals::cancel_on_signals();
    let config = SimConfig {
        ttft: Duration::from_millis(120),
        itl: Duration::from_millis(15),
        jitter: 0.2,
        tokens_per_chunk: 1,
        default_output_tokens: 48,
        model: "volley-sim".into(),
        seed: a.seed,
        ..SimConfig::default()
    };
    let sim = Simulator::start(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await.context("cannot start the simulator")?;
    eprintln!(
        "volley demo: simulator on {} (TTFT 120 ms, ITL 15 ms, ±20 % jitter); running builtin:chat-poisson for {} s at {}/s",
        sim.url(),
        a.seconds,
        a.rate
    );
    let params = serde_json::json!({"rate": a.rate, "duration_s": a.seconds, "max_tokens": 48}).to_string();
    let (url, out, seed) = (sim.url(), a.out.display().to_string(), a.seed.to_string());
    let args = ["demo", "builtin:chat-poisson", "--target", &url, "--params", &params, "--out", &out, "--seed", &seed];
    let run = DemoRun::try_parse_from(args).context("the demo's run options")?.run;
    let result = super::run::execute(run, policy, cancel).await;
    sim.shutdown().await;
    result
}
