//! Shards: one of N processes that together run one plan (`--shard I/N`). Every shard
//! runs the same scenario, parameters and seed and takes its share of the one global
//! plan, so their union is the unsharded run:
//!
//! - open-loop arrivals are thinned: arrival k of the global sequence is shard k mod N's;
//! - closed-loop concurrency and bursts are split as evenly as possible (the first
//!   n mod N shards take one more);
//! - requests are produced in the global sequence by every shard and kept by their
//!   owner — request k is shard k mod N's, except that every request of a session
//!   (a conversation) is shard session mod N's, so conversations stay whole (and so do
//!   dataset rows, one request each).

use std::time::Duration;

use crate::plan::{Load, Stage};

/// Shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// Most shards of one run.
pub const MAX_SHARDS: u32 = 100_000;

impl Shard {
    /// `I/N`, 0 ≤ I < N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("--shard '{text}' must be I/N with 0 <= I < N (e.g. 0/4), or auto");
        let (i, n) = text.trim().split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        Shard::new(index, count).ok_or_else(bad)
    }

    pub fn new(index: u32, count: u32) -> Option<Shard> {
        (count > 0 && count <= MAX_SHARDS && index < count).then_some(Shard { index, count })
    }

    /// The shard a cluster engine gave this process: a Kubernetes Indexed Job
    /// (`JOB_COMPLETION_INDEX`, with the count in `VOLLEY_SHARDS`) or a Slurm job array
    /// (`SLURM_ARRAY_TASK_ID` from `SLURM_ARRAY_TASK_MIN`, `SLURM_ARRAY_TASK_COUNT`).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Shard, String> {
        let num = |name: &str| -> Result<Option<u32>, String> {
            match var(name) {
                None => Ok(None),
                Some(v) => v.trim().parse().map(Some).map_err(|_| format!("--shard auto: {name}='{v}' is not a number")),
            }
        };
        if let Some(index) = num("JOB_COMPLETION_INDEX")? {
            let count = num("VOLLEY_SHARDS")?
                .ok_or("--shard auto: JOB_COMPLETION_INDEX is set but VOLLEY_SHARDS (the Job's completions) is not")?;
            return Shard::new(index, count).ok_or_else(|| format!("--shard auto: index {index} is not below VOLLEY_SHARDS={count}"));
        }
        if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
            let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let count = num("SLURM_ARRAY_TASK_COUNT")?.ok_or("--shard auto: SLURM_ARRAY_TASK_COUNT is not set")?;
            let index = id.checked_sub(min).ok_or("--shard auto: SLURM_ARRAY_TASK_ID is below SLURM_ARRAY_TASK_MIN")?;
            return Shard::new(index, count).ok_or_else(|| {
                format!("--shard auto: task {id} (index {index}) does not fit an array of {count}; use a contiguous --array")
            });
        }
        Err("--shard auto: neither a Kubernetes Indexed Job (JOB_COMPLETION_INDEX) nor a Slurm job array (SLURM_ARRAY_TASK_ID) is around"
            .into())
    }

    /// Whether item `k` (an arrival, a request, a session) is this shard's.
    pub fn owns(self, k: u64) -> bool {
        k % u64::from(self.count) == u64::from(self.index)
    }

    /// How many of items 0..n are this shard's.
    pub fn share(self, n: u64) -> u64 {
        let (count, index) = (u64::from(self.count), u64::from(self.index));
        n / count + u64::from(index < n % count)
    }

    /// This shard's part of `n` workers (or a burst of `n`).
    pub fn split(self, n: u32) -> u32 {
        self.share(u64::from(n)) as u32
    }

    /// The stage as this shard runs it: its share of the rate, concurrency, burst and
    /// request count (the arrival instants themselves are the global plan's, thinned).
    pub fn local_stage(self, stage: &Stage) -> Stage {
        let n = f64::from(self.count);
        let load = match stage.load {
            Load::Constant { rate } => Load::Constant { rate: rate / n },
            Load::Poisson { rate } => Load::Poisson { rate: rate / n },
            Load::Gamma { rate, cv } => Load::Gamma { rate: rate / n, cv },
            Load::Ramp { from, to } => Load::Ramp { from: from / n, to: to / n },
            Load::Burst { n } => Load::Burst { n: self.split(n) },
            Load::Concurrency { n } => Load::Concurrency { n: self.split(n) },
            Load::ConcurrencyRamp { from, to } => Load::ConcurrencyRamp { from: self.split(from), to: self.split(to) },
            Load::Custom => Load::Custom,
            Load::Sessions { n } => Load::Sessions { n: self.split(n) },
        };
        Stage { load, max_requests: stage.max_requests.map(|m| self.share(m)), ..stage.clone() }
    }

    /// A request with global sequence number `seq` (and `session`) is this shard's.
    pub fn owns_request(self, seq: u64, session: Option<u64>) -> bool {
        self.owns(session.unwrap_or(seq))
    }
}

/// Sums the gaps of `custom` requests a shard skips into the next one it keeps, so its
/// planned sends stay on the global schedule.
#[derive(Debug, Default)]
pub struct CarriedGap(Duration);

impl CarriedGap {
    pub fn skip(&mut self, gap: Option<Duration>) {
        self.0 = self.0.saturating_add(gap.unwrap_or_default());
    }

    pub fn take(&mut self, gap: Option<Duration>) -> Option<Duration> {
        let carried = std::mem::take(&mut self.0);
        if carried.is_zero() { gap } else { Some(carried.saturating_add(gap.unwrap_or_default())) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        assert_eq!(Shard::parse("1/4"), Ok(Shard { index: 1, count: 4 }));
        for bad in ["4/4", "0/0", "1", "a/b", "-1/3", "1/200000"] {
            assert!(Shard::parse(bad).unwrap_err().contains("must be I/N"), "{bad}");
        }
    }

    #[test]
    fn shares_add_up_and_differ_by_at_most_one() {
        for n in [0u64, 1, 3, 7, 8, 1001] {
            let shares: Vec<u64> = (0..4).map(|i| Shard { index: i, count: 4 }.share(n)).collect();
            assert_eq!(shares.iter().sum::<u64>(), n);
            assert!(shares.iter().max().unwrap() - shares.iter().min().unwrap() <= 1);
            for (i, s) in shares.iter().enumerate() {
                assert_eq!(*s, (0..n).filter(|k| Shard { index: i as u32, count: 4 }.owns(*k)).count() as u64);
            }
        }
    }

    #[test]
    fn from_kubernetes_and_slurm() {
        let env =
            |pairs: &'static [(&'static str, &'static str)]| move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        assert_eq!(Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "2"), ("VOLLEY_SHARDS", "4")])), Ok(Shard { index: 2, count: 4 }));
        let slurm = env(&[("SLURM_ARRAY_TASK_ID", "5"), ("SLURM_ARRAY_TASK_MIN", "4"), ("SLURM_ARRAY_TASK_COUNT", "4")]);
        assert_eq!(Shard::from_env(slurm), Ok(Shard { index: 1, count: 4 }));
        assert!(Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "2")])).unwrap_err().contains("VOLLEY_SHARDS"));
        assert!(Shard::from_env(env(&[])).unwrap_err().contains("neither"));
    }

    #[test]
    fn skipped_gaps_carry_to_the_next_kept_request() {
        let mut c = CarriedGap::default();
        c.skip(Some(Duration::from_millis(3)));
        c.skip(None);
        assert_eq!(c.take(Some(Duration::from_millis(2))), Some(Duration::from_millis(5)));
        assert_eq!(c.take(None), None);
    }
}
