//! Token-length distributions for synthetic workloads, read from parameters and sampled
//! from the run's seeded random stream.
//!
//! In parameters, a length is a number (fixed) or an object:
//! `{"dist": "uniform", "min": 16, "max": 1000}`,
//! `{"dist": "normal", "mean": 15900, "sd": 100}` (clipped to `min`/`max`, default 1 and
//! mean + 5 sd), `{"dist": "lognormal", "mean": 450, "sd": 50}` (the mean and standard
//! deviation of the lengths themselves, not of their logarithm), `{"dist": "fixed",
//! "value": 128}`.

use serde_json::Value;

use crate::{Params, random};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TokenLength {
    Fixed(u32),
    Uniform { min: u32, max: u32 },
    Normal { mean: f64, sd: f64, min: u32, max: u32 },
    LogNormal { mu: f64, sigma: f64, min: u32, max: u32 },
}

impl TokenLength {
    /// Reads `key` from the parameters; `default` when it is absent.
    pub fn from_params(params: &Params, key: &str, default: TokenLength) -> Result<Self, String> {
        match params.get(key) {
            None => Ok(default),
            Some(v) => Self::from_value(v).map_err(|e| format!("parameter `{key}`: {e}")),
        }
    }

    pub fn from_value(v: &Value) -> Result<Self, String> {
        if let Some(n) = v.as_u64() {
            return u32::try_from(n).map(TokenLength::Fixed).map_err(|_| format!("{n} is too large"));
        }
        let Some(obj) = v.as_object() else {
            return Err("must be a token count or an object with \"dist\"".into());
        };
        let num = |k: &str| obj.get(k).and_then(Value::as_f64);
        let need = |k: &str| num(k).ok_or_else(|| format!("needs a numeric \"{k}\""));
        let count = |k: &str, default: u32| -> Result<u32, String> {
            match obj.get(k) {
                None => Ok(default),
                Some(x) => x.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(|| format!("\"{k}\" must be a token count")),
            }
        };
        let d = match obj.get("dist").and_then(Value::as_str).unwrap_or("fixed") {
            "fixed" => TokenLength::Fixed(count("value", 0)?),
            "uniform" => {
                let (min, max) = (count("min", 1)?, count("max", 0)?);
                if max < min {
                    return Err(format!("uniform needs min <= max, got {min} and {max}"));
                }
                TokenLength::Uniform { min, max }
            }
            kind @ ("normal" | "lognormal") => {
                let (mean, sd) = (need("mean")?, need("sd")?);
                if !(mean > 0.0 && sd >= 0.0) {
                    return Err(format!("{kind} needs mean > 0 and sd >= 0"));
                }
                let min = count("min", 1)?;
                let max = count("max", (mean + 5.0 * sd).ceil().min(f64::from(u32::MAX)) as u32)?;
                if max < min {
                    return Err(format!("{kind} needs min <= max, got {min} and {max}"));
                }
                if kind == "normal" {
                    TokenLength::Normal { mean, sd, min, max }
                } else {
                    let sigma2 = (1.0 + (sd * sd) / (mean * mean)).ln();
                    TokenLength::LogNormal { mu: mean.ln() - sigma2 / 2.0, sigma: sigma2.sqrt(), min, max }
                }
            }
            other => return Err(format!("unknown dist {other:?} (fixed, uniform, normal, lognormal)")),
        };
        Ok(d)
    }

    /// One length.
    pub fn sample(&self) -> u32 {
        let clip = |x: f64, min: u32, max: u32| x.round().clamp(f64::from(min), f64::from(max)) as u32;
        match *self {
            TokenLength::Fixed(n) => n,
            TokenLength::Uniform { min, max } => min + random::below(u64::from(max - min) + 1) as u32,
            TokenLength::Normal { mean, sd, min, max } => clip(random::normal(mean, sd), min, max),
            TokenLength::LogNormal { mu, sigma, min, max } => clip(random::normal(mu, sigma).exp(), min, max),
        }
    }
}
