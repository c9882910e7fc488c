//! A response body as the exchange reads it, whichever protocol carries it: pieces of
//! bytes, each with the instant it arrived.

use std::time::Instant;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use volley_core::{ErrorClass, RequestRecord};

use super::h1::{H1Conn, H1Error};

pub(crate) enum Body<'c> {
    /// Read off the HTTP/1.1 connection by the exchange itself.
    H1(&'c mut H1Conn),
    /// An HTTP/2 stream's data frames (`data`: the last one, lent out).
    H2 { incoming: Incoming, data: Bytes },
}

/// Why a body could not be read to its end.
pub(crate) enum BodyError {
    /// The connection failed or ended inside it.
    Broken(String),
    /// Its framing is not valid HTTP.
    Protocol(String),
}

impl BodyError {
    /// Fails `rec` with this error; `what` names the body ("stream", "body").
    pub(crate) fn fail(self, rec: &mut RequestRecord, what: &str) {
        match self {
            BodyError::Broken(e) => rec.fail(ErrorClass::Incomplete, format!("{what} broke: {e}")),
            BodyError::Protocol(e) => rec.fail(ErrorClass::Protocol, e),
        }
    }
}

impl Body<'_> {
    pub(crate) fn h2(incoming: Incoming) -> Body<'static> {
        Body::H2 { incoming, data: Bytes::new() }
    }

    /// The next piece and when it arrived; `None` at the body's end.
    pub(crate) async fn next(&mut self) -> Result<Option<(&[u8], Instant)>, BodyError> {
        match self {
            Body::H1(conn) => conn.chunk().await.map_err(|e| match e {
                H1Error::Protocol(e) => BodyError::Protocol(e),
                H1Error::Broken(e) | H1Error::Closed(e) => BodyError::Broken(e),
            }),
            Body::H2 { incoming, data } => loop {
                match incoming.frame().await {
                    None => return Ok(None),
                    Some(Err(e)) => return Err(BodyError::Broken(e.to_string())),
                    Some(Ok(frame)) => {
                        if let Ok(d) = frame.into_data() {
                            *data = d;
                            return Ok(Some((&data[..], Instant::now())));
                        }
                    }
                }
            },
        }
    }
}
