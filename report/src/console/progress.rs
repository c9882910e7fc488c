//! Live progress on a terminal: one line for the running stage, redrawn four times a
//! second by a thread of its own, with requests done, rate, errors and the current TTFT
//! p50. Only drawn when a person watches (stdout and stderr both terminals), through the
//! [`ConsoleWriter`] like every other line.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use volley_core::DurationHistogram;

use super::writer::ConsoleWriter;

/// Whether progress lines should be drawn: only when a person watches (stdout and
/// stderr both terminals), never into a log file or a pipe.
pub fn on_terminal() -> bool {
    std::io::stdout().is_terminal() && std::io::stderr().is_terminal()
}

/// What the line shows, updated by the sink and read by the drawing thread.
struct Counts {
    done: u64,
    failed: u64,
    ttft: DurationHistogram,
}

/// The progress line of one stage, drawn until [`StageProgress::finish`].
pub(crate) struct StageProgress {
    counts: Arc<Mutex<Counts>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl StageProgress {
    /// Starts drawing `label`; `total` is the stage's request count when it has one,
    /// `duration` its length when it has one.
    pub(crate) fn start(label: String, total: Option<u64>, duration: Option<Duration>) -> Self {
        let counts = Arc::new(Mutex::new(Counts { done: 0, failed: 0, ttft: DurationHistogram::with_precision(2) }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (counts, stop) = (counts.clone(), stop.clone());
            std::thread::Builder::new()
                .name("volley-progress".into())
                .spawn(move || draw_until(&counts, &stop, &label, total, duration))
                .ok()
        };
        StageProgress { counts, stop, thread }
    }

    pub(crate) fn record(&self, ok: bool, ttft: Option<Duration>) {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.done += 1;
        c.failed += u64::from(!ok);
        if let Some(t) = ttft {
            c.ttft.record(t);
        }
    }

    /// Draws the final line and ends it.
    pub(crate) fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for StageProgress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn draw_until(counts: &Mutex<Counts>, stop: &AtomicBool, label: &str, total: Option<u64>, duration: Option<Duration>) {
    let started = Instant::now();
    loop {
        let last = stop.load(Ordering::Relaxed);
        let (done, failed, p50) = {
            let c = counts.lock().unwrap_or_else(|p| p.into_inner());
            (c.done, c.failed, (c.ttft.count() > 0).then(|| c.ttft.percentile_ms(50.0)))
        };
        let secs = started.elapsed().as_secs_f64();
        let fraction = match (total, duration) {
            (Some(t), _) if t > 0 => done as f64 / t as f64,
            (_, Some(d)) if !d.is_zero() => secs / d.as_secs_f64(),
            _ => 0.0,
        }
        .clamp(0.0, 1.0);
        let filled = (fraction * 20.0).round() as usize;
        let bar: String = "#".repeat(filled) + &".".repeat(20 - filled);
        let ttft = p50.map_or_else(|| "-".to_string(), |p| format!("{p:.1} ms"));
        let line = format!(
            "{label} [{bar}] {done}{} {:.1}/s {failed} err TTFT p50 {ttft}",
            total.map(|t| format!("/{t}")).unwrap_or_default(),
            if secs > 0.0 { done as f64 / secs } else { 0.0 }
        );
        let mut err = ConsoleWriter::stderr();
        err.redraw(&line);
        if last {
            err.end_redraw();
            return;
        }
        // Four redraws a second; a finished stage is drawn at most 50 ms late.
        for _ in 0..5 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
