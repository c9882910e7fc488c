//! `--prometheus-listen ADDR`: the run's live metrics in the Prometheus text format at
//! `/metrics`, for clusters that scrape. Names follow the OpenTelemetry GenAI
//! conventions as Prometheus spells them (`gen_ai_client_operation_duration_seconds`,
//! ...), labelled with `gen_ai_operation_name`, `gen_ai_request_model`,
//! `server_address`, `volley_stage` and `volley_run_id`.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::ExportError;
use crate::live::{Buckets, Key, Live, SECONDS, SharedLive, TOKENS};

pub struct Exposition {
    pub addr: SocketAddr,
    stop: Arc<Notify>,
}

impl Exposition {
    /// Serves `live` at `http://ADDR/metrics` until [`Exposition::stop`].
    pub async fn start(addr: SocketAddr, live: SharedLive) -> Result<Exposition, ExportError> {
        let cannot = |e: std::io::Error| ExportError(format!("--prometheus-listen: cannot listen on {addr}: {e}"));
        let listener = TcpListener::bind(addr).await.map_err(cannot)?;
        let addr = listener.local_addr().map_err(cannot)?;
        let stop = Arc::new(Notify::new());
        let stopping = stop.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
                    _ = stopping.notified() => return,
                };
                let live = live.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let live = live.clone();
                        async move {
                            let resp = if req.uri().path() == "/metrics" {
                                let text = render(&live.lock().unwrap_or_else(|p| p.into_inner()));
                                let mut r = Response::new(Full::new(Bytes::from(text)));
                                r.headers_mut().insert(
                                    hyper::header::CONTENT_TYPE,
                                    hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"),
                                );
                                r
                            } else {
                                let mut r = Response::new(Full::new(Bytes::from_static(b"see /metrics\n")));
                                *r.status_mut() = StatusCode::NOT_FOUND;
                                r
                            };
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(Exposition { addr, stop })
    }

    pub fn stop(&self) {
        self.stop.notify_one();
    }
}

/// A label value, escaped as the exposition format requires.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn labels(live: &Live, k: &Key) -> String {
    let q = escape;
    format!(
        "gen_ai_operation_name=\"{}\",gen_ai_request_model=\"{}\",server_address=\"{}\",volley_stage=\"{}\",volley_run_id=\"{}\"",
        k.operation,
        q(&k.model),
        q(&live.server_address),
        q(&k.stage),
        q(&live.run_id)
    )
}

fn histogram(out: &mut String, name: &str, help: &str, bounds: &[f64], rows: &[(String, &Buckets)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    for (labels, b) in rows {
        if b.count == 0 {
            continue;
        }
        let mut cumulative = 0;
        for (i, bound) in bounds.iter().enumerate() {
            cumulative += b.counts[i];
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", b.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", b.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", b.count);
    }
}

pub fn render(live: &Live) -> String {
    let mut out = String::new();
    let rows: Vec<(String, &super::live::Series)> = live.series.iter().map(|(k, s)| (labels(live, k), s)).collect();
    let _ = writeln!(out, "# HELP volley_requests_total Requests completed, by outcome.\n# TYPE volley_requests_total counter");
    for (l, s) in &rows {
        for (outcome, n) in &s.requests {
            let _ = writeln!(out, "volley_requests_total{{{l},outcome=\"{outcome}\"}} {n}");
        }
    }
    let pick =
        |f: fn(&super::live::Series) -> &Buckets| -> Vec<(String, &Buckets)> { rows.iter().map(|(l, s)| (l.clone(), f(s))).collect() };
    histogram(&mut out, "gen_ai_client_operation_duration_seconds", "GenAI operation duration.", SECONDS, &pick(|s| &s.duration));
    histogram(
        &mut out,
        "gen_ai_client_operation_time_to_first_chunk_seconds",
        "Time to the first streamed chunk.",
        SECONDS,
        &pick(|s| &s.ttft),
    );
    histogram(
        &mut out,
        "gen_ai_client_operation_time_per_output_chunk_seconds",
        "Time between streamed chunks.",
        SECONDS,
        &pick(|s| &s.time_per_chunk),
    );
    let tokens: Vec<(String, &Buckets)> = rows
        .iter()
        .flat_map(|(l, s)| {
            [(format!("{l},gen_ai_token_type=\"input\""), &s.input_tokens), (format!("{l},gen_ai_token_type=\"output\""), &s.output_tokens)]
        })
        .collect();
    histogram(&mut out, "gen_ai_client_token_usage", "Tokens per operation.", TOKENS, &tokens);
    histogram(&mut out, "volley_schedule_lag_seconds", "Actual minus planned send time.", SECONDS, &pick(|s| &s.schedule_lag));
    gpu_gauges(&mut out, live);
    out
}

/// This machine's GPUs at their latest reading (`--gpu-metrics`).
fn gpu_gauges(out: &mut String, live: &Live) {
    type Read = fn(&volley_report::gpu::GpuPoint) -> Option<f64>;
    let gauges: [(&str, &str, Read); 5] = [
        ("volley_gpu_utilization_ratio", "GPU utilisation, 0 to 1.", |p| p.utilization_pct.map(|u| u / 100.0)),
        ("volley_gpu_memory_used_bytes", "GPU memory used.", |p| Some(p.memory_used_mib * (1u64 << 20) as f64)),
        ("volley_gpu_power_watts", "GPU power draw.", |p| p.power_w),
        ("volley_gpu_sm_clock_hertz", "GPU SM clock.", |p| p.sm_clock_mhz.map(|m| m * 1e6)),
        ("volley_gpu_energy_joules_total", "GPU energy since the driver started counting.", |p| p.energy_j),
    ];
    for (name, help, read) in gauges {
        let rows: Vec<(u32, f64)> = live.gpu.values().filter_map(|p| Some((p.index, read(p)?))).collect();
        if rows.is_empty() {
            continue;
        }
        let kind = if name.ends_with("_total") { "counter" } else { "gauge" };
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (gpu, v) in rows {
            let _ = writeln!(out, "{name}{{volley_run_id=\"{}\",gpu=\"{gpu}\"}} {v}", escape(&live.run_id));
        }
    }
}

#[cfg(test)]
mod tests {
    use volley_report::gpu::GpuPoint;

    use super::*;

    #[test]
    fn gpu_gauges_show_the_latest_reading_per_device() {
        let live = Live::shared("run-1".into(), "127.0.0.1:8000".into());
        let mut l = live.lock().unwrap();
        assert!(!render(&l).contains("volley_gpu"), "nothing without --gpu-metrics");
        let p = GpuPoint {
            t_ms: 10.0,
            index: 1,
            utilization_pct: Some(97.0),
            memory_used_mib: 2.0,
            power_w: Some(612.5),
            sm_clock_mhz: Some(1980.0),
            energy_j: None,
        };
        l.gpu.insert(1, p);
        let text = render(&l);
        assert!(text.contains("volley_gpu_utilization_ratio{volley_run_id=\"run-1\",gpu=\"1\"} 0.97"), "{text}");
        assert!(text.contains("volley_gpu_memory_used_bytes{volley_run_id=\"run-1\",gpu=\"1\"} 2097152"), "{text}");
        assert!(text.contains("volley_gpu_power_watts{volley_run_id=\"run-1\",gpu=\"1\"} 612.5"), "{text}");
        assert!(text.contains("volley_gpu_sm_clock_hertz{volley_run_id=\"run-1\",gpu=\"1\"} 1980000000"), "{text}");
        assert!(!text.contains("volley_gpu_energy_joules_total"), "no counter, no series");
    }
}
