//! What happened to a request, in the terms a scenario sees: the error classes the
//! report counts, and the outcome delivered back to the scenario when it asks.

use std::time::Duration;

use serde::{Deserialize, Serialize};

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
    pub ok: bool,
    pub status: u16,
    pub error: Option<ErrorClass>,
    pub ttft: Option<Duration>,
    pub latency: Duration,
    pub output_tokens: u32,
    pub prompt_tokens: Option<u32>,
    pub text: Option<String>,
}
