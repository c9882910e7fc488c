//! Live progress on a terminal: one line per stage, redrawn four times a second, with
//! requests done, rate, errors and the current TTFT p50. The collector publishes the
//! numbers through atomics; nothing is drawn unless stdout and stderr are terminals.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::cancel::Cancel;

/// Per-stage counters, indexed by stage.
#[derive(Debug, Default)]
pub struct Progress {
    pub done: Vec<AtomicU64>,
    pub failed: Vec<AtomicU64>,
    /// TTFT p50 of the stage so far, in microseconds (0: none yet).
    pub ttft_p50_us: Vec<AtomicU64>,
}

impl Progress {
    pub fn new(stages: usize) -> Arc<Progress> {
        let v = || (0..stages).map(|_| AtomicU64::new(0)).collect();
        Arc::new(Progress { done: v(), failed: v(), ttft_p50_us: v() })
    }

    /// One more request of stage `i` done; the stage's TTFT p50 so far.
    pub fn record(&self, i: usize, ok: bool, ttft_p50_us: u64) {
        let bump = |v: &[AtomicU64]| {
            if let Some(a) = v.get(i) {
                a.fetch_add(1, Ordering::Relaxed);
            }
        };
        bump(&self.done);
        if !ok {
            bump(&self.failed);
        }
        if let Some(a) = self.ttft_p50_us.get(i) {
            a.store(ttft_p50_us, Ordering::Relaxed);
        }
    }

    pub fn stage(&self, i: usize) -> (u64, u64, u64) {
        let get = |v: &Vec<AtomicU64>| v.get(i).map_or(0, |a| a.load(Ordering::Relaxed));
        (get(&self.done), get(&self.failed), get(&self.ttft_p50_us))
    }
}

/// Whether progress lines should be drawn: only when a person watches (stdout and
/// stderr both terminals), never into a log file or a pipe.
pub fn on_terminal() -> bool {
    std::io::stdout().is_terminal() && std::io::stderr().is_terminal()
}

/// Redraws stage `index`'s line until `stop` fires; `total` is the request count when
/// the stage has one, `duration` its length when it has one.
pub async fn draw(progress: Arc<Progress>, index: usize, label: String, total: Option<u64>, duration: Option<Duration>, stop: Arc<Cancel>) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        let last = tokio::select! {
            _ = tick.tick() => false,
            _ = stop.cancelled() => true,
        };
        let (done, failed, p50) = progress.stage(index);
        let secs = started.elapsed().as_secs_f64();
        let fraction = match (total, duration) {
            (Some(t), _) if t > 0 => done as f64 / t as f64,
            (_, Some(d)) if !d.is_zero() => secs / d.as_secs_f64(),
            _ => 0.0,
        }
        .clamp(0.0, 1.0);
        let filled = (fraction * 20.0).round() as usize;
        let bar: String = "#".repeat(filled) + &".".repeat(20 - filled);
        let ttft = if p50 > 0 { format!("{:.1} ms", p50 as f64 / 1000.0) } else { "-".into() };
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K{label} [{bar}] {done}{} {:.1}/s {failed} err TTFT p50 {ttft}",
            total.map(|t| format!("/{t}")).unwrap_or_default(),
            if secs > 0.0 { done as f64 / secs } else { 0.0 }
        );
        if last {
            let _ = writeln!(err);
            return;
        }
        let _ = err.flush();
    }
}
