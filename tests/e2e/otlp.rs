//! OpenTelemetry export: OTLP receivers on loopback — OTLP/HTTP decoding the protobuf
//! bodies, and OTLP/gRPC serving the collector's gRPC services (tonic, with the
//! `opentelemetry-proto` types) — find the GenAI metrics with the conventions' names,
//! units and attributes, counts equal to the run's requests, and one span per request
//! with a first-token event; an agent's tasks as `invoke_agent` spans, parents of their
//! requests' spans and of their tool waits' spans.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{MetricsService, MetricsServiceServer};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use serde_json::json;
use volley::sim::SimConfig;

#[derive(Default)]
struct Exported {
    metrics: Vec<ExportMetricsServiceRequest>,
    traces: Vec<ExportTraceServiceRequest>,
}

async fn receiver() -> (String, Arc<Mutex<Exported>>) {
    let got: Arc<Mutex<Exported>> = Arc::default();
    let store = got.clone();
    let url = http_sink(move |r| {
        let mut s = store.lock().unwrap();
        match r.path.as_str() {
            "/v1/metrics" => s.metrics.push(ExportMetricsServiceRequest::decode(r.body).expect("OTLP metrics protobuf")),
            "/v1/traces" => s.traces.push(ExportTraceServiceRequest::decode(r.body).expect("OTLP traces protobuf")),
            other => panic!("unexpected OTLP path {other}"),
        }
    })
    .await;
    (url, got)
}

struct GrpcSink(Arc<Mutex<Exported>>);

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

async fn grpc_receiver() -> (String, Arc<Mutex<Exported>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let got: Arc<Mutex<Exported>> = Arc::default();
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
                Some(any_value::Value::DoubleValue(d)) => d.to_string(),
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

async fn export_and_check(endpoint: &str, protocol: &str, got: Arc<Mutex<Exported>>, more: &[&str]) {
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

/// With `--otlp-spans`, each task of `builtin:agent` is a trace: one `invoke_agent` span
/// covering its requests' spans and one `execute_tool` span per follow-up's wait, from
/// the completion it followed for the delay the scenario asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_tasks_are_parent_spans_of_their_requests_and_tool_waits() {
    let (endpoint, got) = receiver().await;
    let sim = start_sim(SimConfig {
        ttft: Duration::from_millis(5),
        itl: Duration::from_millis(1),
        parallel_tools: 1..=2,
        ..SimConfig::default()
    })
    .await;
    let out = TempDir::new("otlp-agent");
    // Two forced tool rounds, then the answer: three turns a task.
    let params = json!({"tasks": 5, "sessions": 5, "steps": 2, "tool_ms": [20, 40], "think_ms": [5, 10], "tool_choice": "required",
                        "system_tokens": 50, "task_tokens": 20, "result_tokens": 20, "max_tokens": 8});
    let args = with(run_args("builtin:agent", &sim.url(), params, &out), &["--otlp-endpoint", &endpoint, "--otlp-spans"]);
    run_volley_async(args, Duration::from_secs(120)).await.assert_success();
    let report = read_report(out.path());
    let t = &report["stages"][0]["tasks"];
    assert_eq!((t["started"].as_u64(), t["completed"].as_u64()), (Some(5), Some(5)), "{t}");
    let mut by_session: BTreeMap<u64, Vec<serde_json::Value>> = BTreeMap::new();
    let records = read_records(out.path());
    for r in &records {
        by_session.entry(r["session"].as_u64().expect("a session")).or_default().push(r.clone());
    }
    for recs in by_session.values_mut() {
        recs.sort_by_key(|r| r["turn"].as_u64());
    }

    let got = got.lock().unwrap();
    let spans: Vec<_> = got.traces.iter().flat_map(|t| &t.resource_spans).flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans).collect();
    let op = |s: &&&opentelemetry_proto::tonic::trace::v1::Span| attrs(&s.attributes).get("gen_ai.operation.name").cloned();
    let tasks: Vec<_> = spans.iter().filter(|s| op(s).as_deref() == Some("invoke_agent")).collect();
    assert_eq!(tasks.len(), 5, "one invoke_agent span per task");
    let requests = spans.iter().filter(|s| s.kind == SpanKind::Client as i32).count();
    assert_eq!(requests, records.len(), "one span per request");
    let mut children_seen = 0;
    for task in tasks {
        let a = attrs(&task.attributes);
        assert_eq!((task.name.as_str(), task.kind), ("invoke_agent agent", SpanKind::Internal as i32));
        assert!(task.parent_span_id.is_empty(), "a task span is its trace's root");
        let session: u64 = a["gen_ai.conversation.id"].parse().expect("the session id");
        let recs = &by_session[&session];
        assert_eq!(a["volley.task.outcome"], "completed");
        assert_eq!(a["volley.task.turns"], recs.len().to_string());
        assert_eq!(a["gen_ai.agent.name"], "agent");
        let tool_calls: u64 = recs.iter().map(|r| r["tool_calls"].as_u64().unwrap_or(0)).sum();
        assert_eq!(a["volley.task.tool_calls"], tool_calls.to_string());
        let output: u64 = recs.iter().map(|r| r["output_tokens"].as_u64().unwrap_or(0)).sum();
        assert_eq!(a["gen_ai.usage.output_tokens"], output.to_string());

        let children: Vec<_> = spans.iter().filter(|s| s.parent_span_id == task.span_id).collect();
        children_seen += children.len();
        for c in &children {
            assert_eq!(c.trace_id, task.trace_id, "{}", c.name);
            assert!(task.start_time_unix_nano <= c.start_time_unix_nano && c.end_time_unix_nano <= task.end_time_unix_nano, "{}", c.name);
        }
        let mut calls: Vec<_> = children.iter().filter(|s| s.kind == SpanKind::Client as i32).collect();
        calls.sort_by_key(|s| s.start_time_unix_nano);
        assert_eq!(calls.len(), recs.len(), "session {session}: its requests' spans");
        for (span, rec) in calls.iter().zip(recs) {
            let a = attrs(&span.attributes);
            assert_eq!(a["gen_ai.conversation.id"], session.to_string());
            assert_eq!(a["volley.turn"], rec["turn"].as_u64().unwrap().to_string());
            assert_eq!(a["volley.tool_calls"], rec["tool_calls"].as_u64().unwrap_or(0).to_string());
            let reasons = span.attributes.iter().find(|k| k.key == "gen_ai.response.finish_reasons").expect("finish reasons");
            assert!(
                matches!(reasons.value.as_ref().and_then(|v| v.value.as_ref()), Some(any_value::Value::ArrayValue(a)) if a.values.len() == 1)
            );
        }
        let mut waits: Vec<_> = children.iter().filter(|s| s.kind == SpanKind::Internal as i32).collect();
        waits.sort_by_key(|s| s.start_time_unix_nano);
        let follow_ups: Vec<_> = recs.iter().filter(|r| r["turn"].as_u64() > Some(1)).collect();
        assert_eq!(waits.len(), follow_ups.len(), "session {session}: a wait per follow-up");
        for (k, (w, rec)) in waits.iter().zip(&follow_ups).enumerate() {
            let a = attrs(&w.attributes);
            assert_eq!((w.name.as_str(), a["gen_ai.operation.name"].as_str()), ("execute_tool", "execute_tool"));
            let asked = rec["delay_ms"].as_f64().expect("a follow-up's delay");
            let (tool, think): (f64, f64) = (a["volley.delay.tool_ms"].parse().unwrap(), a["volley.delay.think_ms"].parse().unwrap());
            assert!((20.0..=40.0).contains(&tool) && (5.0..=10.0).contains(&think), "tool {tool} ms, think {think} ms");
            let lasted = (w.end_time_unix_nano - w.start_time_unix_nano) as f64 / 1e6;
            assert!(
                lasted > 0.0 && (lasted - asked).abs() < 2.0 && (tool + think - asked).abs() < 0.01,
                "waited {lasted} ms, asked {asked} ms"
            );
            // It starts at the completion it followed: the previous turn's end.
            let before = calls[k].end_time_unix_nano as f64;
            assert!((w.start_time_unix_nano as f64 - before).abs() < 2e6, "session {session}: a wait starts at the previous turn's end");
        }
    }
    assert_eq!(children_seen + 5, spans.len(), "every span is a task or a task's child");
}
