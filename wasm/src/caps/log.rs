//! Capability `volley:scenario/log`: scenario messages on the operator's stderr,
//! prefixed with the scenario's name, bounded in length and rate so a chatty or hostile
//! guest cannot flood the terminal.

use std::time::{Duration, Instant};

use wasmtime::component::HasData;

/// Lines allowed per window; the rest are counted and reported once.
const LINES_PER_WINDOW: u32 = 50;
const WINDOW: Duration = Duration::from_secs(1);
const MAX_LINE: usize = 1000;

pub struct LogCap {
    scenario: String,
    window_start: Instant,
    lines_in_window: u32,
    suppressed: u64,
    pub show_debug: bool,
}

impl HasData for LogCap {
    type Data<'a> = &'a mut LogCap;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogCap {
    pub fn new(scenario: &str) -> Self {
        LogCap { scenario: scenario.to_string(), window_start: Instant::now(), lines_in_window: 0, suppressed: 0, show_debug: false }
    }

    pub fn write(&mut self, level: Level, message: &str) {
        if level == Level::Debug && !self.show_debug {
            return;
        }
        let now = Instant::now();
        if now.duration_since(self.window_start) >= WINDOW {
            if self.suppressed > 0 {
                eprintln!("[{}] ({} log lines suppressed)", self.scenario, self.suppressed);
                self.suppressed = 0;
            }
            self.window_start = now;
            self.lines_in_window = 0;
        }
        if self.lines_in_window >= LINES_PER_WINDOW {
            self.suppressed += 1;
            return;
        }
        self.lines_in_window += 1;
        let level = match level {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        let mut line: String = message.chars().filter(|c| !c.is_control() || *c == '\t').take(MAX_LINE).collect();
        if message.len() > line.len() && line.len() == MAX_LINE {
            line.push('…');
        }
        eprintln!("[{}] {level}: {line}", self.scenario);
    }
}
