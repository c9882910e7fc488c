//! https targets: Debian's nginx with certificates of a test CA (made here with openssl)
//! in front of the simulator, streaming through the proxy. Trusted with `--ca-cert`,
//! refused without it in one line, mutual TLS with a client certificate, and
//! `--insecure-skip-verify` recorded as a warning. A self-signed certificate given with
//! `--ca-cert` is trusted as itself (as curl's `--cacert` does), still for its own names
//! only; a plain-HTTP port behind https:// is one line that says so.
//!
//! The test CA and certificates are made with openssl by the test; nothing is fetched.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use volley::sim::SimConfig;

use crate::support::*;

pub(crate) fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
    assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// `STEM.pem` and `STEM.key` in `dir`: a self-signed certificate (openssl's
/// `req -x509`, which marks it as a CA) for `subject`, valid two days, with `extra`
/// arguments (extensions) appended.
pub(crate) fn self_signed_x509(dir: &Path, stem: &str, subject: &str, extra: &[&str]) {
    let (key, pem) = (format!("{stem}.key"), format!("{stem}.pem"));
    let mut args = vec!["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &pem, "-days", "2", "-subj", subject];
    args.extend_from_slice(extra);
    openssl(dir, &args);
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by it.
pub(crate) fn make_certificates(dir: &Path) {
    self_signed_x509(dir, "ca", "/CN=volley test CA", &[]);
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n").unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for who in ["server", "client"] {
        let (key, csr, pem, ext) = (format!("{who}.key"), format!("{who}.csr"), format!("{who}.pem"), format!("{who}.ext"));
        openssl(dir, &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", &format!("/CN=volley test {who}")]);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
    }
}

/// A self-signed certificate for `san` (e.g. `IP:127.0.0.1`) made as most are, with
/// openssl's `req -x509` (which marks it as a CA): `server.pem` and `server.key`, and
/// the same certificate as `ca.pem` (the proxy's client CA).
fn self_signed(dir: &Path, san: &str) {
    self_signed_x509(dir, "server", "/CN=volley self-signed", &["-addext", &format!("subjectAltName={san}")]);
    std::fs::copy(dir.join("server.pem"), dir.join("ca.pem")).unwrap();
}

/// nginx on three ports in front of `upstream`: TLS, plain, and TLS requiring a client
/// certificate; stopped when dropped.
pub(crate) struct Proxy {
    child: Child,
    pub(crate) tls: u16,
    plain: u16,
    mutual: u16,
    /// TLS with HTTP/2 offered by ALPN.
    h2: u16,
    /// Plain HTTP/2 (h2c, prior knowledge).
    h2c: u16,
}

impl Proxy {
    pub(crate) fn start(dir: &Path, upstream: &str) -> Proxy {
        let (tls, plain, mutual, h2, h2c) = (free_port(), free_port(), free_port(), free_port(), free_port());
        let d = dir.display();
        let location = format!(
            "location / {{ proxy_pass {upstream}; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_buffering off; }}"
        );
        let cert = format!("ssl_certificate {d}/server.pem; ssl_certificate_key {d}/server.key;");
        let temps: String =
            ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].iter().map(|k| format!("{k}_temp_path {d}/{k};\n")).collect();
        let conf = format!(
            "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\nevents {{ worker_connections 1024; }}\n\
             http {{\naccess_log off;\n{temps}upstream sim {{ server {}; keepalive 32; }}\n\
             server {{ listen 127.0.0.1:{tls} ssl; {cert} {location} }}\n\
             server {{ listen 127.0.0.1:{plain}; {location} }}\n\
             server {{ listen 127.0.0.1:{mutual} ssl; {cert} ssl_client_certificate {d}/ca.pem; ssl_verify_client on; {location} }}\n\
             server {{ listen 127.0.0.1:{h2} ssl http2; {cert} {location} }}\n\
             server {{ listen 127.0.0.1:{h2c} http2; {location} }}\n}}\n",
            upstream.trim_start_matches("http://")
        )
        .replace(&format!("proxy_pass {upstream};"), "proxy_pass http://sim;");
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = Command::new("nginx")
            .args(["-e", &format!("{d}/error.log"), "-p", &d.to_string(), "-c", &format!("{d}/nginx.conf"), "-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts (Debian's nginx package)");
        let proxy = Proxy { child, tls, plain, mutual, h2, h2c };
        // Ready when every port accepts.
        for port in [tls, plain, mutual, h2, h2c] {
            let ready = (0..200).any(|_| {
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() || {
                    std::thread::sleep(Duration::from_millis(25));
                    false
                }
            });
            assert!(ready, "nginx listens on {port}: {}", std::fs::read_to_string(dir.join("error.log")).unwrap_or_default());
        }
        proxy
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn chat(target: String, extra: Vec<String>) -> (Output, TempDir) {
    let out = TempDir::new("tls-run");
    let params = json!({"rate": 10, "duration_s": 2, "max_tokens": 8});
    let mut args = run_args("builtin:chat-poisson", &target, params, &out);
    args.extend(extra);
    (run_volley_async(args, Duration::from_secs(60)).await, out)
}

fn p50(report: &Value, metric: &str) -> f64 {
    ms(&report["stages"][0][metric]["p50"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_through_nginx_with_a_test_ca() {
    let certs = TempDir::new("tls-certs");
    make_certificates(certs.path());
    let sim = start_sim(SimConfig { ttft: Duration::from_millis(30), itl: Duration::from_millis(5), ..SimConfig::default() }).await;
    let proxy = Proxy::start(certs.path(), &sim.url());
    let ca = certs.path().join("ca.pem").display().to_string();
    let https = format!("https://127.0.0.1:{}", proxy.tls);

    // Trusted with the CA: every streamed chat arrives, timed as over plain http.
    let (o, out) = chat(https.clone(), vec!["--ca-cert".into(), ca.clone()]).await;
    o.assert_success();
    let secure = read_report(out.path());
    let ok = secure["stages"][0]["requests"]["ok"].as_u64().unwrap();
    assert!(ok >= 10 && secure["stages"][0]["requests"]["failed"] == 0, "{}", secure["stages"][0]["requests"]);
    assert_eq!(secure["warnings"], json!([]));
    // The timing breakdown: only requests that opened a connection paid connect and TLS.
    let records = read_records(out.path());
    let new: Vec<&Value> = records.iter().filter(|r| r["new_connection"] == true).collect();
    assert!(!new.is_empty() && new.len() < records.len(), "some opened connections, the rest reused them");
    for r in &records {
        assert_eq!(r["new_connection"] == true, r["tls_ms"].is_number(), "{r}");
        assert_eq!(r["tls_ms"].is_number(), r["connect_ms"].is_number(), "{r}");
        let (w, b, h, t) = (ms(&r["written_ms"]), ms(&r["first_byte_ms"]), ms(&r["headers_ms"]), ms(&r["ttft_ms"]));
        assert!(w <= b && b <= h && h <= t, "written {w} ≤ first byte {b} ≤ headers {h} ≤ first token {t}: {r}");
    }
    assert!(new.iter().all(|r| ms(&r["tls_ms"]) > 0.0));
    let timing = &secure["stages"][0]["timing"];
    assert_eq!(timing["new_connections"].as_u64(), Some(new.len() as u64), "{timing}");
    assert_eq!(timing["tls_ms"]["count"].as_u64(), Some(new.len() as u64), "{timing}");
    let (o, out) = chat(format!("http://127.0.0.1:{}", proxy.plain), vec![]).await;
    o.assert_success();
    let plain = read_report(out.path());
    for metric in ["ttft_ms", "itl_ms"] {
        let (a, b) = (p50(&secure, metric), p50(&plain, metric));
        assert!((a - b).abs() <= 1.0, "{metric} p50 over https {a} ms vs http {b} ms, through the same proxy");
    }

    // Without the CA: one line about the certificate, nothing sent.
    let before = sim.stats().requests;
    let (o, _) = chat(https.clone(), vec![]).await;
    assert_eq!(o.status.code(), Some(1), "{}", o.stderr);
    let lines: Vec<&str> = o.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{}", o.stderr);
    assert!(lines[0].contains("certificate for 127.0.0.1 is not trusted: unknown issuer"), "{}", lines[0]);
    assert_eq!(sim.stats().requests, before, "nothing reached the server");

    // Not verifying works, and the report says so.
    let (o, out) = chat(https, vec!["--insecure-skip-verify".into()]).await;
    o.assert_success();
    let report = read_report(out.path());
    assert!(report["warnings"][0].as_str().unwrap().contains("not verified"), "{}", report["warnings"]);
    assert!(o.stdout.contains("WARNING: TLS certificates were not verified"), "{}", o.stdout);

    // Mutual TLS: with the client certificate it runs; without, one line and nothing sent.
    let mutual = format!("https://127.0.0.1:{}", proxy.mutual);
    let client = |f: &str| certs.path().join(f).display().to_string();
    let (o, _) = chat(
        mutual.clone(),
        vec!["--ca-cert".into(), ca.clone(), "--client-cert".into(), client("client.pem"), "--client-key".into(), client("client.key")],
    )
    .await;
    o.assert_success();
    // nginx completes the handshake and answers 400 to a client without a certificate:
    // every request is refused by the proxy, none reaches the server.
    let before = sim.stats().requests;
    let (o, out) = chat(mutual, vec!["--ca-cert".into(), ca]).await;
    // No request succeeded: exit 3, every output written.
    assert_eq!(o.status.code(), Some(3), "{}", o.stderr);
    let requests = &read_report(out.path())["stages"][0]["requests"];
    assert_eq!(requests["ok"], 0, "{requests}");
    let refused = &requests["errors"]["http-status"];
    assert_eq!(refused["count"], requests["sent"], "{requests}");
    assert!(refused["example"].as_str().unwrap().contains("No required SSL certificate"), "{requests}");
    assert_eq!(sim.stats().requests, before, "nothing reached the server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_by_alpn_shares_one_connection_and_the_report_says_so() {
    let certs = TempDir::new("h2-certs");
    make_certificates(certs.path());
    let sim = start_sim(SimConfig { ttft: Duration::from_millis(20), itl: Duration::from_millis(2), ..SimConfig::default() }).await;
    let proxy = Proxy::start(certs.path(), &sim.url());
    let ca = certs.path().join("ca.pem").display().to_string();
    let h2 = format!("https://127.0.0.1:{}", proxy.h2);
    for (mode, protocol) in [("on", "h2"), ("auto", "h2"), ("off", "http/1.1")] {
        let (o, out) = chat(h2.clone(), vec!["--ca-cert".into(), ca.clone(), "--http2".into(), mode.into()]).await;
        o.assert_success();
        let report = read_report(out.path());
        assert_eq!(report["protocol"], protocol, "--http2 {mode}");
        let st = &report["stages"][0];
        assert!(st["requests"]["ok"].as_u64().unwrap() >= 10 && st["requests"]["failed"] == 0, "{}", st["requests"]);
        assert!(st["itl_ms"]["count"].as_u64().unwrap() > 0, "streamed over {protocol}");
        if protocol == "h2" {
            assert_eq!(st["timing"]["new_connections"], 1, "every stream on one connection: {}", st["timing"]);
        }
    }
    // Plain http: HTTP/1.1 unless asked; `--http2 on` speaks h2c by prior knowledge.
    let (o, out) = chat(format!("http://127.0.0.1:{}", proxy.h2c), vec!["--http2".into(), "on".into()]).await;
    o.assert_success();
    let report = read_report(out.path());
    assert_eq!(report["protocol"], "h2");
    assert_eq!(report["stages"][0]["requests"]["failed"], 0, "{}", report["stages"][0]["requests"]);
    assert_eq!(report["stages"][0]["timing"]["new_connections"], 1);

    // `--http2 on` against a server without HTTP/2: one line before anything is sent.
    let before = sim.stats().requests;
    let (o, _) = chat(format!("https://127.0.0.1:{}", proxy.tls), vec!["--ca-cert".into(), ca, "--http2".into(), "on".into()]).await;
    assert_eq!(o.status.code(), Some(1), "{}", o.stderr);
    let lines: Vec<&str> = o.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{}", o.stderr);
    assert!(lines[0].contains("speaks none of the protocols offered by ALPN"), "{}", lines[0]);
    assert_eq!(sim.stats().requests, before);
}

/// One line on stderr, and exit code 1.
fn one_error_line(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "{}", o.stderr);
    let lines: Vec<&str> = o.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{}", o.stderr);
    for debug_form in ["Other(", "OtherError", "AlertReceived", "InvalidMessage"] {
        assert!(!lines[0].contains(debug_form), "a Debug form: {}", lines[0]);
    }
    lines[0].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_certificate_given_with_ca_cert_is_trusted_as_itself() {
    let certs = TempDir::new("tls-self-signed");
    self_signed(certs.path(), "IP:127.0.0.1");
    let sim = start_sim(SimConfig { ttft: Duration::from_millis(20), itl: Duration::from_millis(2), ..SimConfig::default() }).await;
    let proxy = Proxy::start(certs.path(), &sim.url());
    let https = format!("https://127.0.0.1:{}", proxy.tls);
    let own = certs.path().join("server.pem").display().to_string();

    // Without it: one line that names the problem and the flag; nothing sent.
    let before = sim.stats().requests;
    let (o, _) = chat(https.clone(), vec![]).await;
    let line = one_error_line(&o);
    assert!(line.contains("certificate for 127.0.0.1 is not trusted") && line.contains("self-signed"), "{line}");
    assert!(line.contains("give that same certificate with --ca-cert"), "{line}");
    assert_eq!(sim.stats().requests, before, "nothing reached the server");

    // With it: trusted as that certificate, for the run and for the model list (no
    // warning: the lookup went over https with the same settings).
    let (o, out) = chat(https.clone(), vec!["--ca-cert".into(), own.clone()]).await;
    o.assert_success();
    let report = read_report(out.path());
    let requests = &report["stages"][0]["requests"];
    assert!(requests["ok"].as_u64().unwrap() >= 10 && requests["failed"] == 0, "{requests}");
    assert_eq!(report["warnings"], json!([]), "{}", o.stderr);

    // A plain-HTTP port behind https://: one line that says so.
    let (o, _) = chat(format!("https://127.0.0.1:{}", proxy.plain), vec!["--ca-cert".into(), own]).await;
    let line = one_error_line(&o);
    assert!(line.contains("did not answer in TLS") && line.contains("use http:// in --target"), "{line}");

    // A self-signed certificate for another name is refused even when given with
    // --ca-cert; the line says which names it is for.
    let other = TempDir::new("tls-other-name");
    self_signed(other.path(), "DNS:other.example");
    let other_proxy = Proxy::start(other.path(), &sim.url());
    let before = sim.stats().requests;
    let other_own = other.path().join("server.pem").display().to_string();
    let (o, _) = chat(format!("https://127.0.0.1:{}", other_proxy.tls), vec!["--ca-cert".into(), other_own]).await;
    let line = one_error_line(&o);
    assert!(line.contains("certificate for 127.0.0.1 is not valid for that name: it is for other.example"), "{line}");
    assert_eq!(sim.stats().requests, before, "nothing reached the server");
}
