//! Plain HTTP requests (the `http` API, for anything the other APIs are not): a method,
//! a path relative to the target ([`check_path`] keeps it there), and a body sent as
//! JSON when it parses as JSON, else as text. Their responses are timed, not read.

use hyper::Method;
use hyper::header::HeaderValue;
use serde_json::Value;

use volley_core::ScenarioRequest;
use volley_core::text::clip;

use super::wire::{JSON, Wire, WireBody};

const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
/// Allowed methods of plain HTTP requests.
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
/// Longest request path (with its query) a scenario may ask for.
const MAX_PATH: usize = 8 << 10;

/// The scenario's method, path and body.
pub(crate) fn request(r: &ScenarioRequest) -> Result<Wire, String> {
    let method = r.method.as_deref().unwrap_or("POST").to_ascii_uppercase();
    if !METHODS.contains(&method.as_str()) {
        return Err(format!("method {method:?} is not allowed (use one of {})", METHODS.join(", ")));
    }
    let path = r.path.as_deref().ok_or("an http request needs a path")?;
    check_path(path)?;
    let (body, content_type) = match r.body.as_deref() {
        None | Some("") => (Value::Null, None),
        Some(b) => match serde_json::from_str::<Value>(b) {
            Ok(v) => (v, Some(JSON)),
            Err(_) => (Value::String(b.to_string()), Some(TEXT)),
        },
    };
    let method = Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    Ok(Wire::new(method, path.to_string().into(), WireBody::Json(body), content_type, false))
}

/// A path a scenario may send to: under the target's base path and nowhere else. It
/// starts with one `/`; its segments are never `.` or `..`, encoded or not; it has no
/// backslash, `@`, fragment, space or control character; a `%` escape is two hex digits
/// and never stands for `/`, `\`, `.`, `%` or a control character.
pub(crate) fn check_path(path: &str) -> Result<(), String> {
    let shown = || clip(path, 60);
    if !path.starts_with('/') || path.starts_with("//") {
        return Err(format!("path {:?} must be relative to the target (start with one '/')", shown()));
    }
    if path.len() > MAX_PATH {
        return Err(format!("path {:?} is longer than {MAX_PATH} bytes", shown()));
    }
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("path {:?} has spaces or control characters; percent-encode them", shown()));
    }
    if let Some(c) = path.chars().find(|c| matches!(c, '\\' | '@' | '#') || !c.is_ascii()) {
        return Err(format!("path {:?} must be relative to the target: it has {c:?}", shown()));
    }
    let bytes = path.as_bytes();
    let mut i = 0;
    while let Some(off) = bytes[i..].iter().position(|&b| b == b'%') {
        let at = i + off;
        let hex = path.get(at + 1..at + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            None => return Err(format!("path {:?} has a '%' that is not followed by two hex digits", shown())),
            Some(b) if b < 0x20 || b == 0x7f || matches!(b, b'/' | b'\\' | b'.' | b'%') => {
                return Err(format!("path {:?} must be relative to the target: it encodes {:?}", shown(), b as char));
            }
            Some(_) => i = at + 3,
        }
    }
    let route = path.split('?').next().unwrap_or(path);
    if route.split('/').any(|segment| segment == "." || segment == "..") {
        return Err(format!("path {:?} must be relative to the target: no '.' or '..' segments", shown()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::wire::json_body;
    use hyper::Uri;
    use volley_core::{Api, Prompt};

    #[test]
    fn paths_stay_on_the_target() {
        let mut r = ScenarioRequest::new(Api::Http, Prompt::Text(String::new()));
        r.method = Some("get".into());
        r.path = Some("/predict/hello%20world?x=1".into());
        let w = request(&r).unwrap();
        let uri: Uri = w.path.parse().unwrap();
        assert_eq!((w.method.as_str(), uri.path(), uri.query()), ("GET", "/predict/hello%20world", Some("x=1")));
        let WireBody::Json(body) = w.body else { panic!("a JSON body") };
        assert!(json_body(body).unwrap().is_empty() && w.content_type.is_none());
        for bad in ["http://evil/x", "//evil/x", "/a/../b", "relative", "/a b"] {
            r.path = Some(bad.into());
            assert!(request(&r).is_err(), "{bad}");
        }
        r.path = Some("/predict".into());
        r.method = Some("CONNECT".into());
        assert!(request(&r).is_err());
        r.method = None;
        r.body = Some("plain text".into());
        let w = request(&r).unwrap();
        assert_eq!((w.method.as_str(), w.content_type.unwrap().to_str().unwrap()), ("POST", "text/plain; charset=utf-8"));
    }
}
