//! A pool of HTTP/1.1 connections to the target, without locks.
//!
//! Idle connections wait in a lock-free bounded queue. A request takes one (or opens
//! one), and gives it back once the response has been read to the end. HTTP/1.1 has
//! one request in flight per connection, so an open-loop load that outpaces the server
//! opens as many connections as it has requests in flight: the honest behaviour for a
//! load generator, which must not queue requests the server has not seen.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use crossbeam_queue::ArrayQueue;
use http_body_util::Full;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub type Connection = http1::SendRequest<Full<Bytes>>;

pub struct Pool {
    addr: SocketAddr,
    idle: ArrayQueue<Connection>,
    opened: AtomicU64,
}

impl Pool {
    pub fn new(addr: SocketAddr, max_idle: usize) -> Self {
        Pool { addr, idle: ArrayQueue::new(max_idle.max(1)), opened: AtomicU64::new(0) }
    }

    /// An idle connection that is ready for a request, or a new one.
    pub async fn acquire(&self) -> io::Result<Connection> {
        while let Some(mut conn) = self.idle.pop() {
            if conn.is_closed() {
                continue;
            }
            // Ready once the previous exchange has been fully processed, which the
            // connection task does promptly after the body's end was read.
            if conn.ready().await.is_ok() {
                return Ok(conn);
            }
        }
        self.connect().await
    }

    async fn connect(&self) -> io::Result<Connection> {
        let stream = TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(io::Error::other)?;
        tokio::spawn(async move {
            // Ends when the server closes or the last sender is dropped.
            let _ = connection.await;
        });
        self.opened.fetch_add(1, Ordering::Relaxed);
        Ok(sender)
    }

    /// Returns a connection whose last response was read to the end.
    pub fn release(&self, conn: Connection) {
        if !conn.is_closed() {
            // A full queue drops (closes) the surplus connection.
            let _ = self.idle.push(conn);
        }
    }

    /// Connections opened so far.
    pub fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }
}
