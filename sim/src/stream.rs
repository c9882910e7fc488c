//! The simulator's token stream: an HTTP body that yields one SSE chunk at each
//! planned instant, planned from the request's start so delays never accumulate drift.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use hyper::body::{Body, Frame};
use tokio::time::{Instant, Sleep};

use super::InFlight;
use super::generation::Generation;

/// tokio's timer fires on the first millisecond tick at or after a deadline, and its
/// poll timeout rounds up again, so a sleep ends 0–2 ms late (about 1.5 ms on average,
/// measured here). Asking that much earlier centres the error on the planned instant,
/// so a configured TTFT or ITL is what a client measures, to within a millisecond.
const TIMER_LEAD: Duration = Duration::from_micros(1500);

fn timer_deadline(at: Instant) -> Instant {
    at.checked_sub(TIMER_LEAD).unwrap_or(at)
}

pub struct TokenStream {
    generation: Generation,
    /// Chunks sent so far.
    sent: u32,
    /// Planned instant of the next chunk, from the request's start.
    next_at: Instant,
    sleep: Pin<Box<Sleep>>,
    finished: bool,
    _in_flight: InFlight,
    /// The generation slot, held until the last chunk.
    _slot: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl TokenStream {
    pub(crate) fn new(mut generation: Generation, in_flight: InFlight, slot: Option<tokio::sync::OwnedSemaphorePermit>) -> Self {
        let next_at = Instant::now() + generation.first_delay();
        TokenStream {
            generation,
            sent: 0,
            next_at,
            sleep: Box::pin(tokio::time::sleep_until(timer_deadline(next_at))),
            finished: false,
            _in_flight: in_flight,
            _slot: slot,
        }
    }
}

impl Body for TokenStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.finished {
            return Poll::Ready(None);
        }
        ready!(self.sleep.as_mut().poll(cx));
        let this = &mut *self;
        let mut buf = BytesMut::with_capacity(512);
        let chunks = this.generation.chunks();
        if this.sent < chunks {
            this.generation.write_chunk(&mut buf, this.sent);
            this.sent += 1;
        }
        if this.sent >= chunks {
            this.generation.write_end(&mut buf);
            buf.put_slice(b"data: [DONE]\n\n");
            this.finished = true;
        } else {
            let gap: Duration = this.generation.next_gap();
            this.next_at += gap;
            let at = this.next_at;
            this.sleep.as_mut().reset(timer_deadline(at));
        }
        Poll::Ready(Some(Ok(Frame::data(buf.freeze()))))
    }

    fn is_end_stream(&self) -> bool {
        self.finished
    }
}
