//! GPU telemetry in the report (`--gpu-metrics`): each device's utilisation, memory,
//! power and SM clock as sampled during the run, and per stage their mean and maximum,
//! the energy it used and the output tokens per joule. The sampler (NVML, else
//! `nvidia-smi`) lives in volley-engine; these are the records.

use serde::{Deserialize, Serialize};

/// One device as the sampler read it (NVML or `nvidia-smi`), before it is placed on a
/// run's clock ([`GpuPoint`]); `volley coldstart` keeps these as they are.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuSample {
    pub index: u32,
    pub memory_used_mib: f64,
    pub memory_total_mib: f64,
    pub utilization_pct: Option<u32>,
    pub power_w: Option<f64>,
    pub sm_clock_mhz: Option<u32>,
    /// Joules since the driver started counting (NVML on Volta and later).
    pub energy_j: Option<f64>,
    #[serde(skip)]
    pub name: Option<String>,
}

/// One device's reading at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuPoint {
    /// Ms since the run's start.
    pub t_ms: f64,
    pub index: u32,
    pub utilization_pct: Option<f64>,
    pub memory_used_mib: f64,
    pub power_w: Option<f64>,
    pub sm_clock_mhz: Option<f64>,
    /// The driver's energy counter (NVML, Volta and later), joules since it started.
    pub energy_j: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuDevice {
    pub index: u32,
    pub name: Option<String>,
    pub memory_total_mib: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GpuReport {
    pub available: bool,
    /// `nvml` or `nvidia-smi`.
    pub source: Option<String>,
    /// Why no GPU could be read, said once.
    pub unavailable_reason: Option<String>,
    pub interval_ms: u64,
    pub devices: Vec<GpuDevice>,
    pub samples: Vec<GpuPoint>,
    /// Samples that failed, and the last reason.
    pub errors: u64,
    pub last_error: Option<String>,
    /// The run outlasted the samples kept ([`MAX_SAMPLES`]); later ones were dropped.
    pub truncated: bool,
}

/// Most readings kept per run (devices × samples): 8 GPUs at 2 per second for 17 hours.
pub const MAX_SAMPLES: usize = 1_000_000;

/// One device over one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageGpu {
    pub index: u32,
    pub samples: usize,
    pub utilization_mean_pct: Option<f64>,
    pub utilization_max_pct: Option<f64>,
    pub memory_max_mib: f64,
    pub power_mean_w: Option<f64>,
    pub sm_clock_mean_mhz: Option<f64>,
    /// Energy over the stage: the driver's counter when it has one (`counter`), else
    /// power integrated over the samples (`power`).
    pub energy_j: Option<f64>,
    pub energy_source: Option<String>,
}

impl GpuReport {
    /// Each device over the stage from `from_ms` to `to_ms` (ms since the run's start).
    pub fn window(&self, from_ms: f64, to_ms: f64) -> Vec<StageGpu> {
        self.devices.iter().filter_map(|d| self.device_window(d.index, from_ms, to_ms)).collect()
    }

    fn device_window(&self, index: u32, from_ms: f64, to_ms: f64) -> Option<StageGpu> {
        let points: Vec<&GpuPoint> = self.samples.iter().filter(|p| p.index == index && p.t_ms >= from_ms && p.t_ms <= to_ms).collect();
        if points.is_empty() {
            return None;
        }
        let mean = |f: fn(&GpuPoint) -> Option<f64>| {
            let v: Vec<f64> = points.iter().filter_map(|p| f(p)).filter(|v| v.is_finite()).collect();
            (!v.is_empty()).then(|| round3(v.iter().sum::<f64>() / v.len() as f64))
        };
        let max = |f: fn(&GpuPoint) -> Option<f64>| points.iter().filter_map(|p| f(p)).filter(|v| v.is_finite()).reduce(f64::max);
        let counter: Vec<f64> = points.iter().filter_map(|p| p.energy_j).collect();
        let (energy_j, energy_source) = if counter.len() >= 2 && counter[counter.len() - 1] >= counter[0] {
            (Some(round3(counter[counter.len() - 1] - counter[0])), Some("counter".to_string()))
        } else {
            match integrate_power(&points) {
                Some(j) => (Some(round3(j)), Some("power".to_string())),
                None => (None, None),
            }
        };
        Some(StageGpu {
            index,
            samples: points.len(),
            utilization_mean_pct: mean(|p| p.utilization_pct),
            utilization_max_pct: max(|p| p.utilization_pct),
            memory_max_mib: points.iter().map(|p| p.memory_used_mib).fold(0.0, f64::max),
            power_mean_w: mean(|p| p.power_w),
            sm_clock_mean_mhz: mean(|p| p.sm_clock_mhz),
            energy_j,
            energy_source,
        })
    }
}

/// Joules from power samples by the trapezoid rule; None with fewer than two.
fn integrate_power(points: &[&GpuPoint]) -> Option<f64> {
    let p: Vec<(f64, f64)> = points.iter().filter_map(|p| Some((p.t_ms, p.power_w?))).filter(|(_, w)| w.is_finite()).collect();
    (p.len() >= 2).then(|| p.windows(2).map(|w| (w[1].0 - w[0].0) / 1000.0 * (w[0].1 + w[1].1) / 2.0).sum())
}

/// Output tokens per joule over a stage's devices, when their energy is known.
pub fn tokens_per_joule(output_tokens: u64, gpus: &[StageGpu]) -> Option<f64> {
    let joules: f64 = gpus.iter().map(|g| g.energy_j).sum::<Option<f64>>()?;
    (joules > 0.0).then(|| round3(output_tokens as f64 / joules))
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(t_ms: f64, index: u32, util: f64, power: f64, energy: Option<f64>) -> GpuPoint {
        GpuPoint {
            t_ms,
            index,
            utilization_pct: Some(util),
            memory_used_mib: 1000.0 + util,
            power_w: Some(power),
            sm_clock_mhz: Some(1980.0),
            energy_j: energy,
        }
    }

    fn report(samples: Vec<GpuPoint>) -> GpuReport {
        GpuReport {
            available: true,
            devices: vec![
                GpuDevice { index: 0, name: None, memory_total_mib: 81559.0 },
                GpuDevice { index: 1, name: None, memory_total_mib: 81559.0 },
            ],
            samples,
            ..GpuReport::default()
        }
    }

    #[test]
    fn a_stage_window_has_means_maxima_and_energy_by_counter_or_power() {
        let r = report(vec![
            point(0.0, 0, 10.0, 100.0, Some(5000.0)),
            point(1000.0, 0, 90.0, 300.0, Some(5200.0)),
            point(2000.0, 0, 50.0, 200.0, Some(5450.0)),
            point(0.0, 1, 0.0, 50.0, None),
            point(1000.0, 1, 20.0, 150.0, None),
            point(2500.0, 1, 20.0, 150.0, None),
        ]);
        let w = r.window(0.0, 2000.0);
        assert_eq!(w.len(), 2);
        assert_eq!((w[0].utilization_mean_pct, w[0].utilization_max_pct), (Some(50.0), Some(90.0)));
        assert_eq!((w[0].energy_j, w[0].energy_source.as_deref()), (Some(450.0), Some("counter")));
        // Device 1: (50 + 150) / 2 W for one second; the 2.5 s sample is outside.
        assert_eq!((w[1].energy_j, w[1].energy_source.as_deref(), w[1].samples), (Some(100.0), Some("power"), 2));
        assert_eq!(tokens_per_joule(1100, &w), Some(2.0));
        assert!(r.window(5000.0, 6000.0).is_empty());
    }

    #[test]
    fn no_energy_without_two_power_samples() {
        let mut p = point(0.0, 0, 10.0, 100.0, None);
        p.power_w = None;
        let w = report(vec![p]).window(0.0, 10.0);
        assert_eq!((w[0].energy_j, w[0].power_mean_w), (None, None));
        assert_eq!(tokens_per_joule(10, &w), None);
    }
}
