//! The operator's policy for this process: `--policy FILE`, else the file named by
//! `VOLLEY_POLICY` (for clusters: a mounted ConfigMap, say), else the built-in default,
//! which is safe without either (docs/policy.md). `--policy` is an option of the
//! commands a policy applies to (run, demo, check, pack, inspect, push, pull) and of no
//! other.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use volley::core::Policy;

/// `--policy FILE`, flattened into each command a policy applies to.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct PolicyArg {
    /// The operator's policy (TOML): what runs may do whatever a scenario asks
    /// [default: $VOLLEY_POLICY, else the built-in one; see docs/policy.md]
    #[arg(long = "policy", value_name = "FILE")]
    pub path: Option<PathBuf>,
}

impl PolicyArg {
    /// The policy this command runs under: its own `--policy`, else one given before the
    /// command (`volley --policy FILE run …`, as earlier releases took it), else
    /// `VOLLEY_POLICY`, else the built-in one.
    pub(super) fn load(&self, before_command: Option<&Path>) -> Result<Policy> {
        if self.path.is_some() && before_command.is_some() {
            anyhow::bail!("--policy is given twice (before the command and after it); give it once");
        }
        load(self.path.as_deref().or(before_command))
    }
}

/// Reads the policy through the one reader for foreign files: a regular file (a FIFO or
/// a device is refused without blocking), at most 1 MiB.
fn load(flag: Option<&Path>) -> Result<Policy> {
    use volley::core::foreign_file::{self, Kind};
    let from_env = std::env::var_os("VOLLEY_POLICY").filter(|v| !v.is_empty());
    let Some(path) = flag.map(Path::to_path_buf).or_else(|| from_env.map(Into::into)) else {
        return Ok(Policy::default());
    };
    let text = foreign_file::read_text(&path, Kind::POLICY)?;
    Policy::from_toml(&text).with_context(|| format!("the policy {} is invalid", foreign_file::shown(&path)))
}
