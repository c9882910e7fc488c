//! `volley compare A B [C …] [--html FILE]`: each run after the first against the first,
//! stage by stage in the console (a difference called better or worse only where it
//! exceeds the noise), and with `--html` one self-contained page overlaying every run
//! (latency and TTFT against offered load, the throughput-versus-interactivity
//! frontier, and the per-stage deltas).

use std::path::PathBuf;

use anyhow::{Context, Result};
use volley::report::console::ConsoleWriter;

#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// The baseline first, then the runs to compare with it: each a run's output
    /// directory, its report.json, or a --repeat directory (the console table only)
    #[arg(required = true, num_args = 2..)]
    pub runs: Vec<PathBuf>,
    /// Also write a self-contained HTML page comparing every run (single runs only)
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

pub fn compare(args: CompareArgs) -> Result<()> {
    if let Some(file) = &args.html {
        let page = volley::report::html::compare::page(&args.runs)?;
        std::fs::write(file, page).with_context(|| format!("cannot write {}", file.display()))?;
    }
    let mut lines = Vec::new();
    let base = &args.runs[0];
    for (k, other) in args.runs[1..].iter().enumerate() {
        if k > 0 {
            lines.push(String::new());
        }
        lines.extend(volley::report::compare::compare(base, other)?);
    }
    ConsoleWriter::stdout().lines(lines);
    if let Some(file) = &args.html {
        ConsoleWriter::stderr().line(&format!("comparison page: {}", file.display()));
    }
    Ok(())
}
