//! `volley demo`: the simulator in-process on a free loopback port, and
//! `builtin:chat-poisson` against it for a few seconds — Volley end to end with
//! nothing to install or start.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser};
use volley::report::console::ConsoleWriter;
use volley::sim::{SimConfig, Simulator};

use super::exit::Exit;
use super::policy::PolicyArg;
use super::run::RunArgs;
use super::run::options::RunOptions;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// How long to send, seconds
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Poisson rate, requests per second
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Output directory
    #[arg(long, default_value = "results/demo")]
    pub out: PathBuf,
    /// Seed of the simulator's and the scenario's random choices
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub policy: PolicyArg,
}

/// `volley run`'s flags, parsed from the arguments the demo composes.
#[derive(Parser)]
struct DemoRun {
    #[command(flatten)]
    run: RunArgs,
}

pub(super) async fn demo(a: DemoArgs, policy_before_command: Option<&Path>) -> Result<Exit> {
    if !(a.seconds.is_finite() && a.seconds > 0.0 && a.seconds <= 86_400.0 && a.rate.is_finite() && a.rate > 0.0) {
        bail!("--seconds (at most a day) and --rate must be positive");
    }
    let policy = a.policy.load(policy_before_command)?;
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
    ConsoleWriter::stderr().line(&format!(
        "volley demo: simulator on {} (TTFT 120 ms, ITL 15 ms, ±20 % jitter); running builtin:chat-poisson for {} s at {}/s",
        sim.url(),
        a.seconds,
        a.rate
    ));
    let params = serde_json::json!({"rate": a.rate, "duration_s": a.seconds, "max_tokens": 48}).to_string();
    let (url, out, seed) = (sim.url(), a.out.display().to_string(), a.seed.to_string());
    let args = ["demo", "builtin:chat-poisson", "--target", &url, "--params", &params, "--out", &out, "--seed", &seed];
    let run = DemoRun::try_parse_from(args).context("the demo's run options")?.run;
    let result = match RunOptions::resolve(run, &policy) {
        Ok(options) => super::run::execute(&options, policy, cancel).await,
        Err(e) => Err(e),
    };
    sim.shutdown().await;
    result
}
