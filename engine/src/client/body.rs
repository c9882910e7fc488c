//! A response body as the exchange reads it, whichever protocol carries it: pieces of
//! bytes, each with the instant it arrived.

use std::time::Instant;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::h1::{H1Conn, WireError};

pub(crate) enum Body<'c> {
    /// Read off the HTTP/1.1 connection by the exchange itself.
    H1(&'c mut H1Conn),
    /// An HTTP/2 stream's data frames (`data`: the last one, lent out).
    H2 { incoming: Incoming, data: Bytes },
}

impl Body<'_> {
    pub(crate) fn h2(incoming: Incoming) -> Body<'static> {
        Body::H2 { incoming, data: Bytes::new() }
    }

    /// The next piece and when it arrived; `None` at the body's end.
    pub(crate) async fn next(&mut self) -> Result<Option<(&[u8], Instant)>, WireError> {
        Ok(self.next_piece().await?.map(|(piece, at, _)| (piece, at)))
    }

    /// [`Body::next`], and whether the body is known to end with this piece (a body of
    /// one piece is then read where it lies).
    pub(crate) async fn next_piece(&mut self) -> Result<Option<(&[u8], Instant, bool)>, WireError> {
        match self {
            Body::H1(conn) => conn.chunk().await,
            Body::H2 { incoming, data } => loop {
                match incoming.frame().await {
                    None => return Ok(None),
                    Some(Err(e)) => return Err(WireError::Broken(e.to_string())),
                    Some(Ok(frame)) => {
                        if let Ok(d) = frame.into_data() {
                            *data = d;
                            let last = hyper::body::Body::is_end_stream(incoming);
                            return Ok(Some((&data[..], Instant::now(), last)));
                        }
                    }
                }
            },
        }
    }
}
