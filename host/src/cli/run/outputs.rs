//! A run's outputs, all attached in one place from the resolved options: the terminal,
//! `requests.jsonl`, `requests.csv`, `report.json` and `report.html` in the output
//! directory, the run store, and the exporters asked for (the live Prometheus endpoint,
//! OTLP).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result};
use volley::core::Policy;
use volley::engine::Run;
use volley::export::{Exposition, Live, LiveSink, Otlp};
use volley::net::Target;
use volley::report::console::ConsoleWriter;
use volley::report::{ConsoleSink, CsvSink, JsonlSink, ReportFiles};
use volley::store::StoreSink;

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

/// What [`attach`] returns: the run, the live endpoint to stop after it (when one was
/// asked for), and where the store will say the run's id.
pub(crate) struct Attached {
    pub run: Run,
    pub exposition: Option<Exposition>,
    pub stored: Option<Arc<OnceLock<String>>>,
}

/// `run` with every output of `outputs` attached, in the order they see each event (the
/// terminal first). `kind`: how the store files it (`run`, `trial`).
pub(crate) async fn attach(
    mut run: Run,
    outputs: &Outputs,
    dir: &Path,
    run_id: &str,
    target: &Target,
    policy: &Policy,
    kind: &'static str,
) -> Result<Attached> {
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
    let mut stored = None;
    if let Some((location, labels)) = &outputs.store {
        crate::cli::runs::check_egress(location, policy)?;
        let sink = StoreSink::new(location.clone(), kind, labels.clone());
        stored = Some(sink.saved.clone());
        run = run.sink(sink);
    }
    Ok(Attached { run, exposition, stored })
}
