//! KServe v2 over gRPC (`grpc://` targets, e.g. Triton's port 8001): the
//! `inference.GRPCInferenceService` calls `ModelInfer` (unary) and `ModelStreamInfer`
//! (a stream of responses, for decoupled models), carried over the same HTTP/2 send
//! path as everything else, so they are timed the same way.
//!
//! The messages are the subset of KServe's `grpc_predict_v2.proto` a request needs,
//! written as prost structs (field numbers as in the proto). A non-OK `grpc-status` is
//! mapped to the HTTP status it stands for, so errors are classified like HTTP ones.
//!
//! A request is written here ([`request`], one framed `ModelInferRequest`), and the
//! responses read back ([`Frames`], [`stream_response`], [`unary_response`]).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use hyper::Method;
use hyper::header::HeaderValue;
use prost::Message;

use volley_core::{Api, ScenarioRequest, Tensor, TensorData};

use super::wire::{Wire, WireBody, model_segment};

const GRPC: HeaderValue = HeaderValue::from_static("application/grpc");

pub(crate) const INFER_PATH: &str = "/inference.GRPCInferenceService/ModelInfer";
pub(crate) const STREAM_INFER_PATH: &str = "/inference.GRPCInferenceService/ModelStreamInfer";
/// Largest message read: a response past it fails as a protocol error.
pub(crate) const MAX_MESSAGE: usize = 64 << 20;

#[derive(Clone, PartialEq, Message)]
pub(crate) struct ModelInferRequest {
    #[prost(string, tag = "1")]
    pub model_name: String,
    #[prost(string, tag = "2")]
    pub model_version: String,
    #[prost(string, tag = "3")]
    pub id: String,
    #[prost(message, repeated, tag = "5")]
    pub inputs: Vec<InferInputTensor>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct InferInputTensor {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub datatype: String,
    #[prost(int64, repeated, tag = "3")]
    pub shape: Vec<i64>,
    #[prost(message, optional, tag = "5")]
    pub contents: Option<InferTensorContents>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct InferTensorContents {
    #[prost(bool, repeated, tag = "1")]
    pub bool_contents: Vec<bool>,
    #[prost(int32, repeated, tag = "2")]
    pub int_contents: Vec<i32>,
    #[prost(int64, repeated, tag = "3")]
    pub int64_contents: Vec<i64>,
    #[prost(uint32, repeated, tag = "4")]
    pub uint_contents: Vec<u32>,
    #[prost(uint64, repeated, tag = "5")]
    pub uint64_contents: Vec<u64>,
    #[prost(float, repeated, tag = "6")]
    pub fp32_contents: Vec<f32>,
    #[prost(double, repeated, tag = "7")]
    pub fp64_contents: Vec<f64>,
    #[prost(bytes = "vec", repeated, tag = "8")]
    pub bytes_contents: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct ModelInferResponse {
    #[prost(string, tag = "1")]
    pub model_name: String,
    #[prost(string, tag = "2")]
    pub model_version: String,
    #[prost(string, tag = "3")]
    pub id: String,
    #[prost(message, repeated, tag = "5")]
    pub outputs: Vec<InferOutputTensor>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct InferOutputTensor {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub datatype: String,
    #[prost(int64, repeated, tag = "3")]
    pub shape: Vec<i64>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct ModelStreamInferResponse {
    #[prost(string, tag = "1")]
    pub error_message: String,
    #[prost(message, optional, tag = "2")]
    pub infer_response: Option<ModelInferResponse>,
}

/// The typed contents of a tensor, by its datatype (FP16 and BF16 have no typed field
/// in the protocol and are refused).
fn contents(t: &Tensor) -> Result<InferTensorContents, String> {
    let mut c = InferTensorContents::default();
    let dt = t.datatype.to_ascii_uppercase();
    match (&t.data, dt.as_str()) {
        (TensorData::Strings(s), "BYTES") => c.bytes_contents = s.iter().map(|s| s.as_bytes().to_vec()).collect(),
        (TensorData::Strings(_), _) => return Err(format!("tensor '{}': strings need datatype BYTES", t.name)),
        (TensorData::Numbers(n), dt) => match dt {
            "BOOL" => c.bool_contents = n.iter().map(|x| *x != 0.0).collect(),
            "INT8" | "INT16" | "INT32" => c.int_contents = n.iter().map(|x| *x as i32).collect(),
            "INT64" => c.int64_contents = n.iter().map(|x| *x as i64).collect(),
            "UINT8" | "UINT16" | "UINT32" => c.uint_contents = n.iter().map(|x| *x as u32).collect(),
            "UINT64" => c.uint64_contents = n.iter().map(|x| *x as u64).collect(),
            "FP32" => c.fp32_contents = n.iter().map(|x| *x as f32).collect(),
            "FP64" => c.fp64_contents = n.clone(),
            other => return Err(format!("tensor '{}': datatype {other} cannot be sent over gRPC as typed contents", t.name)),
        },
    }
    Ok(c)
}

/// KServe v2 as a gRPC call: `ModelInfer`, or `ModelStreamInfer` for a streamed request.
pub(crate) fn request(r: &ScenarioRequest, model: Option<&str>, seq: u64) -> Result<Wire, String> {
    if r.api != Api::KserveV2 {
        return Err(format!("a grpc:// target takes kserve-v2 requests only, not {}", r.api.as_str()));
    }
    if r.body_extra.is_some() {
        return Err("body-extra has no meaning for a gRPC request".into());
    }
    let model = model_segment(model, "kserve-v2")?;
    let (path, bytes) = encode(r, model, seq)?;
    Ok(Wire::new(Method::POST, path.into(), WireBody::Raw(bytes), Some(GRPC), r.stream))
}

/// The request as one framed gRPC message, and its method path.
pub(crate) fn encode(r: &ScenarioRequest, model: &str, seq: u64) -> Result<(&'static str, Bytes), String> {
    if r.inputs.is_empty() {
        return Err("a kserve-v2 request needs at least one input tensor".into());
    }
    let inputs = r
        .inputs
        .iter()
        .map(|t| {
            Ok(InferInputTensor {
                name: t.name.clone(),
                datatype: t.datatype.to_ascii_uppercase(),
                shape: t.shape.clone(),
                contents: Some(contents(t)?),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let msg = ModelInferRequest {
        model_name: model.to_string(),
        model_version: r.model_version.clone().unwrap_or_default(),
        id: seq.to_string(),
        inputs,
    };
    let mut buf = BytesMut::with_capacity(5 + msg.encoded_len());
    buf.put_u8(0);
    buf.put_u32(msg.encoded_len() as u32);
    msg.encode(&mut buf).map_err(|e| e.to_string())?;
    Ok((if r.stream { STREAM_INFER_PATH } else { INFER_PATH }, buf.freeze()))
}

/// Splits complete gRPC messages off a stream of body bytes.
#[derive(Default)]
pub(crate) struct Frames {
    buf: BytesMut,
}

impl Frames {
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole message, `Err` for a compressed or oversized one.
    pub fn next(&mut self) -> Result<Option<Bytes>, String> {
        if self.buf.len() < 5 {
            return Ok(None);
        }
        let compressed = self.buf[0];
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        if compressed != 0 {
            return Err("the server sent a compressed gRPC message (none was asked for)".into());
        }
        if len > MAX_MESSAGE {
            return Err(format!("a gRPC message of {len} bytes, over {} MiB", MAX_MESSAGE >> 20));
        }
        if self.buf.len() < 5 + len {
            return Ok(None);
        }
        self.buf.advance(5);
        Ok(Some(self.buf.split_to(len).freeze()))
    }

    /// Bytes left that are not a whole message.
    pub fn leftover(&self) -> usize {
        self.buf.len()
    }
}

/// A response of a stream: the server's error message when it reports one; `Err` when
/// it is not a response at all.
pub(crate) fn stream_response(msg: &[u8]) -> Result<Option<String>, String> {
    let r = ModelStreamInferResponse::decode(msg).map_err(|e| format!("not a ModelStreamInferResponse: {e}"))?;
    Ok((!r.error_message.is_empty()).then(|| volley_core::text::printable(&r.error_message, 300)))
}

pub(crate) fn unary_response(msg: &[u8]) -> Result<(), String> {
    ModelInferResponse::decode(msg).map(|_| ()).map_err(|e| format!("not a ModelInferResponse: {e}"))
}

/// The HTTP status a gRPC status code stands for (grpc-gateway's mapping), and its name.
pub(crate) fn http_status(code: u32) -> (u16, &'static str) {
    match code {
        0 => (200, "OK"),
        1 => (499, "CANCELLED"),
        2 => (500, "UNKNOWN"),
        3 => (400, "INVALID_ARGUMENT"),
        4 => (504, "DEADLINE_EXCEEDED"),
        5 => (404, "NOT_FOUND"),
        6 => (409, "ALREADY_EXISTS"),
        7 => (403, "PERMISSION_DENIED"),
        8 => (429, "RESOURCE_EXHAUSTED"),
        9 => (400, "FAILED_PRECONDITION"),
        10 => (409, "ABORTED"),
        11 => (400, "OUT_OF_RANGE"),
        12 => (501, "UNIMPLEMENTED"),
        13 => (500, "INTERNAL"),
        14 => (503, "UNAVAILABLE"),
        15 => (500, "DATA_LOSS"),
        16 => (401, "UNAUTHENTICATED"),
        _ => (500, "UNKNOWN"),
    }
}

/// `grpc-message` is percent-encoded.
pub(crate) fn decode_message(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%'
            && i + 2 < raw.len()
            && let Ok(b) = u8::from_str_radix(std::str::from_utf8(&raw[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    volley_core::text::printable(&String::from_utf8_lossy(&out), 300)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_one_framed_model_infer_request() {
        let mut r = ScenarioRequest::new(volley_core::Api::KserveV2, volley_core::Prompt::Text(String::new()));
        r.inputs = vec![Tensor {
            name: "INPUT0".into(),
            datatype: "fp32".into(),
            shape: vec![1, 4],
            data: TensorData::Numbers(vec![1.0, 2.0, 3.0, 4.0]),
        }];
        let (path, bytes) = encode(&r, "sum_fp32", 7).unwrap();
        assert_eq!(path, INFER_PATH);
        let mut frames = Frames::default();
        frames.feed(&bytes);
        let msg = ModelInferRequest::decode(frames.next().unwrap().unwrap()).unwrap();
        assert_eq!((msg.model_name.as_str(), msg.id.as_str()), ("sum_fp32", "7"));
        assert_eq!(msg.inputs[0].contents.as_ref().unwrap().fp32_contents, vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(frames.leftover(), 0);
        r.inputs[0].datatype = "FP16".into();
        assert!(encode(&r, "m", 0).unwrap_err().contains("FP16"));
    }

    #[test]
    fn only_kserve_v2_requests_without_body_extra_are_calls() {
        let mut r = ScenarioRequest::new(volley_core::Api::KserveV2, volley_core::Prompt::Text(String::new()));
        r.inputs = vec![Tensor { name: "I".into(), datatype: "INT64".into(), shape: vec![1], data: TensorData::Numbers(vec![1.0]) }];
        r.stream = true;
        let w = request(&r, Some("m"), 1).unwrap();
        assert_eq!((w.path.as_ref(), w.stream, w.content_type), (STREAM_INFER_PATH, true, Some(GRPC)));
        assert!(request(&r, Some("a/b"), 1).is_err());
        r.body_extra = Some("{}".into());
        assert!(request(&r, Some("m"), 1).err().unwrap().contains("body-extra"));
        let text = ScenarioRequest::new(volley_core::Api::Completions, volley_core::Prompt::Text("x".into()));
        assert!(request(&text, Some("m"), 1).err().unwrap().contains("kserve-v2 requests only, not completions"));
    }

    #[test]
    fn frames_split_across_reads_and_bounds_hold() {
        let msg = ModelStreamInferResponse { error_message: "boom".into(), infer_response: None }.encode_to_vec();
        let mut framed = vec![0u8];
        framed.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        framed.extend_from_slice(&msg);
        let mut f = Frames::default();
        f.feed(&framed[..3]);
        assert!(f.next().unwrap().is_none());
        f.feed(&framed[3..]);
        assert_eq!(stream_response(&f.next().unwrap().unwrap()).unwrap().as_deref(), Some("boom"));
        let mut huge = Frames::default();
        huge.feed(&[0, 0xff, 0xff, 0xff, 0xff]);
        assert!(huge.next().unwrap_err().contains("over 64 MiB"));
        assert_eq!(decode_message(b"shape%20%5B1,3%5D"), "shape [1,3]");
        assert_eq!(http_status(3), (400, "INVALID_ARGUMENT"));
    }
}
