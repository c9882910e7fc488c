//! The HTTP/1.1 connection against scripted servers on loopback: what it writes, how it
//! reads heads and bodies, when it may be reused, and how it refuses what is not HTTP.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// A server that answers its first connection: for each request it reads one request
/// head (and the body its content-length announces), then writes the next answer;
/// after the last it closes. Returns the address and a handle yielding what it read.
async fn scripted(answers: Vec<&'static [u8]>) -> (std::net::SocketAddr, tokio::task::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut seen = Vec::new();
        for answer in answers {
            let start = seen.len();
            let head_end = loop {
                if let Some(i) = seen[start..].windows(4).position(|w| w == b"\r\n\r\n") {
                    break start + i + 4;
                }
                let mut b = [0u8; 4096];
                let n = s.read(&mut b).await.unwrap();
                if n == 0 {
                    return seen;
                }
                seen.extend_from_slice(&b[..n]);
            };
            let head = String::from_utf8_lossy(&seen[start..head_end]).to_lowercase();
            let len: usize = head.lines().find_map(|l| l.strip_prefix("content-length: ")).map_or(0, |v| v.trim().parse().unwrap());
            while seen.len() < head_end + len {
                let mut b = [0u8; 4096];
                let n = s.read(&mut b).await.unwrap();
                seen.extend_from_slice(&b[..n]);
            }
            s.write_all(answer).await.unwrap();
        }
        seen
    });
    (addr, task)
}

async fn conn(addr: std::net::SocketAddr) -> H1Conn {
    H1Conn::new(Connected::Plain(TcpStream::connect(addr).await.unwrap()))
}

/// Sends `method path` with `body` and reads the whole answer: status, body, reusable.
async fn exchange(c: &mut H1Conn, method: Method, body: &[u8]) -> Result<(u16, Vec<u8>, bool), WireError> {
    let host = (HeaderName::from_static("host"), HeaderValue::from_static("t"));
    let uri: Uri = "/v1/x?q=1".parse().unwrap();
    let written = c.send(&method, &uri, [(&host.0, &host.1)].into_iter(), body).await?;
    let head = c.head(method == Method::HEAD).await?;
    assert!(head.first_byte >= written);
    let mut got = Vec::new();
    while let Some((piece, at, last)) = c.chunk().await? {
        assert!(at >= head.first_byte);
        got.extend_from_slice(piece);
        if last {
            // As the exchange reads a whole body: it stops once a piece says the body
            // ends there, and the next head takes up after it.
            break;
        }
    }
    Ok((head.status, got, c.reusable()))
}

#[tokio::test]
async fn one_connection_carries_requests_of_every_framing() {
    let (addr, server) = scripted(vec![
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
        b"HTTP/1.1 503 Busy\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy",
    ])
    .await;
    let mut c = conn(addr).await;
    assert_eq!(exchange(&mut c, Method::POST, b"{\"a\":1}").await.unwrap(), (200, b"hello".to_vec(), true));
    assert_eq!(exchange(&mut c, Method::GET, b"").await.unwrap(), (201, b"abcde".to_vec(), true));
    assert_eq!(exchange(&mut c, Method::POST, b"").await.unwrap(), (204, vec![], true));
    assert_eq!(exchange(&mut c, Method::HEAD, b"").await.unwrap(), (200, vec![], true), "a HEAD answer has no body");
    assert_eq!(exchange(&mut c, Method::GET, b"").await.unwrap(), (503, b"busy".to_vec(), false), "connection: close");
    let seen = String::from_utf8(server.await.unwrap()).unwrap();
    let requests: Vec<&str> = seen.split_inclusive("\r\n\r\n").collect();
    assert_eq!(requests[0], "POST /v1/x?q=1 HTTP/1.1\r\nhost: t\r\ncontent-length: 7\r\n\r\n");
    assert_eq!(requests[1], "{\"a\":1}GET /v1/x?q=1 HTTP/1.1\r\nhost: t\r\n\r\n", "no length on a bodiless GET");
    assert_eq!(requests[2], "POST /v1/x?q=1 HTTP/1.1\r\nhost: t\r\ncontent-length: 0\r\n\r\n");
}

#[tokio::test]
async fn bodies_ending_with_the_connection_and_old_servers_are_not_reused() {
    let (addr, _server) = scripted(vec![b"HTTP/1.1 200 OK\r\n\r\nuntil the end"]).await;
    let mut c = conn(addr).await;
    assert_eq!(exchange(&mut c, Method::GET, b"").await.unwrap(), (200, b"until the end".to_vec(), false));
    let (addr, _server) = scripted(vec![b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"]).await;
    let mut c = conn(addr).await;
    assert_eq!(exchange(&mut c, Method::GET, b"").await.unwrap(), (200, b"ok".to_vec(), false), "HTTP/1.0 without keep-alive");
    let (addr, _server) = scripted(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"]).await;
    let mut c = conn(addr).await;
    // One small write arrives in one read on loopback: the bytes after the body are
    // in the buffer, so the connection is out of step and not reused.
    assert_eq!(exchange(&mut c, Method::GET, b"").await.unwrap(), (200, b"ok".to_vec(), false));
}

#[tokio::test]
async fn a_closed_connection_before_the_answer_is_told_apart_from_a_broken_one() {
    let (addr, _server) = scripted(vec![]).await;
    let mut c = conn(addr).await;
    let e = exchange(&mut c, Method::GET, b"").await.unwrap_err();
    assert!(matches!(e, WireError::Closed(_)), "{e:?}");
    let (addr, _server) = scripted(vec![b"HTTP/1.1 200 OK\r\nContent-"]).await;
    let mut c = conn(addr).await;
    let e = exchange(&mut c, Method::GET, b"").await.unwrap_err();
    assert!(matches!(&e, WireError::Broken(m) if m.contains("inside the response head")), "{e:?}");
    let (addr, _server) = scripted(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"]).await;
    let mut c = conn(addr).await;
    let e = exchange(&mut c, Method::GET, b"").await.unwrap_err();
    assert!(matches!(&e, WireError::Broken(m) if m.contains("5 bytes of the body still to come")), "{e:?}");
}

#[tokio::test]
async fn what_is_not_http_is_refused_within_bounds() {
    let big_head: &'static [u8] = Box::leak([&b"HTTP/1.1 200 OK\r\nx-filler: "[..], &b"y".repeat(MAX_HEAD)].concat().into_boxed_slice());
    let many: &'static [u8] =
        Box::leak([&b"HTTP/1.1 200 OK\r\n"[..], &b"a: b\r\n".repeat(MAX_HEADERS + 1), b"\r\n"].concat().into_boxed_slice());
    for (answer, want) in [
        (&b"SSH-2.0-OpenSSH\r\n\r\n"[..], "invalid HTTP/1.1 response head"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabc", "invalid content-length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "invalid content-length"),
        (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "switched protocols"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", "invalid chunk size"),
        (big_head, "over 64 KiB"),
        (many, "over 100 headers"),
    ] {
        let (addr, _server) = scripted(vec![answer]).await;
        let mut c = conn(addr).await;
        let e = tokio::time::timeout(Duration::from_secs(10), exchange(&mut c, Method::GET, b"")).await.unwrap().unwrap_err();
        assert!(matches!(&e, WireError::Protocol(m) if m.contains(want)), "{want}: {e:?}");
    }
}

#[tokio::test]
async fn large_bodies_and_long_streams_pass_through_a_bounded_buffer() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    const PIECES: usize = 2000;
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 1];
            s.read_exact(&mut b).await.unwrap();
            head.push(b[0]);
        }
        let mut body = vec![0u8; 300_000];
        s.read_exact(&mut body).await.unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").await.unwrap();
        for i in 0..PIECES {
            let event = format!("data: {i:0>1000}\n\n");
            s.write_all(format!("{:x}\r\n{event}\r\n", event.len()).as_bytes()).await.unwrap();
        }
        s.write_all(b"0\r\n\r\n").await.unwrap();
        body.iter().all(|&b| b == 7)
    });
    let mut c = conn(addr).await;
    let (status, got, reusable) = exchange(&mut c, Method::POST, &vec![7u8; 300_000]).await.unwrap();
    assert!(server.await.unwrap(), "the large body arrived whole");
    assert_eq!((status, reusable), (200, true));
    assert_eq!(got.len(), PIECES * 1008);
    assert!(c.buf.capacity() <= 2 * MAX_READ, "read buffer grew to {}", c.buf.capacity());
}
