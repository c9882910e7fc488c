//! Signals: Ctrl-C or SIGTERM ends a run gracefully (its report is still written); a
//! second one exits at once, killing any server Volley launched.

use std::sync::Arc;

use volley::core::Cancel;
use volley::report::console::ConsoleWriter;

/// Ctrl-C or SIGTERM cancels the run (which still writes its report); a second one
/// exits at once.
pub(super) fn cancel_on_signals() -> Arc<Cancel> {
    let cancel = Arc::new(Cancel::new());
    let c = cancel.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        ConsoleWriter::stderr().line("volley: interrupted; finishing the report (interrupt again to quit now)");
        c.cancel();
        wait_for_signal().await;
        volley::engine::launch::process::kill_all_live();
        std::process::exit(i32::from(super::exit::Exit::Interrupted.code()));
    });
    cancel
}

/// Resolves at the next Ctrl-C or SIGTERM.
pub(super) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
