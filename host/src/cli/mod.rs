//! The `volley` command line: `run`, `sim`, `demo`, `coldstart`, `check`, `compare`, and
//! the authoring commands `new`, `pack`, `inspect`, `push`, `pull`. Each command parses
//! its flags into the library's typed options and picks the outputs; the work is done
//! by the library crates.

mod bench;
mod check;
mod coldstart;
pub mod config;
mod demo;
mod kube;
mod merge;
mod package;
mod policy;
mod run;
mod scenario;
mod signals;
mod sim;
mod template;
mod trials;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "volley", version, about = "Benchmark engine for GenAI inference servers", long_about = None)]
pub struct Cli {
    /// The operator's policy (TOML): what runs may do whatever a scenario asks
    /// [default: $VOLLEY_POLICY, else the built-in one; see docs/policy.md]
    #[arg(long, global = true, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process; boxing the arguments would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a scenario against a target server
    #[command(args_override_self = true)]
    Run(run::RunArgs),
    /// Serve the built-in OpenAI-compatible server simulator
    Sim(sim::SimArgs),
    /// Start the simulator in-process and run builtin:chat-poisson against it
    Demo(demo::DemoArgs),
    /// Time server cold starts: process start, port open, ready, first token; memory
    Coldstart(coldstart::ColdstartArgs),
    /// Instantiate a scenario and show its plan, first requests and arrivals; sends nothing
    Check(check::CheckArgs),
    /// Create a scenario project from a template (Rust, Python or JavaScript)
    New(package::NewArgs),
    /// Package a built scenario component with its volley.json, for sharing
    Pack(package::PackArgs),
    /// Show a package's manifest, parameters and verified digest
    Inspect(package::InspectArgs),
    /// Push a package to an OCI registry as a Wasm artifact
    Push(package::PushArgs),
    /// Pull a scenario from an OCI registry into a package file
    Pull(package::PullArgs),
    /// Time guest calls (`next-requests`) of a scenario; used by scripts/bench.sh
    #[command(hide = true)]
    BenchGuest(bench::BenchGuestArgs),
    /// Kubernetes: the manifests of a sharded run
    #[command(subcommand)]
    Kube(kube::KubeCommand),
    /// Join the reports of a sharded run (--shard I/N) into one, exactly
    Merge(merge::MergeArgs),
    /// Compare two runs' report.json side by side
    Compare {
        /// The baseline run's report.json
        a: PathBuf,
        /// The run to compare with it
        b: PathBuf,
    },
}

/// Runs a parsed command; the exit code on success (130 if interrupted).
pub async fn dispatch(cli: Cli) -> Result<ExitCode> {
    let policy = policy::load(cli.policy.as_deref())?;
    match cli.command {
        Command::Run(a) => run::run(a, policy).await,
        Command::Demo(a) => demo::demo(a, policy).await,
        Command::Coldstart(a) => coldstart::coldstart(a).await,
        Command::Check(a) => check::check(a, policy).await,
        Command::New(a) => package::new(a),
        Command::Pack(a) => blocking(move || package::pack(a, &policy)).await,
        Command::Inspect(a) => blocking(move || package::inspect(a, &policy)).await,
        Command::Push(a) => blocking(move || package::push(a, &policy)).await,
        Command::Pull(a) => blocking(move || package::pull(a, &policy)).await,
        Command::BenchGuest(a) => blocking(move || bench::bench_guest(a)).await,
        Command::Kube(c) => kube::kube(c),
        Command::Merge(a) => blocking(move || merge::merge(a)).await,
        Command::Compare { a, b } => {
            print!("{}", volley::report::compare::compare(&a, &b)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Sim(a) => sim::sim(a).await,
    }
}

/// Runs blocking work (compiling, registry round trips) off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| anyhow::anyhow!("a worker thread failed: {e}"))?
}
