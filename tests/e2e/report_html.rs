//! The HTML pages in a real browser: headless Chromium (Debian's `chromium`) loads a
//! run's report without errors, every chart has data, and a screenshot is taken; a
//! multi-turn run's report has its per-tag table, a run with named checks its checks
//! table; and `volley compare A B C --html` makes a page on which hovering a point of
//! the overlay chart (a real mouse move, driven over Chromium's DevTools protocol on a
//! pipe) shows the value that run's report.json holds.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::*;
use serde_json::{Value, json};
use volley::sim::SimConfig;

const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

fn chromium(args: &[String]) -> std::process::Output {
    Command::new("chromium")
        .args(CHROMIUM_FLAGS)
        .args(args)
        .output()
        .expect("chromium is installed (scripts/test.sh installs Debian's chromium)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_report_renders_every_chart_with_data() {
    let sim = start_sim(SimConfig { ttft: Duration::from_millis(30), itl: Duration::from_millis(3), ..SimConfig::default() }).await;
    let out = TempDir::new("html");
    let metrics = format!("{}/metrics", sim.url());
    let args = with(
        run_args("builtin:chat-poisson", &sim.url(), json!({"rate": 20, "duration_s": 2, "max_tokens": 8}), &out),
        &["--server-metrics", &metrics, "--metrics-interval-ms", "200"],
    );
    run_volley_async(args, Duration::from_secs(60)).await.assert_success();
    let html = out.path().join("report.html");
    let text = std::fs::read_to_string(&html).unwrap();
    assert!(!text.contains("http://") || !text.contains("<script src"), "self-contained: no external scripts");
    assert!(!text.contains("<link"), "self-contained: no external stylesheets");

    let url = format!("file://{}", html.display());
    let profile = TempDir::new("chromium-profile");
    let dom = chromium(&[
        format!("--user-data-dir={}", profile.path().display()),
        "--enable-logging=stderr".into(),
        "--v=0".into(),
        "--dump-dom".into(),
        url.clone(),
    ]);
    assert!(dom.status.success(), "{}", String::from_utf8_lossy(&dom.stderr));
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    let stderr = String::from_utf8_lossy(&dom.stderr);
    assert!(!stderr.contains("Uncaught"), "console errors: {stderr}");
    // The page's own check ran in the browser: how many charts, and how many are empty.
    let attr = |name: &str| -> u32 {
        let key = format!("{name}=\"");
        let i = dom_text.find(&key).unwrap_or_else(|| panic!("{name} missing: the page script did not run")) + key.len();
        dom_text[i..].split('"').next().unwrap().parse().unwrap()
    };
    assert!(attr("data-charts") >= 9, "charts: {}", attr("data-charts"));
    assert_eq!(attr("data-empty-charts"), 0, "every chart has data");
    assert!(dom_text.contains("volley_sim:requests_total"), "server metrics are charted");

    let png = out.path().join("report.png");
    let shot = chromium(&[
        format!("--user-data-dir={}", profile.path().display()),
        "--window-size=1400,2400".into(),
        format!("--screenshot={}", png.display()),
        url,
    ]);
    assert!(shot.status.success());
    assert!(std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0) > 20_000, "a screenshot with content");
}

/// The page's DOM after its scripts ran, and what Chromium logged.
fn dump_dom(html: &Path) -> (String, String) {
    let profile = TempDir::new("chromium-profile");
    let dom = chromium(&[
        format!("--user-data-dir={}", profile.path().display()),
        "--enable-logging=stderr".into(),
        "--v=0".into(),
        "--dump-dom".into(),
        format!("file://{}", html.display()),
    ]);
    assert!(dom.status.success(), "{}", String::from_utf8_lossy(&dom.stderr));
    let (text, stderr) = (String::from_utf8_lossy(&dom.stdout).into_owned(), String::from_utf8_lossy(&dom.stderr).into_owned());
    assert!(!stderr.contains("Uncaught"), "console errors: {stderr}");
    assert!(text.contains("data-empty-charts=\"0\""), "the page's script ran and every chart has data");
    (text, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_turn_report_breaks_down_by_tag_and_a_checked_run_by_check() {
    let sim = start_sim(SimConfig { ttft: Duration::from_millis(5), itl: Duration::from_millis(1), ..SimConfig::default() }).await;
    let out = TempDir::new("html-turns");
    let params = json!({"conversations": 6, "turns": 3, "concurrency": 3, "output_tokens": 4, "model": "sim-model"});
    run_volley_async(run_args("builtin:multi-turn", &sim.url(), params, &out), Duration::from_secs(60)).await.assert_success();
    let report = read_report(out.path());
    let tags: Vec<&String> = report["stages"][0]["tags"].as_object().unwrap().keys().collect();
    assert_eq!(tags, ["turn-1", "turn-2", "turn-3"]);
    // Each conversation is a task that completed with its three turns.
    let tasks = &report["stages"][0]["tasks"];
    assert_eq!((tasks["started"].as_u64(), tasks["completed"].as_u64(), tasks["failed"].as_u64()), (Some(6), Some(6), Some(0)), "{tasks}");
    assert_eq!(tasks["turns"]["min"].as_f64(), Some(3.0), "{tasks}");
    let (dom, _) = dump_dom(&out.path().join("report.html"));
    let per_tag = dom.split("<table class=\"per-tag\">").nth(1).expect("a per-tag table").split("</table>").next().unwrap();
    for tag in tags {
        let group = &report["stages"][0]["tags"][tag];
        let row = format!("<td>{tag}</td><td>{}</td><td>{}</td>", group["requests"], group["ok"]);
        assert!(per_tag.contains(&row), "{row} in {per_tag}");
    }
    assert!(dom.contains("TTFT by tag (ms)"), "a chart per tag");
    assert!(dom.contains("<table class=\"run\">") && dom.contains("sim-model"), "the run's model is on the page");
    assert!(dom.contains("<table class=\"params\">") && dom.contains("<td>conversations</td><td class=\"param\">6</td>"), "parameters");
    assert!(!dom.contains("<table class=\"checks\">"), "no checks, no checks table");

    // The vision scenario checks each answer: a checks table, with its counts.
    let images = TempDir::new("html-images");
    std::fs::write(images.path().join("a.png"), b"\x89PNG\r\n\x1a\nfirst").unwrap();
    let out = TempDir::new("html-checks");
    let grant = format!("images={}", images.path().display());
    let params = json!({"load": "constant", "rate": 30, "requests": 6, "max_tokens": 4});
    let args = with(run_args("builtin:vision", &sim.url(), params, &out), &["--dataset", &grant]);
    run_volley_async(args, Duration::from_secs(60)).await.assert_success();
    let (dom, _) = dump_dom(&out.path().join("report.html"));
    let checks = dom.split("<table class=\"checks\">").nth(1).expect("a checks table").split("</table>").next().unwrap();
    assert!(checks.contains("<td>answered</td><td>6</td><td>0</td><td>100.0 %</td>"), "{checks}");
    assert!(dom.contains("Check pass rate (%)"));
}

/// Chromium driven over its DevTools protocol on a pipe (`--remote-debugging-pipe`:
/// JSON messages ended by NUL, commands on its fd 3, answers on its fd 4), here two
/// FIFOs the shell hands it as those descriptors.
pub(crate) struct Cdp {
    child: Child,
    to: std::fs::File,
    from: BufReader<std::fs::File>,
    next: u64,
    /// Exceptions and console errors the page reported.
    pub(crate) errors: Vec<String>,
    _dir: TempDir,
}

impl Cdp {
    pub(crate) fn start() -> Cdp {
        let dir = TempDir::new("cdp");
        let (input, output) = (dir.path().join("in"), dir.path().join("out"));
        for f in [&input, &output] {
            assert!(Command::new("mkfifo").arg(f).status().unwrap().success());
        }
        let flags: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| format!("'{f}'")).collect();
        let script = format!(
            "exec chromium {} --window-size=1400,1000 '--user-data-dir={}' --remote-debugging-pipe about:blank 3<'{}' 4>'{}'",
            flags.join(" "),
            dir.path().join("profile").display(),
            input.display(),
            output.display()
        );
        let child = Command::new("bash").arg("-c").arg(script).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        // Opening a FIFO waits for its other end: bounded, so a browser that does not
        // start fails the test instead of hanging it.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let to = std::fs::OpenOptions::new().write(true).open(&input).unwrap();
            let from = std::fs::File::open(&output).unwrap();
            let _ = tx.send((to, from));
        });
        let (to, from) = rx.recv_timeout(Duration::from_secs(30)).expect("chromium opened its DevTools pipe");
        Cdp { child, to, from: BufReader::new(from), next: 0, errors: Vec::new(), _dir: dir }
    }

    /// Sends one command (to a page's session when given) and returns its result.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.try_call(session, method, params).unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// The same, an error answer returned as such.
    fn try_call(&mut self, session: Option<&str>, method: &str, params: Value) -> Result<Value, Value> {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.to.write_all(format!("{msg}\0").as_bytes()).unwrap();
        self.to.flush().unwrap();
        loop {
            let mut buf = Vec::new();
            assert!(self.from.read_until(0, &mut buf).unwrap() > 0, "chromium closed its pipe");
            buf.pop();
            let answer: Value = serde_json::from_slice(&buf).unwrap();
            match answer["method"].as_str() {
                Some("Runtime.exceptionThrown") => self.errors.push(answer["params"]["exceptionDetails"].to_string()),
                Some("Runtime.consoleAPICalled") if answer["params"]["type"] == "error" => self.errors.push(answer["params"].to_string()),
                _ => {}
            }
            if answer["id"] == id {
                return match answer.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(answer["result"].clone()),
                };
            }
        }
    }

    /// Evaluates `expr` in the page and returns its value.
    fn eval(&mut self, session: &str, expr: &str) -> Value {
        let r = self.call(Some(session), "Runtime.evaluate", json!({"expression": expr, "returnByValue": true}));
        assert!(r.get("exceptionDetails").is_none(), "{expr}: {r}");
        r["result"]["value"].clone()
    }

    /// Opens `url` in a new page and waits for its scripts to have run; the session.
    pub(crate) fn open(&mut self, url: &str) -> String {
        let target = self.call(None, "Target.createTarget", json!({"url": "about:blank"}))["targetId"].clone();
        let session = self.call(None, "Target.attachToTarget", json!({"targetId": target, "flatten": true}))["sessionId"]
            .as_str()
            .unwrap()
            .to_string();
        self.call(Some(&session), "Runtime.enable", json!({}));
        self.call(Some(&session), "Page.enable", json!({}));
        self.call(Some(&session), "Page.navigate", json!({"url": url}));
        for _ in 0..100 {
            // While the page is replaced, its context may be gone for a moment: ask again.
            let expr = "document.readyState === 'complete' && !!document.body && 'charts' in document.body.dataset";
            let ready = self.try_call(Some(&session), "Runtime.evaluate", json!({"expression": expr, "returnByValue": true}));
            if ready.is_ok_and(|r| r["result"]["value"] == json!(true)) {
                return session;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{url} did not finish loading");
    }
}

impl Drop for Cdp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The page's tooltip after the mouse moved onto the centre of the element `selector`
/// selects (scrolled into view first): its display and text, and the element's title.
pub(crate) fn hover(cdp: &mut Cdp, session: &str, selector: &str) -> (String, String, String) {
    let at = cdp.eval(
        session,
        &format!(
            "(() => {{ const e = document.querySelector({sel}); e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
             return {{x: r.x + r.width / 2, y: r.y + r.height / 2, title: e.querySelector('title').textContent}}; }})()",
            sel = json!(selector)
        ),
    );
    let (x, y) = (at["x"].as_f64().unwrap(), at["y"].as_f64().unwrap());
    cdp.call(Some(session), "Input.dispatchMouseEvent", json!({"type": "mouseMoved", "x": x, "y": y}));
    let tip = cdp
        .eval(session, "(() => { const t = document.getElementById('tip'); return {display: t.style.display, text: t.textContent}; })()");
    (tip["display"].as_str().unwrap().into(), tip["text"].as_str().unwrap().into(), at["title"].as_str().unwrap().into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_html_overlays_three_runs_and_hovering_a_point_shows_its_value() {
    let root = TempDir::new("cmp-html");
    let mut dirs: Vec<PathBuf> = Vec::new();
    for (name, ttft_ms) in [("fast", 10), ("medium", 40), ("slow", 120)] {
        let sim =
            start_sim(SimConfig { ttft: Duration::from_millis(ttft_ms), itl: Duration::from_millis(2), ..SimConfig::default() }).await;
        let dir = root.path().join(name);
        let args: Vec<String> = vec![
            "run".into(),
            "builtin:rate-range".into(),
            "--target".into(),
            sim.url(),
            "--params".into(),
            json!({"request_rate_range": "10:20:10", "stage_s": 1, "output_tokens": 4}).to_string(),
            "--out".into(),
            dir.display().to_string(),
            "--quiet".into(),
        ];
        run_volley_async(args, Duration::from_secs(60)).await.assert_success();
        dirs.push(dir);
    }
    let page = root.path().join("compare.html");
    let mut args: Vec<String> = vec!["compare".into()];
    args.extend(dirs.iter().map(|d| d.display().to_string()));
    args.extend(["--html".into(), page.display().to_string()]);
    let o = run_volley_async(args, Duration::from_secs(30)).await;
    o.assert_success();
    // The console compares each run with the first.
    assert_eq!(o.stdout.lines().filter(|l| l.starts_with("A: ")).count(), 2, "{}", o.stdout);
    let text = std::fs::read_to_string(&page).unwrap();
    assert!(!text.contains("<script src") && !text.contains("<link"), "self-contained");
    let (dom, _) = dump_dom(&page);
    for name in ["fast", "medium", "slow"] {
        assert!(dom.contains(&format!("data-series=\"{name}\"")), "{name} is a line");
    }
    // Against the 10 ms baseline, twelve times the TTFT is beyond any noise.
    let slow_vs_fast = dom.split("<h2>slow against fast</h2>").nth(1).unwrap().split("</table>").next().unwrap();
    let ttft_row = slow_vs_fast.split("<tr").find(|r| r.contains("<td>TTFT p50 ms</td>")).unwrap();
    assert!(ttft_row.contains("data-change=\"true\"") && ttft_row.contains(">worse<"), "{ttft_row}");

    // The slow run's point at its highest offered load, on the first overlay chart
    // (TTFT p50), hovered with a real mouse move.
    let report = read_report(&dirs[2]);
    let stage = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .max_by(|a, b| a["offered_rps"].as_f64().partial_cmp(&b["offered_rps"].as_f64()).unwrap())
        .unwrap();
    let want = stage["ttft_ms"]["p50"].as_f64().unwrap();
    let url = format!("file://{}", page.display());
    let (display, tip, title) = tokio::task::spawn_blocking(move || {
        let mut cdp = Cdp::start();
        let session = cdp.open(&url);
        let got = hover(&mut cdp, &session, "#overlay figure:first-child g[data-series=\"slow\"] circle:last-of-type");
        assert!(cdp.errors.is_empty(), "page errors: {:?}", cdp.errors);
        got
    })
    .await
    .unwrap();
    assert_eq!(display, "block", "the tooltip shows on hover");
    assert_eq!(tip, title, "the tooltip is the point's title");
    assert!(tip.starts_with("slow: offered requests/s ") && tip.contains(", TTFT p50 ms "), "{tip}");
    let shown: f64 = tip.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((shown - want).abs() <= want * 0.006, "the hovered value {shown} is the report's TTFT p50 {want}");
}
