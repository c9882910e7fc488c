//! The run's seeded random stream (host capability `volley:scenario/random`).
//!
//! Every draw comes from the host, seeded by the operator's `--seed`, so a scenario
//! and seed always produce the same requests.

use crate::bindings::volley::scenario::random as host;

/// 64 random bits.
pub fn u64() -> u64 {
    host::next_u64()
}

/// Uniform in [0, 1).
pub fn f64() -> f64 {
    host::next_f64()
}

/// Uniform integer in [0, n); 0 when n is 0.
pub fn below(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    // Lemire's multiply-shift: unbiased enough for workload shaping, one draw.
    ((u128::from(u64()) * u128::from(n)) >> 64) as u64
}

/// Uniform in [lo, hi).
pub fn range(lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * f64()
}

/// True with probability `p`.
pub fn chance(p: f64) -> bool {
    f64() < p
}

/// Exponentially distributed with the given rate (mean 1/rate).
pub fn exponential(rate: f64) -> f64 {
    -(1.0 - f64()).ln() / rate
}

/// Normally distributed (Box–Muller).
pub fn normal(mean: f64, sd: f64) -> f64 {
    let u1 = 1.0 - f64();
    let u2 = f64();
    mean + sd * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A uniformly chosen element; `None` for an empty slice.
pub fn choose<T>(items: &[T]) -> Option<&T> {
    items.get(below(items.len() as u64) as usize)
}

/// An element chosen with probability proportional to its weight; `None` when the
/// weights are empty or not positive.
pub fn weighted<T>(items: &[(T, f64)]) -> Option<&T> {
    let total: f64 = items.iter().map(|(_, w)| w.max(0.0)).sum();
    if total <= 0.0 {
        return None;
    }
    let mut x = f64() * total;
    for (item, w) in items {
        x -= w.max(0.0);
        if x < 0.0 {
            return Some(item);
        }
    }
    items.iter().rev().find(|(_, w)| *w > 0.0).map(|(t, _)| t)
}
