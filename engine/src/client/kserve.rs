//! KServe's REST APIs: v1 `:predict` requests (the scenario's JSON body as is) and v2
//! `infer` requests (typed JSON tensors), and their response bodies checked, v1
//! (`{"predictions": ...}`) and v2 (`{"outputs": [...]}`); both report failures as
//! `{"error": "..."}`. (KServe v2 over gRPC is [`super::grpc`].)

use serde_json::{Value, json};

use volley_core::{ScenarioRequest, Tensor, TensorData};

use super::openai::error_message;
use super::parsed::Parsed;
use super::wire::{Wire, WireBody, model_segment};

/// A v1 `POST /v1/models/{model}:predict` with the scenario's body.
pub(crate) fn request_v1(r: &ScenarioRequest, model: Option<&str>) -> Result<Wire, String> {
    let model = model_segment(model, "kserve-v1")?;
    let raw = r.body.as_deref().ok_or("a kserve-v1 request needs a body, e.g. {\"instances\": [...]}")?;
    let body: Value = serde_json::from_str(raw).map_err(|e| format!("the kserve-v1 body is not JSON: {e}"))?;
    Ok(Wire::post_json(format!("/v1/models/{model}:predict").into(), WireBody::Json(body), false))
}

/// A v2 `POST /v2/models/{model}[/versions/{version}]/infer` of the scenario's tensors.
pub(crate) fn request_v2(r: &ScenarioRequest, model: Option<&str>) -> Result<Wire, String> {
    let model = model_segment(model, "kserve-v2")?;
    if r.inputs.is_empty() {
        return Err("a kserve-v2 request needs at least one input tensor".into());
    }
    let inputs = r.inputs.iter().map(tensor_json).collect::<Result<Vec<_>, _>>()?;
    let path = match &r.model_version {
        Some(v) => format!("/v2/models/{model}/versions/{}/infer", model_segment(Some(v), "kserve-v2")?),
        None => format!("/v2/models/{model}/infer"),
    };
    Ok(Wire::post_json(path.into(), WireBody::Json(json!({ "inputs": inputs })), false))
}

/// A tensor as KServe v2 JSON, with numbers typed by its datatype.
fn tensor_json(t: &Tensor) -> Result<Value, String> {
    let elements = t.shape.iter().try_fold(1i64, |acc, d| acc.checked_mul(*d));
    let (count, data) = match &t.data {
        TensorData::Strings(s) => (s.len(), json!(s)),
        TensorData::Numbers(n) => {
            let dt = t.datatype.to_ascii_uppercase();
            let data: Vec<Value> = if dt == "BOOL" {
                n.iter().map(|x| Value::Bool(*x != 0.0)).collect()
            } else if dt.starts_with("INT") || dt.starts_with("UINT") {
                n.iter().map(|x| Value::from(*x as i64)).collect()
            } else {
                n.iter().map(|x| Value::from(*x)).collect()
            };
            (n.len(), Value::Array(data))
        }
    };
    if t.shape.iter().any(|d| *d < 0) || elements != Some(count as i64) {
        return Err(format!("tensor '{}' has shape {:?} but {count} elements", t.name, t.shape));
    }
    Ok(json!({ "name": t.name, "shape": t.shape, "datatype": t.datatype, "data": data }))
}

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
    use volley_core::{Api, Prompt};

    #[test]
    fn paths_and_tensors() {
        let mut r = ScenarioRequest::new(Api::KserveV2, Prompt::Text(String::new()));
        r.model = Some("sum_fp32".into());
        r.model_version = Some("1".into());
        r.inputs = vec![Tensor {
            name: "INPUT0".into(),
            datatype: "INT64".into(),
            shape: vec![2, 2],
            data: TensorData::Numbers(vec![1.0, 2.0, 3.0, 4.0]),
        }];
        let w = request_v2(&r, r.model.as_deref()).unwrap();
        assert_eq!(w.path, "/v2/models/sum_fp32/versions/1/infer");
        assert_eq!(w.json()["inputs"][0]["data"], json!([1, 2, 3, 4]));
        r.inputs[0].shape = vec![3];
        assert!(request_v2(&r, r.model.as_deref()).err().unwrap().contains("shape [3] but 4 elements"));
        let mut v1 = ScenarioRequest::new(Api::KserveV1, Prompt::Text(String::new()));
        v1.body = Some(r#"{"instances":[[1,2]]}"#.into());
        let w = request_v1(&v1, Some("m")).unwrap();
        assert_eq!(w.path, "/v1/models/m:predict");
        assert!(request_v1(&v1, Some("a/b")).is_err());
    }

    #[test]
    fn v1_and_v2() {
        assert!(parse_v1(br#"{"predictions":[6.0,15.0]}"#).unwrap().error.is_none());
        assert!(parse_v2(br#"{"model_name":"sum","outputs":[{"name":"OUTPUT0","data":[10.0]}]}"#).unwrap().error.is_none());
        assert_eq!(parse_v2(br#"{"error":"bad shape"}"#).unwrap().error.as_deref(), Some("bad shape"));
        assert!(parse_v1(br#"{"outputs":[]}"#).is_err());
        assert!(parse_v2(b"<html>").is_err());
    }
}
