//! Checking KServe v1 (`{"predictions": ...}`) and v2 (`{"outputs": [...]}`) response
//! bodies; both report failures as `{"error": "..."}`.

use super::openai::error_message;
use super::parsed::Parsed;

fn check(json: &[u8], field: &str, protocol: &str) -> Result<Parsed, String> {
    let v: serde_json::Value = serde_json::from_slice(json).map_err(|e| format!("unexpected {protocol} response (not JSON: {e})"))?;
    let mut out = Parsed { finished: true, ..Parsed::default() };
    if let Some(err) = v.get("error") {
        out.error = Some(error_message(err));
    } else if v.get(field).is_none() {
        return Err(format!("{protocol} response without `{field}`"));
    }
    Ok(out)
}

pub fn parse_v1(json: &[u8]) -> Result<Parsed, String> {
    check(json, "predictions", "KServe v1")
}

pub fn parse_v2(json: &[u8]) -> Result<Parsed, String> {
    check(json, "outputs", "KServe v2")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2() {
        assert!(parse_v1(br#"{"predictions":[6.0,15.0]}"#).unwrap().error.is_none());
        assert!(parse_v2(br#"{"model_name":"sum","outputs":[{"name":"OUTPUT0","data":[10.0]}]}"#).unwrap().error.is_none());
        assert_eq!(parse_v2(br#"{"error":"bad shape"}"#).unwrap().error.as_deref(), Some("bad shape"));
        assert!(parse_v1(br#"{"outputs":[]}"#).is_err());
        assert!(parse_v2(b"<html>").is_err());
    }
}
