//! A stage's report, made from its statistics when it ends: counts and rates over the
//! right window, percentiles, breakdowns, and loud warnings when the generator fell
//! behind. Also the compact [`StageResult`] an adaptive workload is given.

use std::collections::BTreeMap;

use volley_core::stats::{Breakdown, CacheTally, GroupStats, LengthTally, StageStats};
use volley_core::{Load, Stage, StageResult, StageWindow};

use crate::schema::{
    ErrorReport, GroupReport, PrefixCacheReport, PromptReport, ReasoningReport, RequestCounts, StageReport, TaskReport, TimingReport,
    TokenReport, ToolCallReport, TtftBucket,
};

impl From<&GroupStats> for GroupReport {
    fn from(t: &GroupStats) -> Self {
        GroupReport {
            requests: t.requests,
            ok: t.ok,
            failed: t.requests.saturating_sub(t.ok),
            output_tokens: t.output_tokens,
            ttft_ms: t.ttft.summary(),
            itl_ms: t.itl.summary(),
            latency_ms: t.latency.summary(),
            prefix_cache: PrefixCacheReport::from(&t.prefix_cache, t.ok),
        }
    }
}

impl PrefixCacheReport {
    fn from(c: &CacheTally, ok: u64) -> Self {
        PrefixCacheReport {
            hit_ratio: c.hit_ratio().map(round3),
            cached_tokens: c.cached_tokens,
            prompt_tokens: c.prompt_tokens,
            reported: c.reported,
            reported_share: (ok > 0).then(|| round3(c.reported as f64 / ok as f64)),
        }
    }
}

fn mean(sum: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| round3(sum as f64 / n as f64))
}

impl PromptReport {
    fn from(l: &LengthTally) -> Self {
        PromptReport {
            compared: l.prompt_compared,
            requested_mean: mean(l.prompt_requested_sum, l.prompt_compared),
            received_mean: mean(l.prompt_received_sum, l.prompt_compared),
            mismatched: l.prompt_mismatched,
            cached_total: l.cached_prompt_tokens,
        }
    }
}

/// Whether the generator kept up: sends at the target rate (within what chance allows
/// for the number sent) and on time. A lagging generator hides server latency, so this
/// is said loudly rather than left in the numbers.
fn generator_warnings(load: &Load, offered: f64, sent: u64, stats: &StageStats) -> Vec<String> {
    let mut w = Vec::new();
    if let Some(target) = load.target_rate()
        && sent >= 50
    {
        // Poisson counts vary by about 1/sqrt(n); allow four of those, and at least 5 %.
        let tolerance = (4.0 / (sent as f64).sqrt()).max(0.05);
        if offered < target * (1.0 - tolerance) {
            w.push(format!(
                "the generator fell behind: it sent {offered:.1} requests/s of the {target} planned ({:.0} %); \
                 latency_from_planned_ms shows what the delay cost",
                100.0 * offered / target
            ));
        }
    }
    let lag_p99 = stats.schedule_lag.percentile_ms(99.0);
    // A burst's lag is the time to start all of it, not a clock running late.
    if stats.requests >= 20 && lag_p99 > LAG_WARN_MS && !matches!(load, Load::Burst { .. }) {
        w.push(format!("sends ran late: schedule lag p99 {lag_p99:.1} ms (over {LAG_WARN_MS} ms)"));
    }
    w
}

/// Schedule lag p99 above this is reported as the generator falling behind.
const LAG_WARN_MS: f64 = 10.0;

impl StageReport {
    /// The report of `stage` from its statistics and when it ran.
    pub fn build(stage: &Stage, stats: &StageStats, window: &StageWindow) -> Self {
        let mut elapsed = window.finished.saturating_duration_since(window.started).as_secs_f64();
        let sending = window.sending_ended.saturating_duration_since(window.started).as_secs_f64();
        let per_s = |x: f64, secs: f64| if secs > 0.0 { round3(x / secs) } else { 0.0 };
        let tokens = &stats.output_tokens;
        // With warm-up or cool-down, rates are over the measured part of the duration.
        let trimmed = stage.warmup.is_some() || stage.cooldown.is_some();
        let (offered_count, offered_window) = if trimmed {
            let measured = stage.duration.map_or(sending, |d| d.as_secs_f64())
                - stage.warmup.map_or(0.0, |w| w.as_secs_f64())
                - stage.cooldown.map_or(0.0, |c| c.as_secs_f64());
            elapsed = measured.max(0.0);
            (stats.requests as f64, elapsed)
        } else {
            (window.sent as f64, sending)
        };
        let measured_n = stats.requests;
        let slo_attainment = stats.slo.map(|_| if measured_n == 0 { 0.0 } else { round3(stats.slo_met as f64 / measured_n as f64) });
        let target_rps = stage.load.target_rate();
        let offered_rps = per_s(offered_count, offered_window);
        StageReport {
            name: stage.name.clone(),
            load: stage.load,
            planned_duration: stage.duration,
            max_requests: stage.max_requests,
            warmup_s: stage.warmup,
            cooldown_s: stage.cooldown,
            excluded: stats.excluded,
            sending_s: round3(sending),
            target_rps,
            slo: stage.slo,
            goodput_rps: stats.slo.map(|_| per_s(stats.slo_met as f64, elapsed)),
            slo_attainment,
            warnings: generator_warnings(&stage.load, offered_rps, window.sent, stats),
            requests: RequestCounts {
                sent: stats.requests,
                ok: stats.ok,
                failed: stats.failed(),
                errors: stats
                    .errors
                    .iter()
                    .map(|(c, t)| (c.as_str().to_string(), ErrorReport { count: t.count, example: t.example.clone() }))
                    .collect(),
            },
            elapsed_s: round3(elapsed),
            offered_rps,
            achieved_rps: per_s(stats.ok as f64, elapsed),
            output_tokens_per_s: per_s(stats.output_tokens_total as f64, elapsed),
            output_tokens: TokenReport {
                total: stats.output_tokens_total,
                mean: if tokens.is_empty() { 0.0 } else { round3(tokens.mean()) },
                p50: if tokens.is_empty() { 0 } else { tokens.value_at_quantile(0.5) },
                max: if tokens.is_empty() { 0 } else { tokens.max() },
                source: stats.token_sources.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                compared: stats.lengths.output_compared,
                requested_mean: mean(stats.lengths.output_requested_sum, stats.lengths.output_compared),
                received_mean: mean(stats.lengths.output_received_sum, stats.lengths.output_compared),
                short: stats.lengths.output_short,
            },
            prompt_tokens: PromptReport::from(&stats.lengths),
            reasoning: ReasoningReport {
                counted: stats.reasoning.counted,
                requests_reasoning: stats.reasoning.reasoned,
                reasoning_tokens: stats.reasoning.reasoning_tokens,
                answer_tokens: stats.reasoning.answer_tokens,
                source: stats.reasoning.sources.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            },
            tool_calls: ToolCallReport { requests: stats.tool_call_requests, calls: stats.tool_calls },
            prefix_cache: PrefixCacheReport::from(&stats.prefix_cache, stats.ok),
            timing: TimingReport {
                new_connections: stats.timing.new_connections,
                connect_ms: stats.timing.connect.summary(),
                tls_ms: stats.timing.tls.summary(),
                request_written_ms: stats.timing.written.summary(),
                first_byte_ms: stats.timing.first_byte.summary(),
                response_headers_ms: stats.timing.headers.summary(),
            },
            ttft_ms: stats.ttft.summary(),
            ttfo_ms: stats.ttfo.summary(),
            ttst_ms: stats.ttst.summary(),
            itl_ms: stats.itl.summary(),
            itl_per_token_ms: stats.itl_per_token.summary(),
            itl_per_token_source: stats.itl_per_token_source.clone(),
            tpot_ms: stats.tpot.summary(),
            latency_ms: stats.latency.summary(),
            latency_from_planned_ms: stats.latency_from_planned.summary(),
            schedule_lag_ms: stats.schedule_lag.summary(),
            inferences_per_s: per_s(stats.inferences as f64, elapsed),
            tags: groups(&stats.tags),
            models: groups(&stats.models),
            server_metrics: BTreeMap::new(),
            triton: Vec::new(),
            probe_errors: Vec::new(),
            gpu: Vec::new(),
            output_tokens_per_joule: None,
            checks: BTreeMap::new(),
            tasks: stats.tasks.as_ref().map(|t| TaskReport::from_stats(t, elapsed)),
            shard_of: None,
            window: None,
            generator_cpu_s: None,
            mergeable: None,
        }
    }
}

impl StageReport {
    /// What an adaptive workload is told about this stage, the `index`-th of the run.
    pub fn result(&self, index: u32) -> StageResult {
        StageResult {
            index,
            name: self.name.clone(),
            load: self.load,
            sent: self.requests.sent,
            ok: self.requests.ok,
            failed: self.requests.failed,
            sending_s: self.sending_s,
            send_rate: self.offered_rps,
            throughput: self.achieved_rps,
            output_tokens_per_s: self.output_tokens_per_s,
            ttft: self.ttft_ms,
            itl: self.itl_ms,
            tpot: self.tpot_ms,
            latency: self.latency_ms,
            schedule_lag: self.schedule_lag_ms,
            goodput: self.goodput_rps,
            slo_attainment: self.slo_attainment,
        }
    }
}

fn groups(b: &Breakdown) -> BTreeMap<String, GroupReport> {
    b.groups.iter().map(|(k, g)| (k.clone(), GroupReport::from(g))).collect()
}

pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl TaskReport {
    /// The report of a stage's task statistics, `elapsed` seconds long.
    pub fn from_stats(t: &volley_core::stats::TaskStats, elapsed: f64) -> Self {
        use volley_core::stats::tasks::{count_summary, prompt_bucket_floor};
        let ratio = count_summary(&t.cache_hit_permille).map(|mut s| {
            for x in [&mut s.mean, &mut s.min, &mut s.p50, &mut s.p90, &mut s.p95, &mut s.p99, &mut s.p99_9, &mut s.max] {
                *x /= 1000.0;
            }
            s
        });
        let buckets = |m: &BTreeMap<u32, volley_core::DurationHistogram>, from: fn(u32) -> u32| {
            m.iter().filter_map(|(k, h)| Some(TtftBucket { from: from(*k), ttft_ms: h.summary()? })).collect()
        };
        TaskReport {
            started: t.started,
            completed: t.completed,
            failed: t.failed,
            unfinished: t.unfinished,
            untracked: t.untracked,
            tasks_per_s: if elapsed > 0.0 { round3(t.completed as f64 / elapsed) } else { 0.0 },
            latency_ms: t.latency.summary(),
            turns: count_summary(&t.turns),
            tool_calls: count_summary(&t.tool_calls),
            input_tokens: count_summary(&t.input_tokens),
            output_tokens: count_summary(&t.output_tokens),
            waited_ms: t.waited.summary(),
            tool_wait_s: round3(t.tool_wait_us as f64 / 1e6),
            think_wait_s: round3(t.think_wait_us as f64 / 1e6),
            follow_up_lag_ms: t.follow_up_lag.summary(),
            prefix_cache_hit_ratio: ratio,
            ttft_by_turn: buckets(&t.ttft_by_turn, |k| k),
            ttft_by_prompt_tokens: buckets(&t.ttft_by_prompt, prompt_bucket_floor),
        }
    }
}

#[cfg(test)]
mod generator_tests {
    use std::time::{Duration, Instant};

    use super::*;
    use volley_core::{Api, RequestRecord};

    fn stats_with_lag(n: u64, lag: Duration) -> StageStats {
        let mut stats = StageStats::new();
        let t0 = Instant::now();
        for seq in 0..n {
            let mut r = RequestRecord::new(0, seq, Api::Completions, false, t0);
            r.sent = Some(t0 + lag);
            r.done = t0 + lag + Duration::from_millis(1);
            stats.record(&r);
        }
        stats
    }

    #[test]
    fn a_generator_behind_its_target_is_warned_about() {
        let load = Load::Poisson { rate: 1000.0 };
        let on_time = stats_with_lag(1000, Duration::from_micros(100));
        assert!(generator_warnings(&load, 990.0, 1000, &on_time).is_empty(), "within chance");
        let w = generator_warnings(&load, 800.0, 1000, &on_time);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("fell behind") && w[0].contains("80 %"), "{w:?}");
        let late = stats_with_lag(1000, Duration::from_millis(25));
        assert!(generator_warnings(&load, 1000.0, 1000, &late).iter().any(|w| w.contains("schedule lag p99")));
        // A burst's lag is not a late clock; closed loops have no target.
        assert!(generator_warnings(&Load::Burst { n: 1000 }, 0.0, 1000, &late).is_empty());
        assert!(generator_warnings(&Load::Concurrency { n: 4 }, 10.0, 1000, &on_time).is_empty());
    }
}
