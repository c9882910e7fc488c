//! Helpers shared by the end-to-end tests: run the real `volley` binary with a time
//! bound, read what it wrote, start the simulator in-process, find built guests.

#![allow(dead_code)] // each test file uses a different subset

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use volley::sim::{SimConfig, Simulator};

/// A loopback port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn volley_bin() -> &'static str {
    env!("CARGO_BIN_EXE_volley")
}

/// Path of a guest component (a scenario or a test guest) built from source by
/// `scripts/build-guests.sh`, which the first call runs (cargo makes later runs no-ops).
pub fn guest(name: &str) -> &'static str {
    guests().iter().find(|(n, _)| n == name).map(|(_, p)| p.as_str()).unwrap_or_else(|| panic!("guest {name} was not built"))
}

/// Every guest component built from source: (package name, path). The files are named as
/// cargo names them (`fault_late.wasm` for the package `fault-late`), which is also the
/// label a run gives a component file.
pub fn guests() -> &'static [(String, String)] {
    static BUILT: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/build-guests.sh");
        let out = Command::new("bash").arg(&script).stderr(Stdio::inherit()).output().expect("run scripts/build-guests.sh");
        assert!(out.status.success(), "scripts/build-guests.sh failed (is the wasm32-wasip2 target installed?)");
        let dir = PathBuf::from(String::from_utf8(out.stdout).expect("a UTF-8 path").trim());
        let mut built: Vec<(String, String)> = std::fs::read_dir(&dir)
            .expect("the guests' folder")
            .map(|e| e.expect("a folder entry").path())
            .filter_map(|p| Some((p.file_stem()?.to_str()?.replace('_', "-"), p.display().to_string())))
            .collect();
        built.sort();
        built
    })
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!("volley-test-{label}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// The child's peak resident set size (`ru_maxrss` from `wait4`), KiB.
    pub peak_rss_kib: u64,
}

impl Output {
    /// The stderr lines that are not progress output.
    pub fn error_lines(&self) -> Vec<&str> {
        self.stderr.lines().filter(|l| l.starts_with("error:")).collect()
    }

    pub fn assert_success(&self) {
        assert!(self.status.success(), "volley failed ({}):\n{}\n{}", self.status, self.stdout, self.stderr);
    }
}

/// The run store the tests' runs land in (one SQLite file for this test process).
pub fn test_store() -> String {
    std::env::temp_dir().join(format!("volley-e2e-store-{}.sqlite", std::process::id())).display().to_string()
}

/// Runs `volley ARGS`, killing it (and failing the test) after `limit`.
pub fn run_volley(args: &[&str], limit: Duration) -> Output {
    run_program(volley_bin(), args, &[], limit)
}

/// Runs `program ARGS` with extra environment variables, killing it (and failing the
/// test) after `limit`.
// The child is reaped by `wait4` (for its peak RSS), which clippy cannot see.
#[allow(clippy::zombie_processes)]
pub fn run_program(program: &str, args: &[&str], envs: &[(&str, &str)], limit: Duration) -> Output {
    let start = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        // Runs are stored (by default under HOME): in the tests, in one store of their own.
        .env("VOLLEY_STORE", test_store())
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn volley");
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    // Reaped with wait4, which also gives the child's peak RSS.
    let pid = child.id() as libc::pid_t;
    let (status, peak_rss_kib) = loop {
        let mut raw = 0;
        // SAFETY: a zeroed rusage is a valid value for wait4 to fill in.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our own child, not yet reaped; the pointers are to live locals.
        let reaped = unsafe { libc::wait4(pid, &mut raw, libc::WNOHANG, &mut usage) };
        assert!(reaped >= 0, "wait4 on {program}: {}", std::io::Error::last_os_error());
        if reaped == pid {
            break (std::os::unix::process::ExitStatusExt::from_raw(raw), usage.ru_maxrss.max(0) as u64);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{program} {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output { status, stdout: out_t.join().unwrap(), stderr: err_t.join().unwrap(), elapsed: start.elapsed(), peak_rss_kib }
}

/// `run_volley` from async code, on a blocking thread.
pub async fn run_volley_async(args: Vec<String>, limit: Duration) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_volley(&args, limit)
    })
    .await
    .expect("volley runner thread")
}

pub fn read_report(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report.json written");
    serde_json::from_str(&text).expect("report.json is JSON")
}

pub fn read_records(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("requests.jsonl")).expect("requests.jsonl written");
    text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

pub async fn start_sim(config: SimConfig) -> Simulator {
    Simulator::start(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await.expect("start simulator")
}

pub fn ms(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("expected a number, got {v}"))
}

/// The shared folder beside the repository (real-server scripts, fixtures).
pub fn shared_dir() -> PathBuf {
    match std::env::var_os("VOLLEY_SHARED_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
    }
}

/// llama.cpp's `llama-server` from `../shared/realserver`, serving SmolLM2-135M on
/// 127.0.0.1. `.ci/run` sets it up and starts it; a test that finds it down starts it
/// itself with the same script.
pub struct RealServer {
    pub port: u16,
}

static SERVER_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A test's exclusive use of the real server, so the server's own counters reflect
/// only that test's requests. Dropping it stops the server; the next test starts it.
pub struct Lease {
    pub server: RealServer,
    _exclusive: std::sync::MutexGuard<'static, ()>,
}

impl Lease {
    pub fn take(port: u16) -> Lease {
        let guard = SERVER_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        Lease { server: RealServer::ensure(port), _exclusive: guard }
    }
}

impl Lease {
    /// A llama-server of its own on `port`, started with `args` after the script's own
    /// (later ones win), for as long as the lease lives; the default server on the usual
    /// port is not touched, but no other real-server test runs meanwhile.
    pub fn start_with(port: u16, args: &[&str]) -> Lease {
        let guard = SERVER_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let server = RealServer { port };
        server.stop();
        let script = shared_dir().join("realserver/start.sh");
        let status = Command::new("bash")
            .arg(&script)
            .arg(port.to_string())
            .args(args)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(status.success(), "{} {port} {args:?} failed; set it up with ../shared/realserver/setup.sh llama-server", script.display());
        Lease { server, _exclusive: guard }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.server.stop();
    }
}

impl RealServer {
    pub fn ensure(port: u16) -> RealServer {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            let script = shared_dir().join("realserver/start.sh");
            let status = Command::new("bash")
                .arg(&script)
                .arg(port.to_string())
                .status()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
            assert!(
                status.success(),
                "llama-server is not running on port {port} and {} failed; set it up with \
                 ../shared/realserver/setup.sh llama-server",
                script.display()
            );
        }
        RealServer { port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the server with the realserver's own script.
    pub fn stop(&self) {
        let _ = Command::new("bash").arg(shared_dir().join("realserver/stop.sh")).arg(self.port.to_string()).stdout(Stdio::null()).status();
    }
}

/// GET a path over plain HTTP/1.0 on loopback; the body.
pub fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read response");
    text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()
}

/// The value of one Prometheus sample, e.g. `llamacpp:tokens_predicted_total`.
pub fn prometheus_value(exposition: &str, name: &str) -> Option<f64> {
    exposition.lines().filter(|l| !l.starts_with('#')).find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The SmolLM2 tokenizer.json fixture (matches the model ../shared/realserver serves).
pub fn tokenizer_path() -> String {
    let p = shared_dir().join("fixtures/smollm2-tokenizer.json");
    assert!(p.exists(), "missing tokenizer fixture {}", p.display());
    p.display().to_string()
}

/// `volley run` arguments with the usual output options.
pub fn run_args(scenario: &str, target: &str, params: serde_json::Value, out: &TempDir) -> Vec<String> {
    vec![
        "run".into(),
        scenario.into(),
        "--target".into(),
        target.into(),
        "--params".into(),
        params.to_string(),
        "--out".into(),
        out.path().display().to_string(),
        "--quiet".into(),
    ]
}

/// Appends more arguments.
pub fn with(mut args: Vec<String>, more: &[&str]) -> Vec<String> {
    args.extend(more.iter().map(|s| s.to_string()));
    args
}

/// A KServe-protocol server from `../shared/kservers` (NVIDIA Triton via PyTriton, or
/// KServe's ModelServer), used exclusively by one test at a time and stopped after it.
pub struct KServer {
    pub kind: &'static str,
    pub port: u16,
    _exclusive: std::sync::MutexGuard<'static, ()>,
}

static KSERVER_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl KServer {
    /// `kind` is "triton" (HTTP on `port`, metrics on `port + 2`) or "kserve".
    pub fn take(kind: &'static str, port: u16) -> KServer {
        let guard = KSERVER_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            let script = shared_dir().join(format!("kservers/start-{kind}.sh"));
            let status = Command::new("bash")
                .arg(&script)
                .arg(port.to_string())
                .stdout(Stdio::null())
                .status()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
            assert!(
                status.success(),
                "{kind} is not running on port {port} and {} failed; run ../shared/kservers/setup.sh",
                script.display()
            );
        }
        KServer { kind, port, _exclusive: guard }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for KServer {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(shared_dir().join("kservers/stop.sh"))
            .args([self.kind, &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// `run_volley` with owned arguments.
pub fn run_volley_args(args: &[String], limit: Duration) -> Output {
    run_volley(&args.iter().map(String::as_str).collect::<Vec<_>>(), limit)
}

/// A CNCF distribution registry (Debian's `docker-registry`) on a free loopback port,
/// storing into `dir/storage`; `http` adds to its `http:` section (e.g. `tls:`), `rest`
/// to the top level (e.g. `auth:`). Killed on drop.
pub struct Registry {
    child: std::process::Child,
    pub port: u16,
    pub storage: PathBuf,
}

impl Registry {
    pub fn start(dir: &Path, http: &str, rest: &str) -> Registry {
        let port = free_port();
        let storage = dir.join("storage");
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n{http}{rest}",
                storage.display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .args(["serve", &config.display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (Debian package docker-registry; scripts/test.sh installs it)");
        let registry = Registry { child, port, storage };
        let start = Instant::now();
        // Ready when it accepts connections and, over plain http, its API root answers.
        let ready = || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() && (http.contains("tls:") || http_get(port, "/v2/").contains("{}"))
        };
        while !ready() {
            assert!(start.elapsed() < Duration::from_secs(20), "the registry did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    pub fn reference(&self, rest: &str) -> String {
        format!("oci://127.0.0.1:{}/{rest}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request an [`http_sink`] received: its path, content type and body.
pub struct Received {
    pub path: String,
    pub content_type: String,
    pub body: bytes::Bytes,
}

/// An HTTP/1.1 server on loopback that hands each request to `keep` and answers 200
/// with `{}` (an OTLP receiver, a webhook); its URL.
pub async fn http_sink(keep: impl Fn(Received) + Send + Sync + 'static) -> String {
    use http_body_util::{BodyExt, Full};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let keep = std::sync::Arc::new(keep);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let keep = keep.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let keep = keep.clone();
                    async move {
                        let path = req.uri().path().to_string();
                        let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        keep(Received { path, content_type, body });
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(bytes::Bytes::from_static(b"{}"))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
            });
        }
    });
    url
}
