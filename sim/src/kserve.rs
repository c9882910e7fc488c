//! The simulator's KServe endpoints: v1 `:predict` (echoes `instances` as
//! `predictions`), v2 `infer` (echoes its inputs as outputs, through the dynamic
//! batcher) and Triton's per-model `stats`.

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};

use super::response::{Limited, SimBody, error, json_response};
use super::{InFlight, Shared};

async fn body_json(req: Request<Incoming>) -> Result<Value, Response<SimBody>> {
    let bytes = Limited::collect(req.into_body()).await.map_err(|m| error(StatusCode::BAD_REQUEST, &m))?;
    serde_json::from_slice(&bytes).map_err(|e| kserve_error(StatusCode::BAD_REQUEST, &format!("invalid JSON: {e}")))
}

/// KServe's error shape: `{"error": "..."}`.
fn kserve_error(status: StatusCode, message: &str) -> Response<SimBody> {
    json_response(status, &json!({ "error": message }))
}

pub async fn v1(req: Request<Incoming>, shared: &Shared) -> Response<SimBody> {
    let v = match body_json(req).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let Some(instances) = v.get("instances").cloned() else {
        return kserve_error(StatusCode::BAD_REQUEST, "Unrecognized request format: 'instances' is required");
    };
    let _in_flight = InFlight::new(&shared.stats);
    let service = shared.config.batching.service;
    if !service.is_zero() {
        tokio::time::sleep(service).await;
    }
    json_response(StatusCode::OK, &json!({ "predictions": instances }))
}

/// `/v2/models/{model}[/versions/{v}]/infer` → (model, version).
fn model_and_version(path: &str, suffix: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/v2/models/")?.strip_suffix(suffix)?;
    match rest.split_once("/versions/") {
        Some((m, v)) => Some((m.to_string(), v.to_string())),
        None => Some((rest.to_string(), "1".to_string())),
    }
}

pub async fn v2(req: Request<Incoming>, shared: &Shared) -> Response<SimBody> {
    let Some((model, version)) = model_and_version(req.uri().path(), "/infer") else {
        return kserve_error(StatusCode::NOT_FOUND, "bad model path");
    };
    let v = match body_json(req).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let Some(inputs) = v.get("inputs").and_then(Value::as_array).filter(|i| !i.is_empty()) else {
        return kserve_error(StatusCode::BAD_REQUEST, "'inputs' must be a non-empty list");
    };
    // The batch dimension is the first of the first input's shape.
    let size = inputs[0].pointer("/shape/0").and_then(Value::as_u64).unwrap_or(1).max(1) as u32;
    if size > shared.config.batching.max_batch.max(1) && shared.config.batching.max_batch > 1 {
        return kserve_error(
            StatusCode::BAD_REQUEST,
            &format!("inference request batch-size must be <= {} for '{model}'", shared.config.batching.max_batch),
        );
    }
    let _in_flight = InFlight::new(&shared.stats);
    shared.batcher.infer(&model, size).await;
    let outputs: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"name": format!("OUTPUT{i}"), "datatype": t["datatype"], "shape": t["shape"], "data": t["data"]}))
        .collect();
    json_response(StatusCode::OK, &json!({"model_name": model, "model_version": version, "id": v.get("id"), "outputs": outputs}))
}

/// Triton's `/v2/models/{m}[/versions/{v}]/stats`.
pub fn stats(path: &str, shared: &Shared) -> Response<SimBody> {
    let Some((model, version)) = model_and_version(path, "/stats") else {
        return kserve_error(StatusCode::NOT_FOUND, "bad model path");
    };
    let s = shared.batcher.model_stats(&model);
    let batch_stats: Vec<Value> =
        s.batches.iter().map(|(size, count)| json!({"batch_size": size, "compute_infer": {"count": count, "ns": 0}})).collect();
    json_response(
        StatusCode::OK,
        &json!({"model_stats": [{
            "name": model, "version": version,
            "inference_count": s.inference_count, "execution_count": s.execution_count,
            "inference_stats": {"success": {"count": s.inference_count, "ns": 0}},
            "batch_stats": batch_stats,
        }]}),
    )
}
