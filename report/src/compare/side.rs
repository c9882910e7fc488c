//! One side of a comparison: a single run (its `report.json`) or a `--repeat` set of
//! trials (its `trials.json`), and the stages each holds, by name.

use crate::schema::{Report, StageReport};
use crate::trials::{StageTrials, TrialsReport};

pub(crate) enum Side {
    Run(Box<Report>),
    Trials(TrialsReport),
}

/// One stage of a side.
#[derive(Clone, Copy)]
pub(crate) enum StageView<'a> {
    Run(&'a StageReport),
    Trials(&'a StageTrials),
}

impl Side {
    /// The stages' names, in plan order.
    pub(crate) fn stage_names(&self) -> Vec<&str> {
        match self {
            Side::Run(r) => r.stages.iter().map(|s| s.name.as_str()).collect(),
            Side::Trials(t) => t.stages.iter().map(|s| s.name.as_str()).collect(),
        }
    }

    pub(crate) fn stage(&self, index: usize) -> Option<StageView<'_>> {
        match self {
            Side::Run(r) => r.stages.get(index).map(StageView::Run),
            Side::Trials(t) => t.stages.get(index).map(StageView::Trials),
        }
    }

    pub(crate) fn is_trials(&self) -> bool {
        matches!(self, Side::Trials(_))
    }

    /// "chat-poisson against http://…, one run" (names as the file has them: the caller
    /// writes every line through the console writer).
    pub(crate) fn describe(&self) -> String {
        match self {
            Side::Run(r) => format!("{} against {}, one run", r.scenario.info.name, r.target),
            Side::Trials(t) => {
                let n = t.trials.len();
                format!("{} against {}, {n} trial{}", t.scenario, t.target, if n == 1 { "" } else { "s" })
            }
        }
    }

    /// Whether the run, or any trial, was stopped early.
    pub(crate) fn interrupted(&self) -> bool {
        match self {
            Side::Run(r) => r.interrupted,
            Side::Trials(t) => t.trials.iter().any(|row| row.interrupted),
        }
    }
}
