//! The guest's stderr: the last 16 KiB it wrote, kept to show the operator the line
//! before a trap (a panic message, a Python exception). A ring, so writing more never
//! fails or traps the guest, and memory stays bounded however much it writes.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// Bytes of guest stderr kept.
pub const STDERR_CAPACITY: usize = 16 << 10;

/// The kept tail of what the guest wrote; clones share it.
#[derive(Clone, Default)]
pub struct StderrRing {
    tail: Arc<Mutex<VecDeque<u8>>>,
}

impl StderrRing {
    /// What the guest wrote last, up to [`STDERR_CAPACITY`] bytes.
    pub fn contents(&self) -> Vec<u8> {
        self.tail.lock().unwrap_or_else(|p| p.into_inner()).iter().copied().collect()
    }

    fn push(&self, bytes: &[u8]) {
        let mut tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        let keep = &bytes[bytes.len().saturating_sub(STDERR_CAPACITY)..];
        let overflow = (tail.len() + keep.len()).saturating_sub(STDERR_CAPACITY);
        tail.drain(..overflow);
        tail.extend(keep);
    }
}

impl IsTerminal for StderrRing {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StderrRing {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for StderrRing {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(STDERR_CAPACITY)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for StderrRing {
    async fn ready(&mut self) {}
}

impl AsyncWrite for StderrRing {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_bytes_only() {
        let r = StderrRing::default();
        r.push(b"first line\n");
        for _ in 0..10_000 {
            r.push(b"0123456789");
        }
        r.push(b"last line\n");
        let c = r.contents();
        assert_eq!(c.len(), STDERR_CAPACITY);
        assert!(c.ends_with(b"last line\n"));
        r.push(&vec![b'x'; 3 * STDERR_CAPACITY]);
        assert_eq!(r.contents().len(), STDERR_CAPACITY);
    }
}
