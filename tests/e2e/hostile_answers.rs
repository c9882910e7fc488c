//! Hostile answers to the requests Volley only inspects (docs/untrusted.md): a model
//! list, Triton statistics and Prometheus metrics that are huge, deep, or rename a
//! million series at every scrape, and model names past `max_name_bytes` or with
//! control characters. Each server is a plain `TcpListener` on 127.0.0.1 that this test
//! starts; each case ends by itself in bounded time, with the `volley` process's peak
//! RSS under 512 MiB, one clear line, and nothing sent anywhere but that server.

use std::io::{BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::support::*;

/// Peak RSS every case must stay under, MiB.
const RSS_LIMIT_MIB: u64 = 512;
/// What the hostile answers weigh (the issue's figure).
const SIXTY_MIB: usize = 60 << 20;

/// One request the server saw.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    body_bytes: usize,
    /// The request body named a model.
    names_model: bool,
}

/// Writes the answer to a GET of one path; `n` counts the GETs of that path so far.
type Answer = Box<dyn Fn(&mut dyn Write, u64) -> std::io::Result<()> + Send + Sync>;

/// A GET path, its answer, and how many times it was asked for.
type Route = (&'static str, Answer, AtomicU64);

/// A server on 127.0.0.1 that answers each GET path with its route's answer (404 for
/// others) and every POST with a short streamed completion, one request a connection,
/// and records every request. Stopped when dropped.
struct HostileServer {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl HostileServer {
    fn start(routes: Vec<(&'static str, Answer)>) -> HostileServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let routes: Arc<Vec<Route>> = Arc::new(routes.into_iter().map(|(p, a)| (p, a, AtomicU64::new(0))).collect());
        let (seen_by_server, stopping) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(s) = stream else { continue };
                let (routes, seen) = (routes.clone(), seen_by_server.clone());
                std::thread::spawn(move || serve(s, &routes, &seen));
            }
        });
        HostileServer { port, seen, stop }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accepting thread so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(mut s: TcpStream, routes: &[Route], seen: &Mutex<Vec<Seen>>) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 && s.read(&mut byte).is_ok_and(|n| n == 1) {
        head.push(byte[0]);
    }
    if head.is_empty() {
        return; // a connection that only checked the port (the target's reachability)
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut words = head.split_whitespace();
    let (method, path) = (words.next().unwrap_or("").to_string(), words.next().unwrap_or("").to_string());
    let length = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0)))
        .unwrap_or(0);
    let mut body = vec![0u8; length.min(64 << 20)];
    if s.read_exact(&mut body).is_err() {
        body.clear();
    }
    let names_model = serde_json::from_slice::<serde_json::Value>(&body).is_ok_and(|v| v.get("model").is_some());
    seen.lock().unwrap().push(Seen { method: method.clone(), path: path.clone(), body_bytes: body.len(), names_model });
    let mut out = BufWriter::with_capacity(64 << 10, s);
    let _ = match (method.as_str(), routes.iter().find(|(p, _, _)| *p == path)) {
        ("GET", Some((_, answer, count))) => answer(&mut out, count.fetch_add(1, Ordering::Relaxed)),
        ("POST", _) => completion(&mut out),
        _ => write!(out, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    };
    let _ = out.flush();
}

/// A streamed chat completion of two tokens.
fn completion(out: &mut dyn Write) -> std::io::Result<()> {
    let body = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n\
                data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"},\"finish_reason\":\"stop\"}]}\n\n\
                data: [DONE]\n\n";
    write!(out, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
}

/// A JSON answer of `[0,0,…]`, `bytes` long, with no declared length (read until the
/// server closes), so the reader's bound is what stops it.
fn zeros(bytes: usize) -> Answer {
    Box::new(move |out, _| {
        write!(out, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n[")?;
        let chunk = "0,".repeat(32 << 10);
        for _ in 0..bytes / chunk.len() {
            out.write_all(chunk.as_bytes())?;
        }
        out.write_all(b"0]")
    })
}

/// A model list naming `id`.
fn model_list(id: String) -> Answer {
    Box::new(move |out, _| {
        let body = json!({"object": "list", "data": [{"id": id, "object": "model"}]}).to_string();
        write!(out, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())?;
        out.write_all(body.as_bytes())
    })
}

/// A Prometheus exposition of `series` samples whose names are new at every scrape.
fn renaming_metrics(series: u64) -> Answer {
    const DIGITS: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    Box::new(move |out, scrape| {
        write!(out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nConnection: close\r\n\r\n")?;
        let mut line = Vec::with_capacity(32);
        for i in 0..series {
            line.clear();
            line.extend_from_slice(b"vllm:");
            // Scrape and index in base 62: about 14 bytes a line, 14 MB a scrape.
            for (mut n, digits) in [(scrape, 2), (i, 4)] {
                for _ in 0..digits {
                    line.push(DIGITS[(n % 62) as usize]);
                    n /= 62;
                }
            }
            line.extend_from_slice(b" 1\n");
            out.write_all(&line)?;
        }
        Ok(())
    })
}

/// A short chat-poisson run against `server` with `extra` arguments.
fn run_against(server: &HostileServer, extra: &[&str]) -> (Output, TempDir) {
    let out = TempDir::new("hostile-answers");
    let args = with(run_args("builtin:chat-poisson", &server.url(), json!({"rate": 10, "duration_s": 2, "max_tokens": 8}), &out), extra);
    (run_volley_args(&args, Duration::from_secs(90)), out)
}

/// What every case holds: bounded time and memory, no panic, no raw control
/// character, and nothing sent but to the paths named.
fn bounded(o: &Output, server: &HostileServer, paths: &[&str]) {
    let all = format!("{}{}", o.stdout, o.stderr);
    assert!(!all.contains("panicked") && !all.contains("RUST_BACKTRACE"), "{all}");
    assert!(!all.contains('\u{1b}') && !all.contains('\u{7}'), "a control character reached the terminal: {all:?}");
    assert!(o.elapsed < Duration::from_secs(45), "took {:?}", o.elapsed);
    let rss_mib = o.peak_rss_kib / 1024;
    assert!(rss_mib < RSS_LIMIT_MIB, "peak RSS {rss_mib} MiB");
    for s in server.seen() {
        let metadata = s.method == "GET" && METADATA_PATHS.contains(&s.path.as_str());
        assert!(paths.contains(&s.path.as_str()) || metadata, "unexpected {} {}", s.method, s.path);
    }
}

/// What every run asks once for its metadata, besides `/v1/models` (docs/report.md).
const METADATA_PATHS: [&str; 4] = ["/version", "/info", "/props", "/v2"];

/// A 200 answer of `body` as JSON.
fn json_answer(body: String) -> Answer {
    Box::new(move |out, _| {
        write!(out, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())?;
        out.write_all(body.as_bytes())
    })
}

/// The stderr lines that are warnings.
fn warnings(o: &Output) -> Vec<&str> {
    o.stderr.lines().filter(|l| l.contains("WARNING")).collect()
}

#[test]
fn a_model_list_of_sixty_mib_is_one_warning_and_the_run_goes_on() {
    let server = HostileServer::start(vec![("/v1/models", zeros(SIXTY_MIB))]);
    let (o, out) = run_against(&server, &[]);
    bounded(&o, &server, &["/v1/models", "/v1/chat/completions"]);
    o.assert_success();
    let w = warnings(&o);
    assert_eq!(w.len(), 1, "{}", o.stderr);
    assert!(w[0].contains("model lookup") && w[0].contains("over 4 MiB") && w[0].contains("requests name no model"), "{}", w[0]);
    let report = read_report(out.path());
    assert!(report["warnings"][0].as_str().unwrap().contains("model lookup"), "{}", report["warnings"]);
    let ok = report["stages"][0]["requests"]["ok"].as_u64().unwrap();
    assert!(ok >= 5, "the run went on: {}", report["stages"][0]["requests"]);
    let posts: Vec<Seen> = server.seen().into_iter().filter(|s| s.method == "POST").collect();
    assert_eq!(posts.len() as u64, ok);
    assert!(posts.iter().all(|s| !s.names_model), "no model named: {posts:?}");
}

#[test]
fn a_model_name_past_max_name_bytes_or_with_control_characters_is_refused() {
    // A 1 MiB name (within the list's byte bound): refused by the policy's name bound.
    let server = HostileServer::start(vec![("/v1/models", model_list("m".repeat(1 << 20)))]);
    let (o, out) = run_against(&server, &[]);
    bounded(&o, &server, &["/v1/models", "/v1/chat/completions"]);
    o.assert_success();
    let w = warnings(&o);
    assert_eq!(w.len(), 1, "{}", o.stderr);
    assert!(w[0].contains("max_name_bytes = 128") && w[0].contains("1048576 bytes long"), "{}", w[0]);
    let posts: Vec<Seen> = server.seen().into_iter().filter(|s| s.method == "POST").collect();
    assert!(!posts.is_empty() && posts.iter().all(|s| !s.names_model && s.body_bytes < 4096), "{posts:?}");
    assert!(read_report(out.path())["stages"][0]["requests"]["ok"].as_u64().unwrap() >= 5);

    // A name that would write to the clipboard (OSC 52) and forge a line.
    let server = HostileServer::start(vec![("/v1/models", model_list("m\u{1b}]52;c;aGk=\u{7}\nvolley: ALL CHECKS PASSED".into()))]);
    let (o, _out) = run_against(&server, &[]);
    bounded(&o, &server, &["/v1/models", "/v1/chat/completions"]);
    o.assert_success();
    let w = warnings(&o);
    assert_eq!(w.len(), 1, "{}", o.stderr);
    assert!(w[0].contains("control characters") && w[0].contains(r"m\u{1b}]52;c;aGk=\u{7}\nvolley"), "{}", w[0]);
    assert!(!o.stderr.lines().any(|l| l.starts_with("volley: ALL CHECKS")), "no forged line: {}", o.stderr);
    assert!(server.seen().iter().filter(|s| s.method == "POST").all(|s| !s.names_model));
}

#[test]
fn triton_statistics_of_sixty_mib_are_refused_in_one_line_before_anything_is_sent() {
    let server = HostileServer::start(vec![("/v1/models", model_list("m".into())), ("/v2/models/m/versions/1/stats", zeros(SIXTY_MIB))]);
    let (o, _out) = run_against(&server, &["--triton-stats", "m"]);
    bounded(&o, &server, &["/v1/models", "/v2/models/m/versions/1/stats"]);
    assert_eq!(o.status.code(), Some(1), "{}", o.stderr);
    let errors = o.error_lines();
    assert_eq!(errors.len(), 1, "{}", o.stderr);
    assert!(errors[0].contains("--triton-stats m") && errors[0].contains("over 4 MiB"), "{}", errors[0]);
    assert!(server.seen().iter().all(|s| s.method == "GET"), "no request was sent: {:?}", server.seen());
}

#[test]
fn metrics_that_rename_a_million_series_at_every_scrape_stay_bounded_and_counted() {
    let server = HostileServer::start(vec![("/v1/models", model_list("m".into())), ("/metrics", renaming_metrics(1_000_000))]);
    let metrics = format!("{}/metrics", server.url());
    let (o, out) = run_against(&server, &["--server-metrics", &metrics, "--metrics-interval-ms", "200"]);
    bounded(&o, &server, &["/v1/models", "/v1/chat/completions", "/metrics"]);
    o.assert_success();
    let report = read_report(out.path());
    let m = &report["server_metrics"];
    let (scrapes, series) = (m["scrapes"].as_u64().unwrap(), m["series"].as_object().unwrap().len() as u64);
    assert!(scrapes >= 3, "scraped at the stage's boundaries and between: {scrapes}");
    assert_eq!(series, 10_000, "the run's bound on distinct series");
    // Every sample of every scrape was either kept or counted.
    let kept: u64 = m["series"].as_object().unwrap().values().map(|points| points.as_array().unwrap().len() as u64).sum();
    assert_eq!(kept + m["dropped_samples"].as_u64().unwrap(), scrapes * 1_000_000, "{}", m["dropped_samples"]);
    let warned = report["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("samples were not kept"));
    assert!(warned, "{}", report["warnings"]);
    assert!(o.stdout.lines().any(|l| l.starts_with("WARNING: --server-metrics") && l.contains("samples were not kept")), "{}", o.stdout);
    assert!(report["stages"][0]["requests"]["ok"].as_u64().unwrap() >= 5);
}

#[test]
fn server_metadata_that_is_huge_not_json_or_forges_lines_stays_bounded_and_printable() {
    let forged = "m\u{1b}]52;c;aGk=\u{7}\nvolley: ALL CHECKS PASSED";
    let long = format!("tgi\u{1b}[2J\r{}", "x".repeat(100_000));
    let not_json: Answer =
        Box::new(|out, _| write!(out, "HTTP/1.1 200 OK\r\nContent-Length: 17\r\nConnection: close\r\n\r\n<html>oops</html>"));
    let server = HostileServer::start(vec![
        ("/v1/models", model_list(forged.into())),
        // 10 MiB where llama.cpp's /props would be.
        ("/props", zeros(10 << 20)),
        ("/version", not_json),
        ("/info", json_answer(json!({"model_id": long, "version": {"deep": [[[[1]]]]}, "max_total_tokens": "lots"}).to_string())),
        (
            "/v2",
            json_answer(json!({"name": "kserve\nvolley: ALL CHECKS PASSED", "version": "2", "extensions": vec!["e"; 5000]}).to_string()),
        ),
    ]);
    let out = TempDir::new("hostile-metadata");
    let args: Vec<String> = run_args("builtin:chat-poisson", &server.url(), json!({"rate": 10, "duration_s": 2, "max_tokens": 8}), &out)
        .into_iter()
        .filter(|a| a != "--quiet")
        .collect();
    let o = run_volley_args(&args, Duration::from_secs(90));
    bounded(&o, &server, &["/v1/models", "/v1/chat/completions"]);
    o.assert_success();
    assert!(!o.stderr.lines().any(|l| l.trim_start().starts_with("volley: ALL CHECKS")), "no forged line: {}", o.stderr);
    let header = o.stderr.lines().find(|l| l.trim_start().starts_with("server: ")).unwrap_or_else(|| panic!("{}", o.stderr));
    assert!(
        header.contains(r"model m\u{1b}]52;c;aGk=\u{7}\nvolley") && header.contains(r"TGI ?") && header.contains(r"kserve\nvolley"),
        "{header}"
    );
    let report = read_report(out.path());
    assert!(report["stages"][0]["requests"]["ok"].as_u64().unwrap() >= 5, "the run went on");
    let m = &report["metadata"]["server"];
    let e = |path: &str| m["endpoints"].as_array().unwrap().iter().find(|e| e["path"] == path).unwrap().clone();
    assert!(e("/props")["error"].as_str().unwrap().contains("over 256 KiB"), "{}", e("/props"));
    assert!(e("/version")["error"].as_str().unwrap().starts_with("not JSON"), "{}", e("/version"));
    assert_eq!(
        (e("/v1/models")["ok"].as_bool(), e("/info")["ok"].as_bool(), e("/v2")["ok"].as_bool()),
        (Some(true), Some(true), Some(true))
    );
    // What is kept is the whitelisted fields, clipped and bounded.
    assert_eq!(m["models"][0]["id"], forged);
    let id = m["tgi"]["model_id"].as_str().unwrap();
    assert_eq!(id.chars().count(), 257, "256 characters and an ellipsis");
    assert!(m["tgi"]["version"].is_null() && m["tgi"]["max_total_tokens"].is_null(), "{}", m["tgi"]);
    assert_eq!(m["kserve"]["extensions"].as_array().unwrap().len(), 64);
    assert!(m["llamacpp"].is_null());
    let size = std::fs::metadata(out.path().join("report.json")).unwrap().len();
    assert!(serde_json::to_string(&report["metadata"]).unwrap().len() < 16 << 10, "metadata stays small (report {size} bytes)");
}
