//! OpenTelemetry export over OTLP, HTTP (protobuf) or gRPC: GenAI semantic-convention metrics
//! (`gen_ai.client.operation.duration`, `…time_to_first_chunk`,
//! `…time_per_output_chunk`, `gen_ai.client.token.usage` with `gen_ai.token.type`) and
//! Volley's schedule lag, with the conventions' attributes plus `volley.stage`,
//! `volley.tag` and `volley.run_id`; optionally (`--otlp-spans`) one span per request
//! with an event at its first token.
//!
//! With spans, each session's task is a trace: an INTERNAL `invoke_agent` span from the
//! task's first send to its last completion, parent of its requests' spans and of one
//! span per follow-up's wait (`execute_tool` when the wait has a tool part, else
//! `think`), covering [planned send − delay, planned send], which is [the completion it
//! followed, planned send]. The task span's ids are drawn when the session's first
//! record arrives, so its children can name it at once, and the span itself is built
//! when the task ends (the scenario's end, else its stage's end, else the run's), with
//! the earliest send and the latest completion seen: records arrive as they complete,
//! not as they were sent. Requests without a session keep root spans.
//!
//! The endpoint and headers come from `--otlp-endpoint`/`--otlp-header` or the standard
//! `OTEL_EXPORTER_OTLP_*` variables. Each signal's endpoint is resolved here as the SDK
//! would ([`endpoint`]), checked by the egress gate against the policy's `exporters`
//! before anything is exported, and given to the SDK explicitly (which then reads no
//! variable). The SDK exports from its own thread, so the HTTP client here is a small
//! blocking one rather than an async client that would need a runtime there; it sends
//! only to the checked endpoints.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use opentelemetry::metrics::{Gauge, Histogram, MeterProvider as _};
use opentelemetry::trace::{
    Span as _, SpanBuilder, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceId, TraceState, Tracer as _,
    TracerProvider as _,
};
use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{MetricExporter, Protocol, SpanExporter, WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SdkTracerProvider};

use volley_core::stats::TaskTotals;
use volley_core::{Policy, RequestRecord, TaskEnd};
use volley_net::{Checked, Destination, Egress, Kind};
use volley_report::{RecordEvent, Report, RunStart, Sink, SinkError, StageReport, TaskEvent};

use crate::ExportError;
use crate::live::operation;

type ExportResult<T> = Result<T, ExportError>;

fn err(message: String) -> ExportError {
    ExportError(message)
}

/// The exporter's HTTP client: each export is one request on a new connection (http, or
/// https with the run's TLS settings: the system's trust store and `--ca-cert`), made on
/// a thread of its own with a current-thread runtime, since the SDK calls it from its own
/// export thread, inside or outside a tokio runtime. It sends only to the endpoints the
/// egress gate allowed.
#[derive(Debug, Clone)]
struct ExportClient {
    allowed: Vec<Checked>,
}

/// Longest wait for a collector's answer, and the most of it read.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_ANSWER: usize = 1 << 20;

#[async_trait::async_trait]
impl HttpClient for ExportClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let url = request.uri().to_string();
        let to =
            Destination::parse(&url).ok().and_then(|d| self.allowed.iter().find(|c| c.destination() == &d).cloned()).ok_or_else(|| {
                format!("OTLP export to {}: not an endpoint the egress gate allowed", volley_core::text::printable(&url, 200))
            })?;
        let method = request.method().clone();
        let headers: Vec<(String, String)> =
            request.headers().iter().map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())).collect();
        let body = request.into_body();
        let answer = std::thread::scope(|s| {
            s.spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
                let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                rt.block_on(volley_net::http::request_limited(method, &to, &headers, body, EXPORT_TIMEOUT, MAX_ANSWER))
                    .map_err(|e| e.to_string())
            })
            .join()
            .map_err(|_| "the OTLP client thread failed".to_string())?
        })?;
        Ok(Response::builder().status(answer.status).body(answer.body)?)
    }
}

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// OTLP/HTTP with protobuf bodies (port 4318 by convention).
    Http,
    /// OTLP/HTTP with JSON bodies: what a recording receiver can keep as text, and what
    /// `--dataset NAME=otel:PATH` replays.
    HttpJson,
    /// OTLP/gRPC (port 4317 by convention).
    Grpc,
}

impl Transport {
    /// `--otlp-protocol`, else `OTEL_EXPORTER_OTLP_PROTOCOL` (`grpc`, `http/protobuf` or
    /// `http/json`).
    pub fn choose(flag: Option<&str>) -> ExportResult<Transport> {
        let from_env = std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL").ok();
        match flag.or(from_env.as_deref()).unwrap_or("http/protobuf") {
            "grpc" => Ok(Transport::Grpc),
            "http" | "http/protobuf" => Ok(Transport::Http),
            "http/json" => Ok(Transport::HttpJson),
            other => Err(err(format!("OTLP protocol {other:?} is not supported (grpc, http/protobuf or http/json)"))),
        }
    }
}

impl Transport {
    /// The body encoding of an HTTP transport.
    fn http_protocol(self) -> Protocol {
        if self == Transport::HttpJson { Protocol::HttpJson } else { Protocol::HttpBinary }
    }
}

/// OTLP headers as gRPC metadata.
fn grpc_metadata(headers: &HashMap<String, String>) -> ExportResult<tonic::metadata::MetadataMap> {
    let mut map = tonic::metadata::MetadataMap::new();
    for (k, v) in headers {
        let key = tonic::metadata::MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
            .map_err(|_| err(format!("--otlp-header '{k}' is not a valid gRPC metadata name")))?;
        map.insert(key, v.parse().map_err(|_| err(format!("--otlp-header '{k}' has an invalid value")))?);
    }
    Ok(map)
}

/// The two signals Volley exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Metrics,
    Traces,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Metrics => "metrics",
            Signal::Traces => "traces",
        }
    }
}

/// Where `signal` is exported, as the SDK resolves it (the OpenTelemetry exporter
/// specification): the flag (`/v1/<signal>` appended over HTTP), else
/// `OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT` as it is, else `OTEL_EXPORTER_OTLP_ENDPOINT`
/// (`/v1/<signal>` appended over HTTP), else the default on localhost. Returns the URL and
/// where it came from.
fn endpoint(o: &OtlpOptions, signal: Signal, env: &dyn Fn(&str) -> Option<String>) -> (String, String) {
    let env = |k: &str| env(k).filter(|v| !v.is_empty());
    let http = o.transport != Transport::Grpc;
    let path = format!("/v1/{}", signal.name());
    let append = |base: &str| if http { format!("{}{path}", base.trim_end_matches('/')) } else { base.to_string() };
    let signal_var = format!("OTEL_EXPORTER_OTLP_{}_ENDPOINT", signal.name().to_ascii_uppercase());
    if let Some(e) = o.endpoint.as_deref().filter(|e| !e.is_empty()) {
        (append(e), "--otlp-endpoint".into())
    } else if let Some(e) = env(&signal_var) {
        (e, signal_var)
    } else if let Some(e) = env("OTEL_EXPORTER_OTLP_ENDPOINT") {
        (append(&e), "OTEL_EXPORTER_OTLP_ENDPOINT".into())
    } else if http {
        (format!("http://localhost:4318{path}"), "the OTLP/HTTP default".into())
    } else {
        ("http://localhost:4317".into(), "the OTLP/gRPC default".into())
    }
}

/// [`endpoint`], checked by the egress gate (`exporters`); a refusal names where the
/// endpoint came from.
fn checked_endpoint(o: &OtlpOptions, signal: Signal, egress: &Egress, env: &dyn Fn(&str) -> Option<String>) -> ExportResult<Checked> {
    let (url, from) = endpoint(o, signal, env);
    egress.check_url(Kind::Export, &url).map_err(|e| err(format!("{e} (from {from})")))
}

#[derive(Debug, Clone)]
pub struct OtlpOptions {
    /// Base URL (`http://collector:4318`); None: the `OTEL_EXPORTER_OTLP_*` variables.
    pub endpoint: Option<String>,
    pub transport: Transport,
    pub headers: Vec<(String, String)>,
    pub spans: bool,
    pub interval: Duration,
}

struct Instruments {
    duration: Histogram<f64>,
    ttft: Histogram<f64>,
    per_chunk: Histogram<f64>,
    tokens: Histogram<u64>,
    lag: Histogram<f64>,
    /// This machine's GPUs (`--gpu-metrics`), by the hardware semantic conventions.
    gpu_utilization: Gauge<f64>,
    gpu_memory: Gauge<u64>,
    gpu_power: Gauge<f64>,
    gpu_clock: Gauge<f64>,
}

/// Exports every record over OTLP; set up (and its options checked) before the run.
pub struct Otlp {
    meters: SdkMeterProvider,
    tracer: Option<(SdkTracerProvider, opentelemetry_sdk::trace::Tracer)>,
    instruments: Instruments,
    common: Vec<KeyValue>,
    /// To turn monotonic instants into wall-clock times for spans.
    wall_at_epoch: SystemTime,
    epoch: Instant,
    /// With spans: the open tasks' spans, by stage and session.
    tasks: HashMap<(u32, u64), OpenTask>,
    /// Requests of sessions that got root spans: more than [`MAX_OPEN_TASKS`] tasks were
    /// open.
    untracked: u64,
    /// The scenario's name: the tasks' `gen_ai.agent.name`.
    agent: Option<String>,
    /// Stage names, shared by their tasks.
    stage_names: HashMap<u32, Arc<str>>,
}

/// Task spans kept open at once; past it a session's requests get root spans (counted).
const MAX_OPEN_TASKS: usize = 1 << 20;

/// A session's task span, before it is built: its ids (its children's parent) and what
/// it covers so far.
struct OpenTask {
    /// The task span's context: children are built in it.
    parent: Context,
    trace_id: TraceId,
    span_id: SpanId,
    stage_name: Arc<str>,
    /// What it covers so far, counted as the report's task statistics count it.
    totals: TaskTotals,
}

thread_local! {
    /// Ids the next span built on this thread takes (see [`PresetIds`]).
    static PRESET: Cell<Option<(TraceId, SpanId)>> = const { Cell::new(None) };
}

/// The tracer's ids: random, except for a task span, which takes the ids its children
/// already name. The SDK draws a span's ids from its generator and offers no other way
/// to choose them; the preset is set and cleared around one synchronous build on the
/// same thread, so no other span can take it.
#[derive(Debug, Default)]
struct PresetIds(RandomIdGenerator);

impl IdGenerator for PresetIds {
    fn new_trace_id(&self) -> TraceId {
        PRESET.with(Cell::get).map_or_else(|| self.0.new_trace_id(), |(t, _)| t)
    }

    fn new_span_id(&self) -> SpanId {
        PRESET.with(Cell::get).map_or_else(|| self.0.new_span_id(), |(_, s)| s)
    }
}

impl Otlp {
    /// Sets up the exporters; records' times count from the run's epoch once it starts.
    /// Each endpoint is checked against `policy` (`exporters`) before anything is sent.
    pub fn start(o: &OtlpOptions, run_id: &str, server: (&str, u16), policy: &Policy) -> ExportResult<Otlp> {
        let epoch = Instant::now();
        let headers: HashMap<String, String> = o.headers.iter().cloned().collect();
        let egress = Egress::new(std::sync::Arc::new(policy.clone()));
        let env = |k: &str| std::env::var(k).ok();
        let metrics_to = checked_endpoint(o, Signal::Metrics, &egress, &env)?;
        let traces_to = if o.spans { Some(checked_endpoint(o, Signal::Traces, &egress, &env)?) } else { None };
        let client = ExportClient { allowed: std::iter::once(&metrics_to).chain(traces_to.as_ref()).cloned().collect() };
        let exporter = match o.transport {
            Transport::Http | Transport::HttpJson => MetricExporter::builder()
                .with_http()
                .with_http_client(client.clone())
                .with_protocol(o.transport.http_protocol())
                .with_headers(headers.clone())
                .with_endpoint(metrics_to.to_string())
                .build(),
            Transport::Grpc => {
                MetricExporter::builder().with_tonic().with_metadata(grpc_metadata(&headers)?).with_endpoint(metrics_to.to_string()).build()
            }
        }
        .map_err(|e| err(format!("cannot set up the OTLP metric exporter: {e}")))?;
        let reader = PeriodicReader::builder(exporter).with_interval(o.interval).build();
        let meters = SdkMeterProvider::builder().with_reader(reader).build();
        let meter = meters.meter("volley");
        let instruments = Instruments {
            duration: meter
                .f64_histogram("gen_ai.client.operation.duration")
                .with_unit("s")
                .with_description("GenAI operation duration")
                .build(),
            ttft: meter
                .f64_histogram("gen_ai.client.operation.time_to_first_chunk")
                .with_unit("s")
                .with_description("Time to receive the first chunk of a streamed response")
                .build(),
            per_chunk: meter
                .f64_histogram("gen_ai.client.operation.time_per_output_chunk")
                .with_unit("s")
                .with_description("Time between chunks of a streamed response")
                .build(),
            tokens: meter.u64_histogram("gen_ai.client.token.usage").with_unit("{token}").with_description("Tokens used").build(),
            lag: meter.f64_histogram("volley.schedule_lag").with_unit("s").with_description("Actual minus planned send time").build(),
            gpu_utilization: meter.f64_gauge("hw.gpu.utilization").with_unit("1").with_description("GPU utilisation, 0 to 1").build(),
            gpu_memory: meter.u64_gauge("hw.gpu.memory.usage").with_unit("By").with_description("GPU memory used").build(),
            gpu_power: meter.f64_gauge("hw.power").with_unit("W").with_description("GPU power draw").build(),
            gpu_clock: meter.f64_gauge("volley.gpu.sm_clock").with_unit("Hz").with_description("GPU SM clock").build(),
        };
        let tracer = if let Some(to) = traces_to {
            let exporter = match o.transport {
                Transport::Http | Transport::HttpJson => SpanExporter::builder()
                    .with_http()
                    .with_http_client(client)
                    .with_protocol(o.transport.http_protocol())
                    .with_headers(headers)
                    .with_endpoint(to.to_string())
                    .build(),
                Transport::Grpc => {
                    SpanExporter::builder().with_tonic().with_metadata(grpc_metadata(&headers)?).with_endpoint(to.to_string()).build()
                }
            }
            .map_err(|e| err(format!("cannot set up the OTLP span exporter: {e}")))?;
            let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).with_id_generator(PresetIds::default()).build();
            let tracer = provider.tracer("volley");
            Some((provider, tracer))
        } else {
            None
        };
        let common = vec![
            KeyValue::new("server.address", server.0.to_string()),
            KeyValue::new("server.port", i64::from(server.1)),
            KeyValue::new("volley.run_id", run_id.to_string()),
        ];
        let wall_at_epoch = SystemTime::now() - epoch.elapsed();
        Ok(Otlp {
            meters,
            tracer,
            instruments,
            common,
            wall_at_epoch,
            epoch,
            tasks: HashMap::new(),
            untracked: 0,
            agent: None,
            stage_names: HashMap::new(),
        })
    }

    fn wall(&self, t: Instant) -> SystemTime {
        self.wall_at_epoch + t.saturating_duration_since(self.epoch)
    }

    fn record(&mut self, stage_name: &str, r: &RequestRecord) {
        let mut attrs = self.common.clone();
        attrs.push(KeyValue::new("gen_ai.operation.name", operation(r.api)));
        attrs.push(KeyValue::new("volley.stage", stage_name.to_string()));
        if let Some(m) = &r.model {
            attrs.push(KeyValue::new("gen_ai.request.model", m.to_string()));
        }
        if let Some(t) = &r.tag {
            attrs.push(KeyValue::new("volley.tag", t.to_string()));
        }
        if let Some(e) = r.error {
            attrs.push(KeyValue::new("error.type", e.as_str()));
        }
        let i = &self.instruments;
        if let Some(lag) = r.schedule_lag() {
            i.lag.record(lag.as_secs_f64(), &attrs);
        }
        if let Some(l) = r.latency() {
            i.duration.record(l.as_secs_f64(), &attrs);
        }
        if r.ok() {
            if let Some(t) = r.ttft() {
                i.ttft.record(t.as_secs_f64(), &attrs);
            }
            for &gap in &r.itl_us {
                i.per_chunk.record(f64::from(gap) / 1e6, &attrs);
            }
            let with_type = |ty: &'static str| {
                let mut a = attrs.clone();
                a.push(KeyValue::new("gen_ai.token.type", ty));
                a
            };
            if let Some(p) = r.prompt_tokens {
                i.tokens.record(u64::from(p), &with_type("input"));
            }
            i.tokens.record(u64::from(r.output_tokens), &with_type("output"));
        }
        if self.tracer.is_none() {
            return;
        }
        // The session's task, whose span is this request's parent.
        let parent = r.session.and_then(|session| self.task(stage_name, r, session)).map(|t| t.parent.clone());
        let Some((_, tracer)) = &self.tracer else { return };
        let Some(sent) = r.sent else { return };
        if let Some(session) = r.session {
            attrs.push(KeyValue::new("gen_ai.conversation.id", session.to_string()));
            if let Some(turn) = r.turn {
                attrs.push(KeyValue::new("volley.turn", i64::from(turn)));
            }
        }
        if let Some(p) = r.prompt_tokens {
            attrs.push(KeyValue::new("gen_ai.usage.input_tokens", i64::from(p)));
        }
        attrs.push(KeyValue::new("gen_ai.usage.output_tokens", i64::from(r.output_tokens)));
        if let Some(f) = &r.finish_reason {
            let reasons = Value::Array(Array::String(vec![StringValue::from(f.clone())]));
            attrs.push(KeyValue::new("gen_ai.response.finish_reasons", reasons));
        }
        attrs.push(KeyValue::new("volley.tool_calls", i64::from(r.tool_calls)));
        let name = format!("{} {}", operation(r.api), r.model.as_deref().unwrap_or(""));
        let builder = SpanBuilder::from_name(name.trim().to_string())
            .with_kind(SpanKind::Client)
            .with_start_time(self.wall(sent))
            .with_attributes(attrs);
        let mut span = match &parent {
            Some(cx) => tracer.build_with_context(builder, cx),
            None => tracer.build(builder),
        };
        if let Some(first) = r.first_token {
            span.add_event_with_timestamp("gen_ai.first_token", self.wall(first), vec![]);
        }
        span.end_with_timestamp(self.wall(r.done));
        // A follow-up's wait: from the completion it followed to its planned send.
        if let (Some(cx), Some(delay)) = (&parent, r.delay.filter(|d| !d.total().is_zero() && r.turn.is_none_or(|t| t > 1)))
            && let Some(from) = r.planned.checked_sub(delay.total())
        {
            let tool = !delay.tool.is_zero();
            let mut attrs = self.common.clone();
            attrs.extend([
                KeyValue::new("volley.stage", stage_name.to_string()),
                KeyValue::new("gen_ai.conversation.id", r.session.unwrap_or_default().to_string()),
                KeyValue::new("volley.delay.tool_ms", delay.tool.as_secs_f64() * 1e3),
                KeyValue::new("volley.delay.think_ms", delay.think.as_secs_f64() * 1e3),
            ]);
            if tool {
                attrs.push(KeyValue::new("gen_ai.operation.name", "execute_tool"));
            }
            let builder = SpanBuilder::from_name(if tool { "execute_tool" } else { "think" })
                .with_kind(SpanKind::Internal)
                .with_start_time(self.wall(from))
                .with_attributes(attrs);
            tracer.build_with_context(builder, cx).end_with_timestamp(self.wall(r.planned));
        }
    }

    /// `session`'s open task, `r` folded in; made with fresh ids at the session's first
    /// record. None past [`MAX_OPEN_TASKS`] (the request gets a root span).
    fn task(&mut self, stage_name: &str, r: &RequestRecord, session: u64) -> Option<&OpenTask> {
        let key = (r.stage, session);
        if !self.tasks.contains_key(&key) {
            if self.tasks.len() >= MAX_OPEN_TASKS {
                self.untracked += 1;
                return None;
            }
            let stage_name = self.stage_names.entry(r.stage).or_insert_with(|| stage_name.into()).clone();
            let ids = RandomIdGenerator::default();
            let (trace_id, span_id) = (ids.new_trace_id(), ids.new_span_id());
            let context = SpanContext::new(trace_id, span_id, TraceFlags::SAMPLED, false, TraceState::default());
            let task = OpenTask {
                parent: Context::new().with_remote_span_context(context),
                trace_id,
                span_id,
                stage_name,
                totals: TaskTotals::starting(r),
            };
            self.tasks.insert(key, task);
        }
        let t = self.tasks.get_mut(&key)?;
        t.totals.add(r);
        Some(t)
    }

    /// Builds and ends the task span of `session`, if it is open. `outcome`: `completed`,
    /// `failed`, or `unfinished` (its stage or the run ended first).
    fn end_task(&mut self, stage: u32, session: u64, outcome: &'static str) {
        let Some(t) = self.tasks.remove(&(stage, session)) else { return };
        self.build_task(session, t, outcome);
    }

    fn build_task(&self, session: u64, t: OpenTask, outcome: &'static str) {
        let Some((_, tracer)) = &self.tracer else { return };
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let mut attrs = self.common.clone();
        attrs.extend([
            KeyValue::new("gen_ai.operation.name", "invoke_agent"),
            KeyValue::new("volley.stage", t.stage_name.to_string()),
            KeyValue::new("gen_ai.conversation.id", session.to_string()),
            KeyValue::new("volley.task.outcome", outcome),
            KeyValue::new("volley.task.turns", count(t.totals.turns)),
            KeyValue::new("volley.task.tool_calls", count(t.totals.tool_calls)),
            KeyValue::new("gen_ai.usage.input_tokens", count(t.totals.input_tokens)),
            KeyValue::new("gen_ai.usage.output_tokens", count(t.totals.output_tokens)),
        ]);
        let name = match &self.agent {
            Some(agent) => {
                attrs.push(KeyValue::new("gen_ai.agent.name", agent.clone()));
                format!("invoke_agent {agent}")
            }
            None => "invoke_agent".to_string(),
        };
        let builder = SpanBuilder::from_name(name)
            .with_kind(SpanKind::Internal)
            .with_start_time(self.wall(t.totals.first_sent))
            .with_attributes(attrs);
        PRESET.with(|p| p.set(Some((t.trace_id, t.span_id))));
        let mut span = tracer.build(builder);
        PRESET.with(|p| p.set(None));
        if outcome == "failed" {
            span.set_status(Status::error("the task failed"));
        }
        span.end_with_timestamp(self.wall(t.totals.last_done.max(t.totals.first_sent)));
    }

    /// Ends the open task spans of `stage` (every stage: None), as unfinished.
    fn end_tasks(&mut self, stage: Option<u32>) {
        let ended: Vec<_> = self.tasks.extract_if(|(s, _), _| stage.is_none_or(|i| i == *s)).collect();
        for ((_, session), t) in ended {
            self.build_task(session, t, "unfinished");
        }
    }

    /// Flushes everything recorded and stops the exporters (blocking).
    fn shutdown(&mut self) -> Result<(), SinkError> {
        if let Some((provider, _)) = self.tracer.take() {
            provider.shutdown().map_err(|e| SinkError::best_effort(format!("OTLP span export failed: {e}")))?;
        }
        self.meters.shutdown().map_err(|e| SinkError::best_effort(format!("OTLP metric export failed: {e}")))
    }
}

impl Sink for Otlp {
    fn name(&self) -> &str {
        "the OTLP export"
    }

    fn run_started(&mut self, run: &RunStart<'_>) -> Result<(), SinkError> {
        self.epoch = run.epoch;
        self.wall_at_epoch = SystemTime::now() - run.epoch.elapsed();
        self.agent = Some(run.scenario.info.name.clone()).filter(|n| !n.is_empty());
        Ok(())
    }

    fn record(&mut self, e: &RecordEvent<'_>) -> Result<(), SinkError> {
        Otlp::record(self, e.stage_name, e.record);
        Ok(())
    }

    fn task_ended(&mut self, e: &TaskEvent<'_>) -> Result<(), SinkError> {
        let outcome = match e.end {
            TaskEnd::Completed => "completed",
            TaskEnd::Failed => "failed",
        };
        self.end_task(e.stage, e.session, outcome);
        Ok(())
    }

    fn stage_finished(&mut self, index: u32, _report: &StageReport, _window: &volley_core::StageWindow) -> Result<(), SinkError> {
        self.end_tasks(Some(index));
        self.stage_names.remove(&index);
        Ok(())
    }

    fn gpu_sampled(&mut self, points: &[volley_report::gpu::GpuPoint]) -> Result<(), SinkError> {
        let i = &self.instruments;
        for p in points {
            let mut attrs = self.common.clone();
            attrs.push(KeyValue::new("hw.id", format!("gpu{}", p.index)));
            attrs.push(KeyValue::new("hw.type", "gpu"));
            if let Some(u) = p.utilization_pct {
                i.gpu_utilization.record(u / 100.0, &attrs);
            }
            i.gpu_memory.record((p.memory_used_mib * (1u64 << 20) as f64) as u64, &attrs);
            if let Some(w) = p.power_w {
                i.gpu_power.record(w, &attrs);
            }
            if let Some(c) = p.sm_clock_mhz {
                i.gpu_clock.record(c * 1e6, &attrs);
            }
        }
        Ok(())
    }

    fn run_finished(&mut self, _report: &Report) -> Result<(), SinkError> {
        self.end_tasks(None);
        self.shutdown()?;
        if self.untracked > 0 {
            return Err(SinkError::best_effort(format!(
                "OTLP spans: {} requests of sessions got root spans, not task spans: more than {MAX_OPEN_TASKS} tasks were open at once",
                self.untracked
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(endpoint: Option<&str>, transport: Transport) -> OtlpOptions {
        OtlpOptions {
            endpoint: endpoint.map(str::to_string),
            transport,
            headers: Vec::new(),
            spans: true,
            interval: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_task_span_takes_the_ids_its_children_named() {
        let provider = SdkTracerProvider::builder().with_id_generator(PresetIds::default()).build();
        let tracer = provider.tracer("test");
        let (trace_id, span_id) = (TraceId::from(7u128), SpanId::from(9u64));
        let parent =
            Context::new().with_remote_span_context(SpanContext::new(trace_id, span_id, TraceFlags::SAMPLED, false, TraceState::default()));
        let child = tracer.build_with_context(SpanBuilder::from_name("chat"), &parent);
        assert_eq!(child.span_context().trace_id(), trace_id);
        assert_ne!(child.span_context().span_id(), span_id);
        PRESET.with(|p| p.set(Some((trace_id, span_id))));
        let task = tracer.build(SpanBuilder::from_name("invoke_agent"));
        PRESET.with(|p| p.set(None));
        assert_eq!((task.span_context().trace_id(), task.span_context().span_id()), (trace_id, span_id));
        // Cleared: the next root span has ids of its own.
        let other = tracer.build(SpanBuilder::from_name("chat"));
        assert_ne!(other.span_context().trace_id(), trace_id);
    }

    #[test]
    fn endpoints_resolve_as_the_sdk_does() {
        let none = |_: &str| None;
        let http = options(None, Transport::Http);
        assert_eq!(endpoint(&http, Signal::Metrics, &none).0, "http://localhost:4318/v1/metrics");
        assert_eq!(endpoint(&options(None, Transport::Grpc), Signal::Traces, &none).0, "http://localhost:4317");
        let flag = options(Some("http://c:4318/"), Transport::Http);
        assert_eq!(endpoint(&flag, Signal::Traces, &none), ("http://c:4318/v1/traces".into(), "--otlp-endpoint".into()));
        let env = |k: &str| match k {
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://generic:4318".to_string()),
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" => Some("http://traces:4318/custom".to_string()),
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT" => Some(String::new()),
            _ => None,
        };
        assert_eq!(endpoint(&http, Signal::Metrics, &env).0, "http://generic:4318/v1/metrics");
        assert_eq!(endpoint(&http, Signal::Traces, &env).0, "http://traces:4318/custom");
        assert_eq!(endpoint(&options(None, Transport::Grpc), Signal::Metrics, &env).0, "http://generic:4318");
        // The flag wins over every variable.
        assert_eq!(endpoint(&flag, Signal::Metrics, &env).0, "http://c:4318/v1/metrics");
    }

    #[test]
    fn endpoints_off_the_policy_are_refused_naming_their_source() {
        let egress = Egress::new(std::sync::Arc::new(Policy::default()));
        let env = |k: &str| (k == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| "http://collector.example:4318".to_string());
        let e = checked_endpoint(&options(None, Transport::Http), Signal::Metrics, &egress, &env).unwrap_err().to_string();
        assert!(e.starts_with("refused by the policy (exporters = [])") && e.ends_with("(from OTEL_EXPORTER_OTLP_ENDPOINT)"), "{e}");
        checked_endpoint(&options(Some("http://127.0.0.1:4318"), Transport::Http), Signal::Metrics, &egress, &env).unwrap();
        let e = checked_endpoint(&options(Some("http://127.0.0.1:4318/a/../b"), Transport::Http), Signal::Metrics, &egress, &env);
        assert!(e.unwrap_err().to_string().contains("dot segment"));
        let listed = Egress::new(std::sync::Arc::new(Policy::from_toml("exporters = [\"http://collector.example:4318\"]").unwrap()));
        checked_endpoint(&options(None, Transport::Http), Signal::Traces, &listed, &env).unwrap();
    }
}
