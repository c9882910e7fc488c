//! The `volley` command line: `run`, `sim`, `demo`, `coldstart`, `check`, `compare`,
//! `merge`, `kube`, and the authoring commands `new`, `pack`, `inspect`, `push`, `pull`.
//! Each command's flags are resolved into the library's typed options; the work is done
//! by the library crates. How the process ends is `exit.rs`'s; every line for the
//! terminal goes through the console writer (`volley::report::console::ConsoleWriter`).

mod bench;
mod check;
mod check_sessions;
mod coldstart;
mod compare;
pub mod config;
mod demo;
pub(crate) mod exit;
mod help;
mod kube;
mod merge;
mod package;
mod policy;
mod run;
pub(crate) mod runs;
mod scenario;
mod signals;
mod sim;
mod template;
pub(crate) mod usage;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use exit::Exit;
use policy::PolicyArg;
use usage::UsageError;

#[derive(Parser, Debug)]
#[command(name = "volley", version, about = "Benchmark engine for GenAI inference servers", long_about = None)]
#[command(after_help = help::VOLLEY)]
pub struct Cli {
    /// `volley --policy FILE COMMAND`, as earlier releases took it: the commands a policy
    /// applies to take `--policy` themselves now.
    #[arg(long, value_name = "FILE", hide = true)]
    pub policy: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process; boxing the arguments would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a scenario against a target server
    #[command(args_override_self = true, after_help = help::RUN)]
    Run(run::RunArgs),
    /// Serve the built-in OpenAI-compatible server simulator
    #[command(after_help = help::SIM)]
    Sim(sim::SimArgs),
    /// Start the simulator in-process and run builtin:chat-poisson against it
    #[command(after_help = help::DEMO)]
    Demo(demo::DemoArgs),
    /// Time server cold starts: process start, port open, ready, first token; memory
    #[command(after_help = help::COLDSTART)]
    Coldstart(coldstart::ColdstartArgs),
    /// Instantiate a scenario and show its plan, first requests and arrivals; sends nothing
    #[command(after_help = help::CHECK)]
    Check(check::CheckArgs),
    /// Create a scenario project from a template (Rust, Python or JavaScript)
    #[command(after_help = help::NEW)]
    New(package::NewArgs),
    /// Package a built scenario component with its volley.json, for sharing
    #[command(after_help = help::PACK)]
    Pack {
        #[command(flatten)]
        args: package::PackArgs,
        #[command(flatten)]
        policy: PolicyArg,
    },
    /// Show a package's manifest, parameters and verified digest
    #[command(after_help = help::INSPECT)]
    Inspect {
        #[command(flatten)]
        args: package::InspectArgs,
        #[command(flatten)]
        policy: PolicyArg,
    },
    /// Push a package to an OCI registry as a Wasm artifact
    #[command(after_help = help::PUSH)]
    Push {
        #[command(flatten)]
        args: package::PushArgs,
        #[command(flatten)]
        policy: PolicyArg,
    },
    /// Pull a scenario from an OCI registry into a package file
    #[command(after_help = help::PULL)]
    Pull {
        #[command(flatten)]
        args: package::PullArgs,
        #[command(flatten)]
        policy: PolicyArg,
    },
    /// Time guest calls (`next-requests`) of a scenario; used by scripts/bench.sh
    #[command(hide = true)]
    BenchGuest(bench::BenchGuestArgs),
    /// Kubernetes: the manifests of a sharded run
    #[command(subcommand, after_help = help::KUBE)]
    Kube(kube::KubeCommand),
    /// Join the reports of a sharded run (--shard I/N) into one, exactly
    #[command(after_help = help::MERGE)]
    Merge(merge::MergeArgs),
    /// The run store: list, show, trend, export and delete stored runs
    #[command(subcommand, after_help = help::RUNS)]
    Runs(runs::RunsCommand),
    /// Compare runs stage by stage (matched by name) against the first, calling a
    /// difference better or worse only where it exceeds the noise; --html draws them all
    #[command(after_help = help::COMPARE)]
    Compare(compare::CompareArgs),
}

impl Command {
    /// Whether a policy applies to this command (it takes `--policy`).
    fn reads_policy(&self) -> bool {
        matches!(
            self,
            Command::Run(_)
                | Command::Demo(_)
                | Command::Check(_)
                | Command::Pack { .. }
                | Command::Inspect { .. }
                | Command::Push { .. }
                | Command::Pull { .. }
                | Command::Runs(_)
                | Command::Merge(_)
        )
    }
}

/// Runs a parsed command; how it ended ([`Exit`]) when it did not fail.
pub async fn dispatch(cli: Cli) -> Result<ExitCode> {
    let before = cli.policy.as_deref();
    if before.is_some() && !cli.command.reads_policy() {
        return Err(UsageError(
            "--policy applies to run, demo, check, pack, inspect, push, pull, merge and runs, not to this command".into(),
        )
        .into());
    }
    let exit: Exit = match cli.command {
        Command::Run(a) => run::run(a, before).await?,
        Command::Demo(a) => demo::demo(a, before).await?,
        Command::Check(a) => check::check(a, before).await?,
        Command::Coldstart(a) => coldstart::coldstart(a).await?,
        Command::Sim(a) => sim::sim(a).await?,
        Command::BenchGuest(a) => blocking(move || bench::bench_guest(a)).await?,
        Command::Compare(a) => {
            blocking(move || compare::compare(a)).await?;
            Exit::Ok
        }
        Command::New(a) => package::new(a)?,
        Command::Pack { args, policy } => {
            let policy = policy.load(before)?;
            blocking(move || package::pack(args, &policy)).await?
        }
        Command::Inspect { args, policy } => {
            let policy = policy.load(before)?;
            blocking(move || package::inspect(args, &policy)).await?
        }
        Command::Push { args, policy } => {
            let policy = policy.load(before)?;
            blocking(move || package::push(args, &policy)).await?
        }
        Command::Pull { args, policy } => {
            let policy = policy.load(before)?;
            blocking(move || package::pull(args, &policy)).await?
        }
        Command::Kube(c) => kube::kube(c)?,
        Command::Runs(c) => {
            // A PostgreSQL store is a destination: the policy's exporters allow it.
            let policy = policy::PolicyArg::default().load(before)?;
            blocking(move || runs::runs(c, &policy)).await?
        }
        // Merge judges the merged report and says how it ends itself.
        Command::Merge(a) => {
            let policy = policy::PolicyArg::default().load(before)?;
            return blocking(move || merge::merge(a, &policy)).await;
        }
    };
    Ok(exit.into())
}

/// Runs blocking work (compiling, registry round trips) off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| anyhow::anyhow!("a worker thread failed: {e}"))?
}
