//! One run from resolved options: the scenario instantiated, the [`Run`] built from the
//! typed values, its outputs attached, the run executed; then the summary, what was
//! written, and the verdict (thresholds, nothing right) through the console writer.

use std::sync::Arc;

use anyhow::{Result, bail};
use volley::core::{Cancel, Policy};
use volley::engine::Run;
use volley::report::console::{ConsoleWriter, summary};
use volley::wasm::Grants;

use super::super::exit::{Exit, verdict};
use super::super::scenario::instantiate;
use super::options::RunOptions;
use super::outputs::{self, OutDir};

/// How one run ended, once its outputs are written.
pub(crate) struct Finished {
    pub report: volley::report::Report,
    pub exit: Exit,
}

/// One run of `o` with `grants` within `policy`: every output written; `Err` when it could
/// not start or faulted.
pub(crate) async fn run_once(o: &RunOptions, grants: &Grants, policy: &Policy, cancel: Arc<Cancel>) -> Result<Finished> {
    // A later trial of --repeat installs the same settings again: the first stays.
    volley::net::Tls::install(o.tls.clone());
    let workload = {
        let (spec, grants, policy) = (o.scenario.clone(), grants.clone(), policy.clone());
        super::super::blocking(move || instantiate(&spec, &grants, &policy)).await?.0
    };
    let label = workload.label().to_string();
    let out = OutDir::create(o.out_dir(&label))?;
    let run_id = volley::engine::default_run_id(&label);

    let mut run = Run::new(o.target.clone(), workload)
        .policy(policy.clone())
        .params(o.scenario.params.clone())
        .seed(o.scenario.seed)
        .request_timeout(o.request_timeout)
        .record_text(o.outputs.record_text)
        .cancel(cancel.clone())
        .run_id(run_id.clone())
        .abort_on_fail(o.abort_on_fail)
        .http2_prior_knowledge(o.http2_prior_knowledge)
        .source_addrs(o.source_addrs.clone());
    if let Some(n) = o.threads {
        run = run.threads(n);
    }
    if let Some(at) = o.start_at {
        run = run.start_at(at);
    }
    if let Some(s) = o.shard {
        run = run.shard(s);
    }
    for t in &o.thresholds {
        run = run.threshold(t.clone());
    }
    if let Some(b) = &o.baseline {
        run = run.baseline(b.clone());
    }
    for (name, value) in &o.headers {
        run = run.header(name.clone(), value.clone());
    }
    if let Some(name) = &o.session_header {
        run = run.session_header(name.clone());
    }
    for h in &o.hooks {
        run = run.hook(h.clone());
    }
    if let Some(k) = o.server_kind {
        run = run.server_kind(k);
    }
    if let Some(m) = &o.model {
        run = run.model(m.clone());
    }
    if let Some(t) = &grants.tokenizer {
        run = run.tokenizer(t.clone());
    }
    if let Some(m) = &o.probes.server_metrics {
        run = run.server_metrics(m.clone());
    }
    if let Some(every) = o.probes.gpu_metrics {
        run = run.gpu_metrics(every);
    }
    for m in &o.probes.triton {
        run = run.triton_stats(m.clone());
    }
    if let Some(l) = o.launch_in(&out.path) {
        run = run.launch(l);
    }
    let kind = if o.trials.count > 1 { "trial" } else { "run" };
    let outputs::Attached { run, exposition, stored } =
        match outputs::attach(run, &o.outputs, &out.path, &run_id, &o.target, policy, kind).await {
            Ok(attached) => attached,
            Err(e) => {
                out.remove_unused();
                return Err(e);
            }
        };

    let outcome = match run.execute().await {
        Ok(outcome) => outcome,
        Err(e) => {
            out.remove_unused();
            return Err(e.into());
        }
    };
    let (mut stdout, mut stderr) = (ConsoleWriter::stdout(), ConsoleWriter::stderr());
    stdout.lines(summary::lines(&outcome.report));
    if o.outputs.progress {
        let retried = match outcome.stale_retries {
            0 => String::new(),
            n => format!("; {n} requests retried on a new connection after the server closed an idle one"),
        };
        stderr.line(&format!(
            "wrote {}, report.html, requests.jsonl and .csv ({} requests, {} connections opened{retried})",
            out.path.join("report.json").display(),
            outcome.records,
            outcome.connections_opened
        ));
        if let (Some(id), Some((location, _))) = (stored.as_ref().and_then(|s| s.get()), &o.outputs.store) {
            stderr.line(&format!("stored as run {id} in {} (volley runs show {id})", location.shown()));
        }
    }
    if let Some(e) = exposition {
        // Scrapers get a last look at the final values.
        let linger = o.outputs.prometheus.map(|(_, linger)| linger).unwrap_or_default();
        if !linger.is_zero() && !cancel.is_cancelled() {
            tokio::time::sleep(linger).await;
        }
        e.stop();
    }
    let mut failed_output = None;
    for e in &outcome.sink_errors {
        if e.best_effort {
            stderr.line(&format!("volley: {e}"));
        } else {
            failed_output.get_or_insert_with(|| e.to_string());
        }
    }
    if let Some(fault) = outcome.fault {
        let written = if outcome.report.stages.is_empty() { "report" } else { "partial results" };
        bail!("{fault}; {written} in {}", out.path.display());
    }
    if let Some(e) = failed_output {
        bail!("{e}");
    }
    let (exit, why) = verdict(&outcome.report, &out.path);
    stderr.lines(why);
    Ok(Finished { report: outcome.report, exit })
}
