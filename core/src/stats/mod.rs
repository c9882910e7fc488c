//! Aggregates of one stage: latency histograms, request counts by outcome, token
//! counts (requested against received), and breakdowns by tag and by model.
//!
//! Statistics travel as data ([`StatsWire`]) and merge exactly ([`StageStats::merge`]):
//! the histograms of shards add up to one process's.
//!
//! Latency figures (TTFT, ITL, TPOT, end-to-end) come from successful requests only;
//! schedule lag from every request that was sent, since it measures the generator.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

pub mod tasks;
mod tokens;
mod wire;

pub use tasks::{TaskStats, TaskTotals, TaskTracker, TasksWire};
pub use tokens::{ChunkTokenSource, each_token_gap, per_token_gaps};
pub use wire::{GroupWire, StatsWire};

use crate::histogram::DurationHistogram;
use crate::outcome::ErrorClass;
use crate::plan::Slo;
use crate::record::{RequestRecord, TokenSource};

/// Distinct groups tracked per breakdown by default; the rest are counted under
/// [`OTHER_GROUP`].
pub const MAX_GROUPS: usize = 1000;
pub const OTHER_GROUP: &str = "(other)";

pub struct StageStats {
    /// To the first output of any kind.
    pub ttft: DurationHistogram,
    /// To the first answer output (reasoning excluded).
    pub ttfo: DurationHistogram,
    /// To the second output token.
    pub ttst: DurationHistogram,
    /// Gaps between chunks that carried text.
    pub itl: DurationHistogram,
    /// Those gaps divided among the tokens of each chunk.
    pub itl_per_token: DurationHistogram,
    pub itl_per_token_source: BTreeMap<ChunkTokenSource, u64>,
    pub tpot: DurationHistogram,
    pub latency: DurationHistogram,
    /// From the planned send: corrected for coordinated omission.
    pub latency_from_planned: DurationHistogram,
    pub schedule_lag: DurationHistogram,
    pub output_tokens: Histogram<u64>,
    pub requests: u64,
    pub ok: u64,
    pub errors: BTreeMap<ErrorClass, ErrorTally>,
    pub output_tokens_total: u64,
    pub token_sources: BTreeMap<&'static str, u64>,
    pub lengths: LengthTally,
    pub reasoning: ReasoningTally,
    /// Successful requests that made tool calls, and the calls.
    pub tool_call_requests: u64,
    pub tool_calls: u64,
    pub prefix_cache: CacheTally,
    pub timing: TimingStats,
    pub tags: Breakdown,
    pub models: Breakdown,
    /// Inferences of successful requests (a KServe batch of 16 counts 16).
    pub inferences: u64,
    /// Requests in the stage's warm-up or cool-down window: recorded, not counted here.
    pub excluded: u64,
    /// The stage's per-request objective, and how many measured requests met it.
    pub slo: Option<Slo>,
    pub slo_met: u64,
    /// A stage whose sessions are tasks: their statistics (set when the stage ends).
    pub tasks: Option<TaskStats>,
}

/// How often a class of error occurred, with the first message seen.
#[derive(Debug, Clone, Default)]
pub struct ErrorTally {
    pub count: u64,
    pub example: String,
}

/// Requested against received lengths, over successful requests.
#[derive(Debug, Clone, Default)]
pub struct LengthTally {
    /// Requests with both an intended prompt length and the server's count.
    pub prompt_compared: u64,
    pub prompt_requested_sum: u64,
    pub prompt_received_sum: u64,
    /// Of those, how many differed.
    pub prompt_mismatched: u64,
    /// Requests with both `max_tokens` and an output count.
    pub output_compared: u64,
    pub output_requested_sum: u64,
    pub output_received_sum: u64,
    /// Of those, how many got fewer tokens than requested.
    pub output_short: u64,
    pub cached_prompt_tokens: u64,
}

/// Where a successful request's time went before its first token: connection set-up
/// (new connections only), writing the request, the first byte back, the headers.
pub struct TimingStats {
    pub new_connections: u64,
    pub connect: DurationHistogram,
    pub tls: DurationHistogram,
    pub written: DurationHistogram,
    pub first_byte: DurationHistogram,
    pub headers: DurationHistogram,
}

impl TimingStats {
    fn new() -> Self {
        TimingStats {
            new_connections: 0,
            connect: DurationHistogram::new(),
            tls: DurationHistogram::new(),
            written: DurationHistogram::new(),
            first_byte: DurationHistogram::new(),
            headers: DurationHistogram::new(),
        }
    }

    fn record(&mut self, r: &RequestRecord) {
        self.new_connections += u64::from(r.new_connection);
        if let Some(us) = r.connect_us {
            self.connect.record_us(us);
        }
        if let Some(us) = r.tls_us {
            self.tls.record_us(us);
        }
        for (h, at) in [(&mut self.written, r.written), (&mut self.first_byte, r.first_byte), (&mut self.headers, r.headers)] {
            if let Some(d) = r.since_sent(at) {
                h.record(d);
            }
        }
    }
}

/// Reasoning against answer output, over successful requests whose reasoning count is
/// known.
#[derive(Debug, Clone, Default)]
pub struct ReasoningTally {
    /// Requests with a known reasoning count, and of those, how many reasoned at all.
    pub counted: u64,
    pub reasoned: u64,
    pub reasoning_tokens: u64,
    pub answer_tokens: u64,
    /// Where the counts came from (requests per source).
    pub sources: BTreeMap<&'static str, u64>,
}

/// Prefix-cache hits as servers report them (`usage.prompt_tokens_details.cached_tokens`),
/// over successful requests that reported both counts.
#[derive(Debug, Clone, Default)]
pub struct CacheTally {
    pub reported: u64,
    pub cached_tokens: u64,
    pub prompt_tokens: u64,
}

impl CacheTally {
    fn record(&mut self, r: &RequestRecord) {
        if let (Some(cached), Some(prompt)) = (r.cached_tokens, r.prompt_tokens) {
            self.reported += 1;
            self.cached_tokens += u64::from(cached.min(prompt));
            self.prompt_tokens += u64::from(prompt);
        }
    }

    /// Cached over prompt tokens of the requests that reported them.
    pub fn hit_ratio(&self) -> Option<f64> {
        (self.prompt_tokens > 0).then(|| self.cached_tokens as f64 / self.prompt_tokens as f64)
    }
}

/// One group of a breakdown (a tag, a model): counts and the main latencies, at 2
/// significant digits to keep many groups cheap.
pub struct GroupStats {
    pub requests: u64,
    pub ok: u64,
    pub ttft: DurationHistogram,
    pub itl: DurationHistogram,
    pub latency: DurationHistogram,
    pub output_tokens: u64,
    pub prefix_cache: CacheTally,
}

impl GroupStats {
    fn new() -> Self {
        GroupStats {
            requests: 0,
            ok: 0,
            ttft: DurationHistogram::with_precision(2),
            itl: DurationHistogram::with_precision(2),
            latency: DurationHistogram::with_precision(2),
            output_tokens: 0,
            prefix_cache: CacheTally::default(),
        }
    }

    fn record(&mut self, r: &RequestRecord) {
        self.requests += 1;
        if !r.ok() {
            return;
        }
        self.ok += 1;
        self.output_tokens += u64::from(r.output_tokens);
        self.prefix_cache.record(r);
        if let Some(d) = r.ttft() {
            self.ttft.record(d);
        }
        if let Some(d) = r.latency() {
            self.latency.record(d);
        }
        self.itl.record_all_us(&r.itl_us);
    }
}

/// Statistics per value of one dimension (tag, model), capped at `cap` distinct values.
pub struct Breakdown {
    pub groups: BTreeMap<String, GroupStats>,
    cap: usize,
}

impl Breakdown {
    fn new(cap: usize) -> Self {
        Breakdown { groups: BTreeMap::new(), cap }
    }

    fn record(&mut self, key: Option<&str>, r: &RequestRecord) {
        let Some(key) = key else { return };
        // Looked up before an owned key is made: a record's group almost always exists.
        if let Some(group) = self.groups.get_mut(key) {
            return group.record(r);
        }
        let key = if self.groups.len() < self.cap { key } else { OTHER_GROUP };
        self.groups.entry(key.to_string()).or_insert_with(GroupStats::new).record(r);
    }
}

impl Default for StageStats {
    fn default() -> Self {
        Self::new()
    }
}

impl StageStats {
    /// Statistics with the default breakdown caps.
    pub fn new() -> Self {
        Self::with_caps(MAX_GROUPS, MAX_GROUPS)
    }

    /// Statistics keeping at most `tags` distinct tags and `models` distinct models.
    pub fn with_caps(tags: usize, models: usize) -> Self {
        let mut tokens = Histogram::new(3).expect("valid histogram");
        tokens.auto(true);
        StageStats {
            ttft: DurationHistogram::new(),
            ttfo: DurationHistogram::new(),
            ttst: DurationHistogram::new(),
            itl: DurationHistogram::new(),
            itl_per_token: DurationHistogram::new(),
            itl_per_token_source: BTreeMap::new(),
            tpot: DurationHistogram::new(),
            latency: DurationHistogram::new(),
            latency_from_planned: DurationHistogram::new(),
            schedule_lag: DurationHistogram::new(),
            output_tokens: tokens,
            requests: 0,
            ok: 0,
            errors: BTreeMap::new(),
            output_tokens_total: 0,
            token_sources: BTreeMap::new(),
            lengths: LengthTally::default(),
            reasoning: ReasoningTally::default(),
            tool_call_requests: 0,
            tool_calls: 0,
            prefix_cache: CacheTally::default(),
            timing: TimingStats::new(),
            tags: Breakdown::new(tags.max(1)),
            models: Breakdown::new(models.max(1)),
            inferences: 0,
            excluded: 0,
            slo: None,
            slo_met: 0,
            tasks: None,
        }
    }

    pub fn record(&mut self, r: &RequestRecord) {
        self.requests += 1;
        if let Some(lag) = r.schedule_lag() {
            self.schedule_lag.record(lag);
        }
        self.tags.record(r.tag.as_deref(), r);
        self.models.record(r.model.as_deref(), r);
        if let Some(class) = r.error {
            let tally = self.errors.entry(class).or_default();
            tally.count += 1;
            if tally.example.is_empty() {
                tally.example = r.error_message.clone().unwrap_or_default();
            }
            return;
        }
        self.ok += 1;
        self.inferences += u64::from(r.batch_size);
        if let Some(t) = r.ttft() {
            self.ttft.record(t);
        }
        if let Some(t) = r.ttfo() {
            self.ttfo.record(t);
        }
        if let Some(t) = r.ttst() {
            self.ttst.record(t);
        }
        self.itl.record_all_us(&r.itl_us);
        let per_token = &mut self.itl_per_token;
        if let Some(source) = each_token_gap(r, |gap, n| per_token.record_us_n(gap, n)) {
            *self.itl_per_token_source.entry(source).or_default() += 1;
        }
        if let Some(t) = r.tpot() {
            self.tpot.record(t);
        }
        if let Some(l) = r.latency() {
            self.latency.record(l);
        }
        self.latency_from_planned.record(r.done.saturating_duration_since(r.planned));
        if self.slo.is_some_and(|slo| meets(&slo, r)) {
            self.slo_met += 1;
        }
        let _ = self.output_tokens.record(u64::from(r.output_tokens));
        self.output_tokens_total += u64::from(r.output_tokens);
        *self.token_sources.entry(r.token_source.as_str()).or_default() += 1;
        self.count_lengths(r);
        self.count_kinds(r);
    }

    fn count_kinds(&mut self, r: &RequestRecord) {
        if let (Some(reasoning), Some(answer)) = (r.reasoning_tokens, r.answer_tokens()) {
            let t = &mut self.reasoning;
            t.counted += 1;
            t.reasoned += u64::from(reasoning > 0);
            t.reasoning_tokens += u64::from(reasoning);
            t.answer_tokens += u64::from(answer);
            *t.sources.entry(r.reasoning_source.as_str()).or_default() += 1;
        }
        if r.tool_calls > 0 {
            self.tool_call_requests += 1;
            self.tool_calls += u64::from(r.tool_calls);
        }
        self.prefix_cache.record(r);
        self.timing.record(r);
    }

    fn count_lengths(&mut self, r: &RequestRecord) {
        let l = &mut self.lengths;
        if let (Some(want), Some(got)) = (r.requested_prompt_tokens, r.prompt_tokens) {
            l.prompt_compared += 1;
            l.prompt_requested_sum += u64::from(want);
            l.prompt_received_sum += u64::from(got);
            l.prompt_mismatched += u64::from(want != got);
        }
        if let (Some(want), false) = (r.max_tokens, r.token_source == TokenSource::None) {
            l.output_compared += 1;
            l.output_requested_sum += u64::from(want);
            l.output_received_sum += u64::from(r.output_tokens);
            l.output_short += u64::from(r.output_tokens < want);
        }
        l.cached_prompt_tokens += u64::from(r.cached_tokens.unwrap_or(0));
    }

    pub fn failed(&self) -> u64 {
        // Statistics read back are checked (ok ≤ requests); never wrap if they were not.
        self.requests.saturating_sub(self.ok)
    }
}

/// Whether a successful request meets a per-request objective: TTFT (a response that
/// was not streamed has its first token with its last byte), mean inter-token latency
/// (TPOT; none with a single token) and end-to-end latency.
pub fn meets(slo: &Slo, r: &RequestRecord) -> bool {
    let within = |bound: Option<f64>, d: Option<std::time::Duration>| match (bound, d) {
        (Some(b), Some(d)) => d.as_secs_f64() * 1000.0 <= b,
        _ => true,
    };
    r.ok() && within(slo.ttft_ms, r.ttft().or_else(|| r.latency())) && within(slo.itl_ms, r.tpot()) && within(slo.latency_ms, r.latency())
}
