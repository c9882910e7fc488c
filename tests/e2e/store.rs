//! The run store: runs land in it with their labels, `volley runs` lists, shows and
//! trends them, baselines gate regressions, and a PostgreSQL store (Debian's, a cluster
//! in a temporary directory on a loopback port) takes concurrent shards and their merge,
//! and stays consistent when a writer is killed.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::*;
use serde_json::json;
use volley::sim::SimConfig;
use volley::store::{Filter, Location, Store};

fn sim_ttft(ms: u64) -> SimConfig {
    SimConfig { ttft: Duration::from_millis(ms), itl: Duration::from_millis(1), ..SimConfig::default() }
}

const PARAMS: &str = r#"{"rate": 40, "duration_s": 1, "max_tokens": 4}"#;

/// `volley run builtin:chat-poisson` against `url` into `out`, with more arguments.
async fn run_into(url: &str, out: &TempDir, more: &[&str]) -> Output {
    let params: serde_json::Value = serde_json::from_str(PARAMS).unwrap();
    run_volley_async(with(run_args("builtin:chat-poisson", url, params, out), more), Duration::from_secs(60)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_land_in_the_store_with_their_labels_and_trend_over_time() {
    let dir = TempDir::new("store-sqlite");
    let store = dir.path().join("runs.sqlite").display().to_string();
    for ttft in [10u64, 20, 30] {
        let sim = start_sim(sim_ttft(ttft)).await;
        let out = TempDir::new(&format!("store-run-{ttft}"));
        let label = format!("ttft={ttft}");
        run_into(&sim.url(), &out, &["--store", &store, "--label", &label, "--label", "suite=store"]).await.assert_success();
    }
    let o = run_volley(&["runs", "list", "--store", &store, "--label", "suite=store"], Duration::from_secs(30));
    o.assert_success();
    let lines: Vec<&str> = o.stdout.lines().skip(1).collect();
    assert_eq!(lines.len(), 3, "{}", o.stdout);
    for (line, ttft) in lines.iter().zip([30, 20, 10]) {
        assert!(line.contains(&format!("ttft={ttft}")) && line.contains("chat-poisson"), "newest first: {}", o.stdout);
    }
    // A metric over time, oldest first: the configured TTFTs.
    let trend = dir.path().join("trend.html");
    let o =
        run_volley(&["runs", "trend", "ttft_ms.p50", "--store", &store, "--html", &trend.display().to_string()], Duration::from_secs(30));
    o.assert_success();
    let page = std::fs::read_to_string(&trend).unwrap();
    assert_eq!(page.matches("<circle").count(), 3, "a vertex per run on the trend page");
    let values: Vec<f64> = o.stdout.lines().skip(1).map(|l| l.split_whitespace().nth(3).unwrap().parse().unwrap()).collect();
    assert_eq!(values.len(), 3, "{}", o.stdout);
    for (v, want) in values.iter().zip([10.0, 20.0, 30.0]) {
        assert!((v - want).abs() < 2.0, "TTFT p50 {v} where the simulator was set to {want}: {}", o.stdout);
    }
    // Compared from the store on one page: hovering the slowest run's point shows its
    // TTFT p50 as the store has it.
    let mut s = Store::open(&Location::Sqlite(store.clone().into())).unwrap();
    let slow = s.resolve("label:ttft=30").unwrap();
    let want = s.report(&slow).unwrap().stages[0].ttft_ms.unwrap().p50;
    let page = dir.path().join("compare.html");
    let page_arg = page.display().to_string();
    let o = run_volley(
        &["runs", "compare", "label:ttft=10", "label:ttft=20", "label:ttft=30", "--html", &page_arg, "--store", &store],
        Duration::from_secs(30),
    );
    o.assert_success();
    let url = format!("file://{}", page.display());
    let selector = format!("#overlay figure:first-child g[data-series=\"{slow}\"] circle:last-of-type");
    let (display, tip, _) = tokio::task::spawn_blocking(move || {
        let mut cdp = crate::report_html::Cdp::start();
        let session = cdp.open(&url);
        let got = crate::report_html::hover(&mut cdp, &session, &selector);
        assert!(cdp.errors.is_empty(), "page errors: {:?}", cdp.errors);
        got
    })
    .await
    .unwrap();
    assert_eq!(display, "block", "the tooltip shows on hover");
    let shown: f64 = tip.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((shown - want).abs() <= want * 0.006, "hovered {shown}, stored TTFT p50 {want}: {tip}");

    // Named by label, shown, exported as the report it was, deleted.
    let o = run_volley(&["runs", "show", "label:ttft=20", "--store", &store], Duration::from_secs(30));
    o.assert_success();
    assert!(o.stdout.contains("labels: suite=store, ttft=20"), "{}", o.stdout);
    let id = s.resolve("label:ttft=30").unwrap();
    let exported = dir.path().join("exported.json");
    run_volley(&["runs", "export", &id[..8], "--out", &exported.display().to_string(), "--store", &store], Duration::from_secs(30))
        .assert_success();
    let back: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&exported).unwrap()).unwrap();
    assert_eq!(back["target"].as_str(), s.list(&Filter::default()).unwrap()[0].target.as_str().into());
    run_volley(&["runs", "delete", &id, "--store", &store], Duration::from_secs(30)).assert_success();
    assert_eq!(s.list(&Filter::default()).unwrap().len(), 2);
    // Kept out when asked.
    let sim = start_sim(sim_ttft(5)).await;
    run_into(&sim.url(), &TempDir::new("store-none"), &["--no-store"]).await.assert_success();
    assert_eq!(s.list(&Filter::default()).unwrap().len(), 2);
}

/// The number that follows the first `after` in `text`.
fn number_after(text: &str, after: &str) -> f64 {
    let rest = &text[text.find(after).unwrap_or_else(|| panic!("no '{after}' in {text}")) + after.len()..];
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
    rest[..end].parse().unwrap_or_else(|_| panic!("no number after '{after}' in {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_slower_than_its_baseline_fails_its_threshold_with_both_values() {
    // TTFTs of tens of ms, so that a loaded machine's few ms of noise stay inside the 10 %.
    let dir = TempDir::new("store-baseline");
    let store = dir.path().join("runs.sqlite").display().to_string();
    let base = start_sim(sim_ttft(50)).await;
    run_into(&base.url(), &TempDir::new("baseline-run"), &["--store", &store, "--label", "role=baseline"]).await.assert_success();
    let threshold = "ttft_ms.p50 < baseline * 1.10";
    // 20 % slower: exit 99, naming the threshold and both values.
    let slower = start_sim(sim_ttft(60)).await;
    let slower_out = TempDir::new("slower-run");
    let o = run_into(&slower.url(), &slower_out, &["--store", &store, "--baseline", "label:role=baseline", "--threshold", threshold]).await;
    assert_eq!(o.status.code(), Some(99), "{}", o.stderr);
    let line = o.stderr.lines().find(|l| l.contains("threshold failed")).unwrap_or_else(|| panic!("no verdict line: {}", o.stderr));
    assert!(line.contains(threshold), "{line}");
    let (value, baseline, bound) = (number_after(line, "("), number_after(line, "against the baseline's "), number_after(line, "bound "));
    assert!((58.0..70.0).contains(&value), "the run's value: {line}");
    assert!((48.0..56.0).contains(&baseline), "the baseline's value: {line}");
    assert!((bound - baseline * 1.10).abs() < 0.01, "the bound: {line}");
    // The page shows the verdict beside both values.
    let page = std::fs::read_to_string(slower_out.path().join("report.html")).unwrap();
    let table = &page[page.find("<h2>Thresholds</h2>").expect("a thresholds table")..];
    let row = &table[..table.find("</table>").unwrap()];
    assert!(row.contains("FAIL") && row.contains("<th>baseline</th>"), "{row}");
    let shown = volley::core::text::num(baseline);
    assert!(row.contains(&format!("<td>{shown}</td>")), "the baseline's value {shown} on the page: {row}");
    // Within 10 %: exit 0; the baseline named by its directory this time.
    let close = start_sim(sim_ttft(51)).await;
    let baseline_dir = TempDir::new("baseline-dir");
    run_into(&base.url(), &baseline_dir, &["--no-store"]).await.assert_success();
    let base_arg = baseline_dir.path().display().to_string();
    let o = run_into(&close.url(), &TempDir::new("close-run"), &["--no-store", "--baseline", &base_arg, "--threshold", threshold]).await;
    assert_eq!(o.status.code(), Some(0), "{}\n{}", o.stdout, o.stderr);
    assert!((48.0..56.0).contains(&number_after(&o.stdout, "(baseline ")), "the summary shows the baseline: {}", o.stdout);
    // A baseline threshold without a baseline is refused before anything runs.
    let o = run_into(&close.url(), &TempDir::new("no-baseline"), &["--no-store", "--threshold", threshold]).await;
    assert!(matches!(o.status.code(), Some(1) | Some(2)), "{}", o.stderr);
    assert_eq!(o.error_lines().len(), 1, "{}", o.stderr);
    assert!(o.stderr.contains("compares with a baseline: name one with --baseline"), "{}", o.stderr);
}

/// A PostgreSQL cluster of its own, in a temporary directory, on a loopback port;
/// stopped when dropped.
struct Postgres {
    dir: TempDir,
    bin: std::path::PathBuf,
    port: u16,
}

impl Postgres {
    fn start() -> Postgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("Debian's postgresql is installed (scripts/test.sh installs it)")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|b| b.join("initdb").exists())
            .expect("an initdb under /usr/lib/postgresql");
        let dir = TempDir::new("postgres");
        let port = free_port();
        // initdb refuses root: the cluster belongs to the `postgres` user when we are root.
        let root = unsafe { libc::geteuid() } == 0;
        if root {
            Command::new("chown").args(["-R", "postgres", &dir.path().display().to_string()]).status().unwrap();
        }
        let as_owner = |program: &Path, args: &[&str]| {
            let mut c = if root { Command::new("runuser") } else { Command::new(program) };
            if root {
                c.args(["-u", "postgres", "--"]).arg(program);
            }
            let o = c.args(args).stdin(Stdio::null()).output().unwrap();
            assert!(o.status.success(), "{} {args:?}: {}", program.display(), String::from_utf8_lossy(&o.stderr));
        };
        let data = dir.path().join("data").display().to_string();
        let (socket, log) = (dir.path().display().to_string(), dir.path().join("log").display().to_string());
        as_owner(&bin.join("initdb"), &["-D", &data, "-A", "trust", "-U", "volley"]);
        let options = format!("-p {port} -k {socket} -c listen_addresses=127.0.0.1 -c fsync=off");
        as_owner(&bin.join("pg_ctl"), &["-D", &data, "-o", &options, "-l", &log, "-w", "start"]);
        Postgres { dir, bin, port }
    }

    fn url(&self) -> String {
        format!("postgres://volley@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").display().to_string();
        let pg_ctl = self.bin.join("pg_ctl");
        let root = unsafe { libc::geteuid() } == 0;
        let mut c = if root { Command::new("runuser") } else { Command::new(&pg_ctl) };
        if root {
            c.args(["-u", "postgres", "--"]).arg(&pg_ctl);
        }
        let _ = c.args(["-D", &data, "-m", "immediate", "stop"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

/// The store's tables agree with themselves: every stage, label and threshold row
/// belongs to a run, and each run has the stages its report has.
fn assert_consistent(s: &mut Store) {
    let runs = s.list(&Filter::default()).unwrap();
    let [n_runs, n_stages, n_labels, n_thresholds] = s.counts().unwrap();
    assert_eq!(n_runs as usize, runs.len());
    let (mut stages, mut thresholds) = (0, 0);
    for r in &runs {
        let report = s.report(&r.id).unwrap();
        stages += report.stages.len();
        thresholds += report.thresholds.len();
    }
    assert_eq!((n_stages as usize, n_thresholds as usize), (stages, thresholds), "no row outlives its run, none is missing");
    assert_eq!(n_labels as usize, runs.iter().map(|r| r.labels.len()).sum::<usize>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_store_takes_concurrent_shards_and_their_merge_once_and_survives_a_killed_writer() {
    let pg = Postgres::start();
    let url = pg.url();
    let sim = start_sim(sim_ttft(5)).await;
    let at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64 + 3000;
    let outs: Vec<TempDir> = (0..4).map(|i| TempDir::new(&format!("pg-shard-{i}"))).collect();
    let merged = TempDir::new("pg-merged");
    // The merge starts beside the shards and waits for their reports, as on Kubernetes.
    let mut merge_args: Vec<String> = vec!["merge".into()];
    merge_args.extend(outs.iter().map(|o| o.path().display().to_string()));
    merge_args.extend(
        ["--out", &merged.path().display().to_string(), "--wait-s", "60", "--store", &url, "--label", "run=sharded"].map(String::from),
    );
    let merge = tokio::task::spawn_blocking(move || run_volley_args(&merge_args, Duration::from_secs(90)));
    let shards = outs.iter().enumerate().map(|(i, out)| {
        let shard = format!("{i}/4");
        let args = with(
            run_args("builtin:chat-poisson", &sim.url(), json!({"rate": 80, "duration_s": 1, "max_tokens": 3}), out),
            &["--seed", "7", "--shard", &shard, "--start-at", &at.to_string(), "--store", &url, "--label", "run=sharded"],
        );
        tokio::spawn(run_volley_async(args, Duration::from_secs(60)))
    });
    for s in shards.collect::<Vec<_>>() {
        s.await.unwrap().assert_success();
    }
    merge.await.unwrap().assert_success();
    // The PostgreSQL client blocks: off the async workers.
    tokio::task::spawn_blocking(move || check_postgres(&url, &outs, &merged)).await.unwrap();
    drop(pg);
}

/// What the sharded run left in the PostgreSQL store at `url`; then writers killed.
fn check_postgres(url: &str, outs: &[TempDir], merged: &TempDir) {
    let url = url.to_string();
    let mut store = Store::open(&Location::Postgres(url.clone())).unwrap();
    let runs = store.list(&Filter { labels: vec![("run".into(), "sharded".into())], ..Filter::default() }).unwrap();
    let kinds: Vec<&str> = runs.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "merge").count(), 1, "the merged run is stored once: {kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "run").count(), 4, "{kinds:?}");
    // Exactly the merged percentiles: what merge wrote is what the store gives back.
    let merge_id = &runs.iter().find(|r| r.kind == "merge").unwrap().id;
    let stored = store.report(merge_id).unwrap();
    let written = read_report(merged.path());
    let (a, b) = (stored.stages[0].ttft_ms.unwrap(), &written["stages"][0]["ttft_ms"]);
    for (stat, v) in [("p50", a.p50), ("p90", a.p90), ("p99", a.p99), ("max", a.max)] {
        assert_eq!(Some(v), b[stat].as_f64(), "merged ttft {stat}");
    }
    assert_eq!(Some(stored.stages[0].requests.ok), written["stages"][0]["requests"]["ok"].as_u64());
    assert_consistent(&mut store);

    // Writers killed with SIGKILL at moments spread over their run: the store stays
    // readable and consistent (each run is one transaction: all of it or none).
    let before = store.list(&Filter::default()).unwrap().len();
    for (k, delay_ms) in [30u64, 60, 90, 120, 150, 180].into_iter().enumerate() {
        let out = TempDir::new(&format!("pg-killed-{k}"));
        let mut child: Child = Command::new(volley_bin())
            .args(["merge", &outs[0].path().display().to_string(), &outs[1].path().display().to_string()])
            .args(["--allow-missing", "--out", &out.path().display().to_string(), "--quiet", "--store", &url])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut store = Store::open(&Location::Postgres(url)).unwrap();
    let after = store.list(&Filter::default()).unwrap().len();
    assert!(after >= before && after <= before + 6, "{before} runs before, {after} after");
    assert_consistent(&mut store);
}
