//! Judging one probe: pass, miss, or inconclusive — never a pass on too few requests.
//!
//! A percentile `p` is judged on at least [`samples_needed`] measured requests (warm-up
//! excluded): 100 for p99, so that the 99th percentile is more than the largest value.
//! A probe with fewer is inconclusive; so is one whose bounded measure was taken on too
//! few of its requests (TTFT needs streamed requests, ITL two or more output tokens).
//!
//! The server must also keep pace: a server that completes less than it is sent queues
//! the rest, so each request waits longer than the one before. [`latency_growth`]
//! measures that from the stage's own requests in send order.

use volley_sdk::{Percentiles, Slo, StageResult};

/// Fewest measured requests any probe is judged on: the keeps-pace test compares the
/// first and last quarters of them.
const MIN_SAMPLES: u64 = 40;

/// Most latency growth a probe may show, in seconds per second of the stage. A server
/// sent λ requests/s that completes μ < λ queues the difference, so the wait of request
/// after request grows by λ/μ − 1 seconds each second: 0.25 is completing 80 % of what
/// it is sent. A server that keeps up shows no growth beyond noise.
pub(crate) const MAX_GROWTH: f64 = 0.25;

/// Fewest requests in each compared quarter for [`latency_growth`] to say anything.
const MIN_QUARTER: usize = 8;

/// Measured requests a probe needs to judge percentile `p` (50, 90, 95 or 99): at least
/// 100 / (100 − p), and at least [`MIN_SAMPLES`].
pub(crate) fn samples_needed(p: u32) -> u64 {
    let tail = 100u64.saturating_sub(u64::from(p)).max(1);
    100u64.div_ceil(tail).max(MIN_SAMPLES)
}

/// What a probe showed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// It met the SLO: the bounds as measured, and the count.
    Pass(String),
    /// It missed: why.
    Miss(String),
    /// The data cannot decide: why, and whether a longer probe at the same rate could.
    Inconclusive { why: String, retry: bool },
}

/// The SLO and how it is judged.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Judge {
    pub slo: Slo,
    pub percentile: u32,
    pub max_error_rate: f64,
}

impl Judge {
    pub fn needed(&self) -> u64 {
        samples_needed(self.percentile)
    }

    fn at(&self, p: &Percentiles) -> f64 {
        match self.percentile {
            50 => p.p50,
            90 => p.p90,
            95 => p.p95,
            _ => p.p99,
        }
    }

    /// The verdict on stage result `r`, whose latency grew by `growth` s/s (`None`: too
    /// few requests to tell).
    pub fn verdict(&self, r: &StageResult, growth: Option<f64>) -> Verdict {
        let (q, need) = (self.percentile, self.needed());
        let n = r.ok.saturating_add(r.failed);
        if n < need {
            let why = format!("{n} measured requests; p{q} needs {need}");
            return Verdict::Inconclusive { why, retry: true };
        }
        if r.failed as f64 > self.max_error_rate * n as f64 {
            return Verdict::Miss(format!("{} of {n} requests failed", r.failed));
        }
        let bounds = [
            ("TTFT", self.slo.ttft_ms, &r.ttft, " (TTFT is measured on streamed requests)"),
            // `itl_ms` bounds each request's mean time per output token: the stage's TPOT
            // (named so, since the run's tables show ITL per chunk beside it).
            ("TPOT", self.slo.itl_ms, &r.tpot, " (the itl_ms bound is judged on TPOT, which needs two or more output tokens)"),
            ("latency", self.slo.latency_ms, &r.latency, ""),
        ];
        let mut held = Vec::new();
        for (what, bound, p, hint) in bounds {
            let Some(b) = bound else { continue };
            if p.count < need {
                // Measured on few of the successful requests: a longer probe will not help.
                let retry = p.count.saturating_mul(2) >= r.ok;
                let why = format!("{what} was measured on {} of {} successful requests; p{q} needs {need}{hint}", p.count, r.ok);
                return Verdict::Inconclusive { why, retry };
            }
            let v = self.at(p);
            // A value that is not a number misses.
            if v.is_nan() || v > b {
                return Verdict::Miss(format!("{what} p{q} {v:.1} ms > {b} ms"));
            }
            held.push(format!("{what} p{q} {v:.1} ms <= {b} ms"));
        }
        if let Some(g) = growth.filter(|g| *g > MAX_GROWTH) {
            return Verdict::Miss(format!(
                "the server fell behind: latency grew {:.0} ms per second of the stage, so it completes about {:.0} % of what it is sent",
                g * 1000.0,
                100.0 / (1.0 + g)
            ));
        }
        held.push(format!("{n} requests"));
        Verdict::Pass(held.join(", "))
    }
}

/// One successful request of the stage: its place in the send order and its latency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    pub seq: u64,
    pub latency_ms: f32,
}

/// How fast latency grew over a stage sent at `rate` requests/s, in seconds per second:
/// the median latency of the last quarter of `samples` (in send order, from `first_seq`
/// on) less that of the first quarter, over the time between the two quarters' middles.
/// `None` with fewer than [`MIN_QUARTER`] requests a quarter.
pub(crate) fn latency_growth(samples: &mut [Sample], first_seq: u64, rate: f64) -> Option<f64> {
    samples.sort_unstable_by_key(|s| s.seq);
    let from = samples.partition_point(|s| s.seq < first_seq);
    let kept = &samples[from..];
    let quarter = kept.len() / 4;
    if quarter < MIN_QUARTER || rate.is_nan() || rate <= 0.0 {
        return None;
    }
    let (early, late) = (&kept[..quarter], &kept[kept.len() - quarter..]);
    // Requests are sent in sequence order at `rate`, so seq / rate is when each was sent.
    let between = late[quarter / 2].seq.saturating_sub(early[quarter / 2].seq) as f64 / rate;
    if between <= 0.0 {
        return None;
    }
    Some((median_latency(late) - median_latency(early)) / 1000.0 / between)
}

fn median_latency(samples: &[Sample]) -> f64 {
    let mut v: Vec<f32> = samples.iter().map(|s| s.latency_ms).collect();
    v.sort_unstable_by(f32::total_cmp);
    f64::from(v[v.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use volley_sdk::Load;

    fn percentiles(count: u64, p99: f64) -> Percentiles {
        Percentiles { count, mean: p99 / 2.0, p50: p99 / 2.0, p90: p99, p95: p99, p99 }
    }

    fn result(ok: u64, failed: u64, ttft_count: u64, ttft_p99: f64) -> StageResult {
        let none = percentiles(0, 0.0);
        StageResult {
            index: 0,
            name: "probe".into(),
            load: Load::Poisson(10.0),
            sent: ok + failed,
            ok,
            failed,
            sending_s: 10.0,
            send_rate: 10.0,
            throughput: 10.0,
            output_tokens_per_s: 100.0,
            ttft: percentiles(ttft_count, ttft_p99),
            itl: none,
            tpot: none,
            latency: percentiles(ok, ttft_p99 * 2.0),
            schedule_lag: none,
            goodput: None,
            slo_attainment: None,
        }
    }

    fn judge() -> Judge {
        Judge { slo: Slo::new().ttft_ms(500.0), percentile: 99, max_error_rate: 0.01 }
    }

    #[test]
    fn a_percentile_needs_enough_samples_to_be_more_than_the_largest() {
        assert_eq!(samples_needed(99), 100);
        assert_eq!(samples_needed(95), 40);
        assert_eq!(samples_needed(50), 40);
    }

    #[test]
    fn too_few_requests_are_inconclusive_never_a_pass() {
        // The cases: one request, and none.
        for n in [0, 1, 99] {
            match judge().verdict(&result(n, 0, n, 10.0), None) {
                Verdict::Inconclusive { retry: true, .. } => {}
                v => panic!("{n} requests: {v:?}"),
            }
        }
        assert!(matches!(judge().verdict(&result(100, 0, 100, 10.0), None), Verdict::Pass(_)));
    }

    #[test]
    fn a_bound_measured_on_no_requests_is_inconclusive_and_not_retried() {
        // Not streamed: no TTFT at all.
        match judge().verdict(&result(400, 0, 0, 0.0), None) {
            Verdict::Inconclusive { why, retry: false } => assert!(why.contains("streamed"), "{why}"),
            v => panic!("{v:?}"),
        }
        // A few failures left 98 TTFTs of the 100 needed: a longer probe can decide.
        let r = result(100, 2, 98, 10.0);
        assert!(matches!(Judge { max_error_rate: 0.05, ..judge() }.verdict(&r, None), Verdict::Inconclusive { retry: true, .. }));
    }

    #[test]
    fn a_miss_names_the_bound_errors_or_the_pace() {
        assert_eq!(judge().verdict(&result(200, 0, 200, 626.0), None), Verdict::Miss("TTFT p99 626.0 ms > 500 ms".into()));
        assert!(matches!(judge().verdict(&result(200, 0, 200, f64::NAN), None), Verdict::Miss(_)));
        assert_eq!(judge().verdict(&result(195, 5, 195, 10.0), None), Verdict::Miss("5 of 200 requests failed".into()));
        match judge().verdict(&result(200, 0, 200, 10.0), Some(0.5)) {
            Verdict::Miss(why) => assert!(why.contains("fell behind") && why.contains("67 %"), "{why}"),
            v => panic!("{v:?}"),
        }
        assert_eq!(
            judge().verdict(&result(200, 0, 200, 10.0), Some(0.1)),
            Verdict::Pass("TTFT p99 10.0 ms <= 500 ms, 200 requests".into())
        );
    }

    fn samples(n: u64, latency: impl Fn(u64) -> f32) -> Vec<Sample> {
        // Out of order, as outcomes arrive.
        (0..n).rev().map(|seq| Sample { seq, latency_ms: latency(seq) }).collect()
    }

    #[test]
    fn latency_growth_is_the_queue_of_a_server_that_falls_behind() {
        // 100 requests/s to a server completing 80/s: each second, 20 more queue, a
        // quarter second of waiting more for each request.
        let mut s = samples(1000, |seq| 200.0 + 250.0 * seq as f32 / 100.0);
        let g = latency_growth(&mut s, 0, 100.0).unwrap();
        assert!((g - 0.25).abs() < 0.01, "{g}");
        // A server that keeps up: noise around a constant, no growth.
        let mut s = samples(1000, |seq| 200.0 + (seq * 7919 % 50) as f32);
        assert!(latency_growth(&mut s, 0, 100.0).unwrap().abs() < 0.01);
        // The warm-up is left out: a slow start is no fall behind.
        let mut s = samples(1000, |seq| if seq < 200 { 50.0 } else { 200.0 });
        assert!(latency_growth(&mut s, 0, 100.0).unwrap() > 0.0);
        assert_eq!(latency_growth(&mut s, 200, 100.0), Some(0.0));
        // Too few to tell.
        assert_eq!(latency_growth(&mut samples(31, |_| 1.0), 0, 100.0), None);
    }
}
