//! Responses and request bodies the simulator's handlers share: JSON replies, errors in
//! the OpenAI shape, and a request body read within a size bound.

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

use super::stream::TokenStream;

/// A whole body, or a stream of tokens.
pub type SimBody = Either<Full<Bytes>, TokenStream>;

/// Largest request body accepted.
const MAX_REQUEST: usize = 32 << 20;

pub(crate) struct Limited;

impl Limited {
    pub(crate) async fn collect(mut body: Incoming) -> Result<Bytes, String> {
        let mut buf = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("cannot read the body: {e}"))?;
            if let Some(d) = frame.data_ref() {
                if buf.len() + d.len() > MAX_REQUEST {
                    return Err("request body too large".into());
                }
                buf.extend_from_slice(d);
            }
        }
        Ok(buf.freeze())
    }
}

pub(crate) fn json_response(status: StatusCode, v: &Value) -> Response<SimBody> {
    let mut resp = Response::new(Either::Left(Full::new(Bytes::from(serde_json::to_vec(v).unwrap_or_default()))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

pub(crate) fn error(status: StatusCode, message: &str) -> Response<SimBody> {
    json_response(status, &json!({"error": {"message": message, "type": "invalid_request_error", "code": status.as_u16()}}))
}

/// An optional integer field of a request (absent or null: `None`; any other type or a
/// value past `u32`: an error naming it).
pub(crate) fn opt_u32(body: &Value, key: &str) -> Result<Option<u32>, String> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            v.as_u64().and_then(|n| u32::try_from(n).ok()).map(Some).ok_or_else(|| format!("'{key}' must be a non-negative integer"))
        }
    }
}

/// An optional boolean field of a request.
pub(crate) fn opt_bool(body: &Value, key: &str) -> Result<Option<bool>, String> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_bool().map(Some).ok_or_else(|| format!("'{key}' must be a boolean")),
    }
}

/// An optional string field of a request.
pub(crate) fn opt_str<'a>(body: &'a Value, key: &str) -> Result<Option<&'a str>, String> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_str().map(Some).ok_or_else(|| format!("'{key}' must be a string")),
    }
}
