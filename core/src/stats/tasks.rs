//! Task statistics of a stage whose sessions are tasks (an agent's whole job: its turns,
//! its tool calls, the waits between them). [`TaskTracker`] folds each session's
//! records into an open task and closes it when the scenario ends the session; what
//! closed tasks add up to is [`TaskStats`], which travels as data ([`TasksWire`]) and
//! merges exactly, as the stage's other statistics do.
//!
//! A task's latency runs from its first request's send to its last completion; its
//! tokens are the server's prompt counts (else the intended ones) and output counts of
//! all its requests. Follow-ups' schedule lag is how far from its asked delay each was
//! sent (the delay's precision). TTFT is also kept by turn (a session's n-th request)
//! and by prompt length, to show how it grows with the context.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::foreign_file::bounded::map_at_most;
use crate::histogram::{self, DurationHistogram};
use crate::outcome::TaskEnd;
use crate::record::RequestRecord;

/// Turns past this are counted under it (TTFT by turn).
pub const MAX_TURN: u32 = 64;
/// Prompt-length buckets for TTFT: [0, 1k), [1k, 2k), [2k, 4k) ... tokens, the last
/// open-ended.
const PROMPT_BUCKETS: u32 = 12;
/// Open tasks tracked at once; past it a new session is not tracked (and counted).
pub const MAX_OPEN_TASKS: usize = 1 << 20;

/// The lower bound, in tokens, of prompt bucket `b`.
pub fn prompt_bucket_floor(b: u32) -> u32 {
    if b == 0 { 0 } else { 1024u32 << (b - 1) }
}

fn prompt_bucket(tokens: u32) -> u32 {
    if tokens < 1024 { 0 } else { (32 - (tokens / 1024).leading_zeros()).min(PROMPT_BUCKETS - 1) }
}

fn counts() -> Histogram<u64> {
    let mut h = Histogram::new(3).expect("3 significant digits is valid");
    h.auto(true);
    h
}

/// What a stage's closed tasks add up to.
pub struct TaskStats {
    /// Sessions that sent a request.
    pub started: u64,
    pub completed: u64,
    pub failed: u64,
    /// Still open when the stage ended.
    pub unfinished: u64,
    /// Sessions not tracked: past [`MAX_OPEN_TASKS`] open at once.
    pub untracked: u64,
    /// Of completed tasks: first send to last completion.
    pub latency: DurationHistogram,
    /// Of ended tasks (completed or failed): requests, tool calls, tokens.
    pub turns: Histogram<u64>,
    pub tool_calls: Histogram<u64>,
    pub input_tokens: Histogram<u64>,
    pub output_tokens: Histogram<u64>,
    /// Of ended tasks: the time with none of the task's requests in flight (its first
    /// send to its last completion, less the union of its requests' flights): what it
    /// waited on tools, thinking and the scenario.
    pub waited: DurationHistogram,
    /// The delays asked for (tool and think time), summed over follow-ups: a fan-out's
    /// parallel follow-ups each count theirs.
    pub tool_wait_us: u64,
    pub think_wait_us: u64,
    /// Every follow-up's schedule lag against its asked delay.
    pub follow_up_lag: DurationHistogram,
    /// Per ended task whose server reported cached tokens: cached over prompt tokens,
    /// in thousandths.
    pub cache_hit_permille: Histogram<u64>,
    /// TTFT of successful requests by turn (1-based, the last [`MAX_TURN`] and later)
    /// and by prompt-length bucket.
    pub ttft_by_turn: BTreeMap<u32, DurationHistogram>,
    pub ttft_by_prompt: BTreeMap<u32, DurationHistogram>,
}

impl Default for TaskStats {
    fn default() -> Self {
        TaskStats {
            started: 0,
            completed: 0,
            failed: 0,
            unfinished: 0,
            untracked: 0,
            latency: DurationHistogram::new(),
            turns: counts(),
            tool_calls: counts(),
            input_tokens: counts(),
            output_tokens: counts(),
            waited: DurationHistogram::new(),
            tool_wait_us: 0,
            think_wait_us: 0,
            follow_up_lag: DurationHistogram::new(),
            cache_hit_permille: counts(),
            ttft_by_turn: BTreeMap::new(),
            ttft_by_prompt: BTreeMap::new(),
        }
    }
}

/// A task's totals over its requests, as the report counts them (and the OTLP task span
/// reports them): first send to last completion, turns, tool calls, tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskTotals {
    pub first_sent: Instant,
    pub last_done: Instant,
    pub turns: u64,
    pub tool_calls: u64,
    /// The server's prompt counts, else the intended ones.
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl TaskTotals {
    /// Nothing yet, from `r`'s send (or planned send) on.
    pub fn starting(r: &RequestRecord) -> Self {
        let sent = r.sent.unwrap_or(r.planned);
        TaskTotals { first_sent: sent, last_done: r.done, turns: 0, tool_calls: 0, input_tokens: 0, output_tokens: 0 }
    }

    /// Adds request `r` of the task.
    pub fn add(&mut self, r: &RequestRecord) {
        self.first_sent = self.first_sent.min(r.sent.unwrap_or(r.planned));
        self.last_done = self.last_done.max(r.done);
        self.turns = self.turns.saturating_add(1);
        self.tool_calls = self.tool_calls.saturating_add(u64::from(r.tool_calls));
        self.input_tokens = self.input_tokens.saturating_add(u64::from(r.prompt_tokens.or(r.requested_prompt_tokens).unwrap_or(0)));
        self.output_tokens = self.output_tokens.saturating_add(u64::from(r.output_tokens));
    }

    /// First send to last completion.
    pub fn latency(&self) -> Duration {
        self.last_done.saturating_duration_since(self.first_sent)
    }
}

/// One session's task while it is open.
struct OpenTask {
    totals: TaskTotals,
    tool_wait: Duration,
    think_wait: Duration,
    cached: u64,
    /// Prompt tokens of the requests that reported cached tokens.
    cache_prompt: u64,
    /// Each request's flight, send to completion.
    flights: Vec<(Instant, Instant)>,
}

impl OpenTask {
    /// First send to last completion, less the time some request was in flight.
    fn idle(&mut self) -> Duration {
        self.flights.sort_unstable();
        let mut busy = Duration::ZERO;
        let mut current: Option<(Instant, Instant)> = None;
        for &(from, to) in &self.flights {
            match &mut current {
                Some((_, end)) if from <= *end => *end = (*end).max(to),
                _ => {
                    if let Some((a, b)) = current {
                        busy += b.saturating_duration_since(a);
                    }
                    current = Some((from, to));
                }
            }
        }
        if let Some((a, b)) = current {
            busy += b.saturating_duration_since(a);
        }
        self.totals.latency().saturating_sub(busy)
    }
}

/// Open tasks and the closed tasks' statistics of one stage.
#[derive(Default)]
pub struct TaskTracker {
    open: HashMap<u64, OpenTask>,
    pub stats: TaskStats,
}

impl TaskTracker {
    /// Folds a record of the stage's (a session's request) into its task.
    pub fn record(&mut self, r: &RequestRecord) {
        let Some(session) = r.session else { return };
        let s = &mut self.stats;
        if r.ok()
            && let Some(ttft) = r.ttft()
        {
            let turn = r.turn.unwrap_or(1).clamp(1, MAX_TURN);
            s.ttft_by_turn.entry(turn).or_default().record(ttft);
            if let Some(p) = r.prompt_tokens.or(r.requested_prompt_tokens) {
                s.ttft_by_prompt.entry(prompt_bucket(p)).or_default().record(ttft);
            }
        }
        let delay = r.delay.filter(|_| r.turn.is_some_and(|t| t > 1));
        if delay.is_some()
            && let Some(lag) = r.schedule_lag()
        {
            s.follow_up_lag.record(lag);
        }
        let sent = r.sent.unwrap_or(r.planned);
        if !self.open.contains_key(&session) {
            if self.open.len() >= MAX_OPEN_TASKS {
                s.untracked += 1;
                return;
            }
            s.started += 1;
        }
        let task = self.open.entry(session).or_insert(OpenTask {
            totals: TaskTotals::starting(r),
            tool_wait: Duration::ZERO,
            think_wait: Duration::ZERO,
            cached: 0,
            cache_prompt: 0,
            flights: Vec::new(),
        });
        task.totals.add(r);
        task.flights.push((sent, r.done.max(sent)));
        if let Some(d) = delay {
            task.tool_wait = task.tool_wait.saturating_add(d.tool);
            task.think_wait = task.think_wait.saturating_add(d.think);
        }
        if let (Some(c), Some(p)) = (r.cached_tokens, r.prompt_tokens) {
            task.cached = task.cached.saturating_add(u64::from(c.min(p)));
            task.cache_prompt = task.cache_prompt.saturating_add(u64::from(p));
        }
    }

    /// `session`'s task ended as its scenario said.
    pub fn end(&mut self, session: u64, end: TaskEnd) {
        let Some(mut t) = self.open.remove(&session) else { return };
        let s = &mut self.stats;
        match end {
            TaskEnd::Completed => {
                s.completed += 1;
                s.latency.record(t.totals.latency());
            }
            TaskEnd::Failed => s.failed += 1,
        }
        for (h, v) in [
            (&mut s.turns, t.totals.turns),
            (&mut s.tool_calls, t.totals.tool_calls),
            (&mut s.input_tokens, t.totals.input_tokens),
            (&mut s.output_tokens, t.totals.output_tokens),
        ] {
            let _ = h.record(v);
        }
        s.waited.record(t.idle());
        s.tool_wait_us = s.tool_wait_us.saturating_add(t.tool_wait.as_micros() as u64);
        s.think_wait_us = s.think_wait_us.saturating_add(t.think_wait.as_micros() as u64);
        if let Some(permille) = t.cached.saturating_mul(1000).checked_div(t.cache_prompt) {
            let _ = s.cache_hit_permille.record(permille);
        }
    }

    /// The stage is over: tasks still open are unfinished. The statistics.
    pub fn finish(mut self) -> TaskStats {
        self.stats.unfinished += self.open.len() as u64;
        self.stats
    }
}

/// [`TaskStats`] as data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TasksWire {
    /// started, completed, failed, unfinished, untracked.
    pub counts: [u64; 5],
    pub latency: String,
    pub turns: String,
    pub tool_calls: String,
    pub input_tokens: String,
    pub output_tokens: String,
    pub waited: String,
    /// Tool and think wait, µs.
    pub wait_us: [u64; 2],
    pub follow_up_lag: String,
    pub cache_hit_permille: String,
    #[serde(deserialize_with = "map_at_most::<_, _, _, 64>")]
    pub ttft_by_turn: BTreeMap<u32, String>,
    #[serde(deserialize_with = "map_at_most::<_, _, _, 16>")]
    pub ttft_by_prompt: BTreeMap<u32, String>,
}

fn add(to: &mut u64, from: u64, what: &str) -> Result<(), String> {
    *to = to.checked_add(from).ok_or_else(|| format!("task {what} sum past 2^64"))?;
    Ok(())
}

/// A [`Summary`](crate::Summary) of a count histogram, in its own units (tokens,
/// turns); `None` when empty.
pub fn count_summary(h: &Histogram<u64>) -> Option<crate::Summary> {
    if h.is_empty() {
        return None;
    }
    let q = |p: f64| h.value_at_quantile(p) as f64;
    Some(crate::Summary {
        count: h.len(),
        mean: (h.mean() * 1000.0).round() / 1000.0,
        min: h.min() as f64,
        p50: q(0.50),
        p90: q(0.90),
        p95: q(0.95),
        p99: q(0.99),
        p99_9: q(0.999),
        max: h.max() as f64,
    })
}

impl TaskStats {
    pub fn to_wire(&self) -> TasksWire {
        let enc = |m: &BTreeMap<u32, DurationHistogram>| m.iter().map(|(k, h)| (*k, h.encode())).collect();
        TasksWire {
            counts: [self.started, self.completed, self.failed, self.unfinished, self.untracked],
            latency: self.latency.encode(),
            turns: histogram::encode(&self.turns),
            tool_calls: histogram::encode(&self.tool_calls),
            input_tokens: histogram::encode(&self.input_tokens),
            output_tokens: histogram::encode(&self.output_tokens),
            waited: self.waited.encode(),
            wait_us: [self.tool_wait_us, self.think_wait_us],
            follow_up_lag: self.follow_up_lag.encode(),
            cache_hit_permille: histogram::encode(&self.cache_hit_permille),
            ttft_by_turn: enc(&self.ttft_by_turn),
            ttft_by_prompt: enc(&self.ttft_by_prompt),
        }
    }

    /// The statistics a wire describes; refused when its counts do not add up.
    pub fn from_wire(w: &TasksWire) -> Result<Self, String> {
        let [started, completed, failed, unfinished, untracked] = w.counts;
        let ended = completed.checked_add(failed).and_then(|e| e.checked_add(unfinished));
        if ended.is_none_or(|e| e > started) {
            return Err(format!("tasks: {completed} completed, {failed} failed and {unfinished} unfinished of {started} started"));
        }
        let h = DurationHistogram::decode;
        let c = |t: &str| {
            let mut h = histogram::decode(t)?;
            h.auto(true);
            Ok::<_, String>(h)
        };
        let dec = |m: &BTreeMap<u32, String>, max: u32| {
            m.iter()
                .map(|(k, t)| if *k > max { Err(format!("tasks: bucket {k} past {max}")) } else { Ok((*k, h(t)?)) })
                .collect::<Result<BTreeMap<_, _>, String>>()
        };
        Ok(TaskStats {
            started,
            completed,
            failed,
            unfinished,
            untracked,
            latency: h(&w.latency)?,
            turns: c(&w.turns)?,
            tool_calls: c(&w.tool_calls)?,
            input_tokens: c(&w.input_tokens)?,
            output_tokens: c(&w.output_tokens)?,
            waited: h(&w.waited)?,
            tool_wait_us: w.wait_us[0],
            think_wait_us: w.wait_us[1],
            follow_up_lag: h(&w.follow_up_lag)?,
            cache_hit_permille: c(&w.cache_hit_permille)?,
            ttft_by_turn: dec(&w.ttft_by_turn, MAX_TURN)?,
            ttft_by_prompt: dec(&w.ttft_by_prompt, PROMPT_BUCKETS - 1)?,
        })
    }

    /// Adds another shard's task statistics (exactly: counts and histograms add).
    pub fn merge(&mut self, o: &TaskStats) -> Result<(), String> {
        add(&mut self.started, o.started, "starts")?;
        add(&mut self.completed, o.completed, "completions")?;
        add(&mut self.failed, o.failed, "failures")?;
        add(&mut self.unfinished, o.unfinished, "unfinished")?;
        add(&mut self.untracked, o.untracked, "untracked")?;
        add(&mut self.tool_wait_us, o.tool_wait_us, "tool wait")?;
        add(&mut self.think_wait_us, o.think_wait_us, "think wait")?;
        for (to, from) in [(&mut self.latency, &o.latency), (&mut self.waited, &o.waited), (&mut self.follow_up_lag, &o.follow_up_lag)] {
            to.add(from);
        }
        for (to, from) in [
            (&mut self.turns, &o.turns),
            (&mut self.tool_calls, &o.tool_calls),
            (&mut self.input_tokens, &o.input_tokens),
            (&mut self.output_tokens, &o.output_tokens),
            (&mut self.cache_hit_permille, &o.cache_hit_permille),
        ] {
            histogram::add(to, from);
        }
        for (to, from) in [(&mut self.ttft_by_turn, &o.ttft_by_turn), (&mut self.ttft_by_prompt, &o.ttft_by_prompt)] {
            for (k, h) in from {
                to.entry(*k).or_default().add(h);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{Api, Delay};

    fn rec(session: u64, turn: u32, at: Instant, ms: u64) -> RequestRecord {
        let mut r = RequestRecord::new(0, u64::from(turn), Api::ChatCompletions, true, at);
        r.session = Some(session);
        r.turn = Some(turn);
        r.sent = Some(at);
        r.first_token = Some(at + Duration::from_millis(5));
        r.done = at + Duration::from_millis(ms);
        r.tool_calls = 2;
        r.prompt_tokens = Some(1000 * turn);
        r.cached_tokens = Some(500 * turn);
        r.output_tokens = 10;
        r
    }

    #[test]
    fn a_task_runs_from_its_first_send_to_its_last_completion() {
        let t0 = Instant::now();
        let mut t = TaskTracker::default();
        t.record(&rec(7, 1, t0, 100));
        let mut second = rec(7, 2, t0 + Duration::from_millis(300), 100);
        second.delay = Some(Delay { tool: Duration::from_millis(150), think: Duration::from_millis(50) });
        second.planned = t0 + Duration::from_millis(300);
        t.record(&second);
        t.record(&rec(8, 1, t0, 10));
        t.end(7, TaskEnd::Completed);
        let s = t.finish();
        assert_eq!((s.started, s.completed, s.failed, s.unfinished), (2, 1, 0, 1));
        assert_eq!(s.latency.percentile_ms(50.0).round(), 400.0);
        assert_eq!(s.turns.value_at_quantile(0.5), 2);
        assert_eq!(s.tool_calls.value_at_quantile(0.5), 4);
        assert!(s.input_tokens.equivalent(s.input_tokens.value_at_quantile(0.5), 3000));
        assert_eq!((s.tool_wait_us, s.think_wait_us), (150_000, 50_000));
        // 0-100 ms and 300-400 ms in flight: 200 ms between.
        assert_eq!(s.waited.percentile_ms(50.0).round(), 200.0);
        assert_eq!(s.cache_hit_permille.value_at_quantile(0.5), 500);
        assert_eq!(s.follow_up_lag.count(), 1);
        assert_eq!(s.ttft_by_turn.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
        // 1000 tokens: [0, 1k); 2000: [1k, 2k).
        assert_eq!(s.ttft_by_prompt.keys().copied().collect::<Vec<_>>(), vec![0, 1]);
    }

    #[test]
    fn prompt_buckets_double() {
        assert_eq!((prompt_bucket(0), prompt_bucket(1023), prompt_bucket(1024), prompt_bucket(2047), prompt_bucket(2048)), (0, 0, 1, 1, 2));
        assert_eq!(prompt_bucket(u32::MAX), PROMPT_BUCKETS - 1);
        assert_eq!((prompt_bucket_floor(0), prompt_bucket_floor(1), prompt_bucket_floor(3)), (0, 1024, 4096));
    }

    #[test]
    fn task_statistics_merge_exactly_and_refuse_counts_that_do_not_add_up() {
        let t0 = Instant::now();
        let mut a = TaskTracker::default();
        a.record(&rec(1, 1, t0, 100));
        a.end(1, TaskEnd::Completed);
        let mut b = TaskTracker::default();
        b.record(&rec(2, 1, t0, 300));
        b.end(2, TaskEnd::Failed);
        let (a, b) = (a.finish(), b.finish());
        let mut merged = TaskStats::from_wire(&a.to_wire()).unwrap();
        merged.merge(&TaskStats::from_wire(&b.to_wire()).unwrap()).unwrap();
        assert_eq!((merged.started, merged.completed, merged.failed), (2, 1, 1));
        assert_eq!(merged.turns.len(), 2);
        let mut bad = a.to_wire();
        bad.counts = [1, 1, 1, 0, 0];
        assert!(TaskStats::from_wire(&bad).err().is_some_and(|e| e.contains("of 1 started")));
    }
}
