//! `volley merge DIR... --out DIR`: joins the reports of a sharded run (`--shard I/N`)
//! into one `report.json` and `report.html`, with percentiles over every shard's
//! requests, a per-shard table, and the run's thresholds judged on the merged numbers
//! (exit 99 when one fails, as `volley run`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use volley::core::Policy;
use volley::report::console::ConsoleWriter;
use volley::report::merge;
use volley::report::threshold::Threshold;
use volley::store::{NewRun, Store};

#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The shards' output directories (each with its report.json)
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where the merged report.json and report.html go
    #[arg(long)]
    pub out: PathBuf,
    /// Merge although some shards are missing (the report says which)
    #[arg(long)]
    pub allow_missing: bool,
    /// Another threshold to judge on the merged numbers, besides the shards' own
    #[arg(long = "threshold")]
    pub thresholds: Vec<String>,
    /// Wait up to this many seconds for every directory's report.json to appear (a merge
    /// step started beside the shards, as on Kubernetes)
    #[arg(long, default_value_t = 0)]
    pub wait_s: u64,
    /// Print nothing but errors
    #[arg(long)]
    pub quiet: bool,
    /// The run thresholds with a `baseline` bound compare with: a run directory, its
    /// report.json, or a stored run (id, prefix, label:KEY=VALUE)
    #[arg(long, value_name = "REF")]
    pub baseline: Option<String>,
    #[command(flatten)]
    pub keep: super::runs::KeepArgs,
}

/// Waits until every `DIR/report.json` exists, or `wait_s` has passed.
fn wait_for_reports(dirs: &[PathBuf], wait_s: u64) -> Result<()> {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(wait_s);
    loop {
        // exists(), not is_file(): whatever stands there (a FIFO, say) is the reader's to
        // refuse at once, not a reason to wait. A report is renamed into place whole.
        let missing: Vec<_> = dirs.iter().filter(|d| !d.join("report.json").exists()).collect();
        if missing.is_empty() {
            return Ok(());
        }
        if std::time::Instant::now() >= until {
            if wait_s > 0 {
                let list: Vec<String> = missing.iter().map(|d| d.display().to_string()).collect();
                anyhow::bail!("no report.json after {wait_s} s in {}", list.join(", "));
            }
            // No waiting asked for: read_shard says what is missing.
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

pub fn merge(a: MergeArgs, policy: &Policy) -> Result<ExitCode> {
    let extra = a.thresholds.iter().map(|t| Threshold::parse(t)).collect::<Result<Vec<_>, _>>()?;
    let kept = a.keep.resolve()?;
    wait_for_reports(&a.dirs, a.wait_s)?;
    let inputs = a.dirs.iter().map(|d| merge::read_shard(d)).collect::<Result<Vec<_>, _>>().map_err(|e| anyhow!(e))?;
    // The shards' own thresholds are judged again too: any may compare with a baseline.
    let shard_thresholds: Vec<Threshold> =
        inputs.iter().flat_map(|i| &i.report.thresholds).filter_map(|t| Threshold::parse(&t.threshold).ok()).collect();
    let baseline = super::run::options::baseline_stages(
        &[extra.clone(), shard_thresholds].concat(),
        a.baseline.as_deref(),
        a.keep.store.as_deref(),
        policy,
    )?;
    let report = merge::merge(inputs, a.allow_missing, &extra, baseline.as_deref()).map_err(|e| anyhow!(e))?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("cannot create {}", a.out.display()))?;
    volley::report::files::write_json(&report, &a.out.join("report.json")).map_err(|e| anyhow!("{e}"))?;
    let html = a.out.join("report.html");
    let points = volley::report::points::ChartPoints::default();
    std::fs::write(&html, volley::report::html::render(&report, &points)).with_context(|| format!("cannot write {}", html.display()))?;
    let mut stderr = ConsoleWriter::stderr();
    if !a.quiet {
        ConsoleWriter::stdout().lines(volley::report::console::summary::lines(&report));
        stderr.line(&format!("wrote {} and report.html", a.out.join("report.json").display()));
    }
    if let Some((location, labels)) = kept {
        // Stored once, by the merge: a store that cannot be written is said, not fatal.
        super::runs::check_egress(&location, policy)?;
        let name = a.out.file_name().map_or_else(|| "merged".to_string(), |n| n.to_string_lossy().into_owned());
        let run = NewRun { kind: "merge", name: &name, labels: &labels, model: None, report: &report };
        match Store::open(&location).and_then(|mut s| s.save(&run)) {
            Ok(id) if !a.quiet => stderr.line(&format!("stored as run {id} in {}", location.shown())),
            Ok(_) => {}
            Err(e) => stderr.line(&format!("volley: {e}")),
        }
    }
    // The merged numbers are judged as one run's are (exit.rs): 99, 3 or 0.
    let (exit, why) = super::exit::verdict(&report, &a.out);
    stderr.lines(why);
    Ok(exit.into())
}
