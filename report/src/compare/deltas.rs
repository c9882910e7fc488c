//! The per-stage deltas of one run against a baseline, as data for the HTML comparison
//! page: stages paired by name ([`super::table::pair`]), each figure of both runs with
//! its 95 % interval, and a change only where the intervals do not overlap
//! ([`super::noise::verdict`]), the same rule as the console table's.

use super::metrics::ROWS;
use super::noise::{self, Estimate, Noise, Verdict};
use super::side::StageView;
use super::table::pair;
use crate::schema::Report;

/// What the data say of a figure of B against A.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Better,
    Worse,
    /// The intervals overlap: the difference may be noise.
    WithinNoise,
    /// No interval on a side, or no figure: why.
    CannotTell(&'static str),
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = match *self {
            Call::Better => Verdict::Better,
            Call::Worse => Verdict::Worse,
            Call::WithinNoise => Verdict::WithinNoise,
            Call::CannotTell(why) => Verdict::CannotTell(why),
        };
        v.fmt(f)
    }
}

/// One figure: its value on each side, with the 95 % interval where one is known.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub value: f64,
    pub interval: Option<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeltaRow {
    pub label: &'static str,
    pub a: Option<Figure>,
    pub b: Option<Figure>,
    /// B against A in per cent, where A's figure is not 0.
    pub change_pct: Option<f64>,
    pub call: Call,
}

/// A stage both runs have (by name), and its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct StageDeltas {
    pub stage: String,
    pub rows: Vec<DeltaRow>,
}

/// B's stages against A's: the pairs, and the names of the stages without a partner.
#[derive(Debug, Clone, PartialEq)]
pub struct Deltas {
    pub stages: Vec<StageDeltas>,
    pub only_a: Vec<String>,
    pub only_b: Vec<String>,
}

fn figure(e: &Estimate) -> Figure {
    let interval = match e.noise {
        Noise::Interval { lo, hi } => Some((lo, hi)),
        Noise::Unknown(_) => None,
    };
    Figure { value: e.value, interval }
}

/// Run `b` against run `a`, stage by stage.
pub fn deltas(a: &Report, b: &Report) -> Deltas {
    let names = |r: &Report| -> Vec<String> { r.stages.iter().map(|s| s.name.clone()).collect() };
    let (an, bn) = (names(a), names(b));
    let (ar, br): (Vec<&str>, Vec<&str>) = (an.iter().map(String::as_str).collect(), bn.iter().map(String::as_str).collect());
    let pairing = pair(&ar, &br);
    let mut stages = Vec::new();
    for &(i, j, _) in &pairing.pairs {
        let (sa, sb) = (StageView::Run(&a.stages[i]), StageView::Run(&b.stages[j]));
        let mut rows = Vec::new();
        for row in ROWS {
            let (ea, eb) = (row.estimate(sa), row.estimate(sb));
            let echoed = row.echo_of.and_then(|label| ROWS.iter().find(|r| r.label == label));
            if echoed.is_some_and(|of| (of.estimate(sa), of.estimate(sb)) == (ea, eb)) {
                continue;
            }
            let call = match (&ea, &eb) {
                (None, None) => continue,
                (None, Some(_)) => Call::CannotTell("no figure in the baseline"),
                (Some(_), None) => Call::CannotTell("no figure in this run"),
                (Some(x), Some(y)) => match noise::verdict(x, y, row.lower_is_better) {
                    Verdict::Better => Call::Better,
                    Verdict::Worse => Call::Worse,
                    Verdict::WithinNoise => Call::WithinNoise,
                    Verdict::CannotTell(why) => Call::CannotTell(why),
                },
            };
            let change_pct = match (&ea, &eb) {
                (Some(x), Some(y)) if x.value != 0.0 => Some((y.value - x.value) / x.value.abs() * 100.0).filter(|p| p.is_finite()),
                _ => None,
            };
            rows.push(DeltaRow { label: row.label, a: ea.as_ref().map(figure), b: eb.as_ref().map(figure), change_pct, call });
        }
        stages.push(StageDeltas { stage: an[i].clone(), rows });
    }
    Deltas {
        stages,
        only_a: pairing.only_a.iter().map(|&i| an[i].clone()).collect(),
        only_b: pairing.only_b.iter().map(|&j| bn[j].clone()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{one_run, stage_with_ttfts};

    #[test]
    fn a_tenfold_first_token_is_worse_and_a_run_against_itself_has_no_change() {
        let base: Vec<u64> = (0..200).map(|i| 20 + i % 10).collect();
        let slow: Vec<u64> = base.iter().map(|t| t * 10).collect();
        let (a, b) =
            (one_run(vec![stage_with_ttfts("s", &base)]), one_run(vec![stage_with_ttfts("s", &slow), stage_with_ttfts("t", &base)]));
        let d = deltas(&a, &b);
        assert_eq!(d.only_b, ["t"]);
        let ttft = d.stages[0].rows.iter().find(|r| r.label == "TTFT p50 ms").unwrap();
        assert_eq!(ttft.call, Call::Worse);
        assert!(ttft.change_pct.unwrap() > 500.0, "{ttft:?}");
        assert!(ttft.a.as_ref().unwrap().interval.is_some());
        let same = deltas(&a, &a);
        assert!(same.stages[0].rows.iter().all(|r| !matches!(r.call, Call::Better | Call::Worse)), "{same:?}");
    }
}
