//! Capability `volley:scenario/checks` (0.5 on): named pass/fail checks, as k6's
//! `check()`. Each call counts in the stage the host is handling when it is made (set
//! before every guest call: the outcome's stage in `on-outcome`, the produced stage in
//! `next-requests`). Memory is bounded: names are cut to [`MAX_NAME`] characters and
//! past [`MAX_NAMES`] distinct names further calls are only counted as dropped.

use std::collections::HashMap;

use volley_core::{CheckTally, Checks};
use wasmtime::component::HasData;

/// Longest check name kept, in characters.
pub const MAX_NAME: usize = 128;
/// Most distinct check names counted.
pub const MAX_NAMES: usize = volley_core::workload::MAX_CHECK_NAMES;

#[derive(Default)]
pub struct ChecksCap {
    stage: u32,
    /// (stage, name) → (passes, fails).
    counts: HashMap<(u32, String), (u64, u64)>,
    names: std::collections::HashSet<String>,
    dropped: u64,
}

impl HasData for ChecksCap {
    type Data<'a> = &'a mut ChecksCap;
}

impl ChecksCap {
    /// Calls from now on count in `stage`.
    pub fn enter_stage(&mut self, stage: u32) {
        self.stage = stage;
    }

    pub fn check(&mut self, name: &str, passed: bool) {
        let name = if name.is_empty() { "unnamed".to_string() } else { volley_core::text::printable(name, MAX_NAME) };
        if !self.names.contains(&name) {
            if self.names.len() >= MAX_NAMES {
                self.dropped += 1;
                return;
            }
            self.names.insert(name.clone());
        }
        let count = self.counts.entry((self.stage, name)).or_default();
        if passed {
            count.0 += 1;
        } else {
            count.1 += 1;
        }
    }

    /// The tallies, by stage and name.
    pub fn take(&mut self) -> Checks {
        let mut tallies: Vec<CheckTally> =
            self.counts.drain().map(|((stage, name), (passes, fails))| CheckTally { stage, name, passes, fails }).collect();
        tallies.sort_unstable_by(|a, b| (a.stage, &a.name).cmp(&(b.stage, &b.name)));
        Checks { tallies, dropped: std::mem::take(&mut self.dropped) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_stage_and_name_within_bounds() {
        let mut c = ChecksCap::default();
        c.check("ok", true);
        c.check("ok", false);
        c.enter_stage(1);
        c.check("ok", true);
        c.check("bad\nname", false);
        for i in 0..MAX_NAMES + 10 {
            c.check(&format!("n{i}"), true);
        }
        let checks = c.take();
        assert_eq!(checks.tallies[0], CheckTally { stage: 0, name: "ok".into(), passes: 1, fails: 1 });
        assert!(checks.tallies.iter().any(|t| t.stage == 1 && t.name == "ok" && t.passes == 1));
        assert!(checks.tallies.iter().all(|t| !t.name.contains('\n')));
        // "ok", the bad name and 254 more fit; the rest are dropped.
        assert_eq!(checks.dropped, (MAX_NAMES + 10 - (MAX_NAMES - 2)) as u64);
    }
}
