//! One HTTP/1.1 GET, for probes: metrics endpoints, statistics, model lists.

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

use crate::target::Target;

/// GETs `url` (http only); the status and body, within `timeout`.
pub async fn get(url: &str, timeout: Duration) -> Result<(u16, Bytes)> {
    let target = Target::parse(url)?;
    let uri: hyper::Uri = url.parse().map_err(|e| anyhow!("invalid URL '{url}': {e}"))?;
    let path = uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let fetch = async {
        let stream = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
            .await
            .with_context(|| format!("cannot connect to {url}"))?;
        let (mut send, conn) = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let req = hyper::Request::get(path).header(hyper::header::HOST, target.authority.clone()).body(Empty::new())?;
        let resp = send.send_request(req).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok::<_, anyhow::Error>((status, body))
    };
    tokio::time::timeout(timeout, fetch).await.map_err(|_| anyhow!("no answer from {url} within {timeout:?}"))?
}
