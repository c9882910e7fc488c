//! The `volley` binary: parses the command line and turns every error into one line on
//! stderr and a non-zero exit code.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use cli::{Cli, dispatch};

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
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").split_whitespace().collect::<Vec<_>>().join(" "));
            return ExitCode::FAILURE;
        }
    };
    let cli = Cli::parse_from(argv);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if matches!(cli.command, cli::Command::Run(_)) {
        // A run's exchanges have threads of their own (the engine's send lanes): this
        // runtime only collects, reports and probes, and one worker does that without
        // workers waking each other to steal.
        builder.worker_threads(1).on_thread_start(volley::engine::lower_priority);
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(dispatch(cli));
    // Work left behind (an exporter that hangs, a stuck thread) does not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(code) => code,
        Err(e) => {
            // One line, and nothing a scenario wrote can drive the terminal.
            let line = format!("{e:#}").split_whitespace().collect::<Vec<_>>().join(" ");
            eprintln!("error: {}", volley::core::text::printable(&line, 2000));
            ExitCode::FAILURE
        }
    }
}
