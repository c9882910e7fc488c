//! A stage's statistics as data ([`StatsWire`]): every histogram (encoded losslessly)
//! and every counter, per stage, tag and model, so reports of shards merge into exactly
//! the statistics one process would have kept ([`StageStats::merge`]).
//!
//! The wire comes from files someone else wrote: [`StatsWire::validate`] refuses counts
//! that do not add up (more ok than requests, failures that are not the errors counted)
//! before anything is built from them, and merging adds with checked arithmetic, so
//! counters that would sum past 2^64 are refused, never wrapped.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::{Breakdown, CacheTally, ErrorTally, GroupStats, LengthTally, ReasoningTally, StageStats, TimingStats};
use crate::foreign_file::bounded::map_at_most;
use crate::histogram::{self, DurationHistogram};
use crate::outcome::ErrorClass;
use crate::stats::{ChunkTokenSource, OTHER_GROUP};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatsWire {
    pub ttft: String,
    pub ttfo: String,
    pub ttst: String,
    pub itl: String,
    pub itl_per_token: String,
    pub itl_per_token_source: BTreeMap<ChunkTokenSource, u64>,
    pub tpot: String,
    pub latency: String,
    pub latency_from_planned: String,
    pub schedule_lag: String,
    pub output_tokens: String,
    pub requests: u64,
    pub ok: u64,
    pub errors: BTreeMap<ErrorClass, (u64, String)>,
    pub output_tokens_total: u64,
    #[serde(deserialize_with = "map_at_most::<_, _, _, MAX_SOURCES>")]
    pub token_sources: BTreeMap<String, u64>,
    pub lengths: [u64; 9],
    #[serde(deserialize_with = "reasoning_bounded")]
    pub reasoning: ReasoningWire,
    pub tool_call_requests: u64,
    pub tool_calls: u64,
    pub prefix_cache: [u64; 3],
    pub timing: (u64, [String; 5]),
    pub tags: BTreeMap<String, GroupWire>,
    pub models: BTreeMap<String, GroupWire>,
    pub inferences: u64,
    pub excluded: u64,
    pub slo_met: u64,
    /// A stage whose sessions are tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<super::TasksWire>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupWire {
    pub requests: u64,
    pub ok: u64,
    pub ttft: String,
    pub itl: String,
    pub latency: String,
    pub output_tokens: u64,
    pub prefix_cache: [u64; 3],
}

/// The names counts are kept under (`&'static str` in memory).
const SOURCE_NAMES: &[&str] = &["usage", "tokenizer", "chunks", "none"];
/// Most entries a map of source names may have in a file (the names are a few).
const MAX_SOURCES: usize = 64;

/// Reasoning counts: counted, reasoned, reasoning tokens, answer tokens, sources.
pub type ReasoningWire = (u64, u64, u64, u64, BTreeMap<String, u64>);

/// `reasoning`, its map of sources bounded like `token_sources`.
fn reasoning_bounded<'de, D: Deserializer<'de>>(d: D) -> Result<ReasoningWire, D::Error> {
    #[derive(Deserialize)]
    struct Reasoning(u64, u64, u64, u64, #[serde(deserialize_with = "map_at_most::<_, _, _, MAX_SOURCES>")] BTreeMap<String, u64>);
    let Reasoning(counted, reasoned, reasoning, answer, sources) = Reasoning::deserialize(d)?;
    Ok((counted, reasoned, reasoning, answer, sources))
}

/// `*to += from`, refused past 2^64 (`what` names the counter).
fn add(to: &mut u64, from: u64, what: &str) -> Result<(), String> {
    *to = to.checked_add(from).ok_or_else(|| format!("{what} sum past 2^64"))?;
    Ok(())
}

fn source_name(name: &str) -> Result<&'static str, String> {
    SOURCE_NAMES.iter().find(|n| **n == name).copied().ok_or_else(|| format!("unknown token source '{name}'"))
}

fn sources_from(m: &BTreeMap<String, u64>) -> Result<BTreeMap<&'static str, u64>, String> {
    m.iter().map(|(k, v)| Ok((source_name(k)?, *v))).collect()
}

fn add_counts<K: Ord + Clone>(to: &mut BTreeMap<K, u64>, from: &BTreeMap<K, u64>, what: &str) -> Result<(), String> {
    for (k, v) in from {
        add(to.entry(k.clone()).or_default(), *v, what)?;
    }
    Ok(())
}

fn cache_wire(c: &CacheTally) -> [u64; 3] {
    [c.reported, c.cached_tokens, c.prompt_tokens]
}

fn cache_from(c: [u64; 3]) -> CacheTally {
    CacheTally { reported: c[0], cached_tokens: c[1], prompt_tokens: c[2] }
}

impl CacheTally {
    fn add(&mut self, o: &CacheTally) -> Result<(), String> {
        add(&mut self.reported, o.reported, "prefix-cache reports")?;
        add(&mut self.cached_tokens, o.cached_tokens, "cached tokens")?;
        add(&mut self.prompt_tokens, o.prompt_tokens, "prompt tokens")
    }
}

impl GroupStats {
    fn to_wire(&self) -> GroupWire {
        GroupWire {
            requests: self.requests,
            ok: self.ok,
            ttft: self.ttft.encode(),
            itl: self.itl.encode(),
            latency: self.latency.encode(),
            output_tokens: self.output_tokens,
            prefix_cache: cache_wire(&self.prefix_cache),
        }
    }

    /// `w` of a [`StatsWire`] that [`StatsWire::validate`] passed (ok within requests).
    fn from_wire(w: &GroupWire) -> Result<Self, String> {
        Ok(GroupStats {
            requests: w.requests,
            ok: w.ok,
            ttft: DurationHistogram::decode(&w.ttft)?,
            itl: DurationHistogram::decode(&w.itl)?,
            latency: DurationHistogram::decode(&w.latency)?,
            output_tokens: w.output_tokens,
            prefix_cache: cache_from(w.prefix_cache),
        })
    }

    fn add(&mut self, o: &GroupStats) -> Result<(), String> {
        add(&mut self.requests, o.requests, "a group's requests")?;
        add(&mut self.ok, o.ok, "a group's ok requests")?;
        self.ttft.add(&o.ttft);
        self.itl.add(&o.itl);
        self.latency.add(&o.latency);
        add(&mut self.output_tokens, o.output_tokens, "a group's output tokens")?;
        self.prefix_cache.add(&o.prefix_cache)
    }
}

impl Breakdown {
    fn to_wire(&self) -> BTreeMap<String, GroupWire> {
        self.groups.iter().map(|(k, g)| (k.clone(), g.to_wire())).collect()
    }

    fn load(&mut self, w: &BTreeMap<String, GroupWire>) -> Result<(), String> {
        for (key, g) in w {
            self.add_group(key, &GroupStats::from_wire(g)?)?;
        }
        Ok(())
    }

    /// Adds a group under the same cap as recording does: past it, into `(other)`.
    fn add_group(&mut self, key: &str, g: &GroupStats) -> Result<(), String> {
        let key = if self.groups.contains_key(key) || self.groups.len() < self.cap { key } else { OTHER_GROUP };
        self.groups.entry(key.to_string()).or_insert_with(GroupStats::new).add(g)
    }
}

impl StageStats {
    /// Everything, as data.
    pub fn to_wire(&self) -> StatsWire {
        let l = &self.lengths;
        let r = &self.reasoning;
        let t = &self.timing;
        StatsWire {
            ttft: self.ttft.encode(),
            ttfo: self.ttfo.encode(),
            ttst: self.ttst.encode(),
            itl: self.itl.encode(),
            itl_per_token: self.itl_per_token.encode(),
            itl_per_token_source: self.itl_per_token_source.clone(),
            tpot: self.tpot.encode(),
            latency: self.latency.encode(),
            latency_from_planned: self.latency_from_planned.encode(),
            schedule_lag: self.schedule_lag.encode(),
            output_tokens: histogram::encode(&self.output_tokens),
            requests: self.requests,
            ok: self.ok,
            errors: self.errors.iter().map(|(c, e)| (*c, (e.count, e.example.clone()))).collect(),
            output_tokens_total: self.output_tokens_total,
            token_sources: self.token_sources.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            lengths: [
                l.prompt_compared,
                l.prompt_requested_sum,
                l.prompt_received_sum,
                l.prompt_mismatched,
                l.output_compared,
                l.output_requested_sum,
                l.output_received_sum,
                l.output_short,
                l.cached_prompt_tokens,
            ],
            reasoning: (
                r.counted,
                r.reasoned,
                r.reasoning_tokens,
                r.answer_tokens,
                r.sources.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            ),
            tool_call_requests: self.tool_call_requests,
            tool_calls: self.tool_calls,
            prefix_cache: cache_wire(&self.prefix_cache),
            timing: (
                t.new_connections,
                [t.connect.encode(), t.tls.encode(), t.written.encode(), t.first_byte.encode(), t.headers.encode()],
            ),
            tags: self.tags.to_wire(),
            models: self.models.to_wire(),
            inferences: self.inferences,
            excluded: self.excluded,
            slo_met: self.slo_met,
            tasks: self.tasks.as_ref().map(super::TaskStats::to_wire),
        }
    }

    /// Statistics back from data, checked ([`StatsWire::validate`]); `slo` is the
    /// stage's (it is in the plan).
    pub fn from_wire(w: &StatsWire, slo: Option<crate::plan::Slo>) -> Result<Self, String> {
        w.validate()?;
        let h = DurationHistogram::decode;
        let l = w.lengths;
        let mut stats = StageStats::new();
        stats.ttft = h(&w.ttft)?;
        stats.ttfo = h(&w.ttfo)?;
        stats.ttst = h(&w.ttst)?;
        stats.itl = h(&w.itl)?;
        stats.itl_per_token = h(&w.itl_per_token)?;
        stats.itl_per_token_source = w.itl_per_token_source.clone();
        stats.tpot = h(&w.tpot)?;
        stats.latency = h(&w.latency)?;
        stats.latency_from_planned = h(&w.latency_from_planned)?;
        stats.schedule_lag = h(&w.schedule_lag)?;
        stats.output_tokens = histogram::decode(&w.output_tokens)?;
        stats.output_tokens.auto(true);
        stats.requests = w.requests;
        stats.ok = w.ok;
        stats.errors = w.errors.iter().map(|(c, (n, e))| (*c, ErrorTally { count: *n, example: e.clone() })).collect();
        stats.output_tokens_total = w.output_tokens_total;
        stats.token_sources = sources_from(&w.token_sources)?;
        stats.lengths = LengthTally {
            prompt_compared: l[0],
            prompt_requested_sum: l[1],
            prompt_received_sum: l[2],
            prompt_mismatched: l[3],
            output_compared: l[4],
            output_requested_sum: l[5],
            output_received_sum: l[6],
            output_short: l[7],
            cached_prompt_tokens: l[8],
        };
        let (counted, reasoned, reasoning_tokens, answer_tokens, sources) = &w.reasoning;
        stats.reasoning = ReasoningTally {
            counted: *counted,
            reasoned: *reasoned,
            reasoning_tokens: *reasoning_tokens,
            answer_tokens: *answer_tokens,
            sources: sources_from(sources)?,
        };
        stats.tool_call_requests = w.tool_call_requests;
        stats.tool_calls = w.tool_calls;
        stats.prefix_cache = cache_from(w.prefix_cache);
        let (new_connections, [connect, tls, written, first_byte, headers]) = &w.timing;
        stats.timing = TimingStats {
            new_connections: *new_connections,
            connect: h(connect)?,
            tls: h(tls)?,
            written: h(written)?,
            first_byte: h(first_byte)?,
            headers: h(headers)?,
        };
        stats.tags.load(&w.tags)?;
        stats.models.load(&w.models)?;
        stats.inferences = w.inferences;
        stats.excluded = w.excluded;
        stats.slo = slo;
        stats.slo_met = w.slo_met;
        stats.tasks = w.tasks.as_ref().map(super::TaskStats::from_wire).transpose()?;
        Ok(stats)
    }

    /// Adds every count of `o`: the statistics of both sets of records together.
    /// Counters that would sum past 2^64 are refused (one line naming the counter), never
    /// wrapped; `self` is then partly added to and should be dropped. Histogram counts
    /// saturate (HdrHistogram's own addition).
    pub fn merge(&mut self, o: &StageStats) -> Result<(), String> {
        for (to, from) in [
            (&mut self.ttft, &o.ttft),
            (&mut self.ttfo, &o.ttfo),
            (&mut self.ttst, &o.ttst),
            (&mut self.itl, &o.itl),
            (&mut self.itl_per_token, &o.itl_per_token),
            (&mut self.tpot, &o.tpot),
            (&mut self.latency, &o.latency),
            (&mut self.latency_from_planned, &o.latency_from_planned),
            (&mut self.schedule_lag, &o.schedule_lag),
            (&mut self.timing.connect, &o.timing.connect),
            (&mut self.timing.tls, &o.timing.tls),
            (&mut self.timing.written, &o.timing.written),
            (&mut self.timing.first_byte, &o.timing.first_byte),
            (&mut self.timing.headers, &o.timing.headers),
        ] {
            to.add(from);
        }
        histogram::add(&mut self.output_tokens, &o.output_tokens);
        add_counts(&mut self.itl_per_token_source, &o.itl_per_token_source, "ITL token sources")?;
        add(&mut self.requests, o.requests, "requests")?;
        add(&mut self.ok, o.ok, "ok requests")?;
        for (class, e) in &o.errors {
            let t = self.errors.entry(*class).or_default();
            add(&mut t.count, e.count, "errors")?;
            if t.example.is_empty() {
                t.example = e.example.clone();
            }
        }
        add(&mut self.output_tokens_total, o.output_tokens_total, "output tokens")?;
        add_counts(&mut self.token_sources, &o.token_sources, "token sources")?;
        let (l, ol) = (&mut self.lengths, &o.lengths);
        for (to, from) in [
            (&mut l.prompt_compared, ol.prompt_compared),
            (&mut l.prompt_requested_sum, ol.prompt_requested_sum),
            (&mut l.prompt_received_sum, ol.prompt_received_sum),
            (&mut l.prompt_mismatched, ol.prompt_mismatched),
            (&mut l.output_compared, ol.output_compared),
            (&mut l.output_requested_sum, ol.output_requested_sum),
            (&mut l.output_received_sum, ol.output_received_sum),
            (&mut l.output_short, ol.output_short),
            (&mut l.cached_prompt_tokens, ol.cached_prompt_tokens),
        ] {
            add(to, from, "token lengths")?;
        }
        let (r, or) = (&mut self.reasoning, &o.reasoning);
        for (to, from) in [
            (&mut r.counted, or.counted),
            (&mut r.reasoned, or.reasoned),
            (&mut r.reasoning_tokens, or.reasoning_tokens),
            (&mut r.answer_tokens, or.answer_tokens),
        ] {
            add(to, from, "reasoning counts")?;
        }
        add_counts(&mut r.sources, &or.sources, "reasoning sources")?;
        add(&mut self.tool_call_requests, o.tool_call_requests, "tool-call requests")?;
        add(&mut self.tool_calls, o.tool_calls, "tool calls")?;
        self.prefix_cache.add(&o.prefix_cache)?;
        add(&mut self.timing.new_connections, o.timing.new_connections, "new connections")?;
        for (key, g) in &o.tags.groups {
            self.tags.add_group(key, g)?;
        }
        for (key, g) in &o.models.groups {
            self.models.add_group(key, g)?;
        }
        add(&mut self.inferences, o.inferences, "inferences")?;
        add(&mut self.excluded, o.excluded, "excluded requests")?;
        add(&mut self.slo_met, o.slo_met, "requests within the SLO")?;
        match (&mut self.tasks, &o.tasks) {
            (Some(to), Some(from)) => to.merge(from),
            (None, Some(from)) => {
                let mut to = super::TaskStats::default();
                to.merge(from)?;
                self.tasks = Some(to);
                Ok(())
            }
            (_, None) => Ok(()),
        }
    }
}

impl StatsWire {
    /// Whether the counts add up as recording makes them: no more ok than requests (in
    /// the stage and in each tag and model), the failures exactly the errors counted,
    /// no more requests within the SLO than ok. The message names the counter.
    pub fn validate(&self) -> Result<(), String> {
        if self.ok > self.requests {
            return Err(format!("{} ok of {} requests", self.ok, self.requests));
        }
        let mut errors = 0u64;
        for (n, _) in self.errors.values() {
            add(&mut errors, *n, "errors")?;
        }
        if errors != self.requests - self.ok {
            return Err(format!(
                "{} failed requests ({} − {} ok) but {errors} errors counted",
                self.requests - self.ok,
                self.requests,
                self.ok
            ));
        }
        if self.slo_met > self.ok {
            return Err(format!("{} requests within the SLO of {} ok", self.slo_met, self.ok));
        }
        for (kind, groups) in [("tag", &self.tags), ("model", &self.models)] {
            for (name, g) in groups {
                if g.ok > g.requests {
                    return Err(format!("{kind} '{}' has {} ok of {} requests", crate::text::printable(name, 64), g.ok, g.requests));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::record::RequestRecord;
    use crate::request::Api;

    fn record(i: u64) -> RequestRecord {
        let t0 = Instant::now();
        let mut r = RequestRecord::new(0, i, Api::ChatCompletions, true, t0);
        r.sent = Some(t0 + Duration::from_micros(i % 7));
        r.status = if i.is_multiple_of(11) { 500 } else { 200 };
        if i.is_multiple_of(11) {
            r.error = Some(ErrorClass::HttpStatus);
            r.error_message = Some(format!("status 500 ({i})"));
        }
        r.first_token = Some(t0 + Duration::from_micros(1000 + i * 37 % 5000));
        r.done = t0 + Duration::from_micros(9000 + i * 101 % 20000);
        r.itl_us = vec![100 + (i % 50) as u32, 200];
        r.output_tokens = 3;
        r.tag = Some(format!("t{}", i % 5).into());
        r
    }

    #[test]
    fn shards_merged_through_the_wire_equal_one_process() {
        let mut whole = StageStats::new();
        let mut parts = vec![StageStats::new(), StageStats::new(), StageStats::new()];
        for i in 0..999 {
            let r = record(i);
            whole.record(&r);
            parts[(i % 3) as usize].record(&r);
        }
        let mut merged = StageStats::new();
        for p in &parts {
            let back = StageStats::from_wire(&serde_json::from_str(&serde_json::to_string(&p.to_wire()).unwrap()).unwrap(), None).unwrap();
            merged.merge(&back).unwrap();
        }
        // Every histogram and counter is the same: so is its wire form.
        let (a, b) = (serde_json::to_value(merged.to_wire()).unwrap(), serde_json::to_value(whole.to_wire()).unwrap());
        for key in ["requests", "ok", "errors", "tags", "output_tokens_total", "token_sources", "timing"] {
            assert_eq!(a[key], b[key], "{key}");
        }
        assert_eq!(merged.ttft.summary(), whole.ttft.summary());
        assert_eq!(merged.latency.summary(), whole.latency.summary());
        assert_eq!(merged.itl.summary(), whole.itl.summary());
        assert_eq!(merged.tags.groups["t3"].ttft.summary(), whole.tags.groups["t3"].ttft.summary());
    }

    #[test]
    fn counts_that_do_not_add_up_are_refused_naming_the_counter() {
        let mut whole = StageStats::new();
        (0..30).for_each(|i| whole.record(&record(i)));
        let good = whole.to_wire();
        assert!(StageStats::from_wire(&good, None).is_ok());
        let mut w = good.clone();
        w.ok = w.requests + 1;
        assert!(StageStats::from_wire(&w, None).err().unwrap().contains("ok of 30 requests"));
        let mut w = good.clone();
        w.tags.get_mut("t3").unwrap().ok = u64::MAX;
        assert!(StageStats::from_wire(&w, None).err().unwrap().contains("tag 't3' has 18446744073709551615 ok of"));
        let mut w = good.clone();
        w.errors.values_mut().next().unwrap().0 += 1;
        assert!(StageStats::from_wire(&w, None).err().unwrap().contains("errors counted"));
        let mut w = good;
        w.errors.insert(ErrorClass::Timeout, (u64::MAX, String::new()));
        assert!(StageStats::from_wire(&w, None).err().unwrap().contains("sum past 2^64"));
    }

    #[test]
    fn counters_summing_past_2_64_are_refused_not_wrapped() {
        let mut a = StageStats::new();
        a.requests = u64::MAX - 1;
        a.ok = u64::MAX - 1;
        let mut b = StageStats::new();
        b.requests = 2;
        b.ok = 2;
        assert_eq!(a.merge(&b).unwrap_err(), "requests sum past 2^64");
        let (mut c, mut d) = (StageStats::new(), StageStats::new());
        c.output_tokens_total = u64::MAX;
        d.output_tokens_total = 1;
        assert_eq!(c.merge(&d).unwrap_err(), "output tokens sum past 2^64");
    }

    #[test]
    fn unknown_names_are_refused() {
        let mut w = StageStats::new().to_wire();
        w.token_sources.insert("telepathy".into(), 1);
        assert!(StageStats::from_wire(&w, None).err().unwrap().contains("unknown token source"));
    }
}
