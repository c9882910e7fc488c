//! `volley runs`: the run store from the command line — `list` (filtered by scenario,
//! target, model, label, time), `show`, `trend METRIC` (a metric's value per run over
//! time), `compare` (as `volley compare`, `--html` too), `export` (a run's report.json,
//! its stages as CSV, or llm-d-benchmark's benchmark report) and `delete`. A run is named by its id, a unique
//! prefix of it, or `label:KEY=VALUE` (the latest run carrying it). Everything the store
//! holds was written by someone else (a shared PostgreSQL store): it reaches the
//! terminal through the console writer.

use anyhow::{Context, Result, bail};
use volley::core::Policy;
use volley::net::egress::{Egress, Kind};
use volley::report::console::ConsoleWriter;
use volley::report::exchange::llmd::{self, RunIdentity};
use volley::report::html::trend::TrendPoint;
use volley::report::threshold::MetricRef;
use volley::store::{Filter, Location, Store};

use super::exit::Exit;

/// Which store, for every `runs` command.
#[derive(clap::Args, Debug, Clone)]
pub struct StoreArg {
    /// The run store: a SQLite file or a postgres:// URL [default: $VOLLEY_STORE, else
    /// runs.sqlite under the user's data directory]
    #[arg(long, value_name = "PATH|URL")]
    pub store: Option<String>,
}

/// Whether and where a run (or a merge) is kept, with its labels: flattened into
/// `volley run` and `volley merge`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct KeepArgs {
    /// The run store: a SQLite file or a postgres:// URL [default: $VOLLEY_STORE, else
    /// runs.sqlite under the user's data directory]
    #[arg(long, value_name = "PATH|URL")]
    pub store: Option<String>,
    /// Keep this run out of the run store
    #[arg(long, conflicts_with = "store")]
    pub no_store: bool,
    /// A label kept with the run in the store, KEY=VALUE (repeatable); `volley runs list
    /// --label` and `label:KEY=VALUE` references find it
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
}

/// Where a run is kept, and its labels.
pub(crate) type Kept = (Location, Vec<(String, String)>);

impl KeepArgs {
    /// The store and the labels; None with `--no-store`.
    pub(crate) fn resolve(&self) -> Result<Option<Kept>> {
        let labels = labels(&self.labels)?;
        Ok(if self.no_store { None } else { Some((Location::resolve(self.store.as_deref())?, labels)) })
    }
}

/// Narrowing a list of runs.
#[derive(clap::Args, Debug, Clone)]
pub struct FilterArgs {
    /// Only runs of this scenario (its name, as `list` shows it)
    #[arg(long)]
    pub scenario: Option<String>,
    /// Only runs against this target URL
    #[arg(long)]
    pub target: Option<String>,
    /// Only runs whose default model was this
    #[arg(long)]
    pub model: Option<String>,
    /// Only runs carrying this label, KEY=VALUE (repeatable: all of them)
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Only runs started in the last this many hours
    #[arg(long, value_name = "HOURS")]
    pub since_hours: Option<f64>,
    /// At most this many runs, newest first
    #[arg(long, default_value_t = 20)]
    pub limit: i64,
}

#[derive(clap::Subcommand, Debug)]
pub enum RunsCommand {
    /// Stored runs, newest first
    List {
        #[command(flatten)]
        filter: FilterArgs,
        #[command(flatten)]
        store: StoreArg,
    },
    /// One run: its labels, stages and thresholds
    Show {
        /// An id, a unique prefix of one, or label:KEY=VALUE (the latest run with it)
        run: String,
        #[command(flatten)]
        store: StoreArg,
    },
    /// A metric of each stored run over time, oldest first (e.g. ttft_ms.p99,
    /// goodput_rps: any metric a threshold may name)
    Trend {
        metric: String,
        /// The stage to read (by name) [default: each run's last stage]
        #[arg(long)]
        stage: Option<String>,
        /// Also write a self-contained HTML page: the metric per run as a line, a value on hover
        #[arg(long, value_name = "FILE")]
        html: Option<std::path::PathBuf>,
        #[command(flatten)]
        filter: FilterArgs,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Compare stored runs stage by stage against the first (as `volley compare`), and
    /// with --html on one page
    Compare {
        /// The baseline first, then the runs to compare with it (ids, prefixes, label:KEY=VALUE)
        #[arg(required = true, num_args = 2..)]
        runs: Vec<String>,
        /// Also write a self-contained HTML page comparing every run
        #[arg(long, value_name = "FILE")]
        html: Option<std::path::PathBuf>,
        #[command(flatten)]
        store: StoreArg,
    },
    /// A run's report.json, its stages as CSV, or llm-d-benchmark's benchmark report, to
    /// stdout or a file
    Export {
        run: String,
        /// json: the report.json the run wrote; csv: a row per stage; llm-d:
        /// llm-d-benchmark's benchmark report (schema 0.2, JSON), one per stage
        #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
        format: ExportFormat,
        /// With --format llm-d: the stage to export, by name or index [default: the only
        /// stage]
        #[arg(long, value_name = "NAME|INDEX")]
        stage: Option<String>,
        /// Write here instead of stdout (--format llm-d of a run of several stages without
        /// --stage: a directory, one stage-INDEX.json a stage)
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Delete runs from the store
    Delete {
        #[arg(required = true)]
        runs: Vec<String>,
        #[command(flatten)]
        store: StoreArg,
    },
}

/// What `volley runs export` writes.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// The report.json the run wrote.
    Json,
    /// A row per stage (docs/results.md).
    Csv,
    /// llm-d-benchmark's benchmark report, schema 0.2 (docs/metrics.md).
    #[value(name = "llm-d")]
    LlmD,
}

/// `KEY=VALUE` labels, checked once.
pub(crate) fn labels(given: &[String]) -> Result<Vec<(String, String)>> {
    given
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v))
                if !k.is_empty() && k.len() <= 128 && v.len() <= 1024 && !k.contains(char::is_control) && !v.contains(char::is_control) =>
            {
                Ok((k.to_string(), v.to_string()))
            }
            _ => bail!("--label '{l}' must look like KEY=VALUE (a key of at most 128 bytes, no control characters)"),
        })
        .collect()
}

/// A PostgreSQL store is a destination like any other: the policy's `exporters` allow
/// it (loopback, or a listed base URL) or not. A SQLite file is local.
pub(crate) fn check_egress(location: &Location, policy: &Policy) -> Result<()> {
    let Some((host, port)) = location.postgres_endpoint() else { return Ok(()) };
    let host = if host.contains(':') { format!("[{host}]") } else { host };
    Egress::new(std::sync::Arc::new(policy.clone()))
        .check_url(Kind::Export, &format!("http://{host}:{port}"))
        .with_context(|| format!("run store {}", location.shown()))?;
    Ok(())
}

/// The run `--baseline REF` names: a run's output directory or its report.json when
/// such a path exists, else a run in the store (an id, a prefix, `label:KEY=VALUE`).
pub(crate) fn baseline(reference: &str, store: Option<&str>, policy: &Policy) -> Result<volley::report::Report> {
    let path = std::path::Path::new(reference);
    if path.exists() {
        let file = if path.is_dir() { path.join("report.json") } else { path.to_path_buf() };
        return volley::report::compare::read(&file).with_context(|| format!("--baseline {reference}"));
    }
    let mut s = open(&StoreArg { store: store.map(str::to_string) }, policy).with_context(|| format!("--baseline {reference}"))?;
    let id = s.resolve(reference).with_context(|| format!("--baseline {reference} (neither a path nor a stored run)"))?;
    Ok(s.report(&id)?)
}

fn open(store: &StoreArg, policy: &Policy) -> Result<Store> {
    let location = Location::resolve(store.store.as_deref())?;
    check_egress(&location, policy)?;
    Ok(Store::open(&location)?)
}

fn filter(f: &FilterArgs) -> Result<Filter> {
    let since = match f.since_hours {
        Some(h) if h.is_finite() && h > 0.0 => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis() as f64;
            Some((now - h * 3.6e6) as i64)
        }
        Some(h) => bail!("--since-hours must be a positive number, got {h}"),
        None => None,
    };
    Ok(Filter {
        id: None,
        scenario: f.scenario.clone(),
        target: f.target.clone(),
        model: f.model.clone(),
        labels: labels(&f.labels)?,
        since_unix_ms: since,
        limit: Some(f.limit),
    })
}

/// `YYYY-MM-DD HH:MM` (UTC) of a run's start.
fn when(ms: i64) -> String {
    let t = volley::core::time::utc_stamp(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64));
    // utc_stamp is YYYYmmdd-HHMMSS.
    format!("{}-{}-{} {}:{}", &t[0..4], &t[4..6], &t[6..8], &t[9..11], &t[11..13])
}

pub(crate) fn runs(c: RunsCommand, policy: &Policy) -> Result<Exit> {
    let mut out = ConsoleWriter::stdout();
    match c {
        RunsCommand::List { filter: f, store } => {
            let mut s = open(&store, policy)?;
            let rows = s.list(&filter(&f)?)?;
            if rows.is_empty() {
                ConsoleWriter::stderr().line(&format!("no stored runs match in {}", s.shown()));
                return Ok(Exit::Ok);
            }
            out.line(&format!(
                "{:<16}  {:<16}  {:<5}  {:<18}  {:>7}  {:>7}  {:<8}  labels · target",
                "id", "started (UTC)", "kind", "scenario", "ok", "sent", "verdict"
            ));
            for r in rows {
                let verdict = if r.interrupted {
                    "stopped"
                } else if r.thresholds_failed {
                    "failed"
                } else if r.sent > 0 && r.ok == 0 {
                    "nothing"
                } else {
                    "ok"
                };
                let labels: Vec<String> = r.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                out.line(&format!(
                    "{:<16}  {:<16}  {:<5}  {:<18}  {:>7}  {:>7}  {:<8}  {} · {}",
                    r.id,
                    when(r.started_unix_ms),
                    r.kind,
                    r.scenario,
                    r.ok,
                    r.sent,
                    verdict,
                    labels.join(","),
                    r.target
                ));
            }
        }
        RunsCommand::Show { run, store } => {
            let mut s = open(&store, policy)?;
            let id = s.resolve(&run)?;
            let row = s.list(&Filter { id: Some(id.clone()), ..Filter::default() })?.into_iter().next();
            let report = s.report(&id)?;
            if let Some(r) = row {
                let labels: Vec<String> = r.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                out.line(&format!("run {id} ({}) · {} · started {} UTC · {:.1} s", r.kind, r.name, when(r.started_unix_ms), r.duration_s));
                out.line(&format!("labels: {}", if labels.is_empty() { "none".into() } else { labels.join(", ") }));
            }
            out.lines(volley::report::console::summary::lines(&report));
            for t in &report.thresholds {
                let value = t.value.map_or("no data".into(), volley::core::text::num);
                out.line(&format!(
                    "threshold '{}' on stage '{}': {} ({value})",
                    t.threshold,
                    t.stage,
                    if t.passed { "passed" } else { "FAILED" }
                ));
            }
        }
        RunsCommand::Trend { metric, stage, html, filter: f, store } => {
            let m = MetricRef::parse(&metric).map_err(|e| anyhow::anyhow!("volley runs trend: {e}"))?;
            let mut s = open(&store, policy)?;
            let mut rows = s.list(&filter(&f)?)?;
            rows.reverse();
            out.line(&format!("{:<16}  {:<16}  {:>12}  stage · labels", "id", "started (UTC)", metric));
            let mut points = Vec::new();
            for r in rows {
                let report = s.report(&r.id)?;
                let st = match &stage {
                    Some(name) => report.stages.iter().find(|st| &st.name == name),
                    None => report.stages.last(),
                };
                let Some(st) = st else { continue };
                let value = m.value(st);
                let labels: Vec<String> = r.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let shown = value.map_or("no data".into(), volley::core::text::num);
                out.line(&format!("{:<16}  {:<16}  {shown:>12}  {} · {}", r.id, when(r.started_unix_ms), st.name, labels.join(",")));
                points.push(TrendPoint {
                    id: r.id,
                    started_unix_ms: u64::try_from(r.started_unix_ms).unwrap_or(0),
                    stage: st.name.clone(),
                    value,
                    labels: r.labels,
                });
            }
            if let Some(path) = html {
                let page = volley::report::html::trend::render(&metric, &points);
                std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
                ConsoleWriter::stderr().line(&format!("trend page: {}", path.display()));
            }
        }
        RunsCommand::Compare { runs, html, store } => {
            let mut s = open(&store, policy)?;
            // Each run's report in a folder named by its id: the comparison's labels.
            let dir = std::env::temp_dir().join(format!("volley-runs-compare-{}", std::process::id()));
            let mut paths = Vec::new();
            for r in &runs {
                let id = s.resolve(r)?;
                let folder = dir.join(&id);
                std::fs::create_dir_all(&folder).with_context(|| format!("cannot create {}", folder.display()))?;
                volley::report::files::write_json(&s.report(&id)?, &folder.join("report.json"))?;
                paths.push(folder);
            }
            let result = super::compare::compare(super::compare::CompareArgs { runs: paths, html });
            let _ = std::fs::remove_dir_all(&dir);
            result?;
        }
        RunsCommand::Export { run, format, stage, out: file, store } => {
            if stage.is_some() && format != ExportFormat::LlmD {
                bail!("--stage applies to --format llm-d only");
            }
            let mut s = open(&store, policy)?;
            let id = s.resolve(&run)?;
            let labels = s.list(&Filter { id: Some(id.clone()), ..Filter::default() })?.into_iter().next().map(|r| r.labels);
            let report = s.report(&id)?;
            match format {
                ExportFormat::Json => match file {
                    Some(path) => volley::report::files::write_json(&report, &path)?,
                    None => write_out(None, &serde_json::to_string_pretty(&report)?)?,
                },
                ExportFormat::Csv => write_out(file.as_deref(), &volley::report::stages_csv::stages(&report))?,
                ExportFormat::LlmD => {
                    let labels = labels.unwrap_or_default();
                    let identity = RunIdentity { id: &id, labels: &labels };
                    export_llmd(&report, &identity, stage.as_deref(), file.as_deref())?;
                }
            }
        }
        RunsCommand::Delete { runs, store } => {
            let mut s = open(&store, policy)?;
            for r in runs {
                let id = s.resolve(&r)?;
                s.delete(&id)?;
                ConsoleWriter::stderr().line(&format!("deleted run {id}"));
            }
        }
    }
    Ok(Exit::Ok)
}

/// `text` to `file`, or to stdout: exact bytes when stdout is a pipe or a file (the data
/// another tool reads), and through the console writer when it is a terminal, so names
/// a scenario or server chose reach a person with their control characters made visible.
fn write_out(file: Option<&std::path::Path>, text: &str) -> Result<()> {
    use std::io::{IsTerminal, Write};
    match file {
        Some(path) => std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display())),
        None if std::io::stdout().is_terminal() => {
            ConsoleWriter::stdout().lines(text.lines());
            Ok(())
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|()| if text.ends_with('\n') { Ok(()) } else { out.write_all(b"\n") })
                .context("cannot write to stdout")
        }
    }
}

/// The stage `--stage` names: a stage's name (the first of that name), else its index.
fn stage_index(report: &volley::report::Report, given: &str) -> Result<usize> {
    if let Some(i) = report.stages.iter().position(|s| s.name == given) {
        return Ok(i);
    }
    match given.parse::<usize>() {
        Ok(i) if i < report.stages.len() => Ok(i),
        _ => bail!("--stage '{given}': the run has no stage of that name or index (it has {})", report.stages.len()),
    }
}

/// `--format llm-d`: one benchmark report (the one stage, or `--stage`'s), or with `--out
/// DIR` one file a stage.
fn export_llmd(report: &volley::report::Report, run: &RunIdentity<'_>, stage: Option<&str>, file: Option<&std::path::Path>) -> Result<()> {
    let pretty = |r: &volley::report::exchange::llmd_schema::BenchmarkReport| serde_json::to_string_pretty(r).map(|t| t + "\n");
    let index = match (stage, report.stages.len()) {
        (Some(given), _) => Some(stage_index(report, given)?),
        (None, 0) => bail!("run {} has no stage to export", run.id),
        (None, 1) => Some(0),
        (None, _) => None,
    };
    if let Some(i) = index {
        let Some(one) = llmd::stage_report(report, i, run) else { bail!("run {} has no stage {i}", run.id) };
        return write_out(file, &pretty(&one)?);
    }
    let Some(dir) = file else {
        bail!(
            "run {} has {} stages and an llm-d benchmark report holds one: name it with --stage NAME|INDEX, or give --out DIR for one file a stage",
            run.id,
            report.stages.len()
        )
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let all = llmd::reports(report, run);
    for (i, one) in all.iter().enumerate() {
        write_out(Some(&dir.join(format!("stage-{i}.json"))), &pretty(one)?)?;
    }
    ConsoleWriter::stderr().line(&format!("wrote {} benchmark reports to {}", all.len(), dir.display()));
    Ok(())
}
