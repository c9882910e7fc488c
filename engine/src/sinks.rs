//! The one owner of a run's outputs over their lifetime (as k6's output manager):
//! [`Sinks`] starts them, forwards each event to those still working, keeps every
//! failure, and finishes each with the final report within a time limit.
//!
//! A sink that fails is reported once (its [`SinkError`]) and dropped; the run and the
//! other sinks go on. Finishing runs each sink on a thread of its own, one after the
//! other in the order they were attached (the console's summary after the files it
//! names): a sink that panics or hangs (an exporter whose collector does not answer)
//! costs its own output only, and is named in the error that says so.

use std::sync::Arc;
use std::time::Duration;

use volley_report::{Report, RunStart, Sink, SinkError};

/// Every output of a run, and what went wrong with any of them so far.
pub(crate) struct Sinks {
    live: Vec<Box<dyn Sink>>,
    errors: Vec<SinkError>,
}

impl Sinks {
    pub(crate) fn new(sinks: Vec<Box<dyn Sink>>) -> Sinks {
        Sinks { live: sinks, errors: Vec::new() }
    }

    /// The run started: every sink hears of it.
    pub(crate) fn start(&mut self, run: &RunStart<'_>) {
        self.each(|s| s.run_started(run));
    }

    /// Hands an event to every sink still working; one that fails is dropped, its
    /// error kept.
    pub(crate) fn each(&mut self, mut f: impl FnMut(&mut dyn Sink) -> Result<(), SinkError>) {
        let errors = &mut self.errors;
        self.live.retain_mut(|s| match f(s.as_mut()) {
            Ok(()) => true,
            Err(e) => {
                errors.push(e);
                false
            }
        });
    }

    /// Hands the final report to every sink, each given at most `limit` on a thread of
    /// its own, and returns the report with every sink's error of the run in the order
    /// they happened.
    pub(crate) async fn finish(self, report: Report, limit: Duration) -> (Report, Vec<SinkError>) {
        let Sinks { live, mut errors } = self;
        let report = Arc::new(report);
        for sink in live {
            if let Err(e) = finish_one(sink, report.clone(), limit).await {
                errors.push(e);
            }
        }
        // A sink left behind still holds the report: the caller gets a copy.
        (Arc::try_unwrap(report).unwrap_or_else(|r| (*r).clone()), errors)
    }
}

/// One sink's `run_finished`, on a thread of its own so that a sink that blocks holds
/// neither the run nor the runtime (a thread left behind does not keep the process
/// from exiting).
async fn finish_one(mut sink: Box<dyn Sink>, report: Arc<Report>, limit: Duration) -> Result<(), SinkError> {
    let name = sink.name().to_string();
    let (done, finished) = tokio::sync::oneshot::channel();
    let thread = std::thread::Builder::new().name("volley-sink-finish".into()).spawn(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sink.run_finished(&report)));
        let _ = done.send(result);
    });
    if let Err(e) = thread {
        return Err(SinkError::new(format!("output '{name}' could not finish the run: cannot start a thread: {e}")));
    }
    match tokio::time::timeout(limit, finished).await {
        Ok(Ok(Ok(result))) => result,
        Ok(Ok(Err(panic))) => {
            Err(SinkError::new(format!("output '{name}' failed while finishing the run: it panicked: {}", panic_message(panic.as_ref()))))
        }
        Ok(Err(_)) => Err(SinkError::new(format!("output '{name}' failed while finishing the run"))),
        Err(_) => {
            Err(SinkError::best_effort(format!("output '{name}' did not finish within {} s; it was left behind", limit.as_secs_f64())))
        }
    }
}

/// What a panic said, when it said it as text.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    match (payload.downcast_ref::<&str>(), payload.downcast_ref::<String>()) {
        (Some(s), _) => s,
        (None, Some(s)) => s,
        (None, None) => "no message",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Instant;

    use volley_report::RecordEvent;

    use super::*;

    /// A sink whose `run_finished` blocks until the test lets it go.
    struct Hangs {
        release: mpsc::Receiver<()>,
    }

    impl Sink for Hangs {
        fn record(&mut self, _: &RecordEvent<'_>) -> Result<(), SinkError> {
            Ok(())
        }

        fn run_finished(&mut self, _: &Report) -> Result<(), SinkError> {
            let _ = self.release.recv();
            Ok(())
        }
    }

    /// A sink that says when it finished.
    struct Finishes {
        finished: mpsc::Sender<u64>,
    }

    impl Sink for Finishes {
        fn name(&self) -> &str {
            "after the hung one"
        }

        fn record(&mut self, _: &RecordEvent<'_>) -> Result<(), SinkError> {
            Ok(())
        }

        fn run_finished(&mut self, report: &Report) -> Result<(), SinkError> {
            let _ = self.finished.send(report.seed);
            Ok(())
        }
    }

    struct Panics;

    impl Sink for Panics {
        fn record(&mut self, _: &RecordEvent<'_>) -> Result<(), SinkError> {
            Ok(())
        }

        fn run_finished(&mut self, _: &Report) -> Result<(), SinkError> {
            panic!("boom at the end");
        }
    }

    fn report() -> Report {
        let scenario = volley_report::ScenarioReport {
            info: volley_core::Info::new("x", "1", ""),
            source: "native:x".into(),
            digest: None,
            wit: None,
        };
        Report::new(volley_report::RunInfo {
            scenario,
            target: "http://127.0.0.1:1".into(),
            seed: 7,
            params: serde_json::json!({}),
            started_unix_ms: 0,
            duration_s: 1.0,
            interrupted: false,
            datasets: Vec::new(),
            host: volley_report::HostReport { peak_rss_mib: 1.0 },
        })
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_sink_that_never_finishes_is_named_and_left_behind() {
        let (release, released) = mpsc::channel();
        let (finished_tx, finished) = mpsc::channel();
        let sinks = Sinks::new(vec![Box::new(Hangs { release: released }), Box::new(Finishes { finished: finished_tx })]);
        let limit = Duration::from_millis(200);
        let started = Instant::now();
        let (report, errors) = sinks.finish(report(), limit).await;
        let took = started.elapsed();
        // Bounded by the limit (plus a generous margin for a loaded 2-core machine), not
        // by the sink: it is still blocked.
        assert!(took >= limit && took < limit + Duration::from_secs(5), "finishing took {took:?}");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].message, "output 'Hangs' did not finish within 0.2 s; it was left behind");
        assert!(errors[0].best_effort);
        // The sinks after it still finished, with the whole report, which comes back.
        assert_eq!(finished.try_recv(), Ok(7));
        assert_eq!(report.seed, 7);
        drop(release);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_sink_that_panics_is_named_and_the_others_finish() {
        let (finished_tx, finished) = mpsc::channel();
        let sinks = Sinks::new(vec![Box::new(Panics), Box::new(Finishes { finished: finished_tx })]);
        let (_, errors) = sinks.finish(report(), Duration::from_secs(30)).await;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].message, "output 'Panics' failed while finishing the run: it panicked: boom at the end");
        assert!(!errors[0].best_effort);
        assert_eq!(finished.try_recv(), Ok(7));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_sink_that_fails_is_dropped_and_its_error_kept_in_order() {
        struct Refuses;
        impl Sink for Refuses {
            fn name(&self) -> &str {
                "refuses"
            }
            fn record(&mut self, _: &RecordEvent<'_>) -> Result<(), SinkError> {
                Ok(())
            }
            fn flush(&mut self) -> Result<(), SinkError> {
                Err(SinkError::new("disk full"))
            }
        }
        let (finished_tx, finished) = mpsc::channel();
        let mut sinks = Sinks::new(vec![Box::new(Refuses), Box::new(Finishes { finished: finished_tx })]);
        sinks.each(|s| s.flush());
        sinks.each(|s| s.flush());
        let (_, errors) = sinks.finish(report(), Duration::from_secs(30)).await;
        assert_eq!(errors, vec![SinkError::new("disk full")], "reported once, then dropped");
        assert_eq!(finished.try_recv(), Ok(7));
    }
}
