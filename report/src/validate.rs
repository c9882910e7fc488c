//! [`Report::validate`]: the checks every reader of a `report.json` someone else wrote
//! makes before it does arithmetic with its numbers (`volley merge`, `volley compare`).
//!
//! JSON cannot carry NaN or infinities (serde_json refuses a number past f64's range),
//! so what is checked is range and consistency: no negative or absurdly large times
//! and rates (each time must fit `Duration` and `Instant` arithmetic with room to
//! spare: at most ten years, and wall-clock instants before the year 10000), no more
//! ok than sent, failures that are exactly the errors counted, timings that count the
//! successful requests (no more samples than ok; one `latency_from_planned_ms` each),
//! percentiles in order,
//! and the lossless statistics' own counts ([`volley_core::stats::StatsWire::validate`]).
//! The first problem found is the one line returned, naming the field.

use volley_core::text::{num, printable};
use volley_core::{Load, Shard, Slo, Summary};

use crate::schema::{GroupReport, Report, RequestCounts, StageReport, WindowReport};

/// The longest time a report may hold, in ms: ten years.
pub const MAX_MS: f64 = 10.0 * 365.25 * 86_400_000.0;
/// The latest wall-clock instant a report may hold, Unix ms: the end of the year 9999.
pub const MAX_UNIX_MS: f64 = 253_402_300_800_000.0;
/// The highest rate (requests, tokens or inferences per second) a report may hold.
pub const MAX_RATE: f64 = 1e12;

fn within(what: &str, x: f64, hi: f64) -> Result<(), String> {
    if x.is_finite() && (0.0..=hi).contains(&x) { Ok(()) } else { Err(format!("{what} is {}, outside 0 to {}", num(x), num(hi))) }
}

fn seconds(what: &str, x: f64) -> Result<(), String> {
    within(what, x, MAX_MS / 1000.0)
}

fn opt(what: &str, x: Option<f64>, hi: f64) -> Result<(), String> {
    x.map_or(Ok(()), |x| within(what, x, hi))
}

fn duration(what: &str, d: Option<std::time::Duration>) -> Result<(), String> {
    opt(what, d.map(|d| d.as_secs_f64()), MAX_MS / 1000.0)
}

fn summary(what: &str, s: &Option<Summary>) -> Result<(), String> {
    let Some(s) = s else { return Ok(()) };
    let ordered = [("min", s.min), ("p50", s.p50), ("p90", s.p90), ("p95", s.p95), ("p99", s.p99), ("p99.9", s.p99_9), ("max", s.max)];
    for (name, x) in ordered.iter().chain([&("mean", s.mean)]) {
        within(&format!("{what}.{name}"), *x, MAX_MS)?;
    }
    for pair in ordered.windows(2) {
        let ((lo_name, lo), (hi_name, hi)) = (pair[0], pair[1]);
        if lo > hi {
            return Err(format!("{what}.{lo_name} ({}) is above {what}.{hi_name} ({})", num(lo), num(hi)));
        }
    }
    Ok(())
}

fn load(what: &str, l: &Load) -> Result<(), String> {
    match *l {
        Load::Constant { rate } | Load::Poisson { rate } => within(&format!("{what}.rate"), rate, MAX_RATE),
        Load::Gamma { rate, cv } => within(&format!("{what}.rate"), rate, MAX_RATE).and(within(&format!("{what}.cv"), cv, 1e6)),
        Load::Ramp { from, to } => within(&format!("{what}.from"), from, MAX_RATE).and(within(&format!("{what}.to"), to, MAX_RATE)),
        Load::Burst { .. } | Load::Concurrency { .. } | Load::ConcurrencyRamp { .. } | Load::Sessions { .. } | Load::Custom => Ok(()),
    }
}

fn slo(s: &Option<Slo>) -> Result<(), String> {
    let Some(s) = s else { return Ok(()) };
    opt("slo.ttft_ms", s.ttft_ms, MAX_MS)?;
    opt("slo.itl_ms", s.itl_ms, MAX_MS)?;
    opt("slo.latency_ms", s.latency_ms, MAX_MS)
}

/// `ok` of `sent`, and `failed` their difference.
fn counts(what: &str, sent: u64, ok: u64, failed: u64) -> Result<(), String> {
    if ok > sent {
        return Err(format!("{what}: {ok} ok of {sent} requests"));
    }
    if failed != sent - ok {
        return Err(format!("{what}: {failed} failed, but {sent} requests less {ok} ok is {}", sent - ok));
    }
    Ok(())
}

fn requests(r: &RequestCounts) -> Result<(), String> {
    counts("requests", r.sent, r.ok, r.failed)?;
    let mut errors = 0u64;
    for e in r.errors.values() {
        errors = errors.checked_add(e.count).ok_or("requests.errors sum past 2^64")?;
    }
    if errors != r.failed {
        return Err(format!("requests: {} failed, but the errors add up to {errors}", r.failed));
    }
    Ok(())
}

fn group(what: &str, g: &GroupReport) -> Result<(), String> {
    counts(what, g.requests, g.ok, g.failed)?;
    summary(&format!("{what}.ttft_ms"), &g.ttft_ms)?;
    summary(&format!("{what}.itl_ms"), &g.itl_ms)?;
    summary(&format!("{what}.latency_ms"), &g.latency_ms)
}

fn window(w: &WindowReport) -> Result<(), String> {
    within("window.started_unix_ms", w.started_unix_ms, MAX_UNIX_MS)?;
    within("window.started_ms", w.started_ms, MAX_MS)?;
    within("window.sending_ms", w.sending_ms, MAX_MS)?;
    within("window.finished_ms", w.finished_ms, MAX_MS)
}

/// Each successful request adds at most one sample to each per-request timing and
/// exactly one to `latency_from_planned_ms`: a count of requests that the timings do not
/// bear out (`sent` and `ok` raised together) is forged.
fn timing_counts(s: &StageReport) -> Result<(), String> {
    let ok = s.requests.ok;
    for (what, x) in
        [("ttft_ms", &s.ttft_ms), ("ttfo_ms", &s.ttfo_ms), ("ttst_ms", &s.ttst_ms), ("tpot_ms", &s.tpot_ms), ("latency_ms", &s.latency_ms)]
    {
        if let Some(x) = x
            && x.count > ok
        {
            return Err(format!("{what}: {} samples, more than the {ok} successful requests", x.count));
        }
    }
    if let Some(p) = &s.latency_from_planned_ms
        && p.count != ok
    {
        return Err(format!("requests: {ok} ok, but latency_from_planned_ms counts {} of them", p.count));
    }
    Ok(())
}

fn stage(s: &StageReport) -> Result<(), String> {
    load("load", &s.load)?;
    if let Some(whole) = &s.shard_of {
        load("shard_of.load", &whole.load)?;
    }
    duration("planned_duration_s", s.planned_duration)?;
    duration("warmup_s", s.warmup_s)?;
    duration("cooldown_s", s.cooldown_s)?;
    requests(&s.requests)?;
    timing_counts(s)?;
    seconds("elapsed_s", s.elapsed_s)?;
    seconds("sending_s", s.sending_s)?;
    for (what, x) in [
        ("target_rps", s.target_rps),
        ("offered_rps", Some(s.offered_rps)),
        ("achieved_rps", Some(s.achieved_rps)),
        ("goodput_rps", s.goodput_rps),
        ("output_tokens_per_s", Some(s.output_tokens_per_s)),
        ("inferences_per_s", Some(s.inferences_per_s)),
    ] {
        opt(what, x, MAX_RATE)?;
    }
    opt("slo_attainment", s.slo_attainment, 1.0)?;
    slo(&s.slo)?;
    for (what, x) in [
        ("ttft_ms", &s.ttft_ms),
        ("ttfo_ms", &s.ttfo_ms),
        ("ttst_ms", &s.ttst_ms),
        ("itl_ms", &s.itl_ms),
        ("itl_per_token_ms", &s.itl_per_token_ms),
        ("tpot_ms", &s.tpot_ms),
        ("latency_ms", &s.latency_ms),
        ("latency_from_planned_ms", &s.latency_from_planned_ms),
        ("schedule_lag_ms", &s.schedule_lag_ms),
        ("timing.connect_ms", &s.timing.connect_ms),
        ("timing.tls_ms", &s.timing.tls_ms),
        ("timing.request_written_ms", &s.timing.request_written_ms),
        ("timing.first_byte_ms", &s.timing.first_byte_ms),
        ("timing.response_headers_ms", &s.timing.response_headers_ms),
    ] {
        summary(what, x)?;
    }
    for (kind, groups) in [("tag", &s.tags), ("model", &s.models)] {
        for (name, g) in groups {
            group(&format!("{kind} '{}'", printable(name, 64)), g)?;
        }
    }
    for (name, c) in &s.checks {
        let what = format!("check '{}'", printable(name, 64));
        c.passes.checked_add(c.fails).ok_or_else(|| format!("{what}: passes and fails sum past 2^64"))?;
        within(&format!("{what}.rate"), c.rate, 1.0)?;
    }
    if let Some(w) = &s.window {
        window(w)?;
    }
    opt("generator_cpu_s", s.generator_cpu_s, MAX_MS / 1000.0)?;
    if let Some(wire) = &s.mergeable {
        wire.validate().map_err(|e| format!("mergeable: {e}"))?;
    }
    Ok(())
}

impl Report {
    /// Whether this report's numbers are in range and add up (see the module docs); the
    /// error is one line naming the field (and the stage).
    pub fn validate(&self) -> Result<(), String> {
        seconds("duration_s", self.duration_s)?;
        within("started_unix_ms", self.started_unix_ms as f64, MAX_UNIX_MS)?;
        within("host.peak_rss_mib", self.host.peak_rss_mib, 1e12)?;
        if let Some(s) = &self.start {
            within("start.requested_unix_ms", s.requested_unix_ms, MAX_UNIX_MS)?;
            within("start.actual_unix_ms", s.actual_unix_ms, MAX_UNIX_MS)?;
            within("start.skew_ms (its size)", s.skew_ms.abs(), MAX_MS)?;
        }
        if let Some(s) = self.shard
            && Shard::new(s.index, s.count).is_none()
        {
            return Err(format!("shard {}/{} is not a shard (0 <= index < count <= {})", s.index, s.count, volley_core::shard::MAX_SHARDS));
        }
        if let Some(m) = &self.merged {
            for row in &m.shards {
                counts(&format!("merged.shards[{}]", row.index), row.sent, row.ok, row.failed)?;
            }
        }
        for s in &self.stages {
            stage(s).map_err(|e| format!("stage '{}': {e}", printable(&s.name, 64)))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
