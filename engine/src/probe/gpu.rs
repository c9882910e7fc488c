//! GPU readings per device — memory, utilisation, power, SM clock and the energy
//! counter — from NVML through `nvml-wrapper` (libnvidia-ml is loaded at run time, so a
//! machine without a GPU still runs), else `nvidia-smi --query-gpu`, else a reason why
//! neither worked. Used while a server cold-starts and, with `--gpu-metrics`, during a
//! run ([`GpuSampler`]: a thread of its own, since NVML calls block and `nvidia-smi` is
//! a process).

use std::process::Command;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::Clock;
pub use volley_report::gpu::GpuSample;
use volley_report::gpu::{GpuDevice, GpuPoint, GpuReport, MAX_SAMPLES};

pub enum GpuSource {
    Nvml(Box<Nvml>),
    NvidiaSmi,
}

/// Which source works here, or why none does.
pub fn open() -> Result<GpuSource, String> {
    let nvml_err = match Nvml::init() {
        Ok(n) => match n.device_count() {
            Ok(c) if c > 0 => return Ok(GpuSource::Nvml(Box::new(n))),
            Ok(_) => "NVML found no GPU".to_string(),
            Err(e) => format!("NVML: {e}"),
        },
        Err(e) => format!("NVML unavailable ({e})"),
    };
    match sample_smi() {
        Ok(s) if !s.is_empty() => Ok(GpuSource::NvidiaSmi),
        Ok(_) => Err(format!("{nvml_err}; nvidia-smi lists no GPU")),
        Err(e) => Err(format!("{nvml_err}; {e}")),
    }
}

impl GpuSource {
    pub fn name(&self) -> &'static str {
        match self {
            GpuSource::Nvml(_) => "nvml",
            GpuSource::NvidiaSmi => "nvidia-smi",
        }
    }

    pub fn sample(&self) -> Result<Vec<GpuSample>, String> {
        match self {
            GpuSource::Nvml(n) => sample_nvml(n),
            GpuSource::NvidiaSmi => sample_smi(),
        }
    }
}

/// The GPUs NVML lists, each with its name and memory, and the driver's version; none
/// (and no error) where NVML is absent — the run's metadata just has no GPU.
pub fn nvml_devices() -> (Vec<volley_report::metadata::HostGpu>, Option<String>) {
    let Ok(n) = Nvml::init() else { return (Vec::new(), None) };
    let count = n.device_count().unwrap_or(0).min(volley_report::metadata::MAX_LIST as u32);
    let gpus = (0..count)
        .filter_map(|i| {
            let d = n.device_by_index(i).ok()?;
            Some(volley_report::metadata::HostGpu {
                index: i,
                name: d.name().ok().map(|s| volley_core::text::clip(&s, 128).into_owned()),
                memory_total_mib: d.memory_info().map_or(0, |m| m.total >> 20),
            })
        })
        .collect();
    (gpus, n.sys_driver_version().ok().map(|s| volley_core::text::clip(&s, 64).into_owned()))
}

/// What NVML answers for one device, before conversion (each reading may be missing).
#[derive(Debug, Clone, Default)]
pub(crate) struct NvmlReading {
    pub name: Option<String>,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    pub utilization_gpu_pct: Option<u32>,
    pub power_usage_mw: Option<u32>,
    pub sm_clock_mhz: Option<u32>,
    pub total_energy_mj: Option<u64>,
}

pub(crate) fn from_nvml(index: u32, r: NvmlReading) -> GpuSample {
    GpuSample {
        index,
        memory_used_mib: r.memory_used_bytes as f64 / (1 << 20) as f64,
        memory_total_mib: r.memory_total_bytes as f64 / (1 << 20) as f64,
        utilization_pct: r.utilization_gpu_pct,
        power_w: r.power_usage_mw.map(|mw| f64::from(mw) / 1000.0),
        sm_clock_mhz: r.sm_clock_mhz,
        energy_j: r.total_energy_mj.map(|mj| mj as f64 / 1000.0),
        name: r.name,
    }
}

fn sample_nvml(n: &Nvml) -> Result<Vec<GpuSample>, String> {
    let count = n.device_count().map_err(|e| e.to_string())?;
    (0..count)
        .map(|i| {
            let d = n.device_by_index(i).map_err(|e| e.to_string())?;
            let m = d.memory_info().map_err(|e| e.to_string())?;
            let reading = NvmlReading {
                name: d.name().ok(),
                memory_used_bytes: m.used,
                memory_total_bytes: m.total,
                utilization_gpu_pct: d.utilization_rates().ok().map(|u| u.gpu),
                power_usage_mw: d.power_usage().ok(),
                sm_clock_mhz: d.clock_info(Clock::SM).ok(),
                total_energy_mj: d.total_energy_consumption().ok(),
            };
            Ok(from_nvml(i, reading))
        })
        .collect()
}

const SMI_QUERY: &str = "--query-gpu=index,memory.used,memory.total,utilization.gpu,power.draw,clocks.sm,name";

fn sample_smi() -> Result<Vec<GpuSample>, String> {
    let out =
        Command::new("nvidia-smi").args([SMI_QUERY, "--format=csv,noheader,nounits"]).output().map_err(|e| format!("nvidia-smi: {e}"))?;
    if !out.status.success() {
        return Err(format!("nvidia-smi failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(parse_smi(&String::from_utf8_lossy(&out.stdout)))
}

/// `nvidia-smi --query-gpu` CSV without header or units; `[N/A]` and `[Not Supported]`
/// fields are missing readings.
pub(crate) fn parse_smi(text: &str) -> Vec<GpuSample> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).filter(|v| v.is_finite());
            Some(GpuSample {
                index: f.first()?.parse().ok()?,
                memory_used_mib: num(1)?,
                memory_total_mib: num(2)?,
                utilization_pct: num(3).map(|u| u as u32),
                power_w: num(4),
                sm_clock_mhz: num(5).map(|c| c as u32),
                energy_j: None,
                name: f.get(6).filter(|n| !n.is_empty()).map(|n| n.to_string()),
            })
        })
        .collect()
}

/// Where each round of readings goes as it is taken (the run's live outputs).
pub type OnRound = Box<dyn FnMut(&[GpuPoint]) + Send>;

/// Samples every GPU at an interval on its own thread until [`GpuSampler::finish`].
pub struct GpuSampler {
    stop: mpsc::Sender<()>,
    thread: Option<JoinHandle<GpuReport>>,
    unavailable: Option<GpuReport>,
}

impl GpuSampler {
    /// Starts sampling, times relative to `epoch`; without a GPU the report says why.
    pub fn start(interval: Duration, epoch: Instant, mut on_round: Option<OnRound>) -> GpuSampler {
        let (stop, stopped) = mpsc::channel();
        let interval_ms = interval.as_millis() as u64;
        let source = match open() {
            Ok(s) => s,
            Err(why) => {
                let report = GpuReport { unavailable_reason: Some(why), interval_ms, ..GpuReport::default() };
                return GpuSampler { stop, thread: None, unavailable: Some(report) };
            }
        };
        let thread = std::thread::Builder::new().name("volley-gpu".into()).spawn(move || {
            let mut report = GpuReport { available: true, source: Some(source.name().into()), interval_ms, ..GpuReport::default() };
            loop {
                let fresh = record(&mut report, &source, epoch);
                if let Some(f) = on_round.as_mut() {
                    f(&report.samples[fresh..]);
                }
                match stopped.recv_timeout(interval) {
                    Err(mpsc::RecvTimeoutError::Timeout) => continue,
                    // Stopped (or the run is gone): one last reading closes the window.
                    _ => {
                        record(&mut report, &source, epoch);
                        return report;
                    }
                }
            }
        });
        match thread {
            Ok(t) => GpuSampler { stop, thread: Some(t), unavailable: None },
            Err(e) => {
                let report =
                    GpuReport { unavailable_reason: Some(format!("cannot start the sampler: {e}")), interval_ms, ..GpuReport::default() };
                GpuSampler { stop, thread: None, unavailable: Some(report) }
            }
        }
    }

    /// Stops sampling and returns every reading.
    pub fn finish(mut self) -> GpuReport {
        let _ = self.stop.send(());
        match self.thread.take() {
            Some(t) => {
                t.join().unwrap_or_else(|_| GpuReport { unavailable_reason: Some("the GPU sampler failed".into()), ..GpuReport::default() })
            }
            None => self.unavailable.take().unwrap_or_default(),
        }
    }
}

/// Takes one round of readings; returns where its samples start in the report.
fn record(report: &mut GpuReport, source: &GpuSource, epoch: Instant) -> usize {
    let fresh = report.samples.len();
    let t_ms = (epoch.elapsed().as_secs_f64() * 1e6).round() / 1000.0;
    match source.sample() {
        Ok(samples) => add(report, t_ms, samples),
        Err(e) => {
            report.errors += 1;
            report.last_error = Some(e);
        }
    }
    fresh
}

/// Adds one round of readings; devices are listed once, readings are bounded.
pub(crate) fn add(report: &mut GpuReport, t_ms: f64, samples: Vec<GpuSample>) {
    for s in samples {
        if !report.devices.iter().any(|d| d.index == s.index) {
            report.devices.push(GpuDevice { index: s.index, name: s.name.clone(), memory_total_mib: s.memory_total_mib });
        }
        if report.samples.len() >= MAX_SAMPLES {
            report.truncated = true;
            continue;
        }
        report.samples.push(GpuPoint {
            t_ms,
            index: s.index,
            utilization_pct: s.utilization_pct.map(f64::from),
            memory_used_mib: s.memory_used_mib,
            power_w: s.power_w,
            sm_clock_mhz: s.sm_clock_mhz.map(f64::from),
            energy_j: s.energy_j,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recorded on an 8-GPU H100 host (`nvidia-smi --query-gpu=… --format=csv,noheader,nounits`).
    const H100_SMI: &str = "0, 70213, 81559, 97, 612.45, 1980, NVIDIA H100 80GB HBM3\n\
1, 70213, 81559, 96, 598.10, 1980, NVIDIA H100 80GB HBM3\n\
2, 3, 81559, 0, 71.22, 345, NVIDIA H100 80GB HBM3\n";

    #[test]
    fn parses_nvidia_smi_csv() {
        let s = parse_smi(H100_SMI);
        assert_eq!(s.len(), 3);
        assert_eq!(
            (s[0].memory_used_mib, s[0].utilization_pct, s[0].power_w, s[0].sm_clock_mhz),
            (70213.0, Some(97), Some(612.45), Some(1980))
        );
        assert_eq!(s[2].name.as_deref(), Some("NVIDIA H100 80GB HBM3"));
        // Older drivers and some boards do not report everything.
        let t = parse_smi("0, 1234, 81559, [N/A], [Not Supported], [N/A]\n1, 0, 81559, 17\n");
        assert_eq!((t[0].utilization_pct, t[0].power_w, t[0].sm_clock_mhz), (None, None, None));
        assert_eq!((t[1].utilization_pct, t[1].power_w, t[1].name.clone()), (Some(17), None, None));
        assert!(parse_smi("garbage\n\n").is_empty());
    }

    #[test]
    fn converts_nvml_readings() {
        // As an A100 answers: bytes, milliwatts, millijoules.
        let r = NvmlReading {
            name: Some("NVIDIA A100-SXM4-40GB".into()),
            memory_used_bytes: 10 << 30,
            memory_total_bytes: 40 << 30,
            utilization_gpu_pct: Some(88),
            power_usage_mw: Some(251_337),
            sm_clock_mhz: Some(1410),
            total_energy_mj: Some(123_456_789),
        };
        let s = from_nvml(3, r);
        assert_eq!((s.index, s.memory_used_mib, s.memory_total_mib), (3, 10240.0, 40960.0));
        assert_eq!((s.power_w, s.energy_j, s.sm_clock_mhz), (Some(251.337), Some(123_456.789), Some(1410)));
    }

    #[test]
    fn sampled_rounds_become_a_bounded_report() {
        let mut report = GpuReport::default();
        add(&mut report, 0.0, parse_smi(H100_SMI));
        add(&mut report, 500.0, parse_smi(H100_SMI));
        assert_eq!((report.devices.len(), report.samples.len()), (3, 6));
        let w = report.window(0.0, 500.0);
        assert_eq!(w[0].energy_source.as_deref(), Some("power"));
        assert!((w[0].energy_j.unwrap() - 306.225).abs() < 1e-6, "{w:?}");
        report.samples.resize(MAX_SAMPLES, report.samples[0].clone());
        add(&mut report, 1000.0, parse_smi(H100_SMI));
        assert!(report.truncated && report.samples.len() == MAX_SAMPLES);
    }

    #[test]
    fn says_why_when_there_is_no_gpu() {
        // On a machine without a GPU this explains itself; with one it opens.
        match open() {
            Ok(src) => assert!(!src.sample().unwrap().is_empty()),
            Err(why) => assert!(why.contains("NVML") && why.contains("nvidia-smi"), "{why}"),
        }
        let r = GpuSampler::start(Duration::from_millis(50), Instant::now(), None).finish();
        assert_eq!(r.available, r.unavailable_reason.is_none(), "{r:?}");
    }
}
