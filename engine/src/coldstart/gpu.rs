//! GPU memory and utilisation per device while a server loads: NVML through
//! `nvml-wrapper` (libnvidia-ml is loaded at run time, so a machine without a GPU
//! still runs), else `nvidia-smi --query-gpu`, else a report of why neither worked.

use std::process::Command;

use nvml_wrapper::Nvml;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct GpuSample {
    pub index: u32,
    pub memory_used_mib: f64,
    pub memory_total_mib: f64,
    pub utilization_pct: Option<u32>,
}

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

fn sample_nvml(n: &Nvml) -> Result<Vec<GpuSample>, String> {
    let count = n.device_count().map_err(|e| e.to_string())?;
    (0..count)
        .map(|i| {
            let d = n.device_by_index(i).map_err(|e| e.to_string())?;
            let m = d.memory_info().map_err(|e| e.to_string())?;
            Ok(GpuSample {
                index: i,
                memory_used_mib: m.used as f64 / (1 << 20) as f64,
                memory_total_mib: m.total as f64 / (1 << 20) as f64,
                utilization_pct: d.utilization_rates().ok().map(|u| u.gpu),
            })
        })
        .collect()
}

fn sample_smi() -> Result<Vec<GpuSample>, String> {
    let out = Command::new("nvidia-smi")
        .args(["--query-gpu=index,memory.used,memory.total,utilization.gpu", "--format=csv,noheader,nounits"])
        .output()
        .map_err(|e| format!("nvidia-smi: {e}"))?;
    if !out.status.success() {
        return Err(format!("nvidia-smi failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(parse_smi(&String::from_utf8_lossy(&out.stdout)))
}

fn parse_smi(text: &str) -> Vec<GpuSample> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            Some(GpuSample {
                index: f.first()?.parse().ok()?,
                memory_used_mib: f.get(1)?.parse().ok()?,
                memory_total_mib: f.get(2)?.parse().ok()?,
                utilization_pct: f.get(3).and_then(|u| u.parse().ok()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nvidia_smi_csv() {
        let s = parse_smi("0, 1234, 81559, 17\n1, 0, 81559, [N/A]\n");
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].memory_used_mib, s[0].utilization_pct), (1234.0, Some(17)));
        assert_eq!(s[1].utilization_pct, None);
    }

    #[test]
    fn says_why_when_there_is_no_gpu() {
        // On a machine without a GPU this explains itself; with one it opens.
        match open() {
            Ok(src) => assert!(!src.sample().unwrap().is_empty()),
            Err(why) => assert!(why.contains("NVML") && why.contains("nvidia-smi"), "{why}"),
        }
    }
}
