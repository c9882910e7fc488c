//! The phases of a start: the port accepts connections, the server says it is ready,
//! the first token of a first real request. Polls every few milliseconds; each probe
//! is a cheap connect or GET, so polling does not load the server. Every phase goes to a
//! destination the egress gate checked ([`Checked`]) before the server was started.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::net::TcpStream;

use volley_core::text::printable;
use volley_net::{Checked, Destination, Egress};

use super::process::ServerProcess;
use crate::client::{openai, sse::SseParser};
use crate::probe::answer::{READINESS_BYTES, fetch};

/// Time between probes.
pub const POLL: Duration = Duration::from_millis(5);

/// Where `volley coldstart`'s phases go: the server it starts itself at `addr`, its
/// readiness path, and the first request (chat or not) if any. Checked by the egress gate
/// under the built-in policy: coldstart is the operator's own command (it runs the commands
/// it is given; no run file reaches it), so only the gate's parsing rules bind it.
pub struct Phases {
    pub server: Checked,
    pub ready: Checked,
    pub first: Option<Checked>,
}

impl Phases {
    pub fn check(addr: SocketAddr, ready_path: &str, first_chat: Option<bool>) -> Result<Phases> {
        let mut egress = Egress::new(std::sync::Arc::new(volley_core::Policy::default()));
        let server = egress.target(&Destination::parse(&format!("http://{addr}"))?)?;
        let on_server = |what, path: &str| egress.on_target(what, path);
        let ready = on_server("--ready-path", ready_path)?;
        let first = first_chat.map(|chat| on_server("the first request", first_request_path(chat))).transpose()?;
        Ok(Phases { server, ready, first })
    }
}

fn check_alive(server: &mut ServerProcess, what: &str) -> Result<()> {
    if let Some(status) = server.exited() {
        bail!("the server exited while {what} ({status}); its log ends: {}", server.log_tail(3));
    }
    Ok(())
}

/// When the port of `to` (the launched server) first accepted a connection.
pub async fn port_open(to: &Checked, server: &mut ServerProcess, deadline: Instant) -> Result<Instant> {
    let addr = to.resolve().await?;
    loop {
        check_alive(server, "starting")?;
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            return Ok(Instant::now());
        }
        if Instant::now() >= deadline {
            bail!("port {} did not accept connections in time", addr.port());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// When `url` (the launched server's readiness path) first answered 200.
pub async fn url_ready(url: &Checked, server: &mut ServerProcess, deadline: Instant) -> Result<Instant> {
    loop {
        check_alive(server, "loading")?;
        // Only the status counts: the body is read through the bounded reader.
        let last = match fetch(url, Duration::from_secs(2), READINESS_BYTES).await {
            Ok((200, _)) => return Ok(Instant::now()),
            Ok((status, body)) => format!("HTTP {status} {}", printable(&String::from_utf8_lossy(body.get(..320).unwrap_or(&body)), 80)),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            bail!("{url} was not ready in time (last answer: {last})");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The API path of the first request: chat or plain completions.
pub fn first_request_path(chat: bool) -> &'static str {
    if chat { "/v1/chat/completions" } else { "/v1/completions" }
}

/// Streams one short completion to `to` (the server's [`first_request_path`]); (sent,
/// first token) instants.
pub async fn first_token(to: &Checked, model: Option<&str>, chat: bool) -> Result<(Instant, Instant)> {
    let mut body = if chat {
        serde_json::json!({"messages": [{"role": "user", "content": "Say hello."}]})
    } else {
        serde_json::json!({"prompt": "Once upon a time"})
    };
    body["max_tokens"] = 4.into();
    body["stream"] = true.into();
    if let Some(m) = model {
        body["model"] = m.into();
    }
    let d = to.destination();
    let mut send = volley_net::http::http1(to.connect(to.resolve().await?).await?).await?;
    let req = hyper::Request::post(d.path_and_query())
        .header(hyper::header::HOST, d.authority())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))?;
    let sent = Instant::now();
    let resp = send.send_request(req).await?;
    if !resp.status().is_success() {
        let status = resp.status();
        let body = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        bail!("the first request got HTTP {status}: {}", String::from_utf8_lossy(&body).chars().take(120).collect::<String>());
    }
    let mut body = resp.into_body();
    let mut parser = SseParser::new();
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        let at = Instant::now();
        let mut got = false;
        if let Some(data) = frame.data_ref() {
            parser.feed(data, |ev| {
                got |= ev.data != b"[DONE]" && openai::parse(ev.data, None).is_ok_and(|p| p.has_output());
            });
        }
        if got {
            return Ok((sent, at));
        }
    }
    Err(anyhow!("the first request's stream ended without a token"))
}
