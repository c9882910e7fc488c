//! Server hooks: calls the operator asks Volley to make to the server around a run, for
//! controlled experiments — reset its prefix cache before a run (a trial of `--repeat`)
//! or before each stage, start its profiler before the run and stop it after. Never a
//! scenario's: hooks come from the command line (or a library caller) only, and each call
//! goes through the egress gate as one of the policy's targets.
//!
//! One grammar, `WHEN:ACTION` (`--hook`): `WHEN` is `before-run`, `before-stage` or
//! `after-run`; `ACTION` is a built-in action (`reset-prefix-cache`, `start-profile`,
//! `stop-profile`, resolved for the server named by `--server-kind`) or a request of its
//! own, `METHOD PATH` (on the target's origin) or `METHOD URL`.

use std::fmt;
use std::str::FromStr;

/// Which server's endpoints the built-in actions call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    Vllm,
    Sglang,
    LlamaCpp,
}

impl ServerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ServerKind::Vllm => "vllm",
            ServerKind::Sglang => "sglang",
            ServerKind::LlamaCpp => "llamacpp",
        }
    }
}

impl FromStr for ServerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "vllm" => Ok(ServerKind::Vllm),
            "sglang" => Ok(ServerKind::Sglang),
            "llamacpp" | "llama.cpp" | "llama-cpp" | "llama-server" => Ok(ServerKind::LlamaCpp),
            _ => Err(format!("unknown server kind '{}': vllm, sglang or llamacpp", crate::text::printable(s, 40))),
        }
    }
}

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookWhen {
    /// Before the first stage (with `--repeat`, before each trial: each is a run).
    BeforeRun,
    /// Before each stage.
    BeforeStage,
    /// After the last stage.
    AfterRun,
}

impl HookWhen {
    pub fn as_str(self) -> &'static str {
        match self {
            HookWhen::BeforeRun => "before-run",
            HookWhen::BeforeStage => "before-stage",
            HookWhen::AfterRun => "after-run",
        }
    }
}

/// What a hook does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookAction {
    /// Empty the server's prefix (KV) cache: vLLM `POST /reset_prefix_cache`, SGLang
    /// `POST /flush_cache`, llama.cpp `POST /slots/{id}?action=erase` for each slot (it
    /// needs llama-server started with `--slot-save-path`).
    ResetPrefixCache,
    /// vLLM and SGLang `POST /start_profile`.
    StartProfile,
    /// vLLM and SGLang `POST /stop_profile`.
    StopProfile,
    /// A request of the operator's own: a method and a path on the target's origin
    /// (starting with `/`) or a whole `http(s)://` URL.
    Call { method: String, to: String },
}

impl HookAction {
    /// The action's name as written (a call: `METHOD TO`).
    pub fn name(&self) -> String {
        match self {
            HookAction::ResetPrefixCache => "reset-prefix-cache".into(),
            HookAction::StartProfile => "start-profile".into(),
            HookAction::StopProfile => "stop-profile".into(),
            HookAction::Call { method, to } => format!("{method} {to}"),
        }
    }
}

/// One hook: an action at a moment of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHook {
    pub when: HookWhen,
    pub action: HookAction,
}

impl fmt::Display for ServerHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.when.as_str(), self.action.name())
    }
}

/// Methods a hook may use.
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

impl FromStr for ServerHook {
    type Err = String;

    /// `WHEN:ACTION`, e.g. `before-stage:reset-prefix-cache` or
    /// `before-run:POST /flush_cache`.
    fn from_str(s: &str) -> Result<Self, String> {
        let shown = crate::text::printable(s, 120);
        let usage = "WHEN:ACTION, WHEN one of before-run, before-stage, after-run; ACTION one of reset-prefix-cache, start-profile, stop-profile, or 'METHOD /path' or 'METHOD URL'";
        let Some((when, action)) = s.split_once(':') else {
            return Err(format!("--hook '{shown}': expected {usage}"));
        };
        let when = match when.trim() {
            "before-run" => HookWhen::BeforeRun,
            "before-stage" => HookWhen::BeforeStage,
            "after-run" => HookWhen::AfterRun,
            _ => return Err(format!("--hook '{shown}': unknown moment; expected {usage}")),
        };
        let action = match action.trim() {
            "reset-prefix-cache" => HookAction::ResetPrefixCache,
            "start-profile" => HookAction::StartProfile,
            "stop-profile" => HookAction::StopProfile,
            call => {
                let Some((method, to)) = call.split_once(' ') else {
                    return Err(format!("--hook '{shown}': unknown action; expected {usage}"));
                };
                let method = method.to_ascii_uppercase();
                if !METHODS.contains(&method.as_str()) {
                    return Err(format!(
                        "--hook '{shown}': method '{}' is not one of {}",
                        crate::text::printable(&method, 20),
                        METHODS.join(", ")
                    ));
                }
                let to = to.trim();
                if !(to.starts_with('/') || to.starts_with("http://") || to.starts_with("https://")) || to.chars().any(char::is_whitespace)
                {
                    return Err(format!(
                        "--hook '{shown}': '{}' must be a path starting with / or an http(s):// URL",
                        crate::text::printable(to, 80)
                    ));
                }
                HookAction::Call { method, to: to.to_string() }
            }
        };
        Ok(ServerHook { when, action })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_parse_from_their_one_grammar() {
        let h: ServerHook = "before-stage:reset-prefix-cache".parse().unwrap();
        assert_eq!((h.when, &h.action), (HookWhen::BeforeStage, &HookAction::ResetPrefixCache));
        let h: ServerHook = "after-run: post /stop_profile".parse().unwrap();
        assert_eq!(h.action, HookAction::Call { method: "POST".into(), to: "/stop_profile".into() });
        assert_eq!(h.to_string(), "after-run:POST /stop_profile");
        let h: ServerHook = "before-run:GET http://127.0.0.1:9/flush".parse().unwrap();
        assert_eq!(h.action, HookAction::Call { method: "GET".into(), to: "http://127.0.0.1:9/flush".into() });
        for bad in [
            "reset-prefix-cache",
            "later:reset-prefix-cache",
            "before-run:erase",
            "before-run:BREW /pot",
            "before-run:POST flush",
            "before-run:POST /a b",
        ] {
            assert!(bad.parse::<ServerHook>().unwrap_err().starts_with("--hook '"), "{bad}");
        }
        assert_eq!("llama-server".parse::<ServerKind>().unwrap(), ServerKind::LlamaCpp);
        assert!("tgi".parse::<ServerKind>().unwrap_err().contains("vllm, sglang or llamacpp"));
    }
}
