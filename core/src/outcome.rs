//! What happened to a request, in the terms a scenario sees: the error classes the
//! report counts, and the outcome delivered back to the scenario when it asks.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::request::{ScenarioRequest, ToolCall};

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorClass {
    Connect,
    Timeout,
    HttpStatus,
    Protocol,
    ServerError,
    Incomplete,
    Cancelled,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Connect => "connect",
            ErrorClass::Timeout => "timeout",
            ErrorClass::HttpStatus => "http-status",
            ErrorClass::Protocol => "protocol",
            ErrorClass::ServerError => "server-error",
            ErrorClass::Incomplete => "incomplete",
            ErrorClass::Cancelled => "cancelled",
        }
    }
}

/// What a scenario is told about a completed request (`on-outcome`).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub stage: u32,
    pub seq: u64,
    pub session: Option<u64>,
    /// The request's `key`, the scenario's own number for it.
    pub key: Option<u64>,
    pub ok: bool,
    pub status: u16,
    pub error: Option<ErrorClass>,
    pub ttft: Option<Duration>,
    pub latency: Duration,
    pub output_tokens: u32,
    pub prompt_tokens: Option<u32>,
    pub text: Option<String>,
    /// The model's tool calls, for requests with a session or `keep_text`.
    pub tool_calls: Vec<ToolCall>,
    /// The server's finish reason ("stop", "length", "tool_calls", ...).
    pub finish_reason: Option<String>,
    /// Prompt tokens the server served from its prefix cache, when it says.
    pub cached_tokens: Option<u32>,
    /// When the request completed: a follow-up's delay counts from here.
    pub completed: Instant,
}

/// How a session's task ended, as the scenario judges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskEnd {
    Completed,
    Failed,
}

/// A workload's answer to an outcome: the requests that continue the outcome's session
/// (each sent its `delay` after the outcome, not paced by the stage's load), and whether
/// the session's task is over.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reaction {
    pub requests: Vec<ScenarioRequest>,
    pub end: Option<TaskEnd>,
}

impl Reaction {
    /// Nothing follows, nothing ends: what a workload that does not react returns.
    pub fn none() -> Self {
        Reaction::default()
    }
}
