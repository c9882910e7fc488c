//! A run's outputs, all attached in one place from the resolved options: the terminal,
//! `requests.jsonl`, `requests.csv`, `report.json` and `report.html` in the output
//! directory, and the exporters asked for (the live Prometheus endpoint, OTLP).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use volley::core::Policy;
use volley::engine::Run;
use volley::export::{Exposition, Live, LiveSink, Otlp};
use volley::net::Target;
use volley::report::console::ConsoleWriter;
use volley::report::{ConsoleSink, CsvSink, JsonlSink, ReportFiles};

use super::options::Outputs;

/// The output directory, made for this run.
pub(crate) struct OutDir {
    pub path: PathBuf,
    /// The outermost directory this run created, to take away again if it never starts.
    created: Option<PathBuf>,
}

impl OutDir {
    /// Creates `path` (and its parents).
    pub(crate) fn create(path: PathBuf) -> Result<OutDir> {
        let created = path.ancestors().take_while(|d| !d.as_os_str().is_empty() && !d.exists()).last().map(PathBuf::from);
        std::fs::create_dir_all(&path).with_context(|| format!("cannot create output directory {}", path.display()))?;
        Ok(OutDir { path, created })
    }

    /// The run never started: nothing was measured, so the empty files it opened go,
    /// with the directories this run made.
    pub(crate) fn remove_unused(&self) {
        if let Some(dir) = &self.created {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// `run` with every output of `outputs` attached, in the order they see each event (the
/// terminal first); the live endpoint, when one was asked for, to stop after the run.
pub(crate) async fn attach(
    mut run: Run,
    outputs: &Outputs,
    dir: &Path,
    run_id: &str,
    target: &Target,
    policy: &Policy,
) -> Result<(Run, Option<Exposition>)> {
    let live_line = volley::report::console::progress::on_terminal();
    run = run
        .sink(ConsoleSink::new(outputs.progress, live_line))
        .sink(JsonlSink::create(&dir.join("requests.jsonl"), outputs.record_text)?)
        .sink(CsvSink::create(&dir.join("requests.csv"))?)
        .sink(ReportFiles::new(dir));
    let exposition = match outputs.prometheus {
        Some((addr, _)) => {
            let live = Live::shared(run_id.to_string(), target.authority.to_str().unwrap_or("").to_string());
            let e = Exposition::start(addr, live.clone()).await?;
            if outputs.progress {
                ConsoleWriter::stderr().line(&format!("prometheus metrics at http://{}/metrics (run id {run_id})", e.addr));
            }
            run = run.sink(LiveSink(live));
            Some(e)
        }
        None => None,
    };
    if let Some(otlp) = &outputs.otlp {
        // The collector is a destination like any other: the policy allows it or not.
        run = run.sink(Otlp::start(otlp, run_id, (&target.host, target.port), policy)?);
    }
    Ok((run, exposition))
}
