//! One HTTP/1.1 request on its own connection, for everything that is not the send path:
//! probes (metrics endpoints, statistics, model lists), readiness checks, the OTLP
//! exporter and the registry client. It goes only to a [`Checked`] destination: one the
//! egress gate ([`crate::egress`]) parsed and allowed.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Method;
use hyper_util::rt::TokioIo;

use volley_core::text::printable;

use crate::NetError;
use crate::egress::Checked;
use crate::target::Connected;

/// An HTTP/1.1 client over a connection (plain or TLS); its connection task runs until
/// the server closes or the sender is dropped.
pub async fn http1(c: Connected) -> hyper::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let (send, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(c)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(send)
}

/// An HTTP/2 client over a connection (TLS with `h2` chosen by ALPN, or plain TCP with
/// prior knowledge); many requests share it. Its connection task runs until the server
/// closes or the last sender is dropped.
pub async fn http2(c: Connected) -> hyper::Result<hyper::client::conn::http2::SendRequest<Full<Bytes>>> {
    let (send, conn) =
        hyper::client::conn::http2::handshake::<_, _, Full<Bytes>>(hyper_util::rt::TokioExecutor::new(), TokioIo::new(c)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(send)
}

/// An HTTP/1.1 response, read whole.
pub struct Response {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

/// GETs a checked destination, reading at most `max_body` bytes of its answer (see
/// [`request_limited`]); the status and body, within `timeout`.
pub async fn get_limited(to: &Checked, timeout: Duration, max_body: usize) -> Result<(u16, Bytes), NetError> {
    let resp = request_limited(Method::GET, to, &[], Bytes::new(), timeout, max_body).await?;
    Ok((resp.status, resp.body))
}

/// One HTTP/1.1 request on a new connection (http or https), answered within `timeout`,
/// refusing a response body longer than `max_body` bytes as soon as it grows past it: a
/// server cannot make the client hold more than it asked for. The destination is a
/// [`Checked`] one: only the egress gate makes those.
pub async fn request_limited(
    method: Method,
    to: &Checked,
    headers: &[(&str, &str)],
    body: Bytes,
    timeout: Duration,
    max_body: usize,
) -> Result<Response, NetError> {
    let d = to.destination();
    let url = printable(&d.to_string(), 200);
    let http = |e: &dyn std::fmt::Display| NetError::Http(format!("{url}: {e}"));
    let fetch = async {
        let addr = to.resolve().await.map_err(|e| NetError::Http(format!("cannot connect to {url}: {e}")))?;
        let connected = to.connect(addr).await.map_err(|e| match e {
            NetError::Tls(_) => e,
            other => NetError::Http(format!("cannot connect to {url}: {other}")),
        })?;
        let mut send = http1(connected).await.map_err(|e| http(&e))?;
        let mut req = hyper::Request::builder().method(method).uri(d.path_and_query()).header(hyper::header::HOST, d.authority());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body)).map_err(|e| http(&e))?;
        let resp = send.send_request(req).await.map_err(|e| http(&e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut incoming = resp.into_body();
        let too_long = || {
            NetError::Http(format!(
                "{url}: the response body is over {}; refusing it",
                volley_core::foreign_file::human_bytes(max_body as u64)
            ))
        };
        // A declared length past the bound is refused before a byte of the body is read.
        if hyper::body::Body::size_hint(&incoming).lower() > max_body as u64 {
            return Err(too_long());
        }
        let mut buf = bytes::BytesMut::new();
        while let Some(frame) = incoming.frame().await {
            let frame = frame.map_err(|e| http(&e))?;
            if let Some(data) = frame.data_ref() {
                if buf.len().saturating_add(data.len()) > max_body {
                    return Err(too_long());
                }
                buf.extend_from_slice(data);
            }
        }
        Ok::<_, NetError>(Response { status, headers, body: buf.freeze() })
    };
    tokio::time::timeout(timeout, fetch).await.map_err(|_| NetError::Http(format!("no answer from {url} within {timeout:?}")))?
}
