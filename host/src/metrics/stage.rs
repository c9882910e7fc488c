//! Aggregates of one stage: latency histograms, request counts by outcome, tokens.
//!
//! Latency figures (TTFT, ITL, TPOT, end-to-end) come from successful requests only;
//! schedule lag from every request that was sent, since it measures the generator.

use std::collections::BTreeMap;
use std::time::Instant;

use hdrhistogram::Histogram;

use super::histogram::DurationHistogram;
use super::record::{RequestRecord, TokenSource};
use crate::model::ErrorClass;

pub struct StageStats {
    pub ttft: DurationHistogram,
    pub itl: DurationHistogram,
    pub tpot: DurationHistogram,
    pub latency: DurationHistogram,
    pub schedule_lag: DurationHistogram,
    pub output_tokens: Histogram<u64>,
    pub requests: u64,
    pub ok: u64,
    pub errors: BTreeMap<ErrorClass, ErrorTally>,
    pub output_tokens_total: u64,
    pub token_sources: BTreeMap<&'static str, u64>,
    pub first_sent: Option<Instant>,
    pub last_done: Option<Instant>,
}

/// How often a class of error occurred, with the first message seen.
#[derive(Debug, Clone, Default)]
pub struct ErrorTally {
    pub count: u64,
    pub example: String,
}

impl Default for StageStats {
    fn default() -> Self {
        Self::new()
    }
}

impl StageStats {
    pub fn new() -> Self {
        let mut tokens = Histogram::new(3).expect("valid histogram");
        tokens.auto(true);
        StageStats {
            ttft: DurationHistogram::new(),
            itl: DurationHistogram::new(),
            tpot: DurationHistogram::new(),
            latency: DurationHistogram::new(),
            schedule_lag: DurationHistogram::new(),
            output_tokens: tokens,
            requests: 0,
            ok: 0,
            errors: BTreeMap::new(),
            output_tokens_total: 0,
            token_sources: BTreeMap::new(),
            first_sent: None,
            last_done: None,
        }
    }

    pub fn record(&mut self, r: &RequestRecord) {
        self.requests += 1;
        if let Some(lag) = r.schedule_lag() {
            self.schedule_lag.record(lag);
        }
        if let Some(sent) = r.sent {
            self.first_sent = Some(self.first_sent.map_or(sent, |t| t.min(sent)));
        }
        self.last_done = Some(self.last_done.map_or(r.done, |t| t.max(r.done)));
        if let Some(class) = r.error {
            let tally = self.errors.entry(class).or_default();
            tally.count += 1;
            if tally.example.is_empty() {
                tally.example = r.error_message.clone().unwrap_or_default();
            }
            return;
        }
        self.ok += 1;
        if let Some(t) = r.ttft() {
            self.ttft.record(t);
        }
        for &gap in &r.itl_us {
            self.itl.record_us(gap);
        }
        if let Some(t) = r.tpot() {
            self.tpot.record(t);
        }
        if let Some(l) = r.latency() {
            self.latency.record(l);
        }
        let _ = self.output_tokens.record(u64::from(r.output_tokens));
        self.output_tokens_total += u64::from(r.output_tokens);
        let source = match r.token_source {
            TokenSource::Usage => "usage",
            TokenSource::Chunks => "chunks",
            TokenSource::None => "none",
        };
        *self.token_sources.entry(source).or_default() += 1;
    }

    pub fn failed(&self) -> u64 {
        self.requests - self.ok
    }
}
