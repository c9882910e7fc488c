//! `volley run`: the flags ([`args`], the low level) are resolved once into typed
//! options ([`options`], the high level), which build the run and its outputs
//! ([`once`], [`outputs`]) once, or N times with `--repeat` ([`trials`]).

pub(crate) mod args;
mod once;
pub(crate) mod options;
mod outputs;
mod source_addrs;
mod trials;

use std::sync::Arc;

use anyhow::Result;
use volley::core::{Cancel, Policy};

use super::exit::Exit;
use super::scenario::load_grants;
pub use args::RunArgs;
use options::RunOptions;

/// `volley run`: a scenario against a target, every output written as it goes.
pub(super) async fn run(a: RunArgs, policy_before_command: Option<&std::path::Path>) -> Result<Exit> {
    let policy = a.sandbox.policy.load(policy_before_command)?;
    let options = RunOptions::resolve(a, &policy)?;
    let cancel = super::signals::cancel_on_signals();
    execute(&options, policy, cancel).await
}

/// Runs `o` to its end within `policy` (N times with `--repeat`); what `volley run` and
/// `volley demo` share.
pub(super) async fn execute(o: &RunOptions, policy: Policy, cancel: Arc<Cancel>) -> Result<Exit> {
    // The grants are read once, for every trial.
    let grants = {
        let (g, progress) = (o.grants.clone(), o.outputs.progress);
        super::blocking(move || load_grants(g.tokenizer.as_ref(), &g.datasets, g.on_error, progress)).await?
    };
    if o.trials.count > 1 {
        return trials::repeat(o, &grants, &policy, cancel).await;
    }
    Ok(once::run_once(o, &grants, &policy, cancel).await?.exit)
}
