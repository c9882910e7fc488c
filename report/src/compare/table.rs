//! The comparison's table: stages paired by name (never by position), and per pair each
//! figure of A and B with its 95 % interval, B's change against A, and the verdict.
//! Lines are returned as a list, names as the files have them: the caller writes them
//! through the console writer, which makes every name printable.

use std::collections::HashMap;

use super::metrics::ROWS;
use super::noise::{self, Estimate, Noise, Verdict};
use super::side::{Side, StageView};

/// Stages of A and B matched by name; a name that repeats pairs in order of occurrence.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Pairing {
    /// (index in A, index in B, how many earlier stages of A have the same name)
    pub pairs: Vec<(usize, usize, usize)>,
    pub only_a: Vec<usize>,
    pub only_b: Vec<usize>,
}

pub(crate) fn pair(a: &[&str], b: &[&str]) -> Pairing {
    let mut in_b: HashMap<&str, Vec<usize>> = HashMap::new();
    for (j, name) in b.iter().enumerate() {
        in_b.entry(name).or_default().push(j);
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut used = vec![false; b.len()];
    let (mut pairs, mut only_a) = (Vec::new(), Vec::new());
    for (i, name) in a.iter().enumerate() {
        let earlier = seen.entry(name).or_insert(0);
        match in_b.get(name).and_then(|js| js.get(*earlier)) {
            Some(&j) => {
                used[j] = true;
                pairs.push((i, j, *earlier));
            }
            None => only_a.push(i),
        }
        *earlier += 1;
    }
    let only_b = used.iter().enumerate().filter(|(_, u)| !**u).map(|(j, _)| j).collect();
    Pairing { pairs, only_a, only_b }
}

/// At most this many names in one list; the rest are counted.
const NAMES_SHOWN: usize = 20;

/// `'a', 'b', … and 3 more`.
pub(crate) fn name_list(names: &[&str], indices: &[usize]) -> String {
    let mut text: Vec<String> = indices.iter().take(NAMES_SHOWN).map(|&i| format!("'{}'", names.get(i).copied().unwrap_or(""))).collect();
    if indices.len() > NAMES_SHOWN {
        text.push(format!("… and {} more", indices.len() - NAMES_SHOWN));
    }
    text.join(", ")
}

/// What the verdicts say, for the closing line.
#[derive(Default)]
struct Tally {
    better: usize,
    worse: usize,
    cannot_tell: usize,
}

/// The whole comparison, one line per entry.
pub(crate) fn render(a_label: &str, a: &Side, b_label: &str, b: &Side, pairing: &Pairing) -> Vec<String> {
    let mut lines = vec![format!("A: {a_label} ({})", a.describe()), format!("B: {b_label} ({})", b.describe())];
    for (side, label) in [(a, "A"), (b, "B")] {
        if side.interrupted() {
            lines.push(format!("note: {label} was stopped early (Ctrl-C, SIGTERM or a fault): its figures cover less than planned"));
        }
    }
    let (a_names, b_names) = (a.stage_names(), b.stage_names());
    if !pairing.only_a.is_empty() {
        lines.push(format!("stages only in A, not compared: {}", name_list(&a_names, &pairing.only_a)));
    }
    if !pairing.only_b.is_empty() {
        lines.push(format!("stages only in B, not compared: {}", name_list(&b_names, &pairing.only_b)));
    }
    if !(pairing.only_a.is_empty() && pairing.only_b.is_empty()) {
        lines.push("(stages are matched by name, not by position)".into());
    }
    let mixed = a.is_trials() != b.is_trials();
    if mixed {
        lines.push("note: one side has trials and the other one run: no verdicts (run both with --repeat N)".into());
    }
    let mut tally = Tally::default();
    for &(i, j, earlier) in &pairing.pairs {
        let (Some(sa), Some(sb)) = (a.stage(i), b.stage(j)) else { continue };
        lines.push(String::new());
        lines.push(stage_heading(a_names.get(i).copied().unwrap_or(""), earlier, sa, sb));
        lines.push(format!("  {:<18}{:<28}{:<28}{:>9}  verdict", "metric", "A [95 % interval]", "B [95 % interval]", "B vs A"));
        for row in ROWS {
            let (ea, eb) = (row.estimate(sa), row.estimate(sb));
            let echoed = row.echo_of.and_then(|label| ROWS.iter().find(|r| r.label == label));
            if echoed.is_some_and(|of| (of.estimate(sa), of.estimate(sb)) == (ea, eb)) {
                continue;
            }
            let verdict = match (&ea, &eb) {
                (None, None) => continue,
                (None, Some(_)) => Verdict::CannotTell("no figure in A"),
                (Some(_), None) => Verdict::CannotTell("no figure in B"),
                (Some(_), Some(_)) if mixed => Verdict::CannotTell("trials on one side only"),
                (Some(x), Some(y)) => noise::verdict(x, y, row.lower_is_better),
            };
            match verdict {
                Verdict::Better => tally.better += 1,
                Verdict::Worse => tally.worse += 1,
                Verdict::WithinNoise | Verdict::CannotTell(_) => tally.cannot_tell += 1,
            }
            lines.push(format!("  {:<18}{:<28}{:<28}{:>9}  {verdict}", row.label, cell(ea.as_ref()), cell(eb.as_ref()), change(ea, eb)));
        }
    }
    lines.push(String::new());
    lines.extend(footer(a.is_trials(), b.is_trials()).iter().map(|l| l.to_string()));
    lines.push(format!("verdicts: {} better, {} worse, {} cannot tell", tally.better, tally.worse, tally.cannot_tell));
    lines
}

/// `stage 'poisson' (poisson 8/s vs poisson 16/s)`; the occurrence when a name repeats.
fn stage_heading(name: &str, earlier: usize, a: StageView<'_>, b: StageView<'_>) -> String {
    let mut line = format!("stage '{name}'");
    if earlier > 0 {
        line.push_str(&format!(" (occurrence {} of that name)", earlier + 1));
    }
    if let (StageView::Run(x), StageView::Run(y)) = (a, b) {
        line.push_str(&format!(" ({} vs {})", x.load, y.load));
    }
    line
}

fn footer(a_trials: bool, b_trials: bool) -> &'static [&'static str] {
    match (a_trials, b_trials) {
        (true, true) => &[
            "intervals: 95 % for the mean over each side's trials (Student's t); better or worse only where A's and B's",
            "do not overlap. Lower is better for latencies and the error rate.",
        ],
        (false, false) => &[
            "intervals: 95 %, each from its own run's sample: percentiles from the order statistics of the run's histogram,",
            "counts and rates as Poisson counts, the error rate as a binomial fraction, requests taken as independent.",
            "Better or worse only where A's and B's do not overlap. Drift between runs (the server's state, the machine)",
            "is not in these intervals: --repeat N on both sides measures it. Lower is better for latencies and the error rate.",
        ],
        _ => &["lower is better for latencies and the error rate"],
    }
}

/// `19.80 [17.12, 23.10]`, or the figure alone where no interval is known.
fn cell(e: Option<&Estimate>) -> String {
    match e {
        None => "-".into(),
        Some(Estimate { value, noise: Noise::Interval { lo, hi } }) => format!("{} [{}, {}]", number(*value), number(*lo), number(*hi)),
        Some(Estimate { value, noise: Noise::Unknown(_) }) => number(*value),
    }
}

/// About four significant digits; an unbounded end is `∞`.
fn number(v: f64) -> String {
    let a = v.abs();
    if v == f64::INFINITY {
        "∞".into()
    } else if !v.is_finite() {
        "-".into()
    } else if a == 0.0 {
        "0".into()
    } else if a >= 1e9 {
        format!("{v:.3e}")
    } else if a >= 1000.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// B against A in per cent.
fn change(a: Option<Estimate>, b: Option<Estimate>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if a.value != 0.0 => {
            let pct = (b.value - a.value) / a.value.abs() * 100.0;
            if pct.is_finite() { format!("{pct:+.1}%") } else { "-".into() }
        }
        (Some(a), Some(b)) if a.value == b.value => "0".into(),
        _ => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{one_run, stage_with_ttfts};

    #[test]
    fn stages_pair_by_name_and_the_rest_are_named() {
        let p = pair(&["constant 1/s", "constant 2/s", "constant 3/s", "constant 4/s"], &["constant 2/s"]);
        assert_eq!(p.pairs, vec![(1, 0, 0)]);
        assert_eq!(p.only_a, vec![0, 2, 3]);
        assert!(p.only_b.is_empty());
        // Order does not matter; a repeated name pairs by occurrence.
        let p = pair(&["x", "y", "x"], &["x", "x", "z", "y"]);
        assert_eq!(p.pairs, vec![(0, 0, 0), (1, 3, 0), (2, 1, 1)]);
        assert_eq!((p.only_a, p.only_b), (vec![], vec![2]));
        let p = pair(&["a"], &["b"]);
        assert!(p.pairs.is_empty());
    }

    #[test]
    fn long_name_lists_are_cut() {
        let names: Vec<String> = (0..30).map(|i| format!("s{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let all: Vec<usize> = (0..30).collect();
        let text = name_list(&names, &all);
        assert!(text.starts_with("'s0', 's1'") && text.ends_with("'s19', … and 10 more"), "{text}");
    }

    #[test]
    fn numbers_keep_about_four_digits_and_an_open_end_shows() {
        let shown: Vec<String> = [f64::INFINITY, 0.0, 0.012_345, 4.567_89, 76.0, 123.456, 98_765.4, 1e12].into_iter().map(number).collect();
        assert_eq!(shown, ["∞", "0", "0.0123", "4.57", "76", "123.5", "98765", "1.000e12"]);
        let e = |value| Some(Estimate { value, noise: Noise::Unknown("") });
        assert_eq!((change(e(10.0), e(12.0)), change(e(0.0), e(0.0)), change(e(0.0), e(1.0))), ("+20.0%".into(), "0".into(), "-".into()));
    }

    fn table(a: Side, b: Side) -> Vec<String> {
        let p = pair(&a.stage_names(), &b.stage_names());
        render("a", &a, "b", &b, &p)
    }

    fn row<'a>(lines: &'a [String], label: &str) -> &'a str {
        lines.iter().find(|l| l.trim_start().starts_with(label)).unwrap_or_else(|| panic!("no row {label}: {lines:#?}"))
    }

    #[test]
    fn a_clear_change_in_single_runs_is_called_and_a_small_one_is_not() {
        let base: Vec<u64> = (0..200).map(|i| 20 + i % 10).collect();
        let slow: Vec<u64> = base.iter().map(|t| t * 10).collect();
        let lines = table(
            Side::Run(Box::new(one_run(vec![stage_with_ttfts("s", &base)]))),
            Side::Run(Box::new(one_run(vec![stage_with_ttfts("s", &slow)]))),
        );
        assert!(row(&lines, "TTFT p50 ms").ends_with("worse"), "{lines:#?}");
        // 20 % later, but five requests a side: nothing tells it from chance.
        let few = [100, 60, 140, 80, 120];
        let later: Vec<u64> = few.iter().map(|t| t * 12 / 10).collect();
        let lines = table(
            Side::Run(Box::new(one_run(vec![stage_with_ttfts("s", &few)]))),
            Side::Run(Box::new(one_run(vec![stage_with_ttfts("s", &later)]))),
        );
        let ttft = row(&lines, "TTFT p50 ms");
        assert!(ttft.contains("+20.0%") && ttft.ends_with("cannot tell (within noise)"), "{ttft}");
        assert!(!lines.iter().any(|l| l.ends_with("better") || l.ends_with("worse")), "{lines:#?}");
    }

    #[test]
    fn trials_against_one_run_give_no_verdict() {
        let run = one_run(vec![stage_with_ttfts("s", &[10, 20, 30])]);
        let row1 = crate::trials::TrialRow { trial: 1, seed: 1, dir: "trial-1".into(), interrupted: false, thresholds_failed: false };
        let row2 = crate::trials::TrialRow { trial: 2, dir: "trial-2".into(), ..row1.clone() };
        let slow = one_run(vec![stage_with_ttfts("s", &[300, 400, 500])]);
        let trials = crate::trials::summarize(&[(row1, slow.clone()), (row2, slow)]);
        let lines = table(Side::Run(Box::new(run)), Side::Trials(trials));
        assert!(lines.iter().any(|l| l.starts_with("note: one side has trials")), "{lines:#?}");
        assert!(row(&lines, "TTFT p50 ms").ends_with("cannot tell (trials on one side only)"), "{lines:#?}");
    }
}
