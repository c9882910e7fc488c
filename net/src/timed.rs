//! A connection's I/O, timed: when the last bytes of a request were handed to the
//! kernel, and when the first bytes of the answer came back. hyper does not say either,
//! so the connection's stream is wrapped; a request marks where its own exchange begins
//! ([`IoTimes::begin`]) and reads both after its response headers arrive.
//!
//! Lock-free (two atomics per connection), and the first-read clock is read only once
//! per exchange.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Nanoseconds since `epoch` of a connection's last write and first read; 0 is "not yet".
#[derive(Debug)]
pub struct IoTimes {
    epoch: Instant,
    last_write: AtomicU64,
    first_read: AtomicU64,
}

impl IoTimes {
    pub fn new() -> Arc<IoTimes> {
        Arc::new(IoTimes { epoch: Instant::now(), last_write: AtomicU64::new(0), first_read: AtomicU64::new(0) })
    }

    /// A new exchange starts: what the connection read before is not its answer.
    pub fn begin(&self) {
        self.first_read.store(0, Ordering::Relaxed);
    }

    /// When the request's last bytes were written (the latest write so far).
    pub fn last_write(&self) -> Option<Instant> {
        self.at(self.last_write.load(Ordering::Relaxed))
    }

    /// When the first bytes of the answer were read since [`IoTimes::begin`].
    pub fn first_read(&self) -> Option<Instant> {
        self.at(self.first_read.load(Ordering::Relaxed))
    }

    fn at(&self, ns: u64) -> Option<Instant> {
        (ns > 0).then(|| self.epoch + Duration::from_nanos(ns))
    }

    fn now(&self) -> u64 {
        (self.epoch.elapsed().as_nanos() as u64).max(1)
    }
}

/// A stream whose reads and writes stamp an [`IoTimes`].
pub struct TimedIo<T> {
    inner: T,
    times: Arc<IoTimes>,
}

impl<T> TimedIo<T> {
    pub fn new(inner: T, times: Arc<IoTimes>) -> Self {
        TimedIo { inner, times }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before && self.times.first_read.load(Ordering::Relaxed) == 0 {
            let now = self.times.now();
            self.times.first_read.store(now, Ordering::Relaxed);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> TimedIo<T> {
    fn wrote(&self, polled: &Poll<io::Result<usize>>) {
        if matches!(polled, Poll::Ready(Ok(n)) if *n > 0) {
            self.times.last_write.store(self.times.now(), Ordering::Relaxed);
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.wrote(&polled);
        polled
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn stamps_the_last_write_and_the_first_read_of_an_exchange() {
        let (a, mut b) = tokio::io::duplex(64);
        let times = IoTimes::new();
        let mut io = TimedIo::new(a, times.clone());
        assert_eq!((times.last_write(), times.first_read()), (None, None));
        io.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let written = times.last_write().unwrap();
        let mut got = [0u8; 18];
        b.read_exact(&mut got).await.unwrap();
        b.write_all(b"HTTP/1.1 200 OK\r\n").await.unwrap();
        let mut buf = [0u8; 8];
        io.read_exact(&mut buf).await.unwrap();
        let first = times.first_read().unwrap();
        assert!(first >= written);
        // Later reads of the same exchange do not move the first read.
        io.read_exact(&mut buf[..4]).await.unwrap();
        assert_eq!(times.first_read(), Some(first));
        times.begin();
        assert_eq!(times.first_read(), None, "a new exchange has not read yet");
    }
}
