//! The operator's target: the one server a run may send traffic to. Parsed once (through
//! the egress gate's [`Destination`], so a dot segment in its base path is refused),
//! allowed by the policy ([`crate::Egress::target`]), then resolved once and checked for
//! reachability before any request is produced. Connections are made from a [`Checked`]
//! destination only: [`Checked::resolve`], [`Checked::reach`], [`Checked::connect`].

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::Uri;
use hyper::header::HeaderValue;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::NetError;
use crate::egress::{Checked, Destination};

type Result<T> = std::result::Result<T, NetError>;

macro_rules! bail {
    ($($t:tt)*) => { return Err(NetError::Target(format!($($t)*))) };
}

#[derive(Debug, Clone)]
pub struct Target {
    /// As the operator wrote it.
    pub url: String,
    /// `https`: connections are TLS ([`crate::Tls::operator`]'s settings).
    pub tls: bool,
    /// `grpc://` (or `grpcs://`): KServe v2 over gRPC, HTTP/2 only.
    pub grpc: bool,
    pub host: String,
    pub port: u16,
    /// Path prefix of the server's API root, without a trailing slash ("" or "/proxy").
    pub base_path: String,
    /// Value of the `Host` header.
    pub authority: HeaderValue,
    /// Scheme, host, port and base path, as the egress gate parsed them.
    destination: Destination,
}

impl Target {
    /// Accepts `http[s]://host[:port][/prefix]`. A trailing `/v1` is dropped, since API
    /// paths carry it (`--target http://h:8000/v1` and `http://h:8000` are the same).
    pub fn parse(url: &str) -> Result<Self> {
        let uri: Uri = url.parse().map_err(|e| NetError::Target(format!("invalid target URL '{url}': {e}")))?;
        let (tls, grpc) = match uri.scheme_str() {
            Some("http") => (false, false),
            Some("https") => (true, false),
            Some("grpc") => (false, true),
            Some("grpcs") => (true, true),
            Some(other) => {
                bail!("target '{url}': unsupported scheme '{other}' (use http://, https://, or grpc:// for KServe v2 over gRPC)")
            }
            None => bail!("target '{url}' needs a scheme, e.g. http://{url}"),
        };
        let host = uri.host().ok_or_else(|| NetError::Target(format!("target '{url}' has no host")))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        if uri.query().is_some() {
            bail!("target '{url}' must not have a query string");
        }
        let mut base_path = uri.path().trim_end_matches('/').to_string();
        if base_path.ends_with("/v1") {
            base_path.truncate(base_path.len() - 3);
        }
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or(&host);
        let authority = HeaderValue::from_str(authority).map_err(|_| NetError::Target(format!("target '{url}' has an invalid host")))?;
        if grpc && !base_path.is_empty() {
            bail!("target '{url}': a grpc:// target has no path");
        }
        let full = Destination::parse(url).map_err(|e| NetError::Target(format!("target {e}")))?;
        let destination =
            Destination::parse(&format!("{}{base_path}", full.origin())).map_err(|e| NetError::Target(format!("target {e}")))?;
        Ok(Target { url: url.to_string(), tls, grpc, host, port, base_path, authority, destination })
    }

    /// The target as the egress gate sees it: its origin and base path.
    pub fn destination(&self) -> &Destination {
        &self.destination
    }

    /// The scheme: `http`, `https`, `grpc` or `grpcs`.
    pub fn scheme(&self) -> &str {
        match (self.grpc, self.tls) {
            (false, false) => "http",
            (false, true) => "https",
            (true, false) => "grpc",
            (true, true) => "grpcs",
        }
    }

    /// `scheme://authority/prefix`, for probes that address the target's own endpoints.
    pub fn base_url(&self) -> String {
        format!("{}://{}{}", self.scheme(), self.authority.to_str().unwrap_or(&self.host), self.base_path)
    }

    /// The absolute path of an API path such as `/v1/completions`.
    pub fn path(&self, api_path: &str) -> String {
        format!("{}{api_path}", self.base_path)
    }
}

/// Connections go to checked destinations only.
impl Checked {
    /// A connection to `addr` (an address of this destination) for HTTP/1.1, TLS for
    /// https; a handshake failure is one line.
    pub async fn connect(&self, addr: SocketAddr) -> Result<Connected> {
        let tcp = TcpStream::connect(addr).await.map_err(|e| NetError::Unreachable(format!("cannot connect to {addr}: {e}")))?;
        tcp.set_nodelay(true).map_err(|e| NetError::Unreachable(e.to_string()))?;
        let d = self.destination();
        if !d.scheme().tls() {
            return Ok(Connected::Plain(tcp));
        }
        let tls = crate::Tls::operator()?;
        Ok(Connected::Tls(Box::new(tls.connect_h1(d.host(), tcp).await?)))
    }

    /// Resolves the host and opens one TCP connection (and for TLS, completes the
    /// handshake), so an unreachable target is one clear error before the run starts.
    /// Returns the address that answered.
    pub async fn reach(&self, timeout: Duration) -> Result<SocketAddr> {
        let d = self.destination();
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((d.host(), d.port()))
            .await
            .map_err(|e| NetError::Unreachable(format!("cannot resolve target host '{}': {e}", d.host())))?
            .collect();
        let mut last_err = None;
        for addr in addrs {
            match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
                Ok(Ok(tcp)) if d.scheme().tls() => {
                    // The handshake now: an untrusted certificate stops the run before it starts.
                    let tls = crate::Tls::operator()?;
                    return match tokio::time::timeout(timeout, tls.connect(d.host(), tcp)).await {
                        Ok(Ok(_)) => Ok(addr),
                        Ok(Err(e)) => Err(e),
                        Err(_) => {
                            Err(NetError::Tls(format!("TLS handshake with {} got no answer within {} s", d.host(), timeout.as_secs_f64())))
                        }
                    };
                }
                Ok(Ok(_)) => return Ok(addr),
                Ok(Err(e)) => last_err = Some(e.to_string()),
                Err(_) => last_err = Some(format!("no answer within {} s", timeout.as_secs_f64())),
            }
        }
        let why = last_err.unwrap_or_else(|| "the host has no address".into());
        Err(NetError::Unreachable(format!("cannot reach target {d}: {}", lowercase_first(&why))))
    }

    /// The destination's first address, without connecting (for a server that is still
    /// starting).
    pub async fn resolve(&self) -> Result<SocketAddr> {
        let d = self.destination();
        tokio::net::lookup_host((d.host(), d.port()))
            .await
            .map_err(|e| NetError::Unreachable(format!("cannot resolve host '{}': {e}", d.host())))?
            .next()
            .ok_or_else(|| NetError::Unreachable(format!("host '{}' has no address", d.host())))
    }
}

/// A connection to the target: plain TCP or TLS over it.
pub enum Connected {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Connected {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connected::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Connected::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Connected {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Connected::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Connected::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connected::Plain(s) => Pin::new(s).poll_flush(cx),
            Connected::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connected::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Connected::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        let t = Target::parse("http://127.0.0.1:8000/v1").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.base_path.as_str()), ("127.0.0.1", 8000, ""));
        assert_eq!(t.path("/v1/completions"), "/v1/completions");
        let t = Target::parse("http://localhost/proxy/").unwrap();
        assert_eq!((t.port, t.base_path.as_str()), (80, "/proxy"));
        assert_eq!(t.authority, "localhost");
        assert!(Target::parse("127.0.0.1:8000").is_err());
        let t = Target::parse("https://x/v1").unwrap();
        assert_eq!((t.tls, t.port, t.scheme(), t.base_url().as_str()), (true, 443, "https", "https://x"));
        assert!(Target::parse("ftp://x").unwrap_err().to_string().contains("unsupported scheme 'ftp'"));
        assert!(Target::parse("http://x/?a=1").is_err());
        assert_eq!(Target::parse("http://H:8000/a/v1").unwrap().destination().to_string(), "http://h:8000/a");
    }

    #[test]
    fn a_base_path_that_climbs_out_is_refused_not_resolved() {
        for bad in ["http://h/tenant-a/../tenant-b", "http://h/tenant-a/%2e%2E/tenant-b", "http://h/tenant-a/.%2e", "http://h/a%2f..%2fb"] {
            let e = Target::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("target '") && (e.contains("dot segment") || e.contains("encoded slash")), "{bad}: {e}");
        }
        assert!(Target::parse("http://user@h/").unwrap_err().to_string().contains("user info"));
    }
}
