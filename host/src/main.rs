//! The `volley` binary: parses the command line and turns every error into one line on
//! stderr and a non-zero exit code.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use cli::{Cli, dispatch};

fn main() -> ExitCode {
    volley::core::time::mark_process_start();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            let line = format!("{e:#}").split_whitespace().collect::<Vec<_>>().join(" ");
            eprintln!("error: {line}");
            ExitCode::FAILURE
        }
    }
}
