//! A pool of HTTP/1.1 connections to the target (plain or TLS), without locks.
//!
//! Idle connections wait in a lock-free bounded queue. A request takes one (or opens
//! one), and gives it back once the response has been read to the end. HTTP/1.1 has
//! one request in flight per connection, so an open-loop load that outpaces the server
//! opens as many connections as it has requests in flight: the honest behaviour for a
//! load generator, which must not queue requests the server has not seen.
//!
//! Some servers close a connection right after a streamed response while advertising
//! keep-alive (llama.cpp's server does). A request sent on such a connection fails
//! before any response arrives; the exchange then retries once on a new connection,
//! and the pool learns to stop reusing connections that carried a stream.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use crossbeam_queue::ArrayQueue;
use http_body_util::Full;
use std::time::{Duration, Instant};

use hyper::client::conn::http2;
use volley_net::Tls;
use volley_net::target::Connected;

use super::h1::H1Conn;
use super::source::SourceAddrs;

/// An HTTP/1.1 connection (one request at a time, read and written by the exchange
/// that holds it), or a clone of an HTTP/2 connection's sender (many requests share it).
pub enum Sender {
    H1(H1Conn),
    H2(http2::SendRequest<Full<Bytes>>),
}

/// A connection and what it carried last.
pub struct Connection {
    pub sender: Sender,
    /// Freshly opened: how long the TCP connect and the TLS handshake took, in µs.
    pub setup: Option<Setup>,
    /// Taken from the pool rather than freshly opened.
    pub reused: bool,
    /// Its last exchange was a streamed response.
    pub last_was_stream: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Setup {
    pub connect_us: u32,
    pub tls_us: Option<u32>,
}

pub struct Pool {
    /// For an https target: its host name and the TLS settings.
    tls: Option<(String, Tls)>,
    addr: SocketAddr,
    /// Idle connections, one queue per send lane: a socket is registered with the lane
    /// that opened it, whose reactor wakes its readers, so it is reused there.
    idle: Vec<ArrayQueue<Connection>>,
    opened: AtomicU64,
    stale_reuses: AtomicU64,
    /// Learned: the server closes connections after streamed responses.
    streams_close: AtomicBool,
    /// The shared HTTP/2 connection, once one was negotiated (a queue of one, so taking
    /// a clone stays lock-free).
    h2: ArrayQueue<http2::SendRequest<Full<Bytes>>>,
    h2_used: AtomicBool,
    /// Plain http with HTTP/2 by prior knowledge (`--http2 on`).
    h2_prior_knowledge: bool,
    /// The local addresses new connections come from (`--source-addr`).
    sources: SourceAddrs,
}

impl Pool {
    /// A pool keeping up to `max_idle` idle connections, shared out among `lanes` send lanes.
    pub fn new(
        tls: Option<(String, Tls)>,
        addr: SocketAddr,
        max_idle: usize,
        lanes: usize,
        h2_prior_knowledge: bool,
        sources: SourceAddrs,
    ) -> Self {
        let per_lane = max_idle.div_ceil(lanes.max(1)).max(1);
        Pool {
            h2: ArrayQueue::new(1),
            h2_used: AtomicBool::new(false),
            h2_prior_knowledge,
            tls,
            addr,
            idle: (0..lanes.max(1)).map(|_| ArrayQueue::new(per_lane)).collect(),
            opened: AtomicU64::new(0),
            stale_reuses: AtomicU64::new(0),
            streams_close: AtomicBool::new(false),
            sources,
        }
    }

    /// An idle connection that is ready for a request, or a new one.
    pub async fn acquire(&self) -> io::Result<Connection> {
        if let Some(shared) = self.h2.pop()
            && !shared.is_closed()
        {
            // Another stream on the same connection: its set-up was paid already.
            let sender = Sender::H2(shared.clone());
            let _ = self.h2.push(shared);
            return Ok(Connection { sender, setup: None, reused: true, last_was_stream: false });
        }
        // An idle HTTP/1.1 connection the server has closed since is found out by the
        // request sent on it (no byte of an answer comes back), and retried once.
        if let Some(mut conn) = self.idle().pop() {
            conn.reused = true;
            conn.setup = None;
            return Ok(conn);
        }
        self.connect().await
    }

    /// A new connection.
    pub async fn connect(&self) -> io::Result<Connection> {
        // Boxed: a TLS or HTTP/2 handshake's future is ~8 KB, and inline it would make
        // every exchange's future (which an open-loop send copies into its task) that
        // much larger, though most exchanges take a pooled connection.
        Box::pin(self.open()).await
    }

    async fn open(&self) -> io::Result<Connection> {
        // TCP errors keep their kind (a refused connection is retried while a launched
        // server starts); a TLS failure is an error of its own.
        let start = Instant::now();
        let stream = self.sources.connect(self.addr).await?;
        stream.set_nodelay(true)?;
        let connected_at = Instant::now();
        let (connected, tls_us, h2) = match &self.tls {
            Some((host, tls)) => {
                let s = tls.connect(host, stream).await.map_err(|e| io::Error::other(e.to_string()))?;
                let h2 = Tls::negotiated_h2(&s);
                (Connected::Tls(Box::new(s)), Some(micros(connected_at.elapsed())), h2)
            }
            None => (Connected::Plain(stream), None, self.h2_prior_knowledge),
        };
        let setup = Setup { connect_us: micros(connected_at - start), tls_us };
        self.opened.fetch_add(1, Ordering::Relaxed);
        let sender = if h2 {
            // Streams share this connection's I/O, so it is not timed per request.
            let shared = volley_net::http::http2(connected).await.map_err(io::Error::other)?;
            self.h2_used.store(true, Ordering::Relaxed);
            let _ = self.h2.push(shared.clone());
            Sender::H2(shared)
        } else {
            Sender::H1(H1Conn::new(connected))
        };
        Ok(Connection { sender, setup: Some(setup), reused: false, last_was_stream: false })
    }

    /// Returns a connection after its exchange: kept if its response was read to the
    /// end and the server keeps it open.
    pub fn release(&self, mut conn: Connection, was_stream: bool) {
        match &conn.sender {
            // An HTTP/2 clone goes away; the shared connection stays in its slot.
            Sender::H2(_) => return,
            Sender::H1(c) if !c.reusable() => return,
            Sender::H1(_) => {}
        }
        if was_stream && self.streams_close.load(Ordering::Relaxed) {
            return;
        }
        conn.last_was_stream = was_stream;
        // A full queue drops (closes) the surplus connection.
        let _ = self.idle().push(conn);
    }

    /// The calling lane's idle queue.
    fn idle(&self) -> &ArrayQueue<Connection> {
        &self.idle[crate::lanes::current() % self.idle.len()]
    }

    /// A reused connection died before answering: note it, and whether a stream was the
    /// cause, so such connections stop being reused.
    pub fn note_stale(&self, conn: &Connection) {
        self.stale_reuses.fetch_add(1, Ordering::Relaxed);
        if conn.last_was_stream {
            self.streams_close.store(true, Ordering::Relaxed);
        }
    }

    /// Whether any connection speaks HTTP/2.
    pub fn used_h2(&self) -> bool {
        self.h2_used.load(Ordering::Relaxed)
    }

    /// Connections opened so far.
    pub fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// Requests retried because a reused connection had been closed by the server.
    pub fn stale_reuses(&self) -> u64 {
        self.stale_reuses.load(Ordering::Relaxed)
    }
}

/// A duration in whole microseconds, saturating at `u32::MAX` (about 71 minutes).
pub(crate) fn micros(d: Duration) -> u32 {
    d.as_micros().min(u128::from(u32::MAX)) as u32
}
