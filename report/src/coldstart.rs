//! `volley coldstart`'s report: `coldstart.json` (configuration × repeats, each phase as
//! min, median and max, and the memory peaks) and its console table. The engine
//! measures and returns it; the binary writes it, and `coldstart.html` is drawn by
//! [`crate::html::coldstart`].

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Serialize;

use crate::gpu::GpuSample;

/// Whether GPUs were read while servers started, and why not.
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

/// Min, median and max over a configuration's starts.
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

/// One configuration: its starts and each phase's spread over them.
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

/// `coldstart.json`.
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

    /// The Run:ai-style table for the console, line by line: each phase as min / median /
    /// max over the repeats.
    pub fn table(&self) -> Vec<String> {
        let row = |cells: [&str; 7]| {
            let [name, runs, port, ready, first, after, rss] = cells;
            format!("{name:<16}{runs:>5}  {port:>22}  {ready:>22}  {first:>22}  {after:>22}  {rss:>20}")
        };
        let cell = |s: &Option<Spread>| match s {
            Some(s) => format!("{:.0} / {:.0} / {:.0}", s.min, s.median, s.max),
            None => "-".into(),
        };
        let mut out = vec![
            String::new(),
            format!("cold starts ({} readiness: {})", self.address, self.ready_path),
            row(["config", "runs", "port open ms", "ready ms", "first token ms", "token after ready ms", "peak RSS MiB"]),
        ];
        for c in &self.configs {
            let runs = c.runs.len().to_string();
            let cells = [&c.port_ms, &c.ready_ms, &c.first_token_ms, &c.first_token_after_ready_ms, &c.peak_rss_mib].map(cell);
            let [port, ready, first, after, rss] = &cells;
            out.push(row([&c.name, &runs, port, ready, first, after, rss]));
        }
        out.push("(min / median / max over the runs; times from process start)".into());
        match (&self.gpu.unavailable_reason, self.configs.iter().filter_map(|c| c.peak_gpu_mib).next()) {
            (Some(why), _) => out.push(format!("GPU metrics unavailable: {why}")),
            (None, Some(_)) => {
                out.extend(self.configs.iter().map(|c| format!("{}: peak GPU memory {} MiB", c.name, cell(&c.peak_gpu_mib))))
            }
            (None, None) => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(index: u32, port_ms: f64, ready_ms: f64) -> RunRecord {
        RunRecord {
            index,
            label: "warm".into(),
            port_ms,
            ready_ms,
            first_token_ms: None,
            first_token_after_ready_ms: None,
            first_request_ttft_ms: None,
            stop_ms: 3.0,
            peak_rss_mib: 120.0,
            peak_gpu_mib: BTreeMap::new(),
            rss_series_mib: Vec::new(),
            gpu_series: Vec::new(),
        }
    }

    #[test]
    fn the_table_has_a_row_per_configuration_and_says_why_gpus_are_missing() {
        let gpu = GpuInfo { available: false, source: None, unavailable_reason: Some("no NVML".into()) };
        let configs = vec![ConfigReport::new("small", "serve small", vec![start(1, 10.0, 400.0), start(2, 12.0, 410.0)])];
        let report = ColdstartReport::new("127.0.0.1:8200".parse().unwrap(), "/health", gpu, configs, false);
        let table = report.table();
        assert_eq!(table.len(), 6, "{table:#?}");
        assert_eq!(table[0], "");
        assert_eq!(table[1], "cold starts (127.0.0.1:8200 readiness: /health)");
        assert_eq!(
            table[2],
            format!(
                "config           runs  {:>22}  {:>22}  {:>22}  {:>22}  {:>20}",
                "port open ms", "ready ms", "first token ms", "token after ready ms", "peak RSS MiB"
            )
        );
        assert_eq!(
            table[3],
            format!(
                "small               2  {:>22}  {:>22}  {:>22}  {:>22}  {:>20}",
                "10 / 11 / 12", "400 / 405 / 410", "-", "-", "120 / 120 / 120"
            )
        );
        assert_eq!(table[5], "GPU metrics unavailable: no NVML");
    }

    #[test]
    fn spreads() {
        let s = Spread::of(vec![5.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((s.min, s.median, s.max), (1.0, 2.5, 5.0));
        assert!(Spread::of(vec![]).is_none());
    }
}
