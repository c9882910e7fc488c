//! OpenTelemetry export: OTLP receivers on loopback — OTLP/HTTP decoding the protobuf
//! bodies, and OTLP/gRPC serving the collector's gRPC services (tonic, with the
//! `opentelemetry-proto` types) — find the GenAI metrics with the conventions' names,
//! units and attributes, counts equal to the run's requests, and one span per request
//! with a first-token event.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{MetricsService, MetricsServiceServer};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use prost::Message;
use serde_json::json;
use volley::sim::SimConfig;

#[derive(Default)]
struct Received {
    metrics: Vec<ExportMetricsServiceRequest>,
    traces: Vec<ExportTraceServiceRequest>,
}

async fn receiver() -> (String, Arc<Mutex<Received>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let got: Arc<Mutex<Received>> = Arc::default();
    let store = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let store = store.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let store = store.clone();
                    async move {
                        let path = req.uri().path().to_string();
                        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let mut s = store.lock().unwrap();
                        match path.as_str() {
                            "/v1/metrics" => s.metrics.push(ExportMetricsServiceRequest::decode(body).expect("OTLP metrics protobuf")),
                            "/v1/traces" => s.traces.push(ExportTraceServiceRequest::decode(body).expect("OTLP traces protobuf")),
                            other => panic!("unexpected OTLP path {other}"),
                        }
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::new())))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
            });
        }
    });
    (url, got)
}

struct GrpcSink(Arc<Mutex<Received>>);

#[tonic::async_trait]
impl MetricsService for GrpcSink {
    async fn export(
        &self,
        r: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().metrics.push(r.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse { partial_success: None }))
    }
}

#[tonic::async_trait]
impl TraceService for GrpcSink {
    async fn export(
        &self,
        r: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().traces.push(r.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

async fn grpc_receiver() -> (String, Arc<Mutex<Received>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let got: Arc<Mutex<Received>> = Arc::default();
    let server = tonic::transport::Server::builder()
        .add_service(MetricsServiceServer::new(GrpcSink(got.clone())))
        .add_service(TraceServiceServer::new(GrpcSink(got.clone())));
    tokio::spawn(server.serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)));
    (url, got)
}

fn attrs(kv: &[KeyValue]) -> BTreeMap<String, String> {
    kv.iter()
        .map(|k| {
            let v = match k.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                Some(any_value::Value::IntValue(i)) => i.to_string(),
                other => format!("{other:?}"),
            };
            (k.key.clone(), v)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genai_metrics_and_spans_over_otlp_http() {
    let (endpoint, got) = receiver().await;
    export_and_check(&endpoint, "http/protobuf", got, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genai_metrics_and_spans_over_otlp_https_to_a_collector_behind_tls() {
    let (endpoint, got) = receiver().await;
    let dir = TempDir::new("otlp-tls");
    crate::tls::make_certificates(dir.path());
    let proxy = crate::tls::Proxy::start(dir.path(), &endpoint);
    let ca = dir.path().join("ca.pem").display().to_string();
    export_and_check(&format!("https://127.0.0.1:{}", proxy.tls), "http/protobuf", got, &["--ca-cert", &ca]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genai_metrics_and_spans_over_otlp_grpc() {
    let (endpoint, got) = grpc_receiver().await;
    export_and_check(&endpoint, "grpc", got, &[]).await;
}

async fn export_and_check(endpoint: &str, protocol: &str, got: Arc<Mutex<Received>>, more: &[&str]) {
    let sim = start_sim(SimConfig { ttft: Duration::from_millis(10), itl: Duration::from_millis(2), ..SimConfig::default() }).await;
    let out = TempDir::new("otlp");
    let args = with(
        run_args("builtin:chat-poisson", &sim.url(), json!({"rate": 30, "duration_s": 2, "max_tokens": 5}), &out),
        &["--otlp-endpoint", endpoint, "--otlp-protocol", protocol, "--otlp-spans"],
    );
    let args = with(args, more);
    run_volley_async(args, Duration::from_secs(60)).await.assert_success();
    let requests = read_records(out.path()).len() as u64;
    assert!(requests > 20);

    let got = got.lock().unwrap();
    // Cumulative temporality: the last export (at shutdown) has the totals.
    let last = got.metrics.last().expect("at least one metrics export");
    let metrics: Vec<_> = last.resource_metrics.iter().flat_map(|r| &r.scope_metrics).flat_map(|s| &s.metrics).collect();
    let find = |name: &str| metrics.iter().find(|m| m.name == name).unwrap_or_else(|| panic!("{name} not exported"));

    let duration = find("gen_ai.client.operation.duration");
    assert_eq!(duration.unit, "s");
    let Some(Data::Histogram(h)) = &duration.data else { panic!("duration is a histogram") };
    assert_eq!(h.data_points.iter().map(|p| p.count).sum::<u64>(), requests, "one duration per request");
    let a = attrs(&h.data_points[0].attributes);
    assert_eq!(a["gen_ai.operation.name"], "chat");
    assert_eq!(a["gen_ai.request.model"], "volley-sim");
    assert_eq!(a["server.address"], "127.0.0.1");
    assert_eq!(a["volley.stage"], "poisson");
    assert!(a["volley.run_id"].starts_with("chat-poisson-"));

    for name in ["gen_ai.client.operation.time_to_first_chunk", "gen_ai.client.operation.time_per_output_chunk", "volley.schedule_lag"] {
        assert_eq!(find(name).unit, "s", "{name}");
    }
    let tokens = find("gen_ai.client.token.usage");
    assert_eq!(tokens.unit, "{token}");
    let Some(Data::Histogram(t)) = &tokens.data else { panic!("token usage is a histogram") };
    let types: Vec<String> = t.data_points.iter().map(|p| attrs(&p.attributes)["gen_ai.token.type"].clone()).collect();
    assert!(types.contains(&"input".to_string()) && types.contains(&"output".to_string()), "{types:?}");
    let output: u64 = t.data_points.iter().filter(|p| attrs(&p.attributes)["gen_ai.token.type"] == "output").map(|p| p.count).sum();
    assert_eq!(output, requests);

    let spans: Vec<_> = got.traces.iter().flat_map(|t| &t.resource_spans).flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans).collect();
    assert_eq!(spans.len() as u64, requests, "one span per request");
    assert!(spans.iter().all(|s| s.events.iter().any(|e| e.name == "gen_ai.first_token")));
    assert!(spans.iter().all(|s| s.end_time_unix_nano > s.start_time_unix_nano));
}
