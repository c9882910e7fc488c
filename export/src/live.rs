//! Live aggregates for exporters, named by the OpenTelemetry GenAI semantic
//! conventions: `gen_ai.client.operation.duration`, `…time_to_first_chunk`,
//! `…time_per_output_chunk`, `gen_ai.client.token.usage`, plus Volley's request counts
//! and schedule lag. [`LiveSink`] folds each record in as the collector hands it over
//! (off the send path); the Prometheus endpoint reads them under the same lock.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use volley_core::{Api, RequestRecord};
use volley_report::{RecordEvent, Sink, SinkError};

/// Histogram bucket upper bounds, in seconds.
pub const SECONDS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];
/// Most label sets kept.
const MAX_SERIES: usize = 1000;
const OTHER: &str = "(other)";
/// Bucket bounds of token counts.
pub const TOKENS: &[f64] = &[1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0];

#[derive(Debug, Clone, Default)]
pub struct Buckets {
    /// Count per bound (not cumulative), then the +Inf overflow.
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Buckets {
    fn observe(&mut self, bounds: &[f64], v: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; bounds.len() + 1];
        }
        let i = bounds.iter().position(|b| v <= *b).unwrap_or(bounds.len());
        self.counts[i] += 1;
        self.sum += v;
        self.count += 1;
    }
}

/// The conventions' `gen_ai.operation.name` of an API.
pub fn operation(api: Api) -> &'static str {
    match api {
        Api::ChatCompletions | Api::Responses | Api::Messages => "chat",
        Api::Completions | Api::TgiGenerate => "text_completion",
        Api::Embeddings => "embeddings",
        Api::KserveV1 | Api::KserveV2 => "predict",
        Api::Http => "http",
    }
}

/// One label set: stage, model, operation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub stage: String,
    pub model: String,
    pub operation: &'static str,
}

#[derive(Debug, Clone, Default)]
pub struct Series {
    /// Outcome ("ok" or an error class) → requests.
    pub requests: BTreeMap<&'static str, u64>,
    pub duration: Buckets,
    pub ttft: Buckets,
    pub time_per_chunk: Buckets,
    pub input_tokens: Buckets,
    pub output_tokens: Buckets,
    pub schedule_lag: Buckets,
}

#[derive(Debug, Default)]
pub struct Live {
    pub run_id: String,
    pub server_address: String,
    pub series: BTreeMap<Key, Series>,
    /// The latest GPU reading per device (`--gpu-metrics`).
    pub gpu: BTreeMap<u32, volley_report::gpu::GpuPoint>,
}

pub type SharedLive = Arc<Mutex<Live>>;

impl Live {
    pub fn shared(run_id: String, server_address: String) -> SharedLive {
        Arc::new(Mutex::new(Live { run_id, server_address, series: BTreeMap::new(), gpu: BTreeMap::new() }))
    }

    pub fn record(&mut self, stage_name: &str, r: &RequestRecord) {
        let mut key =
            Key { stage: stage_name.to_string(), model: r.model.as_deref().unwrap_or("").to_string(), operation: operation(r.api) };
        // Label sets are bounded whatever models a scenario names: the rest are "(other)".
        if self.series.len() >= MAX_SERIES && !self.series.contains_key(&key) {
            key.model = OTHER.to_string();
        }
        let s = self.series.entry(key).or_default();
        *s.requests.entry(r.error.map_or("ok", |e| e.as_str())).or_default() += 1;
        if let Some(lag) = r.schedule_lag() {
            s.schedule_lag.observe(SECONDS, lag.as_secs_f64());
        }
        if !r.ok() {
            return;
        }
        if let Some(l) = r.latency() {
            s.duration.observe(SECONDS, l.as_secs_f64());
        }
        if let Some(t) = r.ttft() {
            s.ttft.observe(SECONDS, t.as_secs_f64());
        }
        for &gap in &r.itl_us {
            s.time_per_chunk.observe(SECONDS, f64::from(gap) / 1e6);
        }
        if let Some(p) = r.prompt_tokens {
            s.input_tokens.observe(TOKENS, f64::from(p));
        }
        s.output_tokens.observe(TOKENS, f64::from(r.output_tokens));
    }
}

/// Folds every record into the live aggregates.
pub struct LiveSink(pub SharedLive);

impl Sink for LiveSink {
    fn name(&self) -> &str {
        "the live metrics endpoint"
    }

    fn record(&mut self, e: &RecordEvent<'_>) -> Result<(), SinkError> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).record(e.stage_name, e.record);
        Ok(())
    }

    fn gpu_sampled(&mut self, points: &[volley_report::gpu::GpuPoint]) -> Result<(), SinkError> {
        let mut live = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for p in points {
            live.gpu.insert(p.index, p.clone());
        }
        Ok(())
    }
}
