//! The phases of a start: the port accepts connections, the server says it is ready,
//! the first token of a first real request. Polls every few milliseconds; each probe
//! is a cheap connect or GET, so polling does not load the server.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use volley_net::http::get;

use super::process::ServerProcess;
use crate::client::{openai, sse::SseParser};

/// Time between probes.
pub const POLL: Duration = Duration::from_millis(5);

fn check_alive(server: &mut ServerProcess, what: &str) -> Result<()> {
    if let Some(status) = server.exited() {
        bail!("the server exited while {what} ({status}); its log ends: {}", server.log_tail(3));
    }
    Ok(())
}

/// When the port first accepted a connection.
pub async fn port_open(addr: SocketAddr, server: &mut ServerProcess, deadline: Instant) -> Result<Instant> {
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

/// When `url` first answered 200.
pub async fn url_ready(url: &str, server: &mut ServerProcess, deadline: Instant) -> Result<Instant> {
    loop {
        check_alive(server, "loading")?;
        let last = match get(url, Duration::from_secs(2)).await {
            Ok((200, _)) => return Ok(Instant::now()),
            Ok((status, body)) => format!("HTTP {status} {}", String::from_utf8_lossy(&body).chars().take(80).collect::<String>()),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            bail!("{url} was not ready in time (last answer: {last})");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Streams one short completion; (sent, first token) instants.
pub async fn first_token(base: &str, model: Option<&str>, chat: bool) -> Result<(Instant, Instant)> {
    let target = volley_net::Target::parse(base)?;
    let (path, mut body) = if chat {
        ("/v1/chat/completions", serde_json::json!({"messages": [{"role": "user", "content": "Say hello."}]}))
    } else {
        ("/v1/completions", serde_json::json!({"prompt": "Once upon a time"}))
    };
    body["max_tokens"] = 4.into();
    body["stream"] = true.into();
    if let Some(m) = model {
        body["model"] = m.into();
    }
    let stream = TcpStream::connect((target.host.as_str(), target.port)).await?;
    let (mut send, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = hyper::Request::post(target.path(path))
        .header(hyper::header::HOST, target.authority.clone())
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
