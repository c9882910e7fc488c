//! `coldstart.json` and the console table: configuration × repeats with min, median
//! and max of each phase, and the memory peaks.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;

use serde::Serialize;

use crate::probe::gpu::GpuSample;

#[derive(Default)]
pub struct Samples {
    pub peak_rss: u64,
    pub rss_mib: Vec<(f64, f64)>,
    pub gpu_peak_mib: BTreeMap<u32, f64>,
    pub gpu: Vec<(f64, GpuSample)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GpuInfo {
    pub available: bool,
    pub source: Option<String>,
    pub unavailable_reason: Option<String>,
}

/// One start. Times in ms from the process start.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub index: u32,
    /// "cold" (page cache dropped) or "warm".
    pub label: String,
    pub port_ms: f64,
    pub ready_ms: f64,
    pub first_token_ms: Option<f64>,
    pub first_token_after_ready_ms: Option<f64>,
    /// The first request's own time to first token (from its send).
    pub first_request_ttft_ms: Option<f64>,
    /// SIGTERM until the process group was gone.
    pub stop_ms: f64,
    pub peak_rss_mib: f64,
    /// Device index → peak memory used.
    pub peak_gpu_mib: BTreeMap<u32, f64>,
    /// (ms from start, MiB) of the process tree.
    pub rss_series_mib: Vec<(f64, f64)>,
    pub gpu_series: Vec<(f64, GpuSample)>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Spread {
    fn of(mut xs: Vec<f64>) -> Option<Spread> {
        if xs.is_empty() {
            return None;
        }
        xs.sort_by(f64::total_cmp);
        let n = xs.len();
        let median = if n % 2 == 1 { xs[n / 2] } else { (xs[n / 2 - 1] + xs[n / 2]) / 2.0 };
        Some(Spread { min: xs[0], median: (median * 10.0).round() / 10.0, max: xs[n - 1] })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ConfigReport {
    pub name: String,
    pub command: String,
    pub runs: Vec<RunRecord>,
    pub port_ms: Option<Spread>,
    pub ready_ms: Option<Spread>,
    pub first_token_ms: Option<Spread>,
    pub first_token_after_ready_ms: Option<Spread>,
    pub stop_ms: Option<Spread>,
    pub peak_rss_mib: Option<Spread>,
    pub peak_gpu_mib: Option<Spread>,
}

impl ConfigReport {
    pub fn new(name: &str, command: &str, runs: Vec<RunRecord>) -> Self {
        let of = |f: &dyn Fn(&RunRecord) -> Option<f64>| Spread::of(runs.iter().filter_map(f).collect());
        ConfigReport {
            name: name.to_string(),
            command: command.to_string(),
            port_ms: of(&|r| Some(r.port_ms)),
            ready_ms: of(&|r| Some(r.ready_ms)),
            first_token_ms: of(&|r| r.first_token_ms),
            first_token_after_ready_ms: of(&|r| r.first_token_after_ready_ms),
            stop_ms: of(&|r| Some(r.stop_ms)),
            peak_rss_mib: of(&|r| Some(r.peak_rss_mib)),
            peak_gpu_mib: of(&|r| r.peak_gpu_mib.values().copied().reduce(f64::max)),
            runs,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ColdstartReport {
    pub schema_version: u32,
    pub volley_version: &'static str,
    pub address: String,
    pub ready_path: String,
    pub gpu: GpuInfo,
    pub interrupted: bool,
    /// Why the measurement stopped early, if it did; the runs before it are kept.
    pub error: Option<String>,
    pub configs: Vec<ConfigReport>,
}

impl ColdstartReport {
    pub fn new(addr: SocketAddr, ready_path: &str, gpu: GpuInfo, configs: Vec<ConfigReport>, interrupted: bool) -> Self {
        ColdstartReport {
            schema_version: 1,
            volley_version: env!("CARGO_PKG_VERSION"),
            address: addr.to_string(),
            ready_path: ready_path.to_string(),
            gpu,
            interrupted,
            error: None,
            configs,
        }
    }

    /// The Run:ai-style table: each phase as min / median / max over the repeats.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "\ncold starts ({} readiness: {})", self.address, self.ready_path);
        let _ = writeln!(
            out,
            "{:<16}{:>5}  {:>22}  {:>22}  {:>22}  {:>22}  {:>20}",
            "config", "runs", "port open ms", "ready ms", "first token ms", "token after ready ms", "peak RSS MiB"
        );
        let cell = |s: &Option<Spread>| match s {
            Some(s) => format!("{:.0} / {:.0} / {:.0}", s.min, s.median, s.max),
            None => "-".into(),
        };
        for c in &self.configs {
            let _ = writeln!(
                out,
                "{:<16}{:>5}  {:>22}  {:>22}  {:>22}  {:>22}  {:>20}",
                c.name,
                c.runs.len(),
                cell(&c.port_ms),
                cell(&c.ready_ms),
                cell(&c.first_token_ms),
                cell(&c.first_token_after_ready_ms),
                cell(&c.peak_rss_mib)
            );
        }
        let _ = writeln!(out, "(min / median / max over the runs; times from process start)");
        match (&self.gpu.unavailable_reason, self.configs.iter().filter_map(|c| c.peak_gpu_mib).next()) {
            (Some(why), _) => {
                let _ = writeln!(out, "GPU metrics unavailable: {why}");
            }
            (None, Some(_)) => {
                for c in &self.configs {
                    let _ = writeln!(out, "{}: peak GPU memory {} MiB", c.name, cell(&c.peak_gpu_mib));
                }
            }
            (None, None) => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads() {
        let s = Spread::of(vec![5.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((s.min, s.median, s.max), (1.0, 2.5, 5.0));
        assert!(Spread::of(vec![]).is_none());
    }
}
