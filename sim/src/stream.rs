//! The simulator's token stream: an HTTP body that yields one SSE chunk at each
//! planned instant, planned from the request's start so delays never accumulate drift.
//! What each chunk looks like on the wire is a [`Wire`]'s business: chat completions
//! here, the Responses and Messages APIs in their own modules.

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

/// An API's wire format for one generation's answer.
pub(crate) trait Wire: Send {
    /// Events sent as soon as the stream starts, before the first chunk's instant.
    fn start(&mut self, _g: &Generation, _buf: &mut BytesMut) {}
    /// Chunk `i` (0-based), sent at its planned instant.
    fn chunk(&mut self, g: &Generation, buf: &mut BytesMut, i: u32);
    /// What follows the last chunk, in the same write.
    fn end(&mut self, g: &Generation, buf: &mut BytesMut);
    /// The answer as one JSON body, when not streamed.
    fn whole(&self, g: &Generation) -> Bytes;
}

/// OpenAI's completions, chat completions and TGI: `data:` events, then `[DONE]`.
pub(crate) struct ChatWire;

impl Wire for ChatWire {
    fn chunk(&mut self, g: &Generation, buf: &mut BytesMut, i: u32) {
        g.write_chunk(buf, i);
    }

    fn end(&mut self, g: &Generation, buf: &mut BytesMut) {
        g.write_end(buf);
        buf.put_slice(b"data: [DONE]\n\n");
    }

    fn whole(&self, g: &Generation) -> Bytes {
        g.whole_body()
    }
}

/// One named SSE event, `event: NAME` then its JSON data (the Responses and Messages
/// APIs' framing).
pub(crate) fn named_event(buf: &mut BytesMut, name: &str, data: &serde_json::Value) {
    buf.put_slice(b"event: ");
    buf.put_slice(name.as_bytes());
    buf.put_slice(b"\ndata: ");
    buf.put_slice(&serde_json::to_vec(data).unwrap_or_default());
    buf.put_slice(b"\n\n");
}

pub struct TokenStream {
    generation: Generation,
    wire: Box<dyn Wire>,
    /// The wire's opening events are sent.
    started: bool,
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
    pub(crate) fn new(
        mut generation: Generation,
        wire: Box<dyn Wire>,
        in_flight: InFlight,
        slot: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> Self {
        let next_at = Instant::now() + generation.first_delay();
        TokenStream {
            generation,
            wire,
            started: false,
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
        if !self.started {
            let this = &mut *self;
            this.started = true;
            let mut buf = BytesMut::new();
            this.wire.start(&this.generation, &mut buf);
            if !buf.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(buf.freeze()))));
            }
        }
        ready!(self.sleep.as_mut().poll(cx));
        let this = &mut *self;
        let mut buf = BytesMut::with_capacity(512);
        let chunks = this.generation.chunks();
        if this.sent < chunks {
            this.wire.chunk(&this.generation, &mut buf, this.sent);
            this.sent += 1;
        }
        if this.sent >= chunks {
            this.wire.end(&this.generation, &mut buf);
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
