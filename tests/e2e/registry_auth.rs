//! Registries that need credentials, over https: Debian's distribution registry with a
//! test CA's certificate and htpasswd (basic) auth, and with token auth backed by a
//! small token server made here (the OCI distribution bearer flow: 401 with
//! `WWW-Authenticate: Bearer realm=…` → token → retry). push → pull → run through both;
//! wrong or missing credentials are one clear line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::json;
use volley::sim::SimConfig;

use crate::support::*;
use crate::tls::{make_certificates, self_signed_x509};

/// A distribution registry over TLS (the test CA's `server.pem`) with `auth` (YAML).
fn tls_registry(dir: &Path, auth: &str) -> Registry {
    let d = dir.display();
    Registry::start(dir, &format!("  tls:\n    certificate: {d}/server.pem\n    key: {d}/server.key\n"), auth)
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token service for the bearer flow: GET /token?service=…&scope=… with Basic
/// credentials `user:password` answers a JWT signed (RS256, with openssl) by `token.key`,
/// granting the scope asked for; anything else is 401. Serves until dropped.
struct TokenServer {
    port: u16,
    stop: Arc<AtomicBool>,
    issued: Arc<AtomicU32>,
}

impl TokenServer {
    fn start(dir: &Path, user: &'static str, password: &'static str) -> TokenServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let issued = Arc::new(AtomicU32::new(0));
        let (dir, stop2, issued2) = (dir.to_path_buf(), stop.clone(), issued.clone());
        let der = Command::new("openssl").args(["x509", "-in", "token.pem", "-outform", "DER"]).current_dir(&dir).output().unwrap().stdout;
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                let target = line.split_whitespace().nth(1).unwrap_or_default().to_string();
                let mut auth = String::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("authorization: basic ") {
                        auth = h.trim()[h.len() - v.len()..].trim().to_string();
                    }
                }
                let want = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                let (status, body) = if auth == want && target.starts_with("/token") {
                    issued2.fetch_add(1, Ordering::Relaxed);
                    ("200 OK", json!({ "token": jwt(&dir, &der, user, &target) }).to_string())
                } else {
                    ("401 Unauthorized", "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}".to_string())
                };
                let _ = write!(conn, "HTTP/1.0 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            }
        });
        TokenServer { port, stop, issued }
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// The JWT the registry accepts: its signing certificate in `x5c`, the scope granted.
fn jwt(dir: &Path, der: &[u8], user: &str, target: &str) -> String {
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let param = |k: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .map(|v| v.replace("%2C", ",").replace("%3A", ":").replace("%2F", "/"))
    };
    let access: Vec<serde_json::Value> = query
        .split('&')
        .filter_map(|kv| kv.strip_prefix("scope="))
        .map(|s| s.replace("%2C", ",").replace("%3A", ":").replace("%2F", "/"))
        .filter_map(|s| {
            let mut parts = s.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            Some(json!({ "type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>() }))
        })
        .collect();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let header = json!({ "alg": "RS256", "typ": "JWT", "x5c": [base64::engine::general_purpose::STANDARD.encode(der)] });
    let claims = json!({
        "iss": "volley-test-issuer", "sub": user, "aud": param("service").unwrap_or_default(),
        "exp": now + 600, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", access.len()), "access": access,
    });
    let signing_input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
    let mut sign = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign", "token.key"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    sign.stdin.take().unwrap().write_all(signing_input.as_bytes()).unwrap();
    let mut sig = Vec::new();
    sign.stdout.take().unwrap().read_to_end(&mut sig).unwrap();
    assert!(sign.wait().unwrap().success());
    format!("{signing_input}.{}", b64url(&sig))
}

fn pack(dir: &Path) -> String {
    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/chat-poisson/volley.json");
    let out = dir.join("chat-poisson.volley").display().to_string();
    run_volley(&["pack", "builtin:chat-poisson", "--manifest", &project.display().to_string(), "-o", &out], Duration::from_secs(60))
        .assert_success();
    out
}

fn volley_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    run_program(volley_bin(), args, env, Duration::from_secs(120))
}

/// push, pull (into a file) and run by digest, through `registry`, with `env`'s credentials.
async fn push_pull_run(tmp: &TempDir, registry: &Registry, env: &[(&str, &str)]) {
    let ca = tmp.path().join("ca.pem").display().to_string();
    let pkg = pack(tmp.path());
    let reference = registry.reference("volley/chat:1");
    let pushed = tokio::task::block_in_place(|| volley_env(&["push", &pkg, &reference, "--ca-cert", &ca], env));
    pushed.assert_success();
    let digest =
        pushed.stdout.split_whitespace().find(|w| w.starts_with("sha256:")).unwrap_or_else(|| panic!("{}", pushed.stdout)).to_string();
    let pulled_file = tmp.path().join("pulled.volley").display().to_string();
    let pinned = format!("{}@{digest}", registry.reference("volley/chat"));
    tokio::task::block_in_place(|| volley_env(&["pull", &pinned, "-o", &pulled_file, "--ca-cert", &ca], env)).assert_success();
    assert_eq!(std::fs::read(&pulled_file).unwrap(), std::fs::read(&pkg).unwrap(), "the same package came back");
    let sim = start_sim(SimConfig { ttft: Duration::from_millis(2), itl: Duration::from_millis(1), ..SimConfig::default() }).await;
    let out = TempDir::new("registry-run");
    let mut args = run_args(&pinned, &sim.url(), json!({"rate": 20, "max_requests": 4, "max_tokens": 2}), &out);
    args.extend(["--ca-cert".into(), ca]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    tokio::task::block_in_place(|| volley_env(&args, env)).assert_success();
    assert_eq!(read_report(out.path())["stages"][0]["requests"]["ok"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_registry_with_basic_auth_and_a_wrong_password() {
    let tmp = TempDir::new("registry-basic");
    make_certificates(tmp.path());
    let hash = bcrypt::hash("s3cret", 5).unwrap();
    std::fs::write(tmp.path().join("htpasswd"), format!("alice:{hash}\n")).unwrap();
    let htpasswd = tmp.path().join("htpasswd").display().to_string();
    let registry = tls_registry(tmp.path(), &format!("auth:\n  htpasswd:\n    realm: volley-test\n    path: {htpasswd}\n"));
    // Environment credentials name the registry they belong to (VOLLEY_REGISTRY).
    let name = format!("127.0.0.1:{}", registry.port);
    push_pull_run(
        &tmp,
        &registry,
        &[("VOLLEY_REGISTRY", &name), ("VOLLEY_REGISTRY_USER", "alice"), ("VOLLEY_REGISTRY_PASSWORD", "s3cret")],
    )
    .await;

    // The same credentials from a Docker config.json.
    let docker = tmp.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    std::fs::write(docker.join("config.json"), json!({"auths": {format!("127.0.0.1:{}", registry.port): {"auth": auth}}}).to_string())
        .unwrap();
    let ca = tmp.path().join("ca.pem").display().to_string();
    let out = tmp.path().join("again.volley").display().to_string();
    let reference = registry.reference("volley/chat:1");
    let docker_s = docker.display().to_string();
    volley_env(&["pull", &reference, "-o", &out, "--ca-cert", &ca], &[("DOCKER_CONFIG", docker_s.as_str())]).assert_success();

    let o = volley_env(
        &["pull", &reference, "--ca-cert", &ca],
        &[("VOLLEY_REGISTRY", &name), ("VOLLEY_REGISTRY_USER", "alice"), ("VOLLEY_REGISTRY_PASSWORD", "wrong")],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stderr.contains("refused the credentials of user 'alice'") && o.stderr.trim().lines().count() == 1, "{}", o.stderr);
    let o = volley_env(&["pull", &reference, "--ca-cert", &ca], &[("DOCKER_CONFIG", "/nonexistent")]);
    assert!(o.stderr.contains("needs credentials: set VOLLEY_REGISTRY="), "{}", o.stderr);
    // Without the CA: the certificate, in one line.
    let o = volley_env(
        &["pull", &reference],
        &[("VOLLEY_REGISTRY", &name), ("VOLLEY_REGISTRY_USER", "alice"), ("VOLLEY_REGISTRY_PASSWORD", "s3cret")],
    );
    assert!(o.stderr.contains("not trusted") && o.stderr.trim().lines().count() == 1, "{}", o.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_registry_with_the_bearer_token_flow() {
    let tmp = TempDir::new("registry-token");
    make_certificates(tmp.path());
    self_signed_x509(tmp.path(), "token", "/CN=volley token issuer", &[]);
    let tokens = TokenServer::start(tmp.path(), "bob", "hunter2");
    let bundle = tmp.path().join("token.pem").display().to_string();
    let auth = format!(
        "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: volley-registry\n    issuer: volley-test-issuer\n    rootcertbundle: {bundle}\n",
        tokens.port
    );
    let registry = tls_registry(tmp.path(), &auth);
    let name = format!("127.0.0.1:{}", registry.port);
    push_pull_run(&tmp, &registry, &[("VOLLEY_REGISTRY", &name), ("VOLLEY_REGISTRY_USER", "bob"), ("VOLLEY_REGISTRY_PASSWORD", "hunter2")])
        .await;
    assert!(tokens.issued.load(Ordering::Relaxed) >= 3, "push, pull and run each asked for a token");

    let ca = tmp.path().join("ca.pem").display().to_string();
    let reference = registry.reference("volley/chat:1");
    let o = volley_env(
        &["pull", &reference, "--ca-cert", &ca],
        &[("VOLLEY_REGISTRY", &name), ("VOLLEY_REGISTRY_USER", "bob"), ("VOLLEY_REGISTRY_PASSWORD", "nope")],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        o.stderr.contains("token service refused the credentials of user 'bob'") && o.stderr.trim().lines().count() == 1,
        "{}",
        o.stderr
    );
}
