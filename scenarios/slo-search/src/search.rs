//! The search over rates: which rate to probe next, given the verdicts so far.
//!
//! From `start_rate` the rate doubles (up to `max_rate`) while probes pass; after the
//! first miss, a binary search narrows the gap between the best pass — the highest rate
//! that passed below the lowest rate that missed — and that miss to `tolerance`; then
//! the best pass is run again as the knee. A knee that misses counts as a miss like any
//! other, so the search goes on below it: the knee reported is a rate whose own stage met
//! the SLO. If everything down to `start_rate / 64` misses, no rate met the SLO.

/// What to run next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Step {
    Probe(f64),
    /// Run the best pass again: its stage is the answer if it passes.
    Knee(f64),
    /// Every probe missed, down to this rate (the lowest one tried).
    NoRate(f64),
    /// `max_stages` would be spent before a knee could be confirmed.
    OutOfStages,
}

/// The rates judged so far.
#[derive(Debug, Clone)]
pub(crate) struct Search {
    pub start_rate: f64,
    pub max_rate: f64,
    pub tolerance: f64,
    pub max_stages: usize,
    passes: Vec<f64>,
    lowest_miss: Option<f64>,
}

impl Search {
    pub fn new(start_rate: f64, max_rate: f64, tolerance: f64, max_stages: usize) -> Self {
        Search { start_rate, max_rate, tolerance, max_stages, passes: Vec::new(), lowest_miss: None }
    }

    pub fn passed(&mut self, rate: f64) {
        self.passes.push(rate);
    }

    pub fn missed(&mut self, rate: f64) {
        self.lowest_miss = Some(self.lowest_miss.map_or(rate, |m| m.min(rate)));
    }

    /// The highest rate that passed below the lowest miss (a pass above a miss is noise
    /// the search does not build on).
    fn best_pass(&self) -> Option<f64> {
        self.passes.iter().copied().filter(|p| self.lowest_miss.is_none_or(|m| *p < m)).reduce(f64::max)
    }

    /// The step after `stages_run` stages. A probe is planned only with room for a knee
    /// after it.
    pub fn next(&self, stages_run: usize) -> Step {
        let best = self.best_pass();
        let probe = match (best, self.lowest_miss) {
            (None, None) => Some(self.start_rate),
            (Some(p), None) if p >= self.max_rate => None,
            (Some(p), None) => Some((p * 2.0).min(self.max_rate)),
            (None, Some(m)) if m / 2.0 < self.start_rate / 64.0 => return Step::NoRate(m),
            (None, Some(m)) => Some(m / 2.0),
            (Some(p), Some(m)) if (m - p) / p > self.tolerance => Some((p + m) / 2.0),
            (Some(_), Some(_)) => None,
        };
        match (probe, best) {
            (Some(r), _) if stages_run + 2 <= self.max_stages => Step::Probe(r),
            (_, Some(p)) if stages_run < self.max_stages => Step::Knee(p),
            _ => Step::OutOfStages,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the search against a server whose probes pass exactly below `knee`,
    /// returning the rates it probed and its last step.
    fn against(knee: f64, mut search: Search) -> (Vec<f64>, Step) {
        let mut probed = Vec::new();
        for stages in 0.. {
            match search.next(stages) {
                Step::Probe(r) => {
                    probed.push(r);
                    if r < knee { search.passed(r) } else { search.missed(r) }
                }
                step => return (probed, step),
            }
        }
        unreachable!()
    }

    #[test]
    fn doubling_then_bisection_brackets_the_knee_to_the_tolerance() {
        let (probed, step) = against(100.0, Search::new(10.0, 10_000.0, 0.05, 20));
        assert_eq!(&probed[..5], [10.0, 20.0, 40.0, 80.0, 160.0]);
        let Step::Knee(k) = step else { panic!("{step:?}") };
        assert!(k < 100.0 && k > 100.0 / 1.05, "knee {k}, probes {probed:?}");
    }

    #[test]
    fn a_knee_that_misses_sends_the_search_below_it() {
        let mut s = Search::new(10.0, 10_000.0, 0.15, 20);
        for r in [10.0, 20.0, 40.0] {
            s.passed(r);
        }
        s.missed(80.0);
        s.passed(60.0);
        s.passed(70.0);
        assert_eq!(s.next(6), Step::Knee(70.0));
        // The knee's own stage missed: 70 is a miss now, 60 the best pass, and the gap
        // between them (17 %) is over the tolerance.
        s.missed(70.0);
        assert_eq!(s.next(7), Step::Probe(65.0));
    }

    #[test]
    fn nothing_passing_down_to_a_64th_of_the_start_is_no_rate() {
        let (probed, step) = against(0.0, Search::new(64.0, 1000.0, 0.05, 20));
        assert_eq!(probed, [64.0, 32.0, 16.0, 8.0, 4.0, 2.0, 1.0]);
        assert_eq!(step, Step::NoRate(1.0));
    }

    #[test]
    fn the_max_rate_passing_is_the_knee_and_the_stage_budget_keeps_room_for_it() {
        let (probed, step) = against(f64::INFINITY, Search::new(100.0, 300.0, 0.05, 20));
        assert_eq!((probed, step), (vec![100.0, 200.0, 300.0], Step::Knee(300.0)));
        // Three stages allowed: one probe, then its knee.
        let (probed, step) = against(f64::INFINITY, Search::new(100.0, 300.0, 0.05, 3));
        assert_eq!((probed, step), (vec![100.0, 200.0], Step::Knee(200.0)));
        let mut s = Search::new(100.0, 300.0, 0.05, 2);
        s.missed(100.0);
        assert_eq!(s.next(1), Step::OutOfStages);
    }
}
