//! Server hooks carried out (see `volley_core::hooks`): each hook's action resolved into
//! the server's endpoints, every destination checked at the egress gate before the run
//! sends anything (a hook is one of the policy's targets, and without a `targets` list
//! only on the run's target's origin), then sent at its moment with the bounded reader
//! and timed. Each call's status and time go into the report; a call that fails is a
//! warning of the report's, and the run goes on.

use std::time::{Duration, Instant};

use hyper::Method;
use hyper::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use volley_core::hooks::{HookAction, HookWhen, ServerHook, ServerKind};
use volley_core::text::printable;
use volley_net::http::request_limited;
use volley_net::{Checked, Destination, Egress, Kind, NetError};
use volley_report::schema::HookReport;

use crate::probe::answer::{self, Bounded};

/// How long a hook's call may take (a profiler's stop writes its trace first).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_PROFILE_TIMEOUT: Duration = Duration::from_secs(300);
/// Largest answer read from a hook's call (only its status counts, and llama.cpp's slot
/// list).
const ANSWER_BYTES: usize = 4 << 20;
/// Most llama.cpp slots erased.
const MAX_SLOTS: usize = 1024;

/// A hook, its destinations checked.
struct Resolved {
    hook: ServerHook,
    calls: Calls,
}

enum Calls {
    /// Requests known before the run.
    Fixed(Vec<(Method, Checked)>),
    /// llama.cpp's prefix cache: its slots, listed at `slots`, each erased at
    /// `slots/{id}?action=erase` on the same origin (checked when listed).
    EraseSlots { slots: Checked },
}

/// The run's hooks, checked, and what they did.
pub(crate) struct Hooks {
    hooks: Vec<Resolved>,
    egress: Egress,
    headers: Vec<(String, String)>,
    reports: Vec<HookReport>,
    warnings: Vec<String>,
    epoch: Option<Instant>,
}

/// One line why the hooks cannot run; nothing was sent.
#[derive(Debug)]
pub(crate) enum HookError {
    Options(String),
    Refused(volley_core::Refusal),
}

impl Hooks {
    /// `hooks` for a server of `kind` (needed by the built-in actions), their
    /// destinations checked by `egress` (whose target is the run's); `headers` are the
    /// operator's, sent with every call as with every request.
    pub(crate) fn check(
        egress: &Egress,
        target: &Destination,
        kind: Option<ServerKind>,
        hooks: Vec<ServerHook>,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<Hooks, HookError> {
        let check = |hook: &ServerHook, to: &str| -> Result<Checked, HookError> {
            // A path is on the target's origin; a URL is itself.
            let d = target.resolve(to).map_err(|e| HookError::Options(format!("--hook {hook}: {e}")))?;
            egress.check(Kind::Hook, &d).map_err(|e| match e {
                NetError::Refused(r) => HookError::Refused(r),
                other => HookError::Options(format!("--hook {hook}: {other}")),
            })
        };
        let mut resolved = Vec::with_capacity(hooks.len());
        for hook in hooks {
            let needs_kind = || HookError::Options(format!("--hook {hook}: name the server with --server-kind vllm, sglang or llamacpp"));
            let post = |path: &str| -> Result<Calls, HookError> { Ok(Calls::Fixed(vec![(Method::POST, check(&hook, path)?)])) };
            let calls = match (&hook.action, kind) {
                (HookAction::Call { method, to }, _) => {
                    let method =
                        Method::from_bytes(method.as_bytes()).map_err(|_| HookError::Options(format!("--hook {hook}: bad method")))?;
                    Calls::Fixed(vec![(method, check(&hook, to)?)])
                }
                (_, None) => return Err(needs_kind()),
                (HookAction::ResetPrefixCache, Some(ServerKind::Vllm)) => post("/reset_prefix_cache")?,
                (HookAction::ResetPrefixCache, Some(ServerKind::Sglang)) => post("/flush_cache")?,
                (HookAction::ResetPrefixCache, Some(ServerKind::LlamaCpp)) => Calls::EraseSlots { slots: check(&hook, "/slots")? },
                (HookAction::StartProfile, Some(ServerKind::Vllm | ServerKind::Sglang)) => post("/start_profile")?,
                (HookAction::StopProfile, Some(ServerKind::Vllm | ServerKind::Sglang)) => post("/stop_profile")?,
                (HookAction::StartProfile | HookAction::StopProfile, Some(k)) => {
                    return Err(HookError::Options(format!("--hook {hook}: {} has no profiler endpoint", k.as_str())));
                }
            };
            resolved.push(Resolved { hook, calls });
        }
        let headers = headers.iter().filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string()))).collect();
        Ok(Hooks { hooks: resolved, egress: egress.clone(), headers, reports: Vec::new(), warnings: Vec::new(), epoch: None })
    }

    /// Times in the report count from `epoch` (the run's) once it is known.
    pub(crate) fn set_epoch(&mut self, epoch: Instant) {
        self.epoch = Some(epoch);
    }

    /// Runs the hooks of moment `when` (`stage`: the stage about to start), in the order
    /// given.
    pub(crate) async fn fire(&mut self, when: HookWhen, stage: Option<u32>) {
        for i in 0..self.hooks.len() {
            if self.hooks[i].hook.when != when {
                continue;
            }
            let hook = self.hooks[i].hook.clone();
            let timeout = if hook.action == HookAction::StopProfile { STOP_PROFILE_TIMEOUT } else { CALL_TIMEOUT };
            let calls = match &self.hooks[i].calls {
                Calls::Fixed(calls) => calls.clone(),
                Calls::EraseSlots { slots } => {
                    let slots = slots.clone();
                    match self.slot_erasures(&hook, &slots, stage).await {
                        Some(calls) => calls,
                        None => continue,
                    }
                }
            };
            for (method, to) in calls {
                self.call(&hook, stage, method, &to, timeout).await;
            }
        }
    }

    /// The warnings so far (taken: they are shown now).
    pub(crate) fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// What the hooks did, and the warnings of those that failed.
    pub(crate) fn finish(self) -> (Vec<HookReport>, Vec<String>) {
        (self.reports, self.warnings)
    }

    /// llama.cpp's slots (`GET /slots`), each to erase; `None` (reported) if they could
    /// not be listed.
    async fn slot_erasures(&mut self, hook: &ServerHook, slots: &Checked, stage: Option<u32>) -> Option<Vec<(Method, Checked)>> {
        #[derive(Deserialize)]
        struct Slot {
            id: u32,
        }
        let (status, body) = self.call(hook, stage, Method::GET, slots, CALL_TIMEOUT).await?;
        if !(200..300).contains(&status) {
            return None;
        }
        let listed: Result<Bounded<Slot, MAX_SLOTS>, String> = answer::json(&body);
        let ids = match listed {
            Ok(list) => list.0,
            Err(e) => {
                self.failed(hook, format!("GET {slots}: the slot list is {e}"));
                return None;
            }
        };
        let mut calls = Vec::with_capacity(ids.len());
        for slot in ids {
            let to = slots.destination().join(&format!("/{}?action=erase", slot.id)).and_then(|d| self.egress.check(Kind::Hook, &d));
            match to {
                Ok(to) => calls.push((Method::POST, to)),
                Err(e) => {
                    self.failed(hook, format!("slot {}: {e}", slot.id));
                    return None;
                }
            }
        }
        Some(calls)
    }

    /// One call of `hook`, reported; its status and answer when it got one.
    async fn call(
        &mut self,
        hook: &ServerHook,
        stage: Option<u32>,
        method: Method,
        to: &Checked,
        timeout: Duration,
    ) -> Option<(u16, bytes::Bytes)> {
        let headers: Vec<(&str, &str)> = self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let started = Instant::now();
        let answer = request_limited(method.clone(), to, &headers, bytes::Bytes::new(), timeout, ANSWER_BYTES).await;
        let ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        let at_ms = self.epoch.map(|e| (started.saturating_duration_since(e).as_secs_f64() * 1e6).round() / 1e3);
        let (status, error) = match &answer {
            Ok(r) if (200..300).contains(&r.status) => (Some(r.status), None),
            Ok(r) => {
                // The server's own words say why (llama.cpp: "Start it with --slot-save-path").
                let said = printable(&String::from_utf8_lossy(&r.body[..r.body.len().min(300)]), 200);
                (Some(r.status), Some(format!("answered HTTP {}: {said}", r.status)))
            }
            Err(e) => (None, Some(e.to_string())),
        };
        if let Some(e) = &error {
            self.failed(hook, format!("{method} {to}: {e}"));
        }
        self.reports.push(HookReport {
            when: hook.when.as_str().to_string(),
            action: hook.action.name(),
            stage,
            method: method.to_string(),
            url: printable(&to.to_string(), 200),
            status,
            ms,
            at_ms,
            error,
        });
        answer.ok().map(|r| (r.status, r.body))
    }

    fn failed(&mut self, hook: &ServerHook, why: String) {
        self.warnings.push(format!("server hook {hook}: {why}"));
    }
}
