//! Egress beyond the policy and credentials that travel, tried as an attacker would
//! (issue 28, docs/untrusted.md "Traffic goes only where the operator allows"): targets
//! whose base path climbs out with dot segments in every spelling, probes and OTLP
//! endpoints off the policy (as flags, in a run file, from `OTEL_EXPORTER_OTLP_*`), a
//! launch readiness path that climbs out, registries whose upload location, token realm or
//! blob redirect lead elsewhere, and an `oci://` reference to a registry other than the one
//! the credentials name.
//!
//! Every case ends by itself within seconds, exits 1 with one `error:` line naming what
//! was refused (the policy key, or the rule), stays under 512 MiB, and proves that nothing
//! went beyond the policy: the destination that should be untouched is a listener that
//! records whether anything connected (a non-blocking listener whose `accept` must find
//! nothing, or a server that records every request's head to show no `Authorization`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use serde_json::json;
use volley::sim::SimConfig;

use crate::support::*;

/// Peak RSS every case must stay under, KiB.
const RSS_LIMIT_KIB: u64 = 512 << 10;
/// Longest any case may take.
const LIMIT: Duration = Duration::from_secs(60);

/// A listener nothing may reach: `untouched` is true while no connection has arrived.
struct Tripwire {
    listener: TcpListener,
}

impl Tripwire {
    fn on(ip: &str) -> Tripwire {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        Tripwire { listener }
    }

    fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }

    /// A completed connection waits in the backlog even after its client has gone, so an
    /// `accept` that would block proves that nothing connected.
    fn untouched(&self) -> bool {
        self.listener.accept().is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock)
    }
}

/// One request as a [`Recorder`] saw it.
#[derive(Debug, Clone)]
struct Seen {
    line: String,
    authorization: Option<String>,
}

/// A plain-HTTP server on 127.0.0.1 that records every request's line and
/// `Authorization` and answers each with `answer(line, authorized)`. A TLS hello (the
/// registry client tries https on loopback first) gets a plain answer, which the client
/// takes to mean "plain http". Serves on a thread of its own until the test ends.
struct Recorder {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    fn start(answer: impl Fn(&str, bool) -> String + Send + 'static) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(64) {
                let Ok(mut s) = stream else { continue };
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let Some((line, authorization)) = read_head(&mut s) else {
                    let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    continue;
                };
                let reply = answer(&line, authorization.is_some());
                log.lock().unwrap().push(Seen { line, authorization });
                let _ = s.write_all(reply.as_bytes());
            }
        });
        Recorder { port, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// The request line and `Authorization` of one HTTP/1.1 request (its body read and
/// dropped); `None` for anything that is not HTTP (a TLS hello).
fn read_head(s: &mut TcpStream) -> Option<(String, Option<String>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut chunk).ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
        if !buf[0].is_ascii_uppercase() || buf.len() > 64 << 10 {
            return None;
        }
    }
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let header = |name: &str| {
        head.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_string()))
    };
    let length: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut rest = buf.len() - end;
    while rest < length {
        rest += s.read(&mut chunk).ok().filter(|&n| n > 0)?;
    }
    Some((head.lines().next().unwrap_or_default().to_string(), header("authorization")))
}

fn http(status: &str, headers: &str, body: &str) -> String {
    format!("HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
}

/// A 401 asking for Basic credentials.
fn basic_challenge() -> String {
    http("401 Unauthorized", "WWW-Authenticate: Basic realm=\"registry\"\r\n", "")
}

/// What every refusal holds: exit 1, one `error:` line containing each of `texts`, no
/// panic, no escape sequence, bounded memory and time.
fn assert_refused(o: &Output, texts: &[&str]) {
    let all = format!("{}{}", o.stdout, o.stderr);
    assert_eq!(o.status.code(), Some(1), "{all}");
    let errors = o.error_lines();
    assert_eq!(errors.len(), 1, "want one error line: {}", o.stderr);
    for t in texts {
        assert!(errors[0].contains(t), "{:?} lacks {t:?}", errors[0]);
    }
    assert!(!all.contains("panicked") && !all.contains('\u{1b}'), "{all:?}");
    assert!(o.peak_rss_kib < RSS_LIMIT_KIB, "peak RSS {} KiB", o.peak_rss_kib);
    assert!(o.elapsed < Duration::from_secs(30), "took {:?}", o.elapsed);
}

fn volley(args: &[&str], env: &[(&str, &str)]) -> Output {
    run_program(volley_bin(), args, env, LIMIT)
}

fn write(dir: &TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// `volley run builtin:chat-poisson` against `target` within `policy`, with `more`.
fn run_within(dir: &TempDir, target: &str, policy: &str, more: &[&str], env: &[(&str, &str)]) -> Output {
    let policy = write(dir, "policy.toml", policy);
    let out = dir.path().join("out").display().to_string();
    let params = json!({"rate": 5, "duration_s": 1, "max_tokens": 2}).to_string();
    let mut args =
        vec!["run", "builtin:chat-poisson", "--target", target, "--params", &params, "--policy", &policy, "--out", &out, "--quiet"];
    args.extend_from_slice(more);
    volley(&args, env)
}

// --- targets whose base path climbs out ---

/// A policy that allows only `/tenant-a`: a target that climbs out of it in any
/// spelling (plain, percent-encoded in any case, mixed, after a `;` parameter, or through
/// an encoded slash) is refused as it is parsed, and the server behind it sees nothing.
#[test]
fn dot_segment_targets_are_refused_not_resolved() {
    let server = Tripwire::on("127.0.0.1");
    let dir = TempDir::new("egress-dots");
    let base = format!("http://127.0.0.1:{}", server.port());
    let policy = format!("targets = [\"{base}/tenant-a\"]");
    for (tail, why) in [
        ("/tenant-a/../tenant-b", "dot segment"),
        ("/tenant-a/%2e%2e/tenant-b", "dot segment"),
        ("/tenant-a/%2E%2e/tenant-b", "dot segment"),
        ("/tenant-a/.%2e/tenant-b", "dot segment"),
        ("/tenant-a/%2E./tenant-b", "dot segment"),
        ("/tenant-a/..;/tenant-b", "dot segment"),
        ("/tenant-a/./../tenant-b", "dot segment"),
        ("/tenant-a%2f..%2ftenant-b", "encoded slash"),
        ("/tenant-a/%252e%252e/tenant-b", "encoded percent"),
    ] {
        let o = run_within(&dir, &format!("{base}{tail}"), &policy, &[], &[]);
        assert_refused(&o, &["target", why]);
    }
    assert!(server.untouched(), "a target that climbs out reached the server");
}

/// A sibling path of the allowed prefix is refused by the policy, naming the key.
#[test]
fn a_sibling_of_the_allowed_prefix_is_refused_by_the_policy() {
    let server = Tripwire::on("127.0.0.1");
    let dir = TempDir::new("egress-sibling");
    let base = format!("http://127.0.0.1:{}", server.port());
    let o = run_within(&dir, &format!("{base}/tenant-ab"), &format!("targets = [\"{base}/tenant-a\"]"), &[], &[]);
    assert_refused(&o, &["refused by the policy (targets = ", "is not one of them"]);
    assert!(server.untouched());
}

// --- probes ---

fn quick() -> SimConfig {
    SimConfig { ttft: Duration::from_millis(2), itl: Duration::from_millis(1), ..SimConfig::default() }
}

/// `--server-metrics` on another host than the target's is refused before anything is
/// sent: neither the probe's host nor the target sees a request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_off_the_policy_is_refused_before_anything_is_sent() {
    let sim = start_sim(quick()).await;
    let probe = Tripwire::on("127.0.0.2");
    let dir = TempDir::new("egress-probe");
    let metrics = format!("http://127.0.0.2:{}/metrics", probe.port());
    let o = tokio::task::block_in_place(|| run_within(&dir, &sim.url(), "", &["--server-metrics", &metrics], &[]));
    assert_refused(&o, &["refused by the policy (probes = [])", "is not on the target's host (127.0.0.1)"]);
    assert!(probe.untouched(), "the probe reached its host");
    assert_eq!(sim.stats().requests, 0, "the target saw a request");
    // Listed in the policy, the same probe is allowed (and reaches it).
    let listed = format!("probes = [\"http://127.0.0.2:{}\"]", probe.port());
    let o = tokio::task::block_in_place(|| run_within(&dir, &sim.url(), &listed, &["--server-metrics", &metrics], &[]));
    assert_eq!(o.status.code(), Some(1), "the tripwire does not speak HTTP: {}", o.stderr);
    assert!(!probe.untouched(), "a listed probe is allowed");
}

/// A run file carries options like flags: its `server-metrics` is bounded the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_in_a_run_file_is_bounded_like_a_flag() {
    let sim = start_sim(quick()).await;
    let probe = Tripwire::on("127.0.0.2");
    let dir = TempDir::new("egress-runfile-probe");
    let run_file = write(
        &dir,
        "run.toml",
        &format!(
            "scenario = \"builtin:chat-poisson\"\ntarget = \"{}\"\nserver-metrics = \"http://127.0.0.2:{}/metrics\"\nquiet = true\n\
             [params]\nrate = 5\nduration_s = 1\n",
            sim.url(),
            probe.port()
        ),
    );
    let out = dir.path().join("out").display().to_string();
    let o = tokio::task::block_in_place(|| volley(&["run", "--config", &run_file, "--out", &out], &[]));
    assert_refused(&o, &["refused by the policy (probes = [])", "--server-metrics http://127.0.0.2:"]);
    assert!(probe.untouched());
    assert_eq!(sim.stats().requests, 0);
}

/// A tenant's run file can neither run a command on the host (`launch`, which would
/// reach anything) nor read the operator's environment into a header it sends to a
/// target of its choosing: each refused in one line, nothing run, nothing sent. The
/// operator allows a variable by name in VOLLEY_RUN_FILE_ENV.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_file_cannot_run_commands_or_read_the_operators_environment() {
    let sim = start_sim(quick()).await;
    let wire = Tripwire::on("127.0.0.1");
    let dir = TempDir::new("egress-runfile-launch");
    let marker = dir.path().join("ran");
    let head = format!("scenario = \"builtin:chat-poisson\"\ntarget = \"{}\"\nquiet = true\n", sim.url());
    let params = "[params]\nrate = 5\nduration_s = 1\n";
    let out = dir.path().join("out").display().to_string();
    let launch = format!(
        "{head}launch = \"sh -c 'touch {} && curl -s http://127.0.0.1:{}/'\"\nlaunch_timeout_s = 3\n{params}",
        marker.display(),
        wire.port()
    );
    let leak = format!("{head}header = [\"X-Leak: ${{VOLLEY_REGISTRY_PASSWORD}}\"]\n{params}");
    let secret = [("VOLLEY_REGISTRY_PASSWORD", "s3cret")];
    for (name, text, says) in [
        ("launch.toml", &launch, "'launch' is the operator's to give on the command line"),
        ("leak.toml", &leak, "names ${VOLLEY_REGISTRY_PASSWORD}, which run files may not read"),
    ] {
        let run_file = write(&dir, name, text);
        let o = tokio::task::block_in_place(|| volley(&["run", "--config", &run_file, "--out", &out], &secret));
        assert_refused(&o, &[says]);
        assert!(!o.stderr.contains("s3cret"), "{}", o.stderr);
    }
    // kube render refuses what every shard would run.
    let o = tokio::task::block_in_place(|| {
        volley(&["kube", "render", "--config", &write(&dir, "launch.toml", &launch), "--shards", "2", "--image", "volley:x"], &[])
    });
    assert_refused(&o, &["'launch' is the operator's"]);
    assert!(!marker.exists(), "a run file's launch command ran");
    assert!(wire.untouched());
    assert_eq!(sim.stats().requests, 0);
    // Named by the operator, the variable is read.
    let allowed = [("VOLLEY_REGISTRY_PASSWORD", "s3cret"), ("VOLLEY_RUN_FILE_ENV", "OTHER, VOLLEY_REGISTRY_PASSWORD")];
    let run_file = write(&dir, "leak.toml", &leak);
    let o = tokio::task::block_in_place(|| volley(&["run", "--config", &run_file, "--out", &out], &allowed));
    o.assert_success();
    assert!(sim.stats().requests > 0);
}

/// `--triton-stats` names a model whose statistics path would climb out of the target:
/// refused before the target sees anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_triton_model_that_climbs_out_is_refused() {
    let sim = start_sim(quick()).await;
    let dir = TempDir::new("egress-triton");
    let o = tokio::task::block_in_place(|| run_within(&dir, &sim.url(), "", &["--triton-stats", "../../../admin:1"], &[]));
    assert_refused(&o, &["--triton-stats", "dot segment"]);
    assert_eq!(sim.stats().requests, 0);
}

/// `--launch-ready-path` that climbs out of the target is refused before the server
/// command even starts (its marker file is never made).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_readiness_path_that_climbs_out_is_refused_before_the_launch() {
    let sim = start_sim(quick()).await;
    let dir = TempDir::new("egress-ready");
    let marker = dir.path().join("started");
    let command = format!("touch {}", marker.display());
    let more = ["--launch", command.as_str(), "--launch-at", "ready", "--launch-ready-path", "/%2e%2e/admin"];
    let o = tokio::task::block_in_place(|| run_within(&dir, &sim.url(), "", &more, &[]));
    assert_refused(&o, &["dot segment"]);
    assert!(!marker.exists(), "the server command ran");
    assert_eq!(sim.stats().requests, 0);
}

// --- OTLP ---

/// OTLP to a spelling of loopback the gate does not take for loopback (`2130706433` is
/// 127.0.0.1 to a resolver): refused before the run, given as a flag, in a run file, or
/// in `OTEL_EXPORTER_OTLP_ENDPOINT`; the collector's port and the target see nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_endpoints_off_the_policy_are_refused_as_flags_run_files_and_variables() {
    let sim = start_sim(quick()).await;
    let collector = Tripwire::on("127.0.0.1");
    let dir = TempDir::new("egress-otlp");
    let endpoint = format!("http://2130706433:{}", collector.port());
    let o = tokio::task::block_in_place(|| run_within(&dir, &sim.url(), "", &["--otlp-endpoint", &endpoint], &[]));
    assert_refused(&o, &["refused by the policy (exporters = [])", "not on loopback", "(from --otlp-endpoint)"]);

    let o = tokio::task::block_in_place(|| run_within(&dir, &sim.url(), "", &["--otlp"], &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]));
    assert_refused(&o, &["exporters", "(from OTEL_EXPORTER_OTLP_ENDPOINT)"]);
    let o = tokio::task::block_in_place(|| {
        run_within(&dir, &sim.url(), "", &["--otlp", "--otlp-spans"], &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &endpoint)])
    });
    assert_refused(&o, &["exporters", "(from OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)"]);

    let run_file = write(
        &dir,
        "run.toml",
        &format!("scenario = \"builtin:chat-poisson\"\ntarget = \"{}\"\notlp-endpoint = \"{endpoint}\"\nquiet = true\n", sim.url()),
    );
    let out = dir.path().join("out").display().to_string();
    let o = tokio::task::block_in_place(|| volley(&["run", "--config", &run_file, "--out", &out], &[]));
    assert_refused(&o, &["exporters", "(from --otlp-endpoint)"]);

    assert!(collector.untouched(), "an export reached the collector's port");
    assert_eq!(sim.stats().requests, 0, "the target saw a request");
}

// --- registries ---

fn pack(dir: &TempDir) -> String {
    let project = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/chat-poisson/volley.json");
    let out = dir.path().join("chat-poisson.volley").display().to_string();
    volley(&["pack", "builtin:chat-poisson", "--manifest", &project.display().to_string(), "-o", &out], &[]).assert_success();
    out
}

/// The operator's credentials, for the registry `name` (`VOLLEY_REGISTRY`).
fn credentials_for(name: &str) -> [(&'static str, String); 3] {
    [("VOLLEY_REGISTRY", name.to_string()), ("VOLLEY_REGISTRY_USER", "alice".into()), ("VOLLEY_REGISTRY_PASSWORD", "s3cret".into())]
}

fn env_of<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn alice() -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("alice:s3cret"))
}

/// `volley push` to a registry (with the operator's credentials for it) that answers an
/// upload with a `Location` on another origin: refused before anything goes there, so the
/// second listener sees no request and no credentials; the registry itself was given them.
#[test]
fn an_upload_location_on_another_origin_gets_nothing() {
    let elsewhere = Tripwire::on("127.0.0.1");
    let location = format!("http://127.0.0.1:{}/upload/1", elsewhere.port());
    let registry = Recorder::start(move |line, authorized| match line {
        _ if !authorized => basic_challenge(),
        l if l.starts_with("HEAD ") => http("404 Not Found", "", ""),
        l if l.starts_with("POST ") => http("202 Accepted", &format!("Location: {location}\r\n"), ""),
        _ => http("500 Internal Server Error", "", ""),
    });
    let dir = TempDir::new("egress-upload");
    let package = pack(&dir);
    let name = format!("127.0.0.1:{}", registry.port);
    let creds = credentials_for(&name);
    let o = volley(&["push", &package, &format!("oci://{name}/evil/chat:1")], &env_of(&creds));
    assert_refused(&o, &["refused by the policy (registry_redirect_hosts = [])", "upload location http://127.0.0.1:"]);
    assert!(elsewhere.untouched(), "the upload location on another origin was reached");
    let seen = registry.seen();
    assert!(seen.iter().any(|s| s.authorization.as_deref() == Some(alice().as_str())), "the registry got its credentials: {seen:?}");
}

/// An `oci://` reference (a tenant's choice, here in `pull` and in `run`) to a registry
/// other than the one the credentials name: that registry asks for credentials and gets
/// none; the one line says whose they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_not_given_to_a_registry_they_do_not_name() {
    let harvester = Recorder::start(|_, _| basic_challenge());
    let dir = TempDir::new("egress-harvest");
    let creds = credentials_for("127.0.0.1:1");
    let reference = format!("oci://127.0.0.1:{}/evil/chat:1", harvester.port);
    let out = dir.path().join("x.volley").display().to_string();
    let o = tokio::task::block_in_place(|| volley(&["pull", &reference, "-o", &out], &env_of(&creds)));
    assert_refused(&o, &["needs credentials", "VOLLEY_REGISTRY_USER is for registry 127.0.0.1:1, not 127.0.0.1:"]);

    // The same from a run, and with no VOLLEY_REGISTRY at all.
    let sim = start_sim(quick()).await;
    let unnamed = [("VOLLEY_REGISTRY_USER", "alice"), ("VOLLEY_REGISTRY_PASSWORD", "s3cret")];
    let run_out = dir.path().join("run").display().to_string();
    let args = ["run", &reference, "--target", &sim.url(), "--out", &run_out, "--quiet"];
    let o = tokio::task::block_in_place(|| volley(&args, &unnamed));
    assert_refused(&o, &["needs credentials", "VOLLEY_REGISTRY does not name the registry"]);

    // A Docker config's entry for another registry is not used either.
    let docker = dir.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    std::fs::write(docker.join("config.json"), json!({"auths": {"127.0.0.1:1": {"auth": auth}}}).to_string()).unwrap();
    let docker = docker.display().to_string();
    let o = tokio::task::block_in_place(|| volley(&["pull", &reference, "-o", &out], &[("DOCKER_CONFIG", docker.as_str())]));
    assert_refused(&o, &["needs credentials"]);

    let seen = harvester.seen();
    assert!(seen.len() >= 3, "each attempt asked the registry: {seen:?}");
    assert!(seen.iter().all(|s| s.authorization.is_none()), "a registry the credentials do not name got some: {seen:?}");
    assert!(seen.iter().all(|s| s.line.starts_with("GET /v2/evil/chat/manifests/1 ")), "{seen:?}");
    assert_eq!(sim.stats().requests, 0);
}

/// A registry whose token realm is on another origin. With `registries` set and the realm
/// not listed, the realm is refused and sees nothing. Without a policy, the realm (on
/// loopback, like the registry) is asked for a token — with the registry's credentials
/// when they are that registry's, and without any when they name another.
#[test]
fn a_token_realm_on_another_origin_gets_credentials_only_when_allowed() {
    let realm = Tripwire::on("127.0.0.1");
    let realm_url = format!("http://127.0.0.1:{}/token", realm.port());
    let challenge = http("401 Unauthorized", &format!("WWW-Authenticate: Bearer realm=\"{realm_url}\",service=\"svc\"\r\n"), "");
    let registry = Recorder::start(move |_, _| challenge.clone());
    let name = format!("127.0.0.1:{}", registry.port);
    let dir = TempDir::new("egress-realm");
    let out = dir.path().join("x.volley").display().to_string();
    let policy = write(&dir, "policy.toml", &format!("registries = [\"{name}\"]"));
    let creds = credentials_for(&name);
    let pull = |policy: Option<&str>, env: &[(&str, &str)]| {
        let reference = format!("oci://{name}/evil/chat:1");
        let mut args = vec!["pull", reference.as_str(), "-o", &out];
        if let Some(p) = policy {
            args.extend(["--policy", p]);
        }
        volley(&args, env)
    };
    let o = pull(Some(&policy), &env_of(&creds));
    assert_refused(&o, &["refused by the policy (registries = [", "token realm http://127.0.0.1:", "is not one of them"]);
    assert!(realm.untouched(), "a realm the policy does not list was reached");

    // Without a policy: the realm is a recorder now.
    let tokens = Recorder::start(|_, _| http("401 Unauthorized", "", ""));
    let realm_url = format!("http://127.0.0.1:{}/token", tokens.port);
    let challenge = http("401 Unauthorized", &format!("WWW-Authenticate: Bearer realm=\"{realm_url}\",service=\"svc\"\r\n"), "");
    let registry = Recorder::start(move |_, _| challenge.clone());
    let name = format!("127.0.0.1:{}", registry.port);
    let reference = format!("oci://{name}/evil/chat:1");
    let others = credentials_for("127.0.0.1:1");
    let o = volley(&["pull", &reference, "-o", &out], &env_of(&others));
    assert_refused(&o, &["needs credentials", "VOLLEY_REGISTRY_USER is for registry 127.0.0.1:1"]);
    let asked = tokens.seen();
    assert!(!asked.is_empty() && asked.iter().all(|s| s.authorization.is_none()), "the realm got credentials: {asked:?}");
    // The registry's own credentials go to the realm it announces (on loopback, as it is).
    let mine = credentials_for(&name);
    let o = volley(&["pull", &reference, "-o", &out], &env_of(&mine));
    assert_refused(&o, &["token service refused the credentials of user 'alice'"]);
    assert!(tokens.seen().iter().any(|s| s.authorization.as_deref() == Some(alice().as_str())), "{:?}", tokens.seen());
    assert!(registry.seen().iter().all(|s| s.authorization.is_none()), "no token was issued, so none went to the registry");
}

/// A blob redirect to another origin over plain http: refused (it is not an https host
/// of `registry_redirect_hosts`), and the other origin sees nothing — least of all the
/// registry's credentials, which the registry itself was given.
#[test]
fn a_blob_redirect_to_another_origin_gets_nothing() {
    let elsewhere = Tripwire::on("127.0.0.1");
    let location = format!("http://127.0.0.1:{}/blob", elsewhere.port());
    let digest = format!("sha256:{}", "a".repeat(64));
    let manifest = json!({"schemaVersion": 2, "layers": [{"mediaType": "application/wasm", "digest": digest, "size": 100}]}).to_string();
    let registry = Recorder::start(move |line, authorized| match line {
        _ if !authorized => basic_challenge(),
        l if l.contains("/manifests/") => http("200 OK", "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n", &manifest),
        _ => http("307 Temporary Redirect", &format!("Location: {location}\r\n"), ""),
    });
    let name = format!("127.0.0.1:{}", registry.port);
    let dir = TempDir::new("egress-blob");
    let out = dir.path().join("x.volley").display().to_string();
    let policy = write(&dir, "policy.toml", "registry_redirect_hosts = [\"127.0.0.1\"]");
    let creds = credentials_for(&name);
    let o = volley(&["pull", &format!("oci://{name}/evil/chat:1"), "-o", &out, "--policy", &policy], &env_of(&creds));
    assert_refused(&o, &["registry_redirect_hosts = [127.0.0.1]", "blob redirect http://127.0.0.1:", "nor an https host"]);
    assert!(elsewhere.untouched(), "the blob redirect's origin was reached");
    assert!(registry.seen().iter().any(|s| s.authorization.as_deref() == Some(alice().as_str())));
}

/// `registries` bounds which registry a (tenant-chosen) reference may name at all:
/// another one is refused before a byte is sent to it.
#[test]
fn a_registry_off_the_policy_is_refused_before_it_is_reached() {
    let registry = Tripwire::on("127.0.0.1");
    let dir = TempDir::new("egress-registry");
    let policy = write(&dir, "policy.toml", "registries = [\"ghcr.io\"]");
    let out = dir.path().join("x.volley").display().to_string();
    let o = volley(&["pull", &format!("oci://127.0.0.1:{}/evil/chat:1", registry.port()), "-o", &out, "--policy", &policy], &[]);
    assert_refused(&o, &["refused by the policy (registries = [ghcr.io])", "is not one of them"]);
    assert!(registry.untouched());
}
