//! Panics turned into one line: a program that embeds Volley (the `volley` binary does)
//! installs [`install`], so a panic on any thread prints no backtrace or "panicked"
//! text but is kept, and a run that saw one ends with it as an internal fault (exit
//! code ≠ 0) after writing its report.

use std::sync::Mutex;

/// The first panic of the process: "message (at file:line)".
static FIRST: Mutex<Option<String>> = Mutex::new(None);

/// Replaces the panic hook with one that keeps the first panic's message instead of
/// printing it.
pub fn install() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a thread panicked".to_string());
        let place = info.location().map(|l| format!(" (at {}:{})", l.file(), l.line())).unwrap_or_default();
        let mut first = FIRST.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            *first = Some(crate::text::printable(&format!("{message}{place}"), 300));
        }
    }));
}

/// The first panic kept since [`install`], if there was one.
pub fn first() -> Option<String> {
    FIRST.lock().unwrap_or_else(|p| p.into_inner()).clone()
}
