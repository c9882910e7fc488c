//! The `volley` binary: parses the command line (a refusal is one `error:` line, exit
//! 2), runs the command, and turns every error into one `error:` line on stderr and exit
//! 1. Exit codes are `cli/exit.rs`'s.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use cli::exit::Exit;
use cli::usage::UsageError;
use cli::{Cli, dispatch};
use volley::report::console::ConsoleWriter;

// Requests and records are allocated on one thread and freed on another (producer, send
// lane, collector); mimalloc frees across threads without glibc's arena locks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    volley::core::time::mark_process_start();
    // A panic anywhere prints no backtrace; a run that saw one ends with it as a fault.
    volley::core::panics::install();
    // A run file (`run --config FILE`) stands for the flags it holds.
    let argv = match cli::config::expand(std::env::args_os().collect()) {
        Ok(a) => a,
        Err(e) => return error_line(&e),
    };
    let cli = match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => return cli::usage::refused(&e, &argv),
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if matches!(cli.command, cli::Command::Run(_)) {
        // A run's exchanges have threads of their own (the engine's send lanes): this
        // runtime only collects, reports and probes, and one worker does that without
        // workers waking each other to steal.
        builder.worker_threads(1).on_thread_start(volley::engine::lower_priority);
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return error_line(&anyhow::anyhow!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(dispatch(cli));
    // Work left behind (an exporter that hangs, a stuck thread) does not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(code) => code,
        Err(e) => error_line(&e),
    }
}

/// An error as one `error:` line (its causes joined, whitespace folded; the writer shows
/// any control character a scenario or a file put in it), and its exit code: 2 for a
/// command given wrongly, else 1.
fn error_line(e: &anyhow::Error) -> ExitCode {
    let line = format!("{e:#}").split_whitespace().collect::<Vec<_>>().join(" ");
    let exit = if e.downcast_ref::<UsageError>().is_some() { Exit::Usage } else { Exit::Error };
    let see = if exit == Exit::Usage { "; see `volley --help`" } else { "" };
    ConsoleWriter::stderr().line(&format!("error: {}{see}", volley::core::text::printable(&line, 2000)));
    exit.into()
}
