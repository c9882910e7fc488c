//! One HTTP/1.1 request on its own connection, for everything that is not the send path:
//! probes (metrics endpoints, statistics, model lists), readiness checks and the
//! registry client.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Method;
use hyper_util::rt::TokioIo;

use crate::NetError;
use crate::target::{Connected, Target};

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

/// GETs `url` (http or https); the status and body, within `timeout`.
pub async fn get(url: &str, timeout: Duration) -> Result<(u16, Bytes), NetError> {
    let resp = request(Method::GET, url, &[], Bytes::new(), timeout).await?;
    Ok((resp.status, resp.body))
}

/// An HTTP/1.1 response, read whole.
pub struct Response {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

/// Largest response body read by [`request`] (probes' answers are small).
pub const DEFAULT_MAX_BODY: usize = 64 << 20;

/// One HTTP/1.1 request on a new connection (http or https), answered within `timeout`.
pub async fn request(method: Method, url: &str, headers: &[(&str, &str)], body: Bytes, timeout: Duration) -> Result<Response, NetError> {
    request_limited(method, url, headers, body, timeout, DEFAULT_MAX_BODY).await
}

/// [`request`], refusing a response body longer than `max_body` bytes as soon as it
/// grows past it: a server cannot make the client hold more than it asked for.
pub async fn request_limited(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Bytes,
    timeout: Duration,
    max_body: usize,
) -> Result<Response, NetError> {
    let http = |e: &dyn std::fmt::Display| NetError::Http(format!("{url}: {e}"));
    let uri: hyper::Uri = url.parse().map_err(|e| NetError::Http(format!("invalid URL '{url}': {e}")))?;
    // Only the origin must be a valid target; the path may carry a query.
    let origin = format!("{}://{}", uri.scheme_str().unwrap_or(""), uri.authority().map(|a| a.as_str()).unwrap_or(""));
    let target = Target::parse(&origin).map_err(|e| NetError::Http(format!("{e} (in '{url}')")))?;
    let path = uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let fetch = async {
        let addr = target.resolve().await.map_err(|e| NetError::Http(format!("cannot connect to {url}: {e}")))?;
        let connected = target.connect(addr).await.map_err(|e| match e {
            NetError::Tls(_) => e,
            other => NetError::Http(format!("cannot connect to {url}: {other}")),
        })?;
        let mut send = http1(connected).await.map_err(|e| http(&e))?;
        let mut req = hyper::Request::builder().method(method).uri(path).header(hyper::header::HOST, target.authority.clone());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body)).map_err(|e| http(&e))?;
        let resp = send.send_request(req).await.map_err(|e| http(&e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut incoming = resp.into_body();
        let mut buf = bytes::BytesMut::new();
        while let Some(frame) = incoming.frame().await {
            let frame = frame.map_err(|e| http(&e))?;
            if let Some(data) = frame.data_ref() {
                if buf.len() + data.len() > max_body {
                    return Err(NetError::Http(format!("{url}: the response body is over {max_body} bytes; refusing it")));
                }
                buf.extend_from_slice(data);
            }
        }
        Ok::<_, NetError>(Response { status, headers, body: buf.freeze() })
    };
    tokio::time::timeout(timeout, fetch).await.map_err(|_| NetError::Http(format!("no answer from {url} within {timeout:?}")))?
}
