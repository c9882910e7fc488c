//! Named checks (host capability `volley:scenario/checks`), as k6's `check()`: each
//! call counts one pass or fail of the check in the stage being handled; the report
//! gives every check's rate per stage and thresholds can gate on it
//! (`--threshold 'checks.answered.rate>0.99'`).
//!
//! ```no_run
//! # let outcome: volley_sdk::Outcome = unimplemented!();
//! volley_sdk::checks::check("answered", outcome.ok && outcome.text.as_deref().is_some_and(|t| !t.is_empty()));
//! ```

/// Counts one pass (`passed`) or fail of the check `name`; returns `passed`.
pub fn check(name: &str, passed: bool) -> bool {
    crate::bindings::volley::scenario::checks::check(name, passed);
    passed
}
