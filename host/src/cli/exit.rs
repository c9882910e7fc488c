//! Every exit code of `volley`, and which wins when several hold, in one place (README,
//! "Exit codes"; docs/thresholds.md). A finished run (and `--repeat`, and `merge`) is
//! judged from its report here, after every output is written; an error is 1 wherever it
//! happens; a command line the parser refuses is 2.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use volley::report::Report;

/// How `volley` ends. When several hold, the one listed first wins:
/// [`Exit::Error`] and [`Exit::Usage`] (nothing was judged), then
/// [`Exit::ThresholdsFailed`], [`Exit::Interrupted`], [`Exit::NothingRight`], [`Exit::Ok`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// 0: done, and (for a run) at least one request succeeded or none was sent.
    Ok,
    /// 1: bad input, a refusal (policy, digest, sandbox), a run that could not start or
    /// faulted, an output that could not be written. One `error:` line.
    Error,
    /// 2: the command line itself was refused (an unknown flag, a missing or malformed
    /// value). One `error:` line, then nothing else.
    Usage,
    /// 3: requests were sent and not one succeeded (every output is still written).
    NothingRight,
    /// 99: a `--threshold` failed (k6's convention).
    ThresholdsFailed,
    /// 130: interrupted (Ctrl-C, SIGTERM), the report written with what was measured.
    Interrupted,
}

impl Exit {
    /// The process's exit status.
    pub(crate) const fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Error => 1,
            Exit::Usage => 2,
            Exit::NothingRight => 3,
            Exit::ThresholdsFailed => 99,
            Exit::Interrupted => 130,
        }
    }

    /// Higher wins when several hold.
    const fn rank(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::NothingRight => 1,
            Exit::Interrupted => 2,
            Exit::ThresholdsFailed => 3,
            Exit::Usage => 4,
            Exit::Error => 5,
        }
    }

    /// Of `self` and `other`, the one that wins (trials of `--repeat`).
    pub(crate) fn worst(self, other: Exit) -> Exit {
        if other.rank() > self.rank() { other } else { self }
    }

    /// How a finished run (or a merged one) ends, from its report alone.
    pub(crate) fn of_report(report: &Report) -> Exit {
        let (sent, ok) = totals(report);
        if report.thresholds_failed() {
            Exit::ThresholdsFailed
        } else if report.interrupted {
            Exit::Interrupted
        } else if sent > 0 && ok == 0 {
            Exit::NothingRight
        } else {
            Exit::Ok
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// Requests sent and succeeded over every stage (saturating: the counts of a merged
/// report come from files).
fn totals(report: &Report) -> (u64, u64) {
    report.stages.iter().fold((0u64, 0u64), |(sent, ok), s| (sent.saturating_add(s.requests.sent), ok.saturating_add(s.requests.ok)))
}

/// A finished run's exit and the lines that explain it on stderr (none when it is
/// [`Exit::Ok`] or [`Exit::Interrupted`], which says so as it happens); `results` is
/// where the outputs went.
pub(crate) fn verdict(report: &Report, results: &Path) -> (Exit, Vec<String>) {
    let exit = Exit::of_report(report);
    let mut lines = Vec::new();
    if report.thresholds_failed() {
        let failed: Vec<String> = report
            .thresholds
            .iter()
            .filter(|t| !t.passed)
            .map(|t| {
                let value = t.value.map_or("no data".into(), volley::core::text::num);
                match (t.baseline, t.bound) {
                    (Some(b), Some(bound)) => format!(
                        "'{}' on stage '{}' ({value} against the baseline's {}, bound {})",
                        t.threshold,
                        t.stage,
                        volley::core::text::num(b),
                        volley::core::text::num(bound)
                    ),
                    _ if t.threshold.contains("baseline") && t.baseline.is_none() => {
                        format!("'{}' on stage '{}' ({value}; the baseline has no such stage or sample)", t.threshold, t.stage)
                    }
                    _ => format!("'{}' on stage '{}' ({value})", t.threshold, t.stage),
                }
            })
            .collect();
        lines.push(format!("volley: threshold failed: {}; results in {}", failed.join(", "), results.display()));
    }
    let (sent, ok) = totals(report);
    if sent > 0 && ok == 0 && !report.interrupted {
        let mut by_class: BTreeMap<&str, u64> = BTreeMap::new();
        for (class, e) in report.stages.iter().flat_map(|s| &s.requests.errors) {
            let n = by_class.entry(class).or_default();
            *n = n.saturating_add(e.count);
        }
        let mut classes: Vec<(&str, u64)> = by_class.into_iter().collect();
        classes.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
        let why: Vec<String> = classes.iter().take(4).map(|(class, n)| format!("{class} {n}")).collect();
        let why = if why.is_empty() { String::new() } else { format!(" ({})", why.join(", ")) };
        lines.push(format!(
            "volley: no request succeeded: {sent} sent, 0 ok{why}; results in {} (exit {})",
            results.display(),
            Exit::NothingRight.code()
        ));
    }
    (exit, lines)
}
